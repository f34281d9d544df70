"""Reads of sweeps: one or a page of them with their counts, their runs,
and the rows of results.csv.

A sweep's ``counts`` and ``state`` come from one GROUP BY over its runs'
``(sweep_uuid, state)`` index: no run is loaded.
"""

from sqlalchemy import func

from roles.models import db

from ..artifacts.models import Artifact
from ..errors import NotFound
from ..ids import is_uuid
from ..runs.models import Run
from ..runs.states import FINAL_STATES, STATE_NAMES, RunState
from .models import Sweep

_FINAL = {state.value for state in FINAL_STATES}
# Runs that wait for their turn: a sweep whose runs all wait has not started.
_WAITING = {name for name in STATE_NAMES if name not in _FINAL and name != RunState.RUNNING.value}


def find_sweep(pipeline, sweep_uuid):
    """The sweep ``sweep_uuid`` of ``pipeline``, or 404."""
    if is_uuid(sweep_uuid):
        sweep = db.session.execute(
            db.select(Sweep).where(Sweep.uuid == sweep_uuid, Sweep.pipeline_id == pipeline.id)
        ).scalar_one_or_none()
        if sweep is not None:
            return sweep
    raise NotFound("Sweep")


def _grouped(sweep_uuids):
    """``{sweep_uuid: ({state: count}, latest completed_at)}`` in one query
    (``None``: of every sweep)."""
    wanted = Run.sweep_uuid.is_not(None) if sweep_uuids is None else Run.sweep_uuid.in_(sweep_uuids)
    rows = db.session.execute(
        db.select(Run.sweep_uuid, Run.state, func.count(), func.max(Run.completed_at))
        .where(wanted)
        .group_by(Run.sweep_uuid, Run.state)
    ).all()
    found = {}
    for sweep_uuid, state, count, completed_at in rows:
        counts, latest = found.setdefault(sweep_uuid, ({}, [None]))
        counts[state] = count
        if completed_at is not None and (latest[0] is None or completed_at > latest[0]):
            latest[0] = completed_at
    return {key: (counts, latest[0]) for key, (counts, latest) in found.items()}


def state_of(sweep, counts):
    """The sweep's state from its runs' counts (see the contract)."""
    total = sum(counts.values())
    if total and all(state in _FINAL for state in counts):
        if counts.get(RunState.COMPLETED.value, 0) == total:
            return RunState.COMPLETED.value
        if sweep.cancelled_at is not None:
            return RunState.CANCELLED.value
        return RunState.FAILED.value
    if all(state in _WAITING for state in counts):
        return RunState.NOT_STARTED.value
    return RunState.RUNNING.value


def _summary(sweep, grouped):
    counts, latest = grouped.get(sweep.uuid, ({}, None))
    state = state_of(sweep, counts)
    return {
        "counts": {name: counts.get(name, 0) for name in STATE_NAMES},
        "state": state,
        "completed_at": latest if state in _FINAL else None,
    }


def sweeps_by_state():
    """``{state: number of sweeps}`` over every sweep, for the metrics: two
    queries, the runs' through the ``(sweep_uuid, state)`` index."""
    grouped = _grouped(None)
    found = dict.fromkeys(STATE_NAMES, 0)
    for sweep in db.session.execute(db.select(Sweep.uuid, Sweep.cancelled_at)).all():
        found[state_of(sweep, grouped.get(sweep.uuid, ({}, None))[0])] += 1
    return found


def sweep_summary(sweep):
    """``{"counts", "state", "completed_at"}`` of one sweep, in one query."""
    return _summary(sweep, _grouped([sweep.uuid]))


def list_sweeps(pipeline, limit=None, offset=0):
    """A page of the pipeline's sweeps, oldest first, each with its summary:
    two queries however many sweeps and runs."""
    query = db.select(Sweep).where(Sweep.pipeline_id == pipeline.id).order_by(Sweep.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    sweeps = db.session.execute(query).scalars().all()
    if not sweeps:
        return []
    grouped = _grouped([sweep.uuid for sweep in sweeps])
    return [(sweep, _summary(sweep, grouped)) for sweep in sweeps]


_RESULT_COLUMNS = (
    Run.id,
    Run.uuid,
    Run.sequence,
    Run.state,
    Run.parameters,
    Run.started_at,
    Run.completed_at,
)


def result_rows(sweep, batch=500):
    """``(run, [artifacts])`` of the sweep's runs in order, read ``batch``
    runs at a time by sequence (no offset to skip), so a 10,000-run sweep
    is never held whole."""
    after = sweep.first_sequence - 1
    while True:
        runs = db.session.execute(
            db.select(
                Run.id, Run.uuid, Run.sequence, Run.state, Run.parameters, Run.started_at, Run.completed_at
            )
            .where(Run.sweep_uuid == sweep.uuid, Run.sequence > after)
            .order_by(Run.sequence)
            .limit(batch)
        ).all()
        if not runs:
            return
        artifacts = {}
        for run_id, uuid, name in db.session.execute(
            db.select(Artifact.run_id, Artifact.uuid, Artifact.name)
            .where(Artifact.run_id.in_([run.id for run in runs]))
            .order_by(Artifact.id)
        ):
            artifacts.setdefault(run_id, []).append((uuid, name))
        for run in runs:
            yield run, artifacts.get(run.id, [])
        after = runs[-1].sequence


def artifact_names(sweep):
    """Every artifact name of the sweep's runs, sorted: results.csv's
    last columns."""
    return list(
        db.session.execute(
            db.select(Artifact.name)
            .join(Run, Run.id == Artifact.run_id)
            .where(Run.sweep_uuid == sweep.uuid)
            .distinct()
            .order_by(Artifact.name)
        ).scalars()
    )


def fresh_summary(sweep):
    """The summary of a sweep just made, without a query: every run NOT_STARTED."""
    counts = {name: 0 for name in STATE_NAMES}
    counts[RunState.NOT_STARTED.value] = sweep.run_count
    return {"counts": counts, "state": RunState.NOT_STARTED.value, "completed_at": None}
