"""The run state machine."""

from enum import StrEnum


class RunState(StrEnum):
    # A workflow's node waiting for its sources (app/workflows/engine.py):
    # no task is sent for it until they have all COMPLETED.
    QUEUED = "QUEUED"
    NOT_STARTED = "NOT_STARTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


ALLOWED_CHANGES = {
    RunState.QUEUED: {RunState.NOT_STARTED, RunState.CANCELLED},
    RunState.NOT_STARTED: {RunState.RUNNING, RunState.CANCELLED},
    RunState.RUNNING: {RunState.COMPLETED, RunState.FAILED, RunState.CANCELLED},
    RunState.COMPLETED: set(),
    RunState.FAILED: set(),
    RunState.CANCELLED: set(),
}

FINAL_STATES = {state for state, nexts in ALLOWED_CHANGES.items() if not nexts}
STATE_NAMES = [state.value for state in RunState]


def can_change(current, new):
    return RunState(new) in ALLOWED_CHANGES[RunState(current)]
