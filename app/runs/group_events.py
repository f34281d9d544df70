"""The event stream of a group of runs: a sweep's, or a workflow run's.

Each state change of one of its runs is a ``run`` event
(``{run_uuid, sequence, state, created_at}``), followed by the group's own
``counts`` event (``{counts, state}``). The stream opens with one
``counts`` event (not every run's history: a sweep may have 10,000 runs);
a client that wants the runs as they are reads the group's runs list. An
event's id is the id of the last state change sent, so ``Last-Event-ID``
resumes after it. The stream ends once the group's state is final and
every change up to it was sent.

The hub (``stream_hub.py``) serves these like a run's stream: a subclass
names the run column that says a run belongs to the group (``column``) and
how the group sums up (``summary``).
"""

import json
import re

from roles.models import db

from ..errors import ApiError
from .models import Run, RunStateChange
from .output import iso
from .states import FINAL_STATES

CURSOR = re.compile(r"^[0-9]{1,18}$")
LARGEST_ID = 2**31 - 1  # the databases' integers: past it, nothing is found
_FINAL = {state.value for state in FINAL_STATES}
# State changes read per poll: a 10,000-run sweep cancelled at once is sent
# in pieces, each followed by the counts as they are.
BATCH = 1000


def encode(kind, data, cursor):
    return f"id: {cursor}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class RunGroupEvents:
    # The Run column that names the group, set by a subclass (read from the
    # class: on an instance SQLAlchemy's descriptor would look for a mapping).
    column = None

    def __init__(self, key):
        self.key = key

    def summary(self):
        """``{"counts": {state: n}, "state": the group's state}``."""
        raise NotImplementedError

    @staticmethod
    def parse_cursor(text):
        """From a ``Last-Event-ID`` header: None when absent, 400 when malformed."""
        if text is None or not text.strip():
            return None
        if not CURSOR.match(text.strip()):
            raise ApiError(400, "Last-Event-ID must be an id this stream sent (a number).")
        return min(int(text), LARGEST_ID)

    def opening(self, cursor=None):
        if cursor is not None:
            return self.following(cursor)
        summary = self.summary()
        position = self.positions([self.key]).get(self.key, 0)
        return encode("counts", summary, position), position, summary["state"] in _FINAL

    def following(self, cursor):
        """``(text, cursor, ended)``: the state changes past ``cursor``, then
        the counts. The summary is read first: if it is final, every change
        that made it so is already there to read."""
        summary = self.summary()
        rows = db.session.execute(
            db.select(
                RunStateChange.id, Run.uuid, Run.sequence, RunStateChange.state, RunStateChange.created_at
            )
            .join(Run, Run.id == RunStateChange.run_id)
            .where(type(self).column == self.key, RunStateChange.id > cursor)
            .order_by(RunStateChange.id)
            .limit(BATCH)
        ).all()
        parts = []
        for change_id, run_uuid, sequence, state, created_at in rows:
            cursor = change_id
            data = {"run_uuid": run_uuid, "sequence": sequence, "state": state, "created_at": iso(created_at)}
            parts.append(encode("run", data, cursor))
        ended = summary["state"] in _FINAL and len(rows) < BATCH
        if rows or ended:
            parts.append(encode("counts", summary, cursor))
        return "".join(parts), cursor, ended

    @classmethod
    def positions(cls, keys):
        """``{key: id of the group's last state change}``, in one query."""
        rows = db.session.execute(
            db.select(cls.column, db.func.max(RunStateChange.id))
            .join(Run, Run.id == RunStateChange.run_id)
            .where(cls.column.in_(list(keys)))
            .group_by(cls.column)
        ).all()
        return dict(rows)

    @staticmethod
    def is_behind(cursor, position):
        return position > cursor
