"""Run parameters: ``{"name": value}`` that the worker passes to gridlabd as
``-D name=value``, so that a model reads ``${name}``.

Names are GLM global names; values are strings, numbers or booleans, kept
and sent on as text (numbers as JSON writes them, booleans as ``true`` and
``false``).
"""

import json
import math
import re

from marshmallow import ValidationError, fields

MAX_NAMES = 100
MAX_NAME_CHARS = 64
MAX_VALUE_CHARS = 1000
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def check_name(name):
    """The reason ``name`` is no parameter name, or None."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        return "Must match [A-Za-z_][A-Za-z0-9_]*."
    if len(name) > MAX_NAME_CHARS:
        return f"Must be at most {MAX_NAME_CHARS} characters."
    return None


def as_text(value):
    """``value`` as the text gridlabd gets, or ValidationError."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int):
        text = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValidationError("Must be a finite number.")
        text = json.dumps(value)
    elif isinstance(value, str):
        text = value
    else:
        raise ValidationError("Must be a string, a number or a boolean.")
    if len(text) > MAX_VALUE_CHARS:
        raise ValidationError(f"Must be at most {MAX_VALUE_CHARS} characters as text.")
    if CONTROL.search(text):
        raise ValidationError("Must not contain control characters.")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError("Must be valid Unicode text.") from None
    return text


def check_names(names):
    """Errors per name (a dict), and for too many names."""
    errors = {}
    names = list(names)
    if len(names) > MAX_NAMES:
        raise ValidationError(f"At most {MAX_NAMES} names.")
    for name in names:
        reason = check_name(name)
        if reason:
            errors[str(name)[:80]] = [reason]
    return errors


def parameters_as_text(values):
    """``{name: value}`` checked, with its values as text; ValidationError
    naming every bad name or value."""
    if not isinstance(values, dict):
        raise ValidationError("Must be an object of name: value.")
    errors = check_names(values)
    result = {}
    for name, value in values.items():
        if name in errors:
            continue
        try:
            result[name] = as_text(value)
        except ValidationError as error:
            errors[name] = error.messages
    if errors:
        raise ValidationError(errors)
    return result


SCALAR = {
    "oneOf": [{"type": "string", "maxLength": MAX_VALUE_CHARS}, {"type": "number"}, {"type": "boolean"}]
}


class Parameters(fields.Field):
    """A run's ``parameters``: values loaded as text."""

    def __init__(self, **kwargs):
        about = {
            "type": "object",
            "maxProperties": MAX_NAMES,
            "additionalProperties": SCALAR,
            "description": (
                "Passed to gridlabd as -D name=value, before the pipeline's arguments, so that the "
                f"model reads ${{name}}. Names match {NAME.pattern} (at most {MAX_NAME_CHARS} characters, "
                f"at most {MAX_NAMES} names); values are strings, numbers or booleans, sent on as text "
                f"(at most {MAX_VALUE_CHARS:,} characters, no control characters)."
            ),
        }
        super().__init__(metadata=about, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        return parameters_as_text(value)
