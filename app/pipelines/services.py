"""Writes of pipelines."""

from roles.models import db, utcnow

from ..runs.services import cancel_unfinished_runs, notify_cancelled
from .models import Pipeline

DEFAULTS = {
    "description": None,
    "repository_ssh_url": None,
    "repository_branch": None,
    "model": "model.glm",
    "arguments": [],
    "timeout": None,
    "network": False,
}


def create_pipeline(fields):
    pipeline = Pipeline(**{**DEFAULTS, **fields})
    db.session.add(pipeline)
    db.session.commit()
    return pipeline


def replace_pipeline(pipeline, fields):
    """A full update: every field not given goes back to its default."""
    for name, value in {**DEFAULTS, **fields}.items():
        setattr(pipeline, name, value)
    db.session.commit()
    return pipeline


def delete_pipeline(pipeline):
    """Soft delete; its runs that are not final are cancelled with it."""
    now = utcnow()
    pipeline.deleted_at = now
    db.session.flush()  # the pipeline's row first: run creation takes it too, in that order
    cancelled = cancel_unfinished_runs(pipeline.id, now)
    db.session.commit()
    notify_cancelled(cancelled)
