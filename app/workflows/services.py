"""Writes of workflows: the workflows, their nodes and edges, their runs."""

from marshmallow import ValidationError

from roles.models import db, utcnow

from ..broker import EXECUTE_PIPELINE, broker
from ..errors import ApiError, Conflict, ServiceUnavailable
from ..ids import new_uuid
from ..pipelines.models import Pipeline
from ..runs.models import ConsoleChunk, Run, RunStateChange
from ..runs.services import insert_run, task_arguments
from ..runs.states import RunState
from . import engine, queries
from .dag import find_cycle
from .models import (
    Workflow,
    WorkflowPipeline,
    WorkflowPipelineEdge,
    WorkflowPipelineRun,
    WorkflowRun,
    WorkflowRunStateChange,
)
from .states import FINAL_WORKFLOW_STATES, WorkflowRunState

SOURCES, DESTINATIONS = "source_workflow_pipelines", "destination_workflow_pipelines"


def create_workflow(fields):
    workflow = Workflow(**{"description": None, **fields})
    db.session.add(workflow)
    db.session.commit()
    return workflow


def replace_workflow(workflow, fields):
    workflow.name = fields["name"]
    workflow.description = fields.get("description")
    db.session.commit()
    return workflow


def delete_workflow(workflow):
    workflow.deleted_at = utcnow()
    db.session.commit()


def _pipeline(pipeline_uuid):
    pipeline = db.session.execute(
        db.select(Pipeline).where(Pipeline.uuid == pipeline_uuid, Pipeline.deleted_at.is_(None))
    ).scalar_one_or_none()
    if pipeline is None:
        raise ValidationError({"pipeline_uuid": [f"No pipeline {pipeline_uuid}."]})
    return pipeline


def _node_ids(uuids, nodes, field, node):
    """The ids of the live nodes ``uuids`` name; 400 for any other uuid
    (unknown, deleted, of another workflow) or for the node itself."""
    by_uuid = {other.uuid: other.id for other in nodes}
    unknown = [uuid for uuid in uuids if uuid not in by_uuid]
    if unknown:
        raise ValidationError({field: [f"Not a node of this workflow: {', '.join(unknown)}."]})
    if node is not None and node.uuid in uuids:
        raise ValidationError({field: [f"Node {node.uuid} cannot be its own neighbour: that is a cycle."]})
    return list(dict.fromkeys(by_uuid[uuid] for uuid in uuids))


def _set_edges(workflow, node, nodes, fields):
    """Replace the edges of ``node`` with those ``fields`` give; 400 if they
    would close a cycle (the message names its nodes)."""
    sources = _node_ids(fields[SOURCES], nodes, SOURCES, node)
    destinations = _node_ids(fields[DESTINATIONS], nodes, DESTINATIONS, node)
    kept = [edge for edge in queries.edges(workflow) if node.id not in edge]
    proposed = kept + [(source, node.id) for source in sources] + [(node.id, dest) for dest in destinations]
    cycle = find_cycle(proposed)
    if cycle is not None:
        uuids = {other.id: other.uuid for other in [*nodes, node]}
        path = " -> ".join(uuids[node_id] for node_id in cycle)
        field = SOURCES if sources else DESTINATIONS
        raise ValidationError({field: [f"Adding node {node.uuid}'s edges would close a cycle: {path}."]})
    table = WorkflowPipelineEdge.__table__
    db.session.execute(
        db.delete(table).where(db.or_(table.c.source_id == node.id, table.c.destination_id == node.id))
    )
    for source, destination in proposed[len(kept) :]:
        db.session.add(WorkflowPipelineEdge(source_id=source, destination_id=destination))


def create_node(workflow, fields):
    pipeline = _pipeline(fields["pipeline_uuid"])
    nodes = queries.live_nodes(workflow)
    node = WorkflowPipeline(uuid=new_uuid(), workflow_id=workflow.id, pipeline=pipeline)
    db.session.add(node)
    db.session.flush()
    try:
        _set_edges(workflow, node, nodes, fields)
    except ValidationError:
        db.session.rollback()
        raise
    db.session.commit()
    return node


def replace_node(workflow, node, fields):
    """A full update: its pipeline and both lists of neighbours."""
    pipeline = _pipeline(fields["pipeline_uuid"])
    nodes = [other for other in queries.live_nodes(workflow) if other.id != node.id]
    try:
        _set_edges(workflow, node, nodes, fields)
    except ValidationError:
        db.session.rollback()
        raise
    node.pipeline = pipeline
    db.session.commit()
    return node


def delete_node(node):
    """Soft delete: its edges go; the workflow runs made before keep theirs."""
    table = WorkflowPipelineEdge.__table__
    db.session.execute(
        db.delete(table).where(db.or_(table.c.source_id == node.id, table.c.destination_id == node.id))
    )
    node.deleted_at = utcnow()
    db.session.commit()


def create_workflow_run(workflow, inputs, callback_url=None):
    """A pipeline run for every node, the edges copied; the nodes without
    sources queued for a worker, the others QUEUED until theirs COMPLETED.

    Committed before the tasks are sent (docs/adr/0005-enqueue-after-commit.md);
    if the task queue refuses one, nothing is kept and the answer is 503.
    """
    nodes = queries.live_nodes(workflow)
    if not nodes:
        raise ApiError(400, "The workflow has no pipelines: add one before starting a run.")
    gone = [node.uuid for node in nodes if node.pipeline.deleted_at is not None]
    if gone:
        raise ApiError(400, f"The pipelines of these nodes were deleted: {', '.join(gone)}.")
    sources_of = {node.id: [] for node in nodes}
    for source, destination in queries.edges(workflow):
        sources_of[destination].append(source)
    now = utcnow()
    workflow_run = WorkflowRun(
        uuid=new_uuid(), workflow_id=workflow.id, state=WorkflowRunState.NOT_STARTED.value, created_at=now
    )
    db.session.add(workflow_run)
    db.session.flush()
    db.session.add(
        WorkflowRunStateChange(
            workflow_run_id=workflow_run.id, state=WorkflowRunState.NOT_STARTED.value, created_at=now
        )
    )
    run_ids = {}
    for node in nodes:
        state = RunState.QUEUED if sources_of[node.id] else RunState.NOT_STARTED
        values = {
            "uuid": new_uuid(),
            "pipeline_id": node.pipeline_id,
            "state": state.value,
            "inputs": inputs,
            "callback_url": callback_url,
            "created_at": now,
            "workflow_run_id": workflow_run.id,
        }
        run_ids[node.id], _ = insert_run(values, {"state": state.value, "created_at": now})
    for node in nodes:
        db.session.add(
            WorkflowPipelineRun(
                workflow_run_id=workflow_run.id,
                workflow_pipeline_id=node.id,
                run_id=run_ids[node.id],
                source_run_ids=[run_ids[source] for source in sources_of[node.id]],
            )
        )
    workflow_run_id, workflow_run_uuid = workflow_run.id, workflow_run.uuid
    db.session.commit()
    workflow_run = queries.get_workflow_run(workflow, workflow_run_uuid)
    roots = [link.run for link in workflow_run.node_runs if link.run.state == RunState.NOT_STARTED.value]
    try:
        for run in roots:
            broker.send(EXECUTE_PIPELINE, **task_arguments(run.pipeline, run))
    except ServiceUnavailable:
        _forget(workflow_run_id, list(run_ids.values()))
        raise
    return workflow_run


def _forget(workflow_run_id, run_ids):
    """Delete a workflow run whose tasks could not all be sent."""
    db.session.rollback()
    for model, column in (
        (WorkflowPipelineRun, WorkflowPipelineRun.workflow_run_id),
        (WorkflowRunStateChange, WorkflowRunStateChange.workflow_run_id),
    ):
        db.session.execute(db.delete(model).where(column == workflow_run_id))
    for model in (ConsoleChunk, RunStateChange):
        db.session.execute(db.delete(model).where(model.run_id.in_(run_ids)))
    db.session.execute(db.delete(Run).where(Run.id.in_(run_ids)))
    db.session.execute(db.delete(WorkflowRun).where(WorkflowRun.id == workflow_run_id))
    db.session.commit()


def cancel_workflow_run(workflow, workflow_run):
    """CANCELLED with every node not final; 409 if it already ended."""
    state = engine.lock(workflow_run.id)
    if WorkflowRunState(state) in FINAL_WORKFLOW_STATES:
        db.session.rollback()
        raise Conflict(f"The workflow run is {state}; it can no longer be cancelled.")
    db.session.refresh(workflow_run)
    followup = engine.cancel(workflow_run, utcnow())
    db.session.commit()
    followup.send()
    return queries.get_workflow_run(workflow, workflow_run.uuid)
