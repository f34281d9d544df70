"""Reads of pipelines. Soft-deleted pipelines are left out unless asked for."""

from sqlalchemy import bindparam

from roles.models import db

from ..errors import NotFound
from ..ids import is_uuid
from .models import Pipeline


def _live():
    return db.select(Pipeline).where(Pipeline.deleted_at.is_(None))


# Most requests look a pipeline up by uuid: the statements are built once.
_BY_UUID = {
    False: _live().where(Pipeline.uuid == bindparam("uuid")),
    True: db.select(Pipeline).where(Pipeline.uuid == bindparam("uuid")),
}


def get_pipeline(pipeline_uuid, include_deleted=False):
    """The live pipeline with this uuid (or a deleted one if asked), or a 404."""
    if is_uuid(pipeline_uuid):
        query = _BY_UUID[bool(include_deleted)]
        pipeline = db.session.execute(query, {"uuid": pipeline_uuid}).scalar_one_or_none()
        if pipeline is not None:
            return pipeline
    raise NotFound("Pipeline")


def list_pipelines(limit=None, offset=0):
    query = _live().order_by(Pipeline.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).scalars().all()


def find_pipelines(uuids):
    query = _live().where(Pipeline.uuid.in_(uuids)).order_by(Pipeline.id)
    return db.session.execute(query).scalars().all()
