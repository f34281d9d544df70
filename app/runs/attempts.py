"""Which attempt at a run a worker's call comes from: ``Workflow-Run-Attempt``.

A worker learns its attempt number from the answer to its ``PUT .../state``
``RUNNING`` and names it on every later call about that run. Once the run
was handed back to the queue by the recovery sweep, or taken by another
attempt, a call naming the old attempt is refused with 409 and changes
nothing, so a worker that was only thought lost cannot mix its reports
into another attempt's. Calls without the header (a person with curl) are
not checked.
"""

from flask import request

from ..errors import ApiError, Conflict
from .states import RunState

ATTEMPT_HEADER = "Workflow-Run-Attempt"
MAX_ATTEMPT = 2**31 - 1


def named_attempt():
    """The attempt the request names, or None without the header; 400 when malformed."""
    value = request.headers.get(ATTEMPT_HEADER)
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 10 and int(value) <= MAX_ATTEMPT):
        raise ApiError(400, f"Header {ATTEMPT_HEADER} must be a whole number from 0 to {MAX_ATTEMPT}.")
    return int(value)


def is_over(state, current, named):
    """Whether attempt ``named`` no longer has the run: another attempt has
    it, or the run went back to the queue (NOT_STARTED) since."""
    return named is not None and (named != current or state == RunState.NOT_STARTED.value)


def handed_over(state, current, named):
    if named == current:  # and NOT_STARTED
        detail = f"attempt {named} was given up for lost and the run went back to the queue"
    else:
        detail = f"this call comes from attempt {named}, the run is on attempt {current}"
    return Conflict(f"The run was handed to another attempt: {detail}.")


def check_attempt(state, current, named):
    """409 when ``named`` (the header's attempt, or None) is over."""
    if is_over(state, current, named):
        raise handed_over(state, current, named)
