"""Reads of workflows, their nodes and their runs. Soft-deleted workflows
and nodes are left out."""

from sqlalchemy.orm import selectinload

from roles.models import db

from ..errors import NotFound
from ..ids import is_uuid
from ..runs.models import Run
from .models import Workflow, WorkflowPipeline, WorkflowPipelineEdge, WorkflowPipelineRun, WorkflowRun


def _live():
    return db.select(Workflow).where(Workflow.deleted_at.is_(None))


def get_workflow(workflow_uuid):
    """The live workflow with this uuid, or a 404."""
    if is_uuid(workflow_uuid):
        workflow = db.session.execute(_live().where(Workflow.uuid == workflow_uuid)).scalar_one_or_none()
        if workflow is not None:
            return workflow
    raise NotFound("Workflow")


def list_workflows(limit=None, offset=0):
    query = _live().order_by(Workflow.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).scalars().all()


def find_workflows(uuids):
    query = _live().where(Workflow.uuid.in_(uuids)).order_by(Workflow.id)
    return db.session.execute(query).scalars().all()


def live_nodes(workflow):
    """The workflow's nodes, oldest first, each with its pipeline."""
    return (
        db.session.execute(
            db.select(WorkflowPipeline)
            .where(WorkflowPipeline.workflow_id == workflow.id, WorkflowPipeline.deleted_at.is_(None))
            .order_by(WorkflowPipeline.id)
        )
        .scalars()
        .all()
    )


def get_node(workflow, node_uuid):
    """The live node ``node_uuid`` of ``workflow``, or a 404."""
    if is_uuid(node_uuid):
        node = db.session.execute(
            db.select(WorkflowPipeline).where(
                WorkflowPipeline.uuid == node_uuid,
                WorkflowPipeline.workflow_id == workflow.id,
                WorkflowPipeline.deleted_at.is_(None),
            )
        ).scalar_one_or_none()
        if node is not None:
            return node
    raise NotFound("Workflow pipeline")


def edges(workflow):
    """``(source_id, destination_id)`` of every edge between the workflow's nodes."""
    source = db.aliased(WorkflowPipeline)
    return [
        tuple(row)
        for row in db.session.execute(
            db.select(WorkflowPipelineEdge.source_id, WorkflowPipelineEdge.destination_id)
            .join(source, source.id == WorkflowPipelineEdge.source_id)
            .where(source.workflow_id == workflow.id)
            .order_by(WorkflowPipelineEdge.id)
        )
    ]


def _with_node_runs(query):
    return query.options(
        selectinload(WorkflowRun.states),
        selectinload(WorkflowRun.node_runs)
        .joinedload(WorkflowPipelineRun.run)
        .options(selectinload(Run.states), selectinload(Run.artifacts)),
    )


def get_workflow_run(workflow, run_uuid):
    """The run ``run_uuid`` of ``workflow`` with its nodes' runs, or a 404."""
    if is_uuid(run_uuid):
        workflow_run = db.session.execute(
            _with_node_runs(
                db.select(WorkflowRun).where(
                    WorkflowRun.uuid == run_uuid, WorkflowRun.workflow_id == workflow.id
                )
            )
        ).scalar_one_or_none()
        if workflow_run is not None:
            return workflow_run
    raise NotFound("Workflow run")


def list_workflow_runs(workflow, limit=None, offset=0):
    """A page of the workflow's runs, oldest first: a handful of queries
    however long the page."""
    query = db.select(WorkflowRun).where(WorkflowRun.workflow_id == workflow.id).order_by(WorkflowRun.id)
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(_with_node_runs(query)).scalars().all()
