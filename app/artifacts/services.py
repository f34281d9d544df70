"""Writes of artifacts: storing an upload and recording it; expiring old ones."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app

from roles.models import db, utcnow

from ..errors import Conflict
from ..ids import new_uuid
from ..runs.final_json import store_final_json
from ..runs.models import Run
from ..runs.states import FINAL_STATES, RunState
from .models import Artifact
from .storage import StorageError, get_storage

log = logging.getLogger(__name__)

EXPIRY_BATCH = 500


def _claim_for_artifact(run_id):
    """``heartbeat_at`` = now on the run's row, which locks it until the
    commit; 409 unless the run is RUNNING (then nothing is written)."""
    runs = Run.__table__
    state = db.session.execute(
        db.update(runs).where(runs.c.id == run_id).values(heartbeat_at=utcnow()).returning(runs.c.state)
    ).scalar_one()
    if state != RunState.RUNNING.value:
        db.session.rollback()
        raise Conflict(f"The run is {state}; artifacts are accepted only while it is RUNNING.")


def store_artifact(run, name, stream):
    """Stream ``stream`` to storage and record it; 409 unless the run is RUNNING.

    The bytes are stored first and the row written after, so no row ever
    points at bytes that did not arrive (a storage that fails raises before
    any row exists); if the row cannot be written, or the run ended during
    the upload, the bytes are removed again. Returns the artifact with its
    columns loaded, outside the session (nothing read back after the commit).
    """
    run_id = run.id
    # As the request found it, moments ago: the claim below decides again
    # on the locked row.
    if run.state != RunState.RUNNING.value:
        raise Conflict(f"The run is {run.state}; artifacts are accepted only while it is RUNNING.")
    artifact_uuid = new_uuid()
    key = f"{run.pipeline.uuid}/{run.uuid}/{artifact_uuid}"
    storage = get_storage()
    stored = storage.save(key, stream)
    try:
        db.session.rollback()  # see the run's state as it is now, not as at the start
        # Locked until the row below is committed: a run cannot end between
        # the check and the artifact's row, and miss it in its final JSON.
        # The same write records the upload as a sign of life of the run's
        # worker, in this one transaction (a commit less per upload).
        _claim_for_artifact(run_id)
        artifact = Artifact(
            uuid=artifact_uuid,
            run_id=run_id,
            name=name,
            storage_key=key,
            size=stored.size,
            sha256=stored.sha256,
        )
        db.session.add(artifact)
        db.session.flush()
        db.session.expunge(artifact)  # keeps what the flush wrote through the commit
        db.session.commit()
    except BaseException:
        db.session.rollback()
        _delete_quietly(storage, key)
        raise
    return artifact


def _delete_quietly(storage, key):
    """Remove stored bytes after a failure, without hiding that failure."""
    try:
        storage.delete(key)
    except StorageError as error:
        log.warning("bytes of %s left in storage: %s", key, error.message)


@dataclass
class ExpiryReport:
    """What one pass of ``expire_artifacts`` did."""

    retention_days: float | None
    cutoff: datetime | None
    expired: int = 0
    failed: int = 0


def _as_utc(moment):
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def expire_artifacts(now=None, retention_days=None):
    """Delete the bytes of artifacts whose run finished more than the
    retention period before ``now``, and mark them expired.

    ``retention_days`` defaults to ``ARTIFACT_RETENTION_DAYS``; None keeps
    everything. A run counts as finished once COMPLETED, FAILED or CANCELLED,
    from its ``completed_at``. The bytes are deleted first and the row marked
    after, so an artifact is never listed as there when its bytes are gone
    for good; one whose bytes could not be deleted (storage down) stays as
    it is and is tried again on the next pass. Safe to run concurrently.
    """
    if retention_days is None:
        retention_days = current_app.config.get("ARTIFACT_RETENTION_DAYS")
    if retention_days is None:
        return ExpiryReport(retention_days=None, cutoff=None)
    now = _as_utc(now or utcnow())
    report = ExpiryReport(retention_days=retention_days, cutoff=now - timedelta(days=retention_days))
    storage = get_storage()
    last_id = 0
    while True:
        batch = db.session.execute(
            db.select(Artifact.id, Artifact.storage_key, Artifact.run_id)
            .join(Run, Run.id == Artifact.run_id)
            .where(
                Artifact.id > last_id,
                Artifact.expired_at.is_(None),
                Run.state.in_([state.value for state in FINAL_STATES]),
                Run.completed_at <= report.cutoff,
            )
            .order_by(Artifact.id)
            .limit(EXPIRY_BATCH)
        ).all()
        db.session.rollback()  # no transaction held open while storage works
        if not batch:
            return report
        last_id = batch[-1].id
        deleted, runs = [], set()
        for artifact_id, key, run_id in batch:
            try:
                storage.delete(key)
            except StorageError as error:
                report.failed += 1
                log.warning("artifact %s not expired: %s", key, error.message)
            else:
                deleted.append(artifact_id)
                runs.add(run_id)
        if deleted:
            report.expired += db.session.execute(
                db.update(Artifact)
                .where(Artifact.id.in_(deleted), Artifact.expired_at.is_(None))
                .values(expired_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            store_final_json(runs)  # their JSON shows the artifacts expired
            db.session.commit()
