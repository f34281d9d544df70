"""Reads of artifacts."""

from roles.models import db

from ..errors import NotFound
from ..ids import is_uuid
from ..runs.models import Run
from ..runs.states import RunState
from ..workflows.models import RunInputArtifact
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


def is_input_of_a_running_run(artifact_uuid):
    """Whether the artifact ``artifact_uuid`` is an input of a run that is
    RUNNING: what a worker's key may download
    (docs/adr/0021-workers-reading-upstream-artifacts.md). Asked before the
    artifact is looked up, so that the answer to a worker tells nothing of
    the others."""
    if not is_uuid(artifact_uuid):
        return False
    return (
        db.session.execute(
            db.select(RunInputArtifact.id)
            .join(Artifact, Artifact.id == RunInputArtifact.artifact_id)
            .join(Run, Run.id == RunInputArtifact.run_id)
            .where(Artifact.uuid == artifact_uuid, Run.state == RunState.RUNNING.value)
            .limit(1)
        ).first()
        is not None
    )
