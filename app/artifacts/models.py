"""The Artifact table: a file a run wrote, kept in artifact storage."""

from roles.models import db, utcnow

from ..ids import new_uuid


class Artifact(db.Model):
    __tablename__ = "artifact"

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    run_id = db.Column(db.Integer, db.ForeignKey("run.id"), nullable=False, index=True)
    name = db.Column(db.String(255), nullable=False)
    # Where storage keeps the bytes; chosen by the service, never by a client.
    storage_key = db.Column(db.String(200), nullable=False)
    size = db.Column(db.BigInteger, nullable=False)
    sha256 = db.Column(db.String(64), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    # Set when retention deleted the bytes (ARTIFACT_RETENTION_DAYS); the row
    # stays, so the run still lists the artifact, and downloads give 410.
    expired_at = db.Column(db.DateTime(timezone=True), nullable=True)

    run = db.relationship("Run", back_populates="artifacts")
