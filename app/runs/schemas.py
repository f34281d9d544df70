"""Validation and JSON shape of runs, states and console."""

from datetime import datetime

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..artifacts.schemas import ArtifactSchema
from ..fields import (
    Text,
    UtcDateTime,
    bounded_text,
    plain_file_name,
    url_with_scheme,
)
from .states import STATE_NAMES

MAX_CONSOLE_CHARS = 16 * 1024 * 1024


class RunInputSchema(Schema):
    name = bounded_text(255, minimum=1, required=True, validate=plain_file_name)
    url = bounded_text(2048, minimum=1, required=True, validate=url_with_scheme({"http", "https", "file"}))


class RunCreateSchema(Schema):
    inputs = fields.List(fields.Nested(RunInputSchema), validate=validate.Length(max=100))
    callback_url = bounded_text(2048, minimum=1, allow_none=True, validate=url_with_scheme({"http", "https"}))

    @validates_schema
    def names_are_unique(self, data, **kwargs):
        names = [item["name"] for item in data.get("inputs", [])]
        if len(names) != len(set(names)):
            raise ValidationError("Input names must be unique within a run.", "inputs")


class StateInputSchema(Schema):
    state = fields.String(required=True, validate=validate.OneOf(STATE_NAMES))


class ConsoleSchema(Schema):
    std_out = Text(validate=validate.Length(max=MAX_CONSOLE_CHARS), load_default="")
    std_err = Text(validate=validate.Length(max=MAX_CONSOLE_CHARS), load_default="")


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
    state = fields.String()
    created_at = UtcDateTime()


class InputSchema(Schema):
    name = fields.String()
    url = fields.String()


class RunSchema(Schema):
    uuid = fields.String()
    pipeline_uuid = fields.Function(lambda run: run.pipeline.uuid)
    sequence = fields.Integer()
    state = fields.String()
    created_at = UtcDateTime()
    started_at = UtcDateTime(allow_none=True)
    completed_at = UtcDateTime(allow_none=True)
    progress = fields.Nested(ProgressSchema, allow_none=True)
    inputs = fields.List(fields.Nested(InputSchema))
    callback_url = fields.String(allow_none=True)
    states = fields.List(fields.Nested(StateChangeSchema))
    artifacts = fields.List(fields.Nested(ArtifactSchema))


run_create = RunCreateSchema()
state_input = StateInputSchema()
empty_body = EmptySchema()
console_replace = ConsoleSchema()
console_append = ConsoleAppendSchema()
run_output = RunSchema()
runs_output = RunSchema(many=True)
