"""A run's events (``state``, ``console``, ``progress``) as Server-Sent Events.

An event's id is a cursor over the run's three sequences:
``<state>-<chunk>-<progress>``, the id of the last state change, the id of
the last console chunk and the run's ``progress_seq`` that the client has
been sent. Resuming from it sends what is past each of the three, so no
piece of output is sent twice or skipped, whichever kind of event the id
came with. Reads only: the API's writes need not know about streams
(docs/adr/0022-event-streams.md).
"""

import json
import re
from dataclasses import dataclass

from roles.models import db

from ..errors import ApiError
from .models import ConsoleChunk, Run, RunStateChange
from .output import iso
from .states import FINAL_STATES

CURSOR = re.compile(r"^([0-9]{1,18})-([0-9]{1,18})-([0-9]{1,18})$")
# The ids are the databases' integers: past the largest, nothing is found.
LARGEST_ID = 2**31 - 1
_FINAL = {state.value for state in FINAL_STATES}


@dataclass(frozen=True)
class Cursor:
    state: int = 0
    chunk: int = 0
    progress: int = 0

    def __str__(self):
        return f"{self.state}-{self.chunk}-{self.progress}"

    @classmethod
    def parse(cls, text):
        """From a ``Last-Event-ID`` header: None when absent, 400 when malformed."""
        if text is None or not text.strip():
            return None
        match = CURSOR.match(text.strip())
        if not match:
            raise ApiError(400, "Last-Event-ID must be an id this stream sent (state-chunk-progress).")
        return cls(*(min(int(part), LARGEST_ID) for part in match.groups()))


def encode(kind, data, cursor):
    return f"id: {cursor}\nevent: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


_STATES = db.select(RunStateChange.id, RunStateChange.state, RunStateChange.created_at).where(
    RunStateChange.run_id == db.bindparam("run_id"), RunStateChange.id > db.bindparam("after")
)
_CHUNKS = db.select(ConsoleChunk.id, ConsoleChunk.stream, ConsoleChunk.text, ConsoleChunk.created_at).where(
    ConsoleChunk.run_id == db.bindparam("run_id"), ConsoleChunk.id > db.bindparam("after")
)
_RUN = db.select(Run.state, Run.progress, Run.progress_seq).where(Run.id == db.bindparam("run_id"))


def _read(run_id, cursor):
    """Whether the run had ended, and its progress, then states and chunks
    past ``cursor``. In this order: whatever was written before the final
    state (read first, or among the states) is read too. A progress report
    written after the first read is found by the next poll."""
    connection = db.session.connection()
    state, progress, sequence = connection.execute(_RUN, {"run_id": run_id}).one()
    was_final = state in _FINAL
    states = connection.execute(
        _STATES.order_by(RunStateChange.id), {"run_id": run_id, "after": cursor.state}
    )
    states = states.all()
    chunks = connection.execute(_CHUNKS.order_by(ConsoleChunk.id), {"run_id": run_id, "after": cursor.chunk})
    chunks = chunks.all()
    progress = progress if sequence > cursor.progress and progress is not None else None
    return was_final, states, chunks, (progress, sequence)


def _console(chunks):
    console = {"std_out": "", "std_err": ""}
    for chunk in chunks:
        console[chunk.stream] += chunk.text
    return console


def opening(run_id, cursor=None):
    """``(text, cursor, ended)``: the run as it is (a state event per state,
    the console so far as one event, the latest progress); or, resuming
    from ``cursor``, what came after it."""
    if cursor is not None:
        return following(run_id, cursor)
    cursor = Cursor()
    _, states, chunks, (progress, sequence) = _read(run_id, cursor)
    parts = []
    for state in states:
        cursor = Cursor(state.id, cursor.chunk, cursor.progress)
        parts.append(encode("state", {"state": state.state, "created_at": iso(state.created_at)}, cursor))
    if chunks:
        cursor = Cursor(cursor.state, chunks[-1].id, cursor.progress)
        parts.append(encode("console", _console(chunks), cursor))
    if progress is not None:
        cursor = Cursor(cursor.state, cursor.chunk, sequence)
        parts.append(encode("progress", progress, cursor))
    return "".join(parts), cursor, bool(states) and states[-1].state in _FINAL


def following(run_id, cursor):
    """``(text, cursor, ended)``: the events past ``cursor`` in the order
    they happened (consecutive chunks make one ``console`` event; the
    progress goes before a final state, which is always the last event)."""
    was_final, states, chunks, (progress, sequence) = _read(run_id, cursor)
    merged = sorted(
        [(state.created_at, 0, state) for state in states]
        + [(chunk.created_at, 1, chunk) for chunk in chunks],
        key=lambda item: (item[0], item[1], item[2].id),
    )
    parts, pending = [], []

    def flush_console():
        nonlocal cursor
        if pending:
            cursor = Cursor(cursor.state, pending[-1].id, cursor.progress)
            parts.append(encode("console", _console(pending), cursor))
            pending.clear()

    def send_progress():
        nonlocal cursor, progress
        if progress is not None:
            cursor = Cursor(cursor.state, cursor.chunk, sequence)
            parts.append(encode("progress", progress, cursor))
            progress = None

    ended = was_final  # and so everything up to its end is read
    for _, kind, row in merged:
        if kind == 1:
            pending.append(row)
            continue
        flush_console()
        if row.state in _FINAL:
            send_progress()
            ended = True
        cursor = Cursor(row.id, cursor.chunk, cursor.progress)
        parts.append(encode("state", {"state": row.state, "created_at": iso(row.created_at)}, cursor))
    flush_console()
    send_progress()  # no-op if it went before the final state
    return "".join(parts), cursor, ended


_POSITIONS = db.select(
    Run.id,
    Run.progress_seq,
    db.select(db.func.max(RunStateChange.id)).where(RunStateChange.run_id == Run.id).scalar_subquery(),
    db.select(db.func.max(ConsoleChunk.id)).where(ConsoleChunk.run_id == Run.id).scalar_subquery(),
).where(Run.id.in_(db.bindparam("run_ids", expanding=True)))


def positions(run_ids):
    """``{run_id: Cursor}``: where each run's sequences are now, in one query
    for all the runs a process streams."""
    rows = db.session.execute(_POSITIONS, {"run_ids": list(run_ids)}).all()
    return {row[0]: Cursor(row[2] or 0, row[3] or 0, row[1]) for row in rows}


def is_behind(cursor, position):
    return (
        position.state > cursor.state or position.chunk > cursor.chunk or position.progress > cursor.progress
    )


@dataclass(frozen=True)
class RunEvents:
    """What the hub (``stream_hub.py``) streams for one run. A sweep's or a
    workflow run's stream is another such source (``group_events.py``): a
    ``key``, its own ``opening`` and ``following``, and a ``positions`` for
    all its keys at once."""

    key: int  # the run's id

    parse_cursor = staticmethod(Cursor.parse)

    def opening(self, cursor=None):
        return opening(self.key, cursor)

    def following(self, cursor):
        return following(self.key, cursor)

    @staticmethod
    def positions(keys):
        return positions(keys)

    @staticmethod
    def is_behind(cursor, position):
        return is_behind(cursor, position)
