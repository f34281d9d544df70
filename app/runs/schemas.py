"""Validation and JSON shape of runs, states and console."""

from datetime import datetime

from flask import current_app, has_app_context
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..artifacts.schemas import ArtifactSchema
from ..fields import (
    Text,
    UtcDateTime,
    bounded_text,
    plain_file_name,
    url_with_scheme,
)
from ..ids import UUID_PATTERN
from .parameters import Parameters
from .states import STATE_NAMES

MAX_CONSOLE_CHARS = 16 * 1024 * 1024


_WEB_URL = url_with_scheme({"http", "https"}, own_urls=True)
_WEB_OR_FILE_URL = url_with_scheme({"http", "https", "file"}, own_urls=True)


def input_url(value):
    """http(s); file:// too only where ALLOW_FILE_URLS says so (the quick start)."""
    if has_app_context() and current_app.config.get("ALLOW_FILE_URLS"):
        return _WEB_OR_FILE_URL(value)
    if value[:5].lower() == "file:":
        raise ValidationError(
            "file:// URLs are not accepted by this service (its ALLOW_FILE_URLS is off); "
            "give an http or https URL."
        )
    return _WEB_URL(value)


class RunInputSchema(Schema):
    """A file the worker downloads into the run's working directory."""

    name = bounded_text(
        255,
        minimum=1,
        required=True,
        validate=plain_file_name,
        metadata={
            "pattern": r"^[^/\\]+$",
            "description": "A plain file name: no '/', '\\', NUL, '.' or '..'. Unique within a run.",
        },
    )
    url = bounded_text(
        2048,
        minimum=1,
        required=True,
        validate=input_url,
        metadata={
            "description": "An http or https URL (file:// only where the API's ALLOW_FILE_URLS allows it)."
        },
    )


class RunCreateSchema(Schema):
    # Required, as the original had it; [] is a run without inputs.
    inputs = fields.List(fields.Nested(RunInputSchema), required=True, validate=validate.Length(max=100))
    callback_url = bounded_text(
        2048,
        minimum=1,
        allow_none=True,
        validate=url_with_scheme({"http", "https"}),
        metadata={
            "description": 'http or https URL that gets {"pipeline_run_uuid": ..., "state": ...} '
            "POSTed on every state change."
        },
    )
    parameters = Parameters()

    @validates_schema
    def names_are_unique(self, data, **kwargs):
        names = [item["name"] for item in data.get("inputs", [])]
        if len(names) != len(set(names)):
            raise ValidationError("Input names must be unique within a run.", "inputs")


class StateInputSchema(Schema):
    """A run's state. NOT_STARTED -> RUNNING -> COMPLETED | FAILED, and
    CANCELLED from NOT_STARTED or RUNNING; any other change is a 409."""

    state = fields.String(required=True, validate=validate.OneOf(STATE_NAMES))


class ConsoleSchema(Schema):
    """A whole console: both streams, as the original's PUT required."""

    std_out = Text(required=True, validate=validate.Length(max=MAX_CONSOLE_CHARS))
    std_err = Text(required=True, validate=validate.Length(max=MAX_CONSOLE_CHARS))


def iso_time(text):
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError("Not an ISO 8601 time.") from None


class ProgressSchema(Schema):
    """The simulated clock of a run, as its worker reports it: times as the
    engine gives them in ISO 8601 (with the model's UTC offset when known)."""

    clock = bounded_text(40, minimum=1, required=True, validate=iso_time)
    start = bounded_text(40, minimum=1, required=True, validate=iso_time)
    stop = bounded_text(40, minimum=1, required=True, allow_none=True, validate=iso_time)
    fraction = fields.Float(
        required=True, allow_none=True, allow_nan=False, validate=validate.Range(min=0, max=1)
    )

    @validates_schema
    def fraction_needs_stop(self, data, **kwargs):
        if (data.get("stop") is None) != (data.get("fraction") is None):
            raise ValidationError("stop and fraction are given together, or both null.")


class ConsoleAppendSchema(Schema):
    """Appended to either stream or both; at least one field."""

    std_out = Text(validate=validate.Length(max=MAX_CONSOLE_CHARS))
    std_err = Text(validate=validate.Length(max=MAX_CONSOLE_CHARS))
    # The run's progress, carried with the console so that a worker makes one
    # request a second, not two.
    progress = fields.Nested(ProgressSchema)

    @validates_schema
    def something_to_append(self, data, **kwargs):
        if not data:
            raise ValidationError("Give std_out, std_err, progress or any of them.")


class EmptySchema(Schema):
    """A body that holds nothing: ``{}`` (unknown fields are refused)."""


class StateChangeSchema(Schema):
    state = fields.String(metadata={"enum": STATE_NAMES})
    created_at = UtcDateTime()


class InputSchema(Schema):
    name = fields.String()
    url = fields.String()


class RunSchema(Schema):
    uuid = fields.String(metadata={"pattern": UUID_PATTERN})
    pipeline_uuid = fields.Function(
        lambda run: run.pipeline.uuid, metadata={"type": "string", "pattern": UUID_PATTERN}
    )
    sequence = fields.Integer(metadata={"minimum": 1, "description": "1, 2, ... per pipeline."})
    state = fields.String(metadata={"enum": STATE_NAMES})
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    progress = fields.Nested(ProgressSchema, allow_none=True)
    inputs = fields.List(fields.Nested(InputSchema))
    callback_url = fields.String(allow_none=True)
    parameters = fields.Function(
        lambda run: run.parameters or {},
        metadata={
            "type": "object",
            "additionalProperties": {"type": "string"},
            "description": "The run's parameters, values as text.",
        },
    )
    sweep_uuid = fields.String(
        allow_none=True, metadata={"description": "The sweep the run belongs to, or null."}
    )
    states = fields.List(fields.Nested(StateChangeSchema), metadata={"description": "Oldest first."})
    artifacts = fields.List(fields.Nested(ArtifactSchema))


run_create = RunCreateSchema()
state_input = StateInputSchema()
empty_body = EmptySchema()
console_replace = ConsoleSchema()
console_append = ConsoleAppendSchema()
run_output = RunSchema()
runs_output = RunSchema(many=True)
