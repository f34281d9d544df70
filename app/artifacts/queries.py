"""Reads of artifacts."""

from roles.models import db

from ..errors import NotFound
from ..ids import is_uuid
from .models import Artifact


def get_artifact(run, artifact_uuid):
    """The artifact ``artifact_uuid`` of ``run``, or a 404."""
    if is_uuid(artifact_uuid):
        artifact = db.session.execute(
            db.select(Artifact).where(Artifact.uuid == artifact_uuid, Artifact.run_id == run.id)
        ).scalar_one_or_none()
        if artifact is not None:
            return artifact
    raise NotFound("Artifact")
