"""HTTP endpoints of workflows: /v1/workflows, their nodes and their runs.

The OpenAPI description of each endpoint is the YAML after ``---`` in its
docstring; the shared pieces it refers to are in ``app/openapi.py``.
"""

from flask import Blueprint

from ..fields import json_body, query_int
from ..permissions import client_only
from ..runs.streaming import event_stream
from . import queries, services
from .events import WorkflowRunEvents
from .output import node_output, workflow_run_output
from .schemas import (
    node_input,
    workflow_input,
    workflow_output,
    workflow_run_create,
    workflow_search,
    workflows_output,
)

blueprint = Blueprint("workflows", __name__, url_prefix="/v1/workflows")


def _nodes_output(workflow, nodes):
    """The nodes' JSON, their neighbours from one read of the edges."""
    uuids = {node.id: node.uuid for node in queries.live_nodes(workflow)}
    sources, destinations = {}, {}
    for source, destination in queries.edges(workflow):
        sources.setdefault(destination, []).append(uuids[source])
        destinations.setdefault(source, []).append(uuids[destination])
    return [node_output(node, sources.get(node.id, []), destinations.get(node.id, [])) for node in nodes]


@blueprint.route("", methods=["POST"])
@client_only
def create_workflow():
    """Define a workflow: a DAG of pipelines, whose nodes are added after.
    ---
    tags: [workflows]
    body: WorkflowInput
    responses:
      201: The new workflow. => Workflow
    """
    workflow = services.create_workflow(workflow_input.load(json_body()))
    return workflow_output.dump(workflow), 201


@blueprint.route("", methods=["GET"])
@client_only
def list_workflows():
    """List the workflows, oldest first.
    ---
    tags: [workflows]
    parameters: [Limit, Offset]
    responses:
      200: A page of workflows. => [Workflow]
    """
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    return workflows_output.dump(queries.list_workflows(limit, offset))


@blueprint.route("/search", methods=["POST"])
@client_only
def search_workflows():
    """Find workflows by uuid.

    Unknown and deleted workflows are left out; at most 1,000 uuids a call.
    ---
    tags: [workflows]
    body: WorkflowSearch
    responses:
      200: The workflows among those uuids that exist, oldest first. => [Workflow]
    """
    uuids = workflow_search.load(json_body())["uuids"]
    return workflows_output.dump(queries.find_workflows(uuids))


@blueprint.route("/<workflow_uuid>", methods=["GET"])
@client_only
def get_workflow(workflow_uuid):
    """Read a workflow.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid]
    responses:
      200: The workflow. => Workflow
    """
    return workflow_output.dump(queries.get_workflow(workflow_uuid))


@blueprint.route("/<workflow_uuid>", methods=["PUT"])
@client_only
def replace_workflow(workflow_uuid):
    """Replace a workflow's name and description (a full update).
    ---
    tags: [workflows]
    parameters: [WorkflowUuid]
    body: WorkflowInput
    responses:
      200: The workflow as it is now. => Workflow
    """
    workflow = queries.get_workflow(workflow_uuid)
    fields = workflow_input.load(json_body())
    return workflow_output.dump(services.replace_workflow(workflow, fields))


@blueprint.route("/<workflow_uuid>", methods=["DELETE"])
@client_only
def delete_workflow(workflow_uuid):
    """Delete a workflow (soft delete: later reads of it, its nodes and its runs are 404s).

    Its runs already going are not stopped; cancel them first if need be.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid]
    responses:
      204: Deleted.
    """
    services.delete_workflow(queries.get_workflow(workflow_uuid))
    return "", 204


@blueprint.route("/<workflow_uuid>/pipelines", methods=["POST"])
@client_only
def create_node(workflow_uuid):
    """Add a node: a pipeline, with edges from its sources and to its destinations.

    Sources and destinations are uuids of this workflow's nodes. An unknown
    pipeline or node, a node of another workflow, or edges that would close
    a cycle (the message names the cycle's nodes) are a 400.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid]
    body: WorkflowPipelineInput
    responses:
      201: The new node. => WorkflowPipeline
    """
    workflow = queries.get_workflow(workflow_uuid)
    node = services.create_node(workflow, node_input.load(json_body()))
    return _nodes_output(workflow, [node])[0], 201


@blueprint.route("/<workflow_uuid>/pipelines", methods=["GET"])
@client_only
def list_nodes(workflow_uuid):
    """List a workflow's nodes, oldest first.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid]
    responses:
      200: The nodes, with their edges. => [WorkflowPipeline]
    """
    workflow = queries.get_workflow(workflow_uuid)
    return _nodes_output(workflow, queries.live_nodes(workflow))


@blueprint.route("/<workflow_uuid>/pipelines/<node_uuid>", methods=["GET"])
@client_only
def get_node(workflow_uuid, node_uuid):
    """Read a node.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid, WorkflowPipelineUuid]
    responses:
      200: The node. => WorkflowPipeline
    """
    workflow = queries.get_workflow(workflow_uuid)
    return _nodes_output(workflow, [queries.get_node(workflow, node_uuid)])[0]


@blueprint.route("/<workflow_uuid>/pipelines/<node_uuid>", methods=["PUT"])
@client_only
def replace_node(workflow_uuid, node_uuid):
    """Replace a node (a full update): its pipeline, sources and destinations.

    The workflow's runs made before keep the node as it was.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid, WorkflowPipelineUuid]
    body: WorkflowPipelineInput
    responses:
      200: The node as it is now. => WorkflowPipeline
    """
    workflow = queries.get_workflow(workflow_uuid)
    node = queries.get_node(workflow, node_uuid)
    node = services.replace_node(workflow, node, node_input.load(json_body()))
    return _nodes_output(workflow, [node])[0]


@blueprint.route("/<workflow_uuid>/pipelines/<node_uuid>", methods=["DELETE"])
@client_only
def delete_node(workflow_uuid, node_uuid):
    """Delete a node and its edges (soft delete); runs made before keep it.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid, WorkflowPipelineUuid]
    responses:
      204: Deleted.
    """
    workflow = queries.get_workflow(workflow_uuid)
    services.delete_node(queries.get_node(workflow, node_uuid))
    return "", 204


@blueprint.route("/<workflow_uuid>/runs", methods=["POST"])
@client_only
def create_workflow_run(workflow_uuid):
    """Start a workflow run: one pipeline run per node.

    Every node's run starts with the request's inputs. Nodes without
    sources are queued for a worker at once (NOT_STARTED); the others wait
    QUEUED until all their sources COMPLETED, and then get one more input
    per artifact of those sources' runs. A workflow without nodes is a 400;
    if the task queue cannot take the runs, 503 and nothing is kept.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid]
    body: WorkflowRunCreate
    responses:
      201: The new workflow run. => WorkflowRun
    """
    workflow = queries.get_workflow(workflow_uuid)
    fields = workflow_run_create.load(json_body())
    workflow_run = services.create_workflow_run(workflow, fields["inputs"], fields.get("callback_url"))
    return workflow_run_output(workflow_run, workflow.uuid), 201


@blueprint.route("/<workflow_uuid>/runs", methods=["GET"])
@client_only
def list_workflow_runs(workflow_uuid):
    """List a workflow's runs, oldest first.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid, Limit, Offset]
    responses:
      200: A page of workflow runs. => [WorkflowRun]
    """
    workflow = queries.get_workflow(workflow_uuid)
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    page = queries.list_workflow_runs(workflow, limit, offset)
    return [workflow_run_output(workflow_run, workflow.uuid) for workflow_run in page]


@blueprint.route("/<workflow_uuid>/runs/<workflow_run_uuid>/events", methods=["GET"])
@client_only
def workflow_run_events(workflow_uuid, workflow_run_uuid):
    """Follow a workflow run: its nodes' runs' state changes and counts, as Server-Sent Events.

    As a sweep's stream: a `counts` event (`{"counts", "state"}`, the state
    being the workflow run's) first, then a `run` event per state change of
    a node's run, each followed by the counts; ids are the last state
    change sent, for `Last-Event-ID`; the stream ends once the workflow run
    is final.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid, WorkflowRunUuid, GroupLastEventId]
    responses:
      200:
        description: The workflow run's events, until it is final.
        content:
          text/event-stream:
            schema: {$ref: '#/components/schemas/GroupEventStream'}
    """
    workflow = queries.get_workflow(workflow_uuid)
    return event_stream(WorkflowRunEvents(queries.get_workflow_run(workflow, workflow_run_uuid).id))


@blueprint.route("/<workflow_uuid>/runs/<workflow_run_uuid>", methods=["GET"])
@client_only
def get_workflow_run(workflow_uuid, workflow_run_uuid):
    """Read a workflow run, with each node's pipeline run.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid, WorkflowRunUuid]
    responses:
      200: The workflow run. => WorkflowRun
    """
    workflow = queries.get_workflow(workflow_uuid)
    return workflow_run_output(queries.get_workflow_run(workflow, workflow_run_uuid), workflow.uuid)


@blueprint.route("/<workflow_uuid>/runs/<workflow_run_uuid>/cancel", methods=["POST"])
@client_only
def cancel_workflow_run(workflow_uuid, workflow_run_uuid):
    """Cancel a workflow run and every node's run not final; 409 if it already ended.
    ---
    tags: [workflows]
    parameters: [WorkflowUuid, WorkflowRunUuid]
    responses:
      200: The workflow run, CANCELLED. => WorkflowRun
    errors: [409]
    """
    workflow = queries.get_workflow(workflow_uuid)
    workflow_run = queries.get_workflow_run(workflow, workflow_run_uuid)
    return workflow_run_output(services.cancel_workflow_run(workflow, workflow_run), workflow.uuid)
