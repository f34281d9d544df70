"""Where artifact bytes live. The rest of the app sees only this interface.

A storage backend has three methods; keys are chosen by the service
(``<pipeline uuid>/<run uuid>/<artifact uuid>``), never by a client:

- ``save(key, stream) -> StoredBytes``: copy the readable ``stream`` to
  ``key`` piece by piece, never holding it whole, and say its size and
  sha256. When it raises, nothing is left at ``key``.
- ``open(key, start=0, length=None) -> StoredRange``: ``length`` bytes
  (all to the end when None) from offset ``start``, as an iterable of
  chunks to be closed after use.
- ``delete(key)``: remove the bytes; a key with nothing stored is fine.

Failures of the storage itself raise ``StorageError`` (an ``ApiError``):
502 when the storage answered with an error, 503 when it cannot be reached.

Two backends: ``LocalStorage`` (files under ``UPLOAD_FOLDER``, the default)
and ``BlobStorage`` (``app/artifacts/blob_storage.py``), used when
``BLOB_API_SERVER`` is set (docs/adr/0009-blob-storage-and-retention.md).
"""

import hashlib
import os
import tempfile

from flask import current_app

from ..errors import ApiError

CHUNK_BYTES = 64 * 1024


class StoredBytes:
    """What storing a stream gave: its size and sha256."""

    def __init__(self, size, sha256):
        self.size = size
        self.sha256 = sha256


class StorageError(ApiError):
    """The storage failed; the status tells the client how (500, 502, 503)."""


class StorageUnavailable(StorageError):
    def __init__(self, message):
        super().__init__(503, message)


class StorageRefused(StorageError):
    def __init__(self, message):
        super().__init__(502, message)


class StoredRange:
    """Chunks of stored bytes: iterate once, then ``close()`` (WSGI servers do)."""

    def __init__(self, chunks, close=None):
        self._chunks = iter(chunks)
        self._close = close

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._chunks)

    def close(self):
        if self._close is not None:
            self._close()
            self._close = None


class LocalStorage:
    """Artifacts as files under one folder, named by keys the service chooses."""

    def __init__(self, root):
        self.root = root

    def _path(self, key):
        return os.path.join(self.root, *key.split("/"))

    def save(self, key, stream):
        """Copy ``stream`` to ``key`` piece by piece; never holds it whole.

        The bytes go to a temporary file renamed into place when complete.
        """
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        handle, partial = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                while True:
                    chunk = stream.read(CHUNK_BYTES)
                    if not chunk:
                        break
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
            os.replace(partial, path)
        except BaseException:
            os.unlink(partial)
            raise
        return StoredBytes(size, digest.hexdigest())

    def open(self, key, start=0, length=None):
        try:
            handle = open(self._path(key), "rb")
        except FileNotFoundError:
            raise StorageError(500, "The artifact's bytes are missing from storage.") from None
        handle.seek(start)
        return StoredRange(_read_chunks(handle, length), handle.close)

    def delete(self, key):
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass


def _read_chunks(handle, length):
    remaining = length
    while remaining is None or remaining > 0:
        chunk = handle.read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def make_storage(config):
    """The backend the configuration asks for: the blob server when
    ``BLOB_API_SERVER`` is set, else local disk under ``UPLOAD_FOLDER``."""
    if config.get("BLOB_API_SERVER"):
        from .blob_storage import BlobStorage

        return BlobStorage(
            config["BLOB_API_SERVER"],
            config.get("BLOB_API_TOKEN"),
            timeout=config.get("BLOB_API_TIMEOUT", 30),
            retries=config.get("BLOB_API_RETRIES", 3),
            backoff=config.get("BLOB_API_RETRY_BACKOFF", 0.5),
        )
    return LocalStorage(config["UPLOAD_FOLDER"])


def get_storage():
    return current_app.extensions["workflow_storage"]


def init_storage(app):
    app.extensions["workflow_storage"] = make_storage(app.config)
