"""Writes of artifacts: storing an upload and recording it."""

from roles.models import db

from ..errors import Conflict
from ..ids import new_uuid
from ..runs.queries import current_state
from ..runs.states import RunState
from .models import Artifact
from .storage import get_storage


def _check_accepting(run_id):
    state = current_state(run_id)
    if state != RunState.RUNNING.value:
        raise Conflict(f"The run is {state}; artifacts are accepted only while it is RUNNING.")


def store_artifact(run, name, stream):
    """Stream ``stream`` to storage and record it; 409 unless the run is RUNNING.

    The bytes are stored first and the row written after, so no row ever
    points at bytes that did not arrive; if the row cannot be written, or
    the run ended during the upload, the bytes are removed again.
    """
    _check_accepting(run.id)
    artifact_uuid = new_uuid()
    key = f"{run.pipeline.uuid}/{run.uuid}/{artifact_uuid}"
    storage = get_storage()
    stored = storage.save(key, stream)
    try:
        db.session.rollback()  # see the run's state as it is now, not as at the start
        _check_accepting(run.id)
        artifact = Artifact(
            uuid=artifact_uuid,
            run_id=run.id,
            name=name,
            storage_key=key,
            size=stored.size,
            sha256=stored.sha256,
        )
        db.session.add(artifact)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        storage.delete(key)
        raise
    return artifact
