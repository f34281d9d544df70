"""Tables of the runs domain: runs, their state history and console."""

from roles.models import db, utcnow

from ..ids import new_uuid
from .states import RunState


class Run(db.Model):
    __tablename__ = "run"
    __table_args__ = (db.UniqueConstraint("pipeline_id", "sequence"),)

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    pipeline_id = db.Column(db.Integer, db.ForeignKey("pipeline.id"), nullable=False)
    sequence = db.Column(db.Integer, nullable=False)
    # The newest of ``states``, kept here so that filtering by state is a
    # plain indexed column.
    state = db.Column(db.String(16), nullable=False, default=RunState.NOT_STARTED.value)
    inputs = db.Column(db.JSON, nullable=False, default=list)
    callback_url = db.Column(db.String(2048), nullable=True)
    # ``-D name=value`` for gridlabd, values as text; None: none given.
    parameters = db.Column(db.JSON, nullable=True)
    # The sweep that made the run, if any (app/sweeps): its uuid, so that
    # the run's JSON needs no join to show it.
    sweep_uuid = db.Column(db.String(32), db.ForeignKey("sweep.uuid"), nullable=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    started_at = db.Column(db.DateTime(timezone=True), nullable=True)
    completed_at = db.Column(db.DateTime(timezone=True), nullable=True)
    # How many times a worker has set the run RUNNING: the attempt whose
    # reports the API takes (docs/adr/0010-worker-loss-recovery.md).
    attempt = db.Column(db.Integer, nullable=False, server_default="0")
    # The last report of the worker that has the run: the recovery sweep
    # settles RUNNING runs whose worker has been silent for too long. For a
    # NOT_STARTED run, when the sweep last sent its task (None: at creation).
    heartbeat_at = db.Column(db.DateTime(timezone=True), nullable=True)
    # The simulated clock as the worker last reported it ({clock, start,
    # stop, fraction}, docs/api.md), and how many reports changed it: the
    # progress part of an event id (events.py).
    progress = db.Column(db.JSON, nullable=True)
    progress_seq = db.Column(db.Integer, nullable=False, server_default="0")
    # The run's JSON once it is final, for listings (final_json.py).
    final_json = db.deferred(db.Column(db.Text, nullable=True))
    # The workflow run this run is a node of, if any: a state change then
    # moves the workflow on (app/workflows/engine.py) without a lookup.
    workflow_run_id = db.Column(db.Integer, db.ForeignKey("workflow_run.id"), nullable=True)

    pipeline = db.relationship("Pipeline", lazy="joined", innerjoin=True)
    states = db.relationship("RunStateChange", order_by="RunStateChange.id", cascade="all, delete-orphan")
    artifacts = db.relationship(
        "Artifact", order_by="Artifact.id", cascade="all, delete-orphan", back_populates="run"
    )


db.Index("ix_run_pipeline_state", Run.pipeline_id, Run.state)
# The sweep's search: RUNNING runs by their last sign of life.
db.Index("ix_run_state_heartbeat", Run.state, Run.heartbeat_at)
# A sweep's runs in order, and its counts per state.
db.Index("ix_run_sweep_sequence", Run.sweep_uuid, Run.sequence)
db.Index("ix_run_sweep_state", Run.sweep_uuid, Run.state)


class RunStateChange(db.Model):
    """One entry of a run's state history."""

    __tablename__ = "run_state"

    id = db.Column(db.Integer, primary_key=True)
    run_id = db.Column(db.Integer, db.ForeignKey("run.id"), nullable=False, index=True)
    state = db.Column(db.String(16), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


class ConsoleChunk(db.Model):
    """A piece of a run's console output; the console is their concatenation.

    Appending inserts a row, so a long simulation's output costs in proportion
    to its length instead of rewriting one ever-growing value.
    """

    __tablename__ = "console_chunk"

    id = db.Column(db.Integer, primary_key=True)
    run_id = db.Column(db.Integer, db.ForeignKey("run.id"), nullable=False)
    stream = db.Column(db.String(8), nullable=False)
    text = db.Column(db.Text, nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


db.Index("ix_console_chunk_run_id_id", ConsoleChunk.run_id, ConsoleChunk.id)
