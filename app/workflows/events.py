"""A workflow run's event stream: its nodes' runs' state changes, their
counts and the workflow run's own state (``app/runs/group_events.py``)."""

from roles.models import db

from ..runs.group_events import RunGroupEvents
from ..runs.models import Run
from ..runs.states import STATE_NAMES
from .models import WorkflowRun


class WorkflowRunEvents(RunGroupEvents):
    column = Run.workflow_run_id  # the key is the workflow run's id

    def summary(self):
        state = db.session.execute(
            db.select(WorkflowRun.state).where(WorkflowRun.id == self.key)
        ).scalar_one()
        rows = db.session.execute(
            db.select(Run.state, db.func.count()).where(Run.workflow_run_id == self.key).group_by(Run.state)
        ).all()
        counts = dict.fromkeys(STATE_NAMES, 0) | dict(rows)
        return {"counts": counts, "state": state}
