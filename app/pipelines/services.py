"""Writes of pipelines."""

from roles.models import db, utcnow

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
    pipeline.deleted_at = utcnow()
    db.session.commit()
