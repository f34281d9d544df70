"""Tables of the roles package, on a ``db`` the importing app configures."""

from datetime import UTC, datetime

from flask_sqlalchemy import SQLAlchemy

db = SQLAlchemy()


def utcnow():
    return datetime.now(UTC)


class Application(db.Model):
    """An HTTP client allowed to call the API with its own key."""

    __tablename__ = "application"

    id = db.Column(db.Integer, primary_key=True)
    name = db.Column(db.String(100), nullable=False)
    # sha256 of the key; the key itself is shown once and never stored.
    key_hash = db.Column(db.String(64), nullable=False, unique=True)
    key_prefix = db.Column(db.String(8), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    revoked_at = db.Column(db.DateTime(timezone=True), nullable=True)

    permissions = db.relationship(
        "SystemPermission",
        secondary="application_system_permission",
        lazy="selectin",
        order_by="SystemPermission.id",
    )


class SystemPermission(db.Model):
    """An operation an application may be allowed to perform.

    The id is the value of the importing app's permission enum member and the
    name its name, so the enum stays the single source of truth.
    """

    __tablename__ = "system_permission"

    id = db.Column(db.Integer, primary_key=True, autoincrement=False)
    name = db.Column(db.String(100), nullable=False, unique=True)


class ApplicationSystemPermission(db.Model):
    """The assignment of one permission to one application."""

    __tablename__ = "application_system_permission"

    application_id = db.Column(
        db.Integer, db.ForeignKey("application.id", ondelete="CASCADE"), primary_key=True
    )
    system_permission_id = db.Column(
        db.Integer, db.ForeignKey("system_permission.id", ondelete="CASCADE"), primary_key=True
    )
