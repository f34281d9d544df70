"""The blob server the tests use: nginx with WebDAV on loopback (blob_server.py).

Without nginx the tests that need it are skipped with the reason, or fail
under REQUIRE_SERVICES=1 (./bin/test installs nginx where it is missing).
"""

from blob_server import BlobServer, NginxMissing

from .services import unavailable

BLOB_TOKEN = "test-blob-token"


def start_blob_server(token=BLOB_TOKEN):
    """A started BlobServer; ``remove()`` it when done."""
    try:
        server = BlobServer(token)
    except NginxMissing as error:
        unavailable(f"{error}: the blob server tests need nginx with WebDAV")
    return server.start()


def blob_settings(server, **overrides):
    """App config that stores artifacts on ``server``; quick to give up in tests."""
    return {
        "BLOB_API_SERVER": server.url,
        "BLOB_API_TOKEN": server.token,
        "BLOB_API_TIMEOUT": 5,
        "BLOB_API_RETRIES": 2,
        "BLOB_API_RETRY_BACKOFF": 0.01,
        **overrides,
    }


class StoredFiles:
    """What one backend holds, seen from outside the app: keys and bytes."""

    def __init__(self, kind, root):
        self.kind = kind
        self.root = root

    def path(self, key):
        return self.root.joinpath(*key.split("/"))

    def keys(self):
        return {
            str(path.relative_to(self.root)).replace("\\", "/")
            for path in self.root.rglob("*")
            if path.is_file()
        }

    def read(self, key):
        return self.path(key).read_bytes()
