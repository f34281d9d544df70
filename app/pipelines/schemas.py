"""Validation and JSON shape of pipelines."""

from marshmallow import Schema, fields, validate

from ..fields import StrictBoolean, UtcDateTime, bounded_text, git_url, relative_path
from ..ids import UUID_PATTERN

MAX_TIMEOUT_SECONDS = 7 * 24 * 3600


def _about(text, **more):
    return {"metadata": {"description": text, **more}}


class PipelineInputSchema(Schema):
    """A pipeline as a client defines it. Strings must not contain NUL.
    PUT is a full update: fields left out go back to their defaults."""

    name = bounded_text(50, minimum=1, required=True)
    description = bounded_text(300, allow_none=True)
    repository_ssh_url = bounded_text(
        2048,
        allow_none=True,
        validate=git_url,
        **_about(
            "Git URL of the checkout that holds the model files: "
            "ssh://, https://, http://, git://, file:// or user@host:path."
        ),
    )
    repository_branch = bounded_text(
        255, minimum=1, allow_none=True, **_about("Default: the repository's default branch.")
    )
    model = bounded_text(
        255,
        minimum=1,
        validate=relative_path,
        **_about(
            "The .glm file to run, relative to the working directory: no absolute path, no '..'.",
            default="model.glm",
        ),
    )
    arguments = fields.List(
        bounded_text(4096),
        validate=validate.Length(max=100),
        **_about("Extra gridlabd arguments, passed as argv (never through a shell)."),
    )
    timeout = fields.Integer(
        allow_none=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_TIMEOUT_SECONDS),
        **_about("Seconds a run may take before it is stopped and FAILED."),
    )
    network = StrictBoolean(
        **_about(
            "Whether the simulation may reach the network from its sandbox "
            "(#system commands, the engine). Off: no network at all, loopback included.",
            default=False,
        )
    )


class PipelineSchema(Schema):
    uuid = fields.String(metadata={"pattern": UUID_PATTERN})
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
