"""Writes of input files: a client's upload, stored where artifacts are."""

import logging

from roles.models import db

from ..artifacts.storage import StorageError, get_storage
from ..ids import new_uuid
from .models import InputFile

log = logging.getLogger(__name__)


def store_input_file(pipeline, name, stream):
    """Stream ``stream`` to storage under a key the service makes, then
    record it. Bytes first, row after, as for artifacts: no row points at
    bytes that did not arrive, and bytes without a row are removed."""
    file_uuid = new_uuid()
    key = f"{pipeline.uuid}/input_files/{file_uuid}"
    storage = get_storage()
    stored = storage.save(key, stream)
    try:
        input_file = InputFile(
            uuid=file_uuid,
            pipeline_id=pipeline.id,
            name=name,
            storage_key=key,
            size=stored.size,
            sha256=stored.sha256,
        )
        db.session.add(input_file)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        try:
            storage.delete(key)
        except StorageError as error:
            log.warning("bytes of %s left in storage: %s", key, error.message)
        raise
    return input_file
