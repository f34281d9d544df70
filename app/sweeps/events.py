"""A sweep's event stream: its runs' state changes and its counts
(``app/runs/group_events.py``)."""

from roles.models import db

from ..runs.group_events import RunGroupEvents
from ..runs.models import Run
from . import queries
from .models import Sweep


class SweepEvents(RunGroupEvents):
    column = Run.sweep_uuid  # the key is the sweep's uuid

    def summary(self):
        sweep = db.session.execute(db.select(Sweep).where(Sweep.uuid == self.key)).scalar_one()
        found = queries.sweep_summary(sweep)
        return {"counts": found["counts"], "state": found["state"]}
