"""Writes of runs: creation (and enqueueing), state changes and console."""

import logging

from roles.models import db, utcnow

from ..broker import DELIVER_CALLBACK, EXECUTE_PIPELINE, broker
from ..errors import Conflict, ServiceUnavailable
from ..pipelines.models import Pipeline
from .models import ConsoleChunk, Run, RunStateChange
from .states import FINAL_STATES, RunState, can_change

log = logging.getLogger(__name__)


def _next_sequence(pipeline):
    # One row update: the row lock it takes also orders concurrent creations
    # on the same pipeline, so sequences never collide.
    return db.session.execute(
        db.update(Pipeline)
        .where(Pipeline.id == pipeline.id)
        .values(last_run_sequence=Pipeline.last_run_sequence + 1)
        .returning(Pipeline.last_run_sequence)
        .execution_options(synchronize_session=False)
    ).scalar_one()


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


def create_run(pipeline, inputs, callback_url=None):
    """Record a run and enqueue it; with the broker down, keep nothing and 503.

    The run is committed before the task is sent so that a fast worker always
    finds it (docs/adr/0005-enqueue-after-commit.md).
    """
    run = Run(
        pipeline_id=pipeline.id,
        pipeline=pipeline,
        sequence=_next_sequence(pipeline),
        inputs=inputs,
        callback_url=callback_url,
        state=RunState.NOT_STARTED.value,
        states=[RunStateChange(state=RunState.NOT_STARTED.value)],
        artifacts=[],
    )
    db.session.add(run)
    db.session.commit()
    try:
        broker.send(EXECUTE_PIPELINE, **task_arguments(pipeline, run))
    except ServiceUnavailable:
        db.session.delete(run)
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
