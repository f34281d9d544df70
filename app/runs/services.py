"""Writes of runs: creation (and enqueueing), state changes and console."""

import logging
from contextlib import contextmanager
from dataclasses import dataclass

from roles.models import db, utcnow

from ..broker import DELIVER_CALLBACK, EXECUTE_PIPELINE, broker
from ..errors import Conflict, NotFound, ServiceUnavailable
from ..ids import new_uuid
from ..pipelines.models import Pipeline
from .attempts import handed_over, is_over
from .final_json import store_final_json
from .models import ConsoleChunk, Run, RunStateChange
from .states import FINAL_STATES, RunState, can_change

log = logging.getLogger(__name__)


def _insert_run_statements(connection, values, first_state):
    """The run and its first state, in three statements: any database.

    Numbering is one row update: the row lock it takes also orders concurrent
    creations on the same pipeline, so sequences never collide.
    """
    sequence = connection.execute(
        db.update(Pipeline.__table__)
        .where(Pipeline.id == values["pipeline_id"], Pipeline.deleted_at.is_(None))
        .values(last_run_sequence=Pipeline.last_run_sequence + 1)
        .returning(Pipeline.last_run_sequence)
    ).scalar_one_or_none()
    if sequence is None:
        return None, None
    run_id = connection.execute(
        db.insert(Run.__table__).values(sequence=sequence, **values).returning(Run.id)
    ).scalar_one()
    connection.execute(db.insert(RunStateChange.__table__).values(run_id=run_id, **first_state))
    return run_id, sequence


def _numbered_insert():
    """PostgreSQL: number the run, insert it and its first state in one statement.

    The pipeline's row stays locked from the numbering to the commit, so
    creations on one pipeline queue behind each other for that long: one
    statement and the commit instead of three statements and the commit.
    Its parameters are named after no column: SQLAlchemy would take such
    names for values to set.
    """
    run, state = Run.__table__, RunStateChange.__table__
    columns = ("uuid", "pipeline_id", "state", "inputs", "callback_url", "parameters", "created_at")
    numbered = (
        db.update(Pipeline.__table__)
        .where(Pipeline.id == db.bindparam("new_pipeline_id"), Pipeline.deleted_at.is_(None))
        # Explicit: Python-side onupdate values are not applied inside a CTE.
        .values(
            last_run_sequence=Pipeline.last_run_sequence + 1,
            updated_at=db.bindparam("new_pipeline_updated_at", type_=Pipeline.updated_at.type),
        )
        .returning(Pipeline.last_run_sequence.label("sequence"))
        .cte("numbered")
    )
    created = (
        db.insert(run)
        .from_select(
            [*columns, "sequence"],
            db.select(
                *(db.bindparam(f"new_{name}", type_=run.c[name].type) for name in columns),
                numbered.c.sequence,
            ),
        )
        .returning(run.c.id, run.c.sequence)
        .cte("created")
    )
    return (
        db.insert(state)
        .from_select(
            ["run_id", "state", "created_at"],
            db.select(
                created.c.id,
                db.bindparam("new_first_state", type_=state.c.state.type),
                db.bindparam("new_first_state_at", type_=state.c.created_at.type),
            ),
        )
        .returning(state.c.run_id, db.select(created.c.sequence).scalar_subquery())
    )


_NUMBERED_INSERT = _numbered_insert()


def insert_run(values, first_state):
    """Insert a run and its first state in the session's transaction, and
    neither commit nor send its task (a workflow run's nodes): ``(id, sequence)``."""
    return _insert_run_statements(db.session.connection(), values, first_state)


def task_arguments(pipeline, run):
    """Everything the worker needs, as JSON, so it never opens the database."""
    return {
        "pipeline_uuid": pipeline.uuid,
        "run_uuid": run.uuid,
        "inputs": run.inputs,
        # Given to gridlabd as -D name=value, before ``arguments``.
        "parameters": run.parameters or {},
        "repository_ssh_url": pipeline.repository_ssh_url,
        "repository_branch": pipeline.repository_branch,
        "model": pipeline.model,
        "arguments": pipeline.arguments,
        "timeout": pipeline.timeout,
        "network": pipeline.network,
    }


@contextmanager
def kept_after_commit():
    """Commits in the block leave loaded objects as they are.

    By default a commit expires every object: the pipeline read before it
    would be loaded again, one more query, to enqueue the run.
    """
    session = db.session()
    previous, session.expire_on_commit = session.expire_on_commit, False
    try:
        yield
    finally:
        session.expire_on_commit = previous


def create_run(pipeline, inputs, callback_url=None, parameters=None):
    """Record a run and enqueue it; with the broker down, keep nothing and 503.

    The run is committed before the task is sent so that a fast worker always
    finds it (docs/adr/0005-enqueue-after-commit.md). The cost does not grow
    with the pipeline's history: a row update numbers the run and two plain
    inserts record it (one statement on PostgreSQL, no unit of work to
    flush), and the run returned is made from the values written, not read
    back.
    """
    now = utcnow()
    values = {
        "uuid": new_uuid(),
        "pipeline_id": pipeline.id,
        "state": RunState.NOT_STARTED.value,
        "inputs": inputs,
        "callback_url": callback_url,
        "parameters": parameters or {},
        "created_at": now,
    }
    first_state = {"state": RunState.NOT_STARTED.value, "created_at": now}
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        run_id, sequence = connection.execute(
            _NUMBERED_INSERT,
            {
                **{f"new_{name}": value for name, value in values.items()},
                "new_first_state": first_state["state"],
                "new_first_state_at": now,
                "new_pipeline_updated_at": now,
            },
        ).one_or_none() or (None, None)
    else:
        run_id, sequence = _insert_run_statements(connection, values, first_state)
    if run_id is None:  # deleted since it was read: its runs were cancelled, this one must not start
        _refuse(NotFound("Pipeline"))
    with kept_after_commit():  # the pipeline is needed below, as it was read
        db.session.commit()
    # Not added to the session: only read, to answer and to enqueue.
    run = Run(
        id=run_id,
        sequence=sequence,
        pipeline=pipeline,
        states=[RunStateChange(**first_state)],
        artifacts=[],
        sweep_uuid=None,
        **values,
    )
    try:
        broker.send(EXECUTE_PIPELINE, **task_arguments(pipeline, run))
    except ServiceUnavailable:
        db.session.execute(db.delete(RunStateChange).where(RunStateChange.run_id == run_id))
        db.session.execute(db.delete(Run).where(Run.id == run_id))
        db.session.commit()
        raise
    return run


def _claim(run_id, heartbeat_at=None):
    """Write the run's row, then decide: its state and attempt as they are now.

    The write holds the row (PostgreSQL; SQLite the whole database) until
    the transaction ends, so what is decided on cannot change meanwhile,
    and a change still uncommitted elsewhere (the recovery sweep handing
    the run back to the queue, a cancel) is waited for, then seen: a plain
    read would see the row as it was and decide on that. ``heartbeat_at``
    is written if given (a worker's report is a sign of life); otherwise
    the state is written as it is.
    """
    connection = db.session.connection()
    if heartbeat_at is None:
        return connection.execute(_CLAIM, {"run_id": run_id}).one()
    return connection.execute(_CLAIM_WITH_HEARTBEAT, {"run_id": run_id, "now": heartbeat_at}).one()


# Built once: a worker's every report runs one of them.
_RUNS = Run.__table__
_CLAIM = (
    db.update(_RUNS)
    .where(_RUNS.c.id == db.bindparam("run_id"))
    .values(state=_RUNS.c.state)
    .returning(_RUNS.c.state, _RUNS.c.attempt)
)
_CLAIM_WITH_HEARTBEAT = (
    db.update(_RUNS)
    .where(_RUNS.c.id == db.bindparam("run_id"))
    .values(heartbeat_at=db.bindparam("now"))
    .returning(_RUNS.c.state, _RUNS.c.attempt)
)
_PROGRESS = db.select(_RUNS.c.progress).where(_RUNS.c.id == db.bindparam("run_id"))
_SET_PROGRESS = (
    db.update(_RUNS)
    .where(_RUNS.c.id == db.bindparam("run_id"))
    .values(progress=db.bindparam("progress", type_=db.JSON), progress_seq=_RUNS.c.progress_seq + 1)
)
_CHUNKS = ConsoleChunk.__table__
_DELETE_CHUNKS = db.delete(_CHUNKS).where(_CHUNKS.c.run_id == db.bindparam("run_id"))
_INSERT_CHUNKS = db.insert(_CHUNKS)


def _refuse(error):
    db.session.rollback()
    raise error


@dataclass
class StateChange:
    """What ``change_state`` did: the run, the attempt that has it, and the
    run's JSON text as stored when the change ended it (``final_json.py``;
    None for a change that did not end it, and then ``run`` is current)."""

    run: Run
    attempt: int
    final_json: str | None = None


def change_state(run, new_state, attempt=None, from_worker=True):
    """Move ``run`` to ``new_state`` if the state machine allows it, else 409.

    ``attempt`` is the attempt a worker's call names (``attempts.py``); a
    change to RUNNING starts the next attempt. A worker's change is also a
    sign of life (``heartbeat_at``). The decision is made on the run's row
    as it is once claimed, so two racing changes (a cancel and a
    completion, say) cannot both win. Returns a ``StateChange``.
    """
    now = utcnow()
    workflow = workflow_engine() if run.workflow_run_id is not None else None
    if workflow is not None:
        workflow.lock(run.workflow_run_id)
    claimed = _claim(run.id, now if from_worker else None)
    if is_over(claimed.state, claimed.attempt, attempt):
        _refuse(handed_over(claimed.state, claimed.attempt, attempt))
    if not can_change(claimed.state, new_state):
        _refuse(Conflict(f"A run cannot go from {claimed.state} to {new_state}."))
    values = {"state": new_state}
    change = StateChange(run, claimed.attempt)
    if new_state == RunState.RUNNING.value:
        values["started_at"] = now
        values["attempt"] = change.attempt = claimed.attempt + 1
    if RunState(new_state) in FINAL_STATES:
        values["completed_at"] = now
    db.session.execute(db.update(Run.__table__).where(Run.__table__.c.id == run.id).values(**values))
    db.session.add(RunStateChange(run_id=run.id, state=new_state, created_at=now))
    if RunState(new_state) in FINAL_STATES:
        db.session.flush()
        change.final_json = store_final_json([run.id]).get(run.id)
    # In this transaction: the workflow's next nodes never depend on a client.
    followup = workflow.step(run.workflow_run_id, now) if workflow is not None else None
    callback = Run(uuid=run.uuid, callback_url=run.callback_url, state=new_state)
    db.session.commit()
    if change.final_json is None:
        db.session.refresh(run)
    notify_callback(callback)
    if followup is not None:
        followup.send()
    return change


def cancel_unfinished_runs(pipeline_id, now):
    """Cancel the pipeline's runs that are not final, in the caller's
    transaction; returns ``(uuid, callback_url)`` of each, for
    ``notify_cancelled`` once committed.

    One update takes the rows, so a worker's report racing with it is
    decided on the cancelled row (a 409) and a run that ended meanwhile is
    left as it ended. Their workers see the cancel on their next call, as
    for any cancel.
    """
    runs = Run.__table__
    open_states = [state.value for state in RunState if state not in FINAL_STATES]
    cancelled = db.session.execute(
        db.update(runs)
        .where(runs.c.pipeline_id == pipeline_id, runs.c.state.in_(open_states))
        .values(state=RunState.CANCELLED.value, completed_at=now)
        .returning(runs.c.id, runs.c.uuid, runs.c.callback_url)
    ).all()
    if cancelled:
        db.session.execute(
            db.insert(RunStateChange.__table__),
            [{"run_id": row.id, "state": RunState.CANCELLED.value, "created_at": now} for row in cancelled],
        )
        store_final_json([row.id for row in cancelled])
    return [(row.uuid, row.callback_url) for row in cancelled]


def notify_cancelled(runs):
    for run_uuid, callback_url in runs:
        if callback_url:
            notify_callback(Run(uuid=run_uuid, callback_url=callback_url, state=RunState.CANCELLED.value))


def workflow_engine():
    """The workflow engine (app/workflows/engine.py), for a run that is a
    workflow's node; imported here because workflows are built on runs."""
    from ..workflows import engine

    return engine


def heartbeat(run, attempt=None):
    """A sign of life from the worker that has ``run``: ``(state, attempt)``.

    Recorded only while the run is RUNNING; otherwise nothing changes and
    the state tells the worker to stop. 409 for an attempt that is over.
    """
    claimed = _claim(run.id, utcnow())
    if is_over(claimed.state, claimed.attempt, attempt):
        _refuse(handed_over(claimed.state, claimed.attempt, attempt))
    if claimed.state == RunState.RUNNING.value:
        db.session.commit()
    else:
        db.session.rollback()
    return claimed.state, claimed.attempt


def record_sign_of_life(run_id):
    """``heartbeat_at`` = now for a RUNNING run, e.g. after an upload (which
    checks the run's state and the attempt itself)."""
    db.session.execute(
        db.update(Run.__table__)
        .where(Run.__table__.c.id == run_id, Run.__table__.c.state == RunState.RUNNING.value)
        .values(heartbeat_at=utcnow())
    )
    db.session.commit()


def notify_callback(run):
    if not run.callback_url:
        return
    try:
        broker.send(
            DELIVER_CALLBACK,
            url=run.callback_url,
            pipeline_run_uuid=run.uuid,
            state=run.state,
        )
    except ServiceUnavailable:
        log.warning("callback for run %s (%s) not queued: broker unavailable", run.uuid, run.state)


def _claim_console(run, attempt):
    """A worker's console write: a sign of life, refused once the run has
    ended (409) or its attempt is over; else the row stays claimed."""
    claimed = _claim(run.id, utcnow())
    if is_over(claimed.state, claimed.attempt, attempt):
        _refuse(handed_over(claimed.state, claimed.attempt, attempt))
    if RunState(claimed.state) in FINAL_STATES:
        _refuse(Conflict(f"The run is {claimed.state}; its console can no longer change."))


def _add_chunks(connection, run, console):
    """Insert the console's non-empty streams as chunks, with plain rows:
    the ORM's unit of work costs more than the insert on this hot path."""
    now = utcnow()
    rows = [
        {"run_id": run.id, "stream": stream, "text": text, "created_at": now}
        for stream, text in console.items()
        if text
    ]
    if rows:
        connection.execute(_INSERT_CHUNKS, rows)


# Replacing a run's console in one statement, in autocommit (PostgreSQL):
# the run's row is claimed only if it still has the state and attempt the
# caller decided on, and the chunks change only if it was.
_REPLACE_CONSOLE = db.text(
    """
    WITH claimed AS (
        UPDATE run SET heartbeat_at = :now
        WHERE id = :run_id AND state = :state AND attempt = :attempt
        RETURNING id
    ), gone AS (
        DELETE FROM console_chunk WHERE run_id IN (SELECT id FROM claimed)
    ), added AS (
        INSERT INTO console_chunk (run_id, stream, text, created_at)
        SELECT claimed.id, chunk.stream, chunk.text, :now
        FROM claimed, (VALUES ('std_out', CAST(:std_out AS TEXT)), ('std_err', CAST(:std_err AS TEXT)))
            AS chunk (stream, text)
        WHERE chunk.text <> ''
    )
    SELECT count(*) FROM claimed
    """
)


def _replace_in_one_statement(run, console, attempt):
    """Whether the console was replaced by ``_REPLACE_CONSOLE``: only on an
    autocommit connection, for a run that ``run`` (a ``run_state_of`` row)
    says takes the write, and that still is as it says."""
    connection = db.session.connection()
    if connection.get_execution_options().get("isolation_level") != "AUTOCOMMIT":
        return False
    if is_over(run.state, run.attempt, attempt) or RunState(run.state) in FINAL_STATES:
        return False
    values = {"run_id": run.id, "state": run.state, "attempt": run.attempt, "now": utcnow()}
    values.update(std_out=console.get("std_out", ""), std_err=console.get("std_err", ""))
    return connection.execute(_REPLACE_CONSOLE, values).scalar_one() == 1


def replace_console(run, console, attempt=None):
    """Replace the run's console: in one statement when the session's
    connection is in autocommit (``run_state_of``'s on PostgreSQL) and the
    run takes it, else, or when the run changed meanwhile, deciding on its
    claimed row (409s included) in a transaction."""
    if _replace_in_one_statement(run, console, attempt):
        return
    db.session.close()  # out of autocommit, if it was
    _claim_console(run, attempt)
    connection = db.session.connection()
    connection.execute(_DELETE_CHUNKS, {"run_id": run.id})
    _add_chunks(connection, run, console)
    db.session.commit()


def append_console(run, console, attempt=None):
    """Append output and, if given, record the run's ``progress``."""
    progress = console.pop("progress", None)
    _claim_console(run, attempt)
    connection = db.session.connection()
    _add_chunks(connection, run, console)
    if progress is not None:
        _record_progress(connection, run.id, progress)
    db.session.commit()


def _record_progress(connection, run_id, progress):
    """Keep ``progress`` unless it would go back: the fraction never
    decreases, also when a run's next attempt starts over (the row is
    claimed, so the comparison cannot race another report)."""
    current = connection.execute(_PROGRESS, {"run_id": run_id}).scalar_one()
    if current is not None and current == progress:
        return
    if current is not None and (current.get("fraction") or 0) > (progress.get("fraction") or 0):
        return
    connection.execute(_SET_PROGRESS, {"run_id": run_id, "progress": progress})
