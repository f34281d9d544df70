"""Tables of workflows: DAGs of pipelines, and their runs.

A workflow's nodes (``WorkflowPipeline``) and its edges can change at any
time; each workflow run keeps the edges as they were when it was created
(``WorkflowPipelineRun.source_run_ids``), so later edits never change it.
"""

from roles.models import db, utcnow

from ..ids import new_uuid
from .states import WorkflowRunState


class Workflow(db.Model):
    __tablename__ = "workflow"

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    name = db.Column(db.String(50), nullable=False)
    description = db.Column(db.String(300), nullable=True)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow, onupdate=utcnow)
    deleted_at = db.Column(db.DateTime(timezone=True), nullable=True)


class WorkflowPipeline(db.Model):
    """A node of a workflow: one pipeline, run once per workflow run."""

    __tablename__ = "workflow_pipeline"

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    workflow_id = db.Column(db.Integer, db.ForeignKey("workflow.id"), nullable=False, index=True)
    pipeline_id = db.Column(db.Integer, db.ForeignKey("pipeline.id"), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    deleted_at = db.Column(db.DateTime(timezone=True), nullable=True)

    pipeline = db.relationship("Pipeline", lazy="joined", innerjoin=True)


class WorkflowPipelineEdge(db.Model):
    """``source_id``'s run comes before ``destination_id``'s; the edges of
    live nodes only (deleting a node deletes its edges)."""

    __tablename__ = "workflow_pipeline_edge"
    __table_args__ = (db.UniqueConstraint("source_id", "destination_id"),)

    id = db.Column(db.Integer, primary_key=True)
    source_id = db.Column(db.Integer, db.ForeignKey("workflow_pipeline.id"), nullable=False)
    destination_id = db.Column(db.Integer, db.ForeignKey("workflow_pipeline.id"), nullable=False, index=True)


class WorkflowRun(db.Model):
    __tablename__ = "workflow_run"

    id = db.Column(db.Integer, primary_key=True)
    uuid = db.Column(db.String(32), nullable=False, unique=True, default=new_uuid)
    workflow_id = db.Column(db.Integer, db.ForeignKey("workflow.id"), nullable=False)
    state = db.Column(db.String(16), nullable=False, default=WorkflowRunState.NOT_STARTED.value)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)
    started_at = db.Column(db.DateTime(timezone=True), nullable=True)
    completed_at = db.Column(db.DateTime(timezone=True), nullable=True)

    states = db.relationship(
        "WorkflowRunStateChange", order_by="WorkflowRunStateChange.id", cascade="all, delete-orphan"
    )
    node_runs = db.relationship(
        "WorkflowPipelineRun", order_by="WorkflowPipelineRun.id", cascade="all, delete-orphan"
    )


db.Index("ix_workflow_run_workflow_id_id", WorkflowRun.workflow_id, WorkflowRun.id)


class WorkflowRunStateChange(db.Model):
    __tablename__ = "workflow_run_state"

    id = db.Column(db.Integer, primary_key=True)
    workflow_run_id = db.Column(db.Integer, db.ForeignKey("workflow_run.id"), nullable=False, index=True)
    state = db.Column(db.String(16), nullable=False)
    created_at = db.Column(db.DateTime(timezone=True), nullable=False, default=utcnow)


class WorkflowPipelineRun(db.Model):
    """One node's pipeline run within a workflow run, with the node's sources
    as they were at the workflow run's creation (their runs' ids)."""

    __tablename__ = "workflow_pipeline_run"

    id = db.Column(db.Integer, primary_key=True)
    workflow_run_id = db.Column(db.Integer, db.ForeignKey("workflow_run.id"), nullable=False, index=True)
    workflow_pipeline_id = db.Column(db.Integer, db.ForeignKey("workflow_pipeline.id"), nullable=False)
    run_id = db.Column(db.Integer, db.ForeignKey("run.id"), nullable=False, unique=True)
    source_run_ids = db.Column(db.JSON, nullable=False, default=list)

    node = db.relationship("WorkflowPipeline", lazy="joined", innerjoin=True)
    run = db.relationship("Run", lazy="joined", innerjoin=True)


class RunInputArtifact(db.Model):
    """An artifact given to a run as one of its inputs: what a worker's key
    may download (docs/adr/0021-workers-reading-upstream-artifacts.md)."""

    __tablename__ = "run_input_artifact"
    __table_args__ = (db.UniqueConstraint("artifact_id", "run_id"),)

    id = db.Column(db.Integer, primary_key=True)
    run_id = db.Column(db.Integer, db.ForeignKey("run.id"), nullable=False)
    artifact_id = db.Column(db.Integer, db.ForeignKey("artifact.id"), nullable=False)
