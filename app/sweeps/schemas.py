"""Validation of a sweep's request, and the runs it stands for."""

import itertools
import math

from marshmallow import ValidationError, fields, validates_schema

from ..runs.parameters import SCALAR, as_text, check_names, parameters_as_text
from ..runs.schemas import RunCreateSchema

MAX_RUNS = 10_000


def _parameter_lists(values):
    """``{"name": [v1, v2, ...]}`` with its values as text."""
    if not isinstance(values, dict) or not values:
        raise ValidationError("Must be an object of name: [value, ...] with at least one name.")
    errors = check_names(values)
    result = {}
    for name, options in values.items():
        if name in errors:
            continue
        if not isinstance(options, list) or not options:
            errors[name] = ["Must be a list of at least one value."]
            continue
        if len(options) > MAX_RUNS:
            errors[name] = [f"At most {MAX_RUNS} values."]
            continue
        texts, bad = [], {}
        for position, value in enumerate(options):
            try:
                texts.append(as_text(value))
            except ValidationError as error:
                bad[position] = error.messages
        if bad:
            errors[name] = bad
        else:
            result[name] = texts
    if errors:
        raise ValidationError(errors)
    count = math.prod(len(options) for options in result.values())
    if count > MAX_RUNS:
        raise ValidationError(f"{count} combinations: a sweep has at most {MAX_RUNS} runs.")
    return result


def _rows(values):
    if not isinstance(values, list) or not values:
        raise ValidationError("Must be a list of at least one row (an object of name: value).")
    if len(values) > MAX_RUNS:
        raise ValidationError(f"{len(values)} rows: a sweep has at most {MAX_RUNS} runs.")
    rows, errors = [], {}
    for position, row in enumerate(values):
        try:
            rows.append(parameters_as_text(row))
        except ValidationError as error:
            errors[position] = error.messages
        if len(errors) >= 20:  # enough to show what is wrong
            break
    if errors:
        raise ValidationError(errors)
    return rows


class ParameterLists(fields.Field):
    def __init__(self, **kwargs):
        about = {
            "type": "object",
            "description": (
                "name: [value, ...]; one run per combination (the cartesian product), "
                "the last name varying fastest. Names and values as for a run's parameters."
            ),
            "additionalProperties": {"type": "array", "minItems": 1, "items": SCALAR},
        }
        super().__init__(metadata=about, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return _parameter_lists(value)


class Rows(fields.Field):
    def __init__(self, **kwargs):
        about = {
            "type": "array",
            "description": "One run per row, in order; each row is a run's parameters.",
            "minItems": 1,
            "maxItems": MAX_RUNS,
            "items": {"type": "object", "additionalProperties": SCALAR},
        }
        super().__init__(metadata=about, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return _rows(value)


class SweepCreateSchema(RunCreateSchema):
    """A run's body (inputs, callback_url), and exactly one of
    `parameters` (lists of values) and `rows`; 1 to 10,000 runs."""

    parameters = ParameterLists()
    rows = Rows()

    @validates_schema(pass_original=True, skip_on_field_errors=False)
    def exactly_one_source(self, data, original_data, **kwargs):
        if not isinstance(original_data, dict):
            return  # not an object at all: marshmallow says so itself
        given = [name for name in ("parameters", "rows") if name in (original_data or {})]
        if len(given) != 1:
            raise ValidationError("Give exactly one of 'parameters' and 'rows'.", "parameters")


def run_parameters(fields_loaded):
    """Each run's parameters, in order: the cartesian product of
    ``parameters`` (the last name varying fastest), or the ``rows``."""
    if "rows" in fields_loaded:
        return fields_loaded["rows"]
    lists = fields_loaded["parameters"]
    names = list(lists)
    return [dict(zip(names, combination, strict=True)) for combination in itertools.product(*lists.values())]


sweep_create = SweepCreateSchema()
