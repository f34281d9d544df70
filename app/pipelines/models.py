"""The Pipeline table: a GridLAB-D job definition."""

import sqlalchemy as sa

from roles.models import db, utcnow

from ..ids import new_uuid


class Pipeline(db.Model):
    __tablename__ = "pipeline"

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    name = db.Column(db.String(50), nullable=False)
    description = db.Column(db.String(300), nullable=True)
    repository_ssh_url = db.Column(db.String(2048), nullable=True)
    repository_branch = db.Column(db.String(255), nullable=True)
    model = db.Column(db.String(255), nullable=False, default="model.glm")
    arguments = db.Column(db.JSON, nullable=False, default=list)
    timeout = db.Column(db.Integer, nullable=True)
    # Whether its simulations may reach the network from their sandbox.
    network = db.Column(db.Boolean, nullable=False, default=False, server_default=sa.false())
    # The sequence number of the newest run, so that numbering a new run is
    # one row update instead of a count over the pipeline's history.
    last_run_sequence = db.Column(db.Integer, nullable=False, default=0)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
    deleted_at = db.Column(db.DateTime(timezone=True), nullable=True)
