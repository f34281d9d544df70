"""Reads of input files."""

from roles.models import db

from ..errors import NotFound
from ..ids import is_uuid
from .models import InputFile


def get_input_file(pipeline, file_uuid):
    if is_uuid(file_uuid):
        found = db.session.execute(
            db.select(InputFile).where(InputFile.uuid == file_uuid, InputFile.pipeline_id == pipeline.id)
        ).scalar_one_or_none()
        if found is not None:
            return found
    raise NotFound("Input file")
