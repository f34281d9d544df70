"""Reads of pipelines. Soft-deleted pipelines are left out unless asked for."""

from datetime import UTC

from marshmallow.fields import DateTime
from sqlalchemy import bindparam

from roles.models import db

from ..errors import NotFound
from ..ids import is_uuid
from .models import Pipeline
from .schemas import pipeline_output


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


# PipelineSchema's fields in its order, each read from the column of that name.
_FIELDS = tuple(pipeline_output.fields)
_TIMES = frozenset(name for name, field in pipeline_output.fields.items() if isinstance(field, DateTime))
_READ = db.select(*(Pipeline.__table__.c[name] for name in _FIELDS)).where(
    Pipeline.uuid == bindparam("uuid"), Pipeline.deleted_at.is_(None)
)


def _iso(moment):
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def read_pipeline(pipeline_uuid):
    """The live pipeline's JSON, as ``pipeline_output`` makes it, from one
    row read without the ORM (what GET of a pipeline answers); or a 404."""
    if is_uuid(pipeline_uuid):
        row = db.session.connection().execute(_READ, {"uuid": pipeline_uuid}).first()
        if row is not None:
            return {
                name: _iso(value) if name in _TIMES else value
                for name, value in zip(_FIELDS, row, strict=True)
            }
    raise NotFound("Pipeline")


def list_pipelines(limit=None, offset=0):
    query = _live().order_by(Pipeline.id).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).scalars().all()


def find_pipelines(uuids):
    query = _live().where(Pipeline.uuid.in_(uuids)).order_by(Pipeline.id)
    return db.session.execute(query).scalars().all()
