"""Validation and JSON shape of pipelines."""

from marshmallow import Schema, fields, validate

from ..fields import StrictBoolean, UtcDateTime, bounded_text, git_url, relative_path

MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


class PipelineInputSchema(Schema):
    """What a client may send to create or replace a pipeline."""

    name = bounded_text(50, minimum=1, required=True)
    description = bounded_text(300, allow_none=True)
    repository_ssh_url = bounded_text(2048, allow_none=True, validate=git_url)
    repository_branch = bounded_text(255, minimum=1, allow_none=True)
    model = bounded_text(255, minimum=1, validate=relative_path)
    arguments = fields.List(bounded_text(4096), validate=validate.Length(max=100))
    timeout = fields.Integer(
        allow_none=True, strict=True, validate=validate.Range(min=1, max=MAX_TIMEOUT_SECONDS)
    )
    network = StrictBoolean()


class PipelineSchema(Schema):
    uuid = fields.String()
    name = fields.String()
    description = fields.String(allow_none=True)
    repository_ssh_url = fields.String(allow_none=True)
    repository_branch = fields.String(allow_none=True)
    model = fields.String()
    arguments = fields.List(fields.String())
    timeout = fields.Integer(allow_none=True)
    network = fields.Boolean()
    created_at = UtcDateTime()
    updated_at = UtcDateTime()


class PipelineSearchSchema(Schema):
    uuids = fields.List(bounded_text(64), required=True, validate=validate.Length(max=1000))


pipeline_input = PipelineInputSchema()
pipeline_output = PipelineSchema()
pipelines_output = PipelineSchema(many=True)
pipeline_search = PipelineSearchSchema()
