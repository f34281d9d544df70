"""The states of a workflow run, which follow its nodes' runs."""

from enum import StrEnum


class WorkflowRunState(StrEnum):
    NOT_STARTED = "NOT_STARTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"


FINAL_WORKFLOW_STATES = {WorkflowRunState.COMPLETED, WorkflowRunState.FAILED, WorkflowRunState.CANCELLED}
WORKFLOW_STATE_NAMES = [state.value for state in WorkflowRunState]
