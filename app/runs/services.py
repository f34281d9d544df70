"""Writes of runs: creation (and enqueueing), state changes and console."""

import logging
from contextlib import contextmanager

from roles.models import db, utcnow

from ..broker import DELIVER_CALLBACK, EXECUTE_PIPELINE, broker
from ..errors import Conflict, ServiceUnavailable
from ..ids import new_uuid
from ..pipelines.models import Pipeline
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
        .where(Pipeline.id == values["pipeline_id"])
        .values(last_run_sequence=Pipeline.last_run_sequence + 1)
        .returning(Pipeline.last_run_sequence)
    ).scalar_one()
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
    columns = ("uuid", "pipeline_id", "state", "inputs", "callback_url", "created_at")
    numbered = (
        db.update(Pipeline.__table__)
        .where(Pipeline.id == db.bindparam("new_pipeline_id"))
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


def task_arguments(pipeline, run):
    """Everything the worker needs, as JSON, so it never opens the database."""
    return {
        "pipeline_uuid": pipeline.uuid,
        "run_uuid": run.uuid,
        "inputs": run.inputs,
        "repository_ssh_url": pipeline.repository_ssh_url,
        "repository_branch": pipeline.repository_branch,
        "model": pipeline.model,
        "arguments": pipeline.arguments,
        "timeout": pipeline.timeout,
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


def create_run(pipeline, inputs, callback_url=None):
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
        ).one()
    else:
        run_id, sequence = _insert_run_statements(connection, values, first_state)
    with kept_after_commit():  # the pipeline is needed below, as it was read
        db.session.commit()
    # Not added to the session: only read, to answer and to enqueue.
    run = Run(
        id=run_id,
        sequence=sequence,
        pipeline=pipeline,
        states=[RunStateChange(**first_state)],
        artifacts=[],
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


def change_state(run, new_state):
    """Move ``run`` to ``new_state`` if the state machine allows it, else 409.

    The change is a conditional update on the state the run had, so two
    racing changes (a cancel and a completion, say) cannot both win.
    """
    old_state = run.state
    if not can_change(old_state, new_state):
        raise Conflict(f"A run cannot go from {old_state} to {new_state}.")
    now = utcnow()
    values = {"state": new_state}
    if new_state == RunState.RUNNING.value:
        values["started_at"] = now
    if RunState(new_state) in FINAL_STATES:
        values["completed_at"] = now
    changed = db.session.execute(
        db.update(Run)
        .where(Run.id == run.id, Run.state == old_state)
        .values(**values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        raise Conflict(f"The run's state changed meanwhile; it is no longer {old_state}.")
    db.session.add(RunStateChange(run_id=run.id, state=new_state, created_at=now))
    if RunState(new_state) in FINAL_STATES:
        db.session.flush()
        store_final_json([run.id])
    db.session.commit()
    db.session.refresh(run)
    _notify(run)
    return run


def _notify(run):
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


def _check_console_writable(run):
    if RunState(run.state) in FINAL_STATES:
        raise Conflict(f"The run is {run.state}; its console can no longer change.")


def _chunks(run, console):
    return [ConsoleChunk(run_id=run.id, stream=stream, text=text) for stream, text in console.items() if text]


def replace_console(run, console):
    _check_console_writable(run)
    db.session.execute(db.delete(ConsoleChunk).where(ConsoleChunk.run_id == run.id))
    db.session.add_all(_chunks(run, console))
    db.session.commit()


def append_console(run, console):
    _check_console_writable(run)
    db.session.add_all(_chunks(run, console))
    db.session.commit()
