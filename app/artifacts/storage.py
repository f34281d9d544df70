"""Where artifact bytes live. The rest of the app sees only this interface."""

import hashlib
import os
import tempfile

from flask import current_app

CHUNK_BYTES = 64 * 1024


class StoredBytes:
    """What storing a stream gave: its size and sha256."""

    def __init__(self, size, sha256):
        self.size = size
        self.sha256 = sha256


class LocalStorage:
    """Artifacts as files under one folder, named by keys the service chooses."""

    def __init__(self, root):
        self.root = root

    def _path(self, key):
        return os.path.join(self.root, *key.split("/"))

    def save(self, key, stream):
        """Copy ``stream`` to ``key`` piece by piece; never holds it whole."""
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

    def open(self, key):
        return open(self._path(key), "rb")

    def delete(self, key):
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass


def get_storage():
    return current_app.extensions["workflow_storage"]


def init_storage(app):
    app.extensions["workflow_storage"] = LocalStorage(app.config["UPLOAD_FOLDER"])
