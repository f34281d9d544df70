"""Validation and JSON shape of workflows, their nodes and their runs."""

from marshmallow import Schema, fields, validate

from ..fields import UtcDateTime, bounded_text
from ..runs.schemas import RunCreateSchema, RunInputSchema

MAX_NODE_EDGES = 100


class WorkflowInputSchema(Schema):
    """What a client may send to create or replace a workflow (as for pipelines)."""

    name = bounded_text(50, minimum=1, required=True)
    description = bounded_text(300, allow_none=True)


class WorkflowSchema(Schema):
    uuid = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class WorkflowSearchSchema(Schema):
    uuids = fields.List(bounded_text(64), required=True, validate=validate.Length(max=1000))


def _node_list():
    return fields.List(bounded_text(64), load_default=list, validate=validate.Length(max=MAX_NODE_EDGES))


class NodeInputSchema(Schema):
    """A node: a pipeline, and the nodes of the same workflow before and after it."""

    pipeline_uuid = bounded_text(64, minimum=1, required=True)
    source_workflow_pipelines = _node_list()
    destination_workflow_pipelines = _node_list()


class WorkflowRunCreateSchema(RunCreateSchema):
    """As for a run, ``inputs`` (required: ``[]`` is fine) and ``callback_url``;
    every node's run starts with these inputs."""

    inputs = fields.List(fields.Nested(RunInputSchema), required=True, validate=validate.Length(max=100))


workflow_input = WorkflowInputSchema()
workflow_output = WorkflowSchema()
workflows_output = WorkflowSchema(many=True)
workflow_search = WorkflowSearchSchema()
node_input = NodeInputSchema()
workflow_run_create = WorkflowRunCreateSchema()
