"""The Sweep table: many runs of one pipeline made by one request."""

from roles.models import db, utcnow

from ..ids import new_uuid


class Sweep(db.Model):
    __tablename__ = "sweep"

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    pipeline_id = db.Column(db.Integer, db.ForeignKey("pipeline.id"), nullable=False, index=True)
    inputs = db.Column(db.JSON, nullable=False, default=list)
    callback_url = db.Column(db.String(2048), nullable=True)
    # What it was made from: exactly one of the two is set.
    parameters = db.Column(db.JSON, nullable=True)
    rows = db.Column(db.JSON, nullable=True)
    run_count = db.Column(db.Integer, nullable=False)
    # Its runs' sequences are first_sequence .. first_sequence + run_count - 1,
    # one block reserved at creation: the n-th run of a page is found by
    # its sequence, whatever the offset.
    first_sequence = db.Column(db.Integer, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    cancelled_at = db.Column(db.DateTime(timezone=True), nullable=True)

    pipeline = db.relationship("Pipeline", lazy="joined", innerjoin=True)
