"""The InputFile table: a file a client uploaded for runs to take as an input."""

from roles.models import db, utcnow

from ..ids import new_uuid


class InputFile(db.Model):
    __tablename__ = "input_file"

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    pipeline_id = db.Column(db.Integer, db.ForeignKey("pipeline.id"), nullable=False, index=True)
    name = db.Column(db.String(255), nullable=False)
    # Where artifact storage keeps the bytes; chosen by the service.
    storage_key = db.Column(db.String(200), nullable=False)
    size = db.Column(db.BigInteger, nullable=False)
    sha256 = db.Column(db.String(64), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
