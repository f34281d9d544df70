"""The recovery sweep: RUNNING runs whose worker has gone silent are queued
again, or FAILED once they have had their attempts; NOT_STARTED runs that
have waited too long have their task sent again, in case the broker lost it
(docs/adr/0010-worker-loss-recovery.md)."""

import logging
from dataclasses import dataclass
from datetime import UTC, timedelta

from flask import current_app

from roles.models import db, utcnow

from ..broker import EXECUTE_PIPELINE, broker
from ..errors import ServiceUnavailable
from .final_json import store_final_json
from .models import ConsoleChunk, Run, RunStateChange
from .queries import silent_runs, silent_since, std_err_at_line_start, waiting_runs, waiting_since
from .services import notify_callback, task_arguments, workflow_engine
from .states import RunState

log = logging.getLogger(__name__)

BATCH = 100


@dataclass
class RecoveryReport:
    """What one pass of ``recover_runs`` did."""

    requeued: int = 0
    failed: int = 0
    # NOT_STARTED runs whose task was sent again.
    resent: int = 0
    # Runs left as they were because the task queue could not be reached;
    # the next pass tries them again.
    postponed: int = 0


def _as_utc(moment):
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def recover_runs(now=None, timeout=None, max_attempts=None, queue_timeout=None):
    """Settle every RUNNING run with no sign of life from its worker for
    ``timeout`` seconds (default ``RUN_HEARTBEAT_TIMEOUT``) before ``now``,
    then send again the task of every NOT_STARTED run whose task was last
    sent ``queue_timeout`` seconds (``RUN_QUEUE_TIMEOUT``; 0: never) ago.

    A silent run that has had fewer than ``max_attempts``
    (``RUN_MAX_ATTEMPTS``) attempts goes back to NOT_STARTED and its task is
    sent again; the others are FAILED. Each run is settled by a conditional
    update on what was seen (the same state and attempt, still silent or
    waiting), so a report that lands meanwhile keeps its run, and two
    passes at once settle each run once.
    """
    config = current_app.config
    timeout = config["RUN_HEARTBEAT_TIMEOUT"] if timeout is None else timeout
    max_attempts = config["RUN_MAX_ATTEMPTS"] if max_attempts is None else max_attempts
    queue_timeout = config["RUN_QUEUE_TIMEOUT"] if queue_timeout is None else queue_timeout
    now = _as_utc(now or utcnow())
    cutoff = now - timedelta(seconds=timeout)
    report = RecoveryReport()
    broker_down = False
    for run in _each(silent_runs, cutoff):
        if run.attempt >= max_attempts:
            report.failed += _fail(run, cutoff, now, max_attempts)
        elif broker_down:
            report.postponed += 1
        else:
            try:
                report.requeued += _requeue(run, cutoff, now, max_attempts)
            except ServiceUnavailable:
                broker_down = True  # the next runs would wait for it in vain
                report.postponed += 1
    if queue_timeout <= 0:
        return report
    queue_cutoff = now - timedelta(seconds=queue_timeout)
    for run in _each(waiting_runs, queue_cutoff):
        if broker_down:
            report.postponed += 1
            continue
        try:
            report.resent += _resend(run, queue_cutoff, now)
        except ServiceUnavailable:
            broker_down = True
            report.postponed += 1
    return report


def _each(select_runs, cutoff):
    """The runs ``select_runs(cutoff)`` finds, read a batch at a time by id
    and detached, with no transaction held while the caller settles them."""
    last_id = 0
    while True:
        runs = select_runs(cutoff, after_id=last_id, limit=BATCH)
        _detach(runs)
        db.session.rollback()
        if not runs:
            return
        last_id = runs[-1].id
        yield from runs


def _detach(runs):
    """Keep the runs (and pipelines) read as they were: the sweep's own
    commits and rollbacks would otherwise expire them, one query each to
    read them again."""
    for item in {*runs, *(run.pipeline for run in runs)}:
        db.session.expunge(item)


def _silence(run, now):
    """Whole seconds since the run's last sign of life."""
    last = _as_utc(run.heartbeat_at or run.started_at)
    return int((now - last).total_seconds())


def _settle(run, cutoff, now, state, std_err, **values):
    """Move ``run`` from RUNNING to ``state`` if it is as the sweep saw it,
    with a history entry and a line of std_err; False if it changed."""
    table = Run.__table__
    changed = db.session.execute(
        db.update(table)
        .where(
            table.c.id == run.id,
            table.c.state == RunState.RUNNING.value,
            table.c.attempt == run.attempt,
            silent_since(cutoff),
        )
        .values(state=state, **values)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        return False
    line = ("" if std_err_at_line_start(run.id) else "\n") + std_err + "\n"
    db.session.add(RunStateChange(run_id=run.id, state=state, created_at=now))
    db.session.add(ConsoleChunk(run_id=run.id, stream="std_err", text=line, created_at=now))
    db.session.flush()
    return True


def _requeue(run, cutoff, now, max_attempts):
    """Back to NOT_STARTED with its task sent again: 1 if done, 0 if the
    run changed meanwhile; ServiceUnavailable (nothing changed) if the task
    queue cannot take the task.

    The task is sent before the commit: a failed send rolls back, and the
    run stays RUNNING for the next pass. The run's row stays locked until
    the commit, so a worker that gets the task first waits for it in its
    ``PUT .../state`` and then finds the run NOT_STARTED.
    """
    silence = _silence(run, now)
    note = (
        f"[service] worker lost: no sign of life for {silence} s; "
        f"run queued again (attempt {run.attempt + 1} of {max_attempts})"
    )
    if not _settle(run, cutoff, now, RunState.NOT_STARTED.value, note, heartbeat_at=now):
        return 0
    _send_task_then_commit(run)
    log.info("run %s queued again after %s s without a sign of life", run.uuid, silence)
    run.state = RunState.NOT_STARTED.value
    notify_callback(run)
    return 1


def _fail(run, cutoff, now, max_attempts):
    """FAILED with the reason as the last line of std_err: 1 if done, 0 if
    the run changed meanwhile."""
    silence = _silence(run, now)
    reason = (
        f"worker lost: no sign of life from its worker for {silence} seconds "
        f"after {run.attempt} attempt{'s' if run.attempt != 1 else ''}"
    )
    workflow = workflow_engine() if run.workflow_run_id is not None else None
    if workflow is not None:  # first, as in runs.services.change_state
        workflow.lock(run.workflow_run_id)
    if not _settle(run, cutoff, now, RunState.FAILED.value, reason, completed_at=now):
        return 0
    store_final_json([run.id])
    followup = workflow.step(run.workflow_run_id, now) if workflow is not None else None
    db.session.commit()
    log.info("run %s FAILED: %s", run.uuid, reason)
    run.state = RunState.FAILED.value
    notify_callback(run)
    if followup is not None:
        followup.send()
    return 1


def _resend(run, cutoff, now):
    """Send the task of a NOT_STARTED run again: 1 if done, 0 if the run
    changed meanwhile; ServiceUnavailable (nothing changed) if the task
    queue cannot take it.

    The broker may have lost the task (Redis restarted without its data, or
    the API died between its commit and its send: ADR 5). If it had not, a
    worker takes one copy and the other is refused (409) and dropped.
    ``heartbeat_at`` records the send, so the next one is ``RUN_QUEUE_TIMEOUT``
    later; the row stays locked until the commit, as in ``_requeue``.
    """
    table = Run.__table__
    changed = db.session.execute(
        db.update(table)
        .where(table.c.id == run.id, table.c.state == RunState.NOT_STARTED.value, waiting_since(cutoff))
        .values(heartbeat_at=now)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        return 0
    _send_task_then_commit(run)
    log.info(
        "task of run %s sent again: not started since %s",
        run.uuid,
        _as_utc(run.heartbeat_at or run.created_at),
    )
    return 1


def _send_task_then_commit(run):
    """Send the run's ``execute_pipeline`` task, then commit what the sweep
    changed; if the task queue refuses it, roll back and raise
    ServiceUnavailable, so nothing of the run changes."""
    try:
        broker.send(EXECUTE_PIPELINE, **task_arguments(run.pipeline, run))
    except ServiceUnavailable:
        db.session.rollback()
        log.warning("task of run %s not sent: the task queue is unavailable", run.uuid)
        raise
    db.session.commit()
