"""Artifacts on the blob server (BLOB_API_SERVER): a real nginx with WebDAV on loopback.

Where the bytes land, and what the client gets when the blob server fails:
stopped during an upload, a wrong token, a server answering 500, nothing
listening. Each gives the documented JSON error and leaves no artifact row
and no blob behind.
"""

import hashlib
import io
import os
import socket
import threading
import time

import pytest
import requests

from app.artifacts.blob_storage import REPLAYABLE_METHODS, BlobStorage
from app.artifacts.models import Artifact
from app.artifacts.storage import LocalStorage, StorageRefused, StorageUnavailable, init_storage
from app.extensions import db
from blob_server import BlobServer

from .blob import BLOB_TOKEN, blob_settings, start_blob_server
from .conftest import make_app
from .helpers import assert_error
from .processes import free_port

MIB = 1024 * 1024


def artifact_rows(app):
    with app.app_context():
        return db.session.query(Artifact).count()


def local_files(app):
    root = app.config["UPLOAD_FOLDER"]
    return {os.path.join(folder, name) for folder, _, names in os.walk(root) for name in names}


def use_storage(app, **settings):
    """Point the app's storage at other blob settings (the ``backend`` fixture restores them)."""
    app.config.update(settings)
    init_storage(app)


@pytest.fixture
def running(api):
    pipeline = api.create_pipeline()
    run = api.create_run(pipeline["uuid"])
    assert api.set_state(pipeline["uuid"], run["uuid"], "RUNNING").status_code == 200
    return pipeline["uuid"], run["uuid"]


blob_only = pytest.mark.parametrize("backend", ["blob"], indirect=True)


def test_the_configuration_chooses_the_backend(database_urls, tmp_path, blob_server):
    url = database_urls("sqlite")
    local = make_app(url, tmp_path / "uploads")
    assert isinstance(local.extensions["workflow_storage"], LocalStorage)

    on_blob = make_app(url, tmp_path / "uploads", **blob_settings(blob_server))
    storage = on_blob.extensions["workflow_storage"]
    assert isinstance(storage, BlobStorage)
    assert storage.url("p/r/a") == f"{blob_server.url}/p/r/a"
    assert storage.headers == {"Authorization": f"Bearer {BLOB_TOKEN}"}

    with pytest.raises(ValueError, match="BLOB_API_SERVER"):
        make_app(url, tmp_path / "uploads", BLOB_API_SERVER="ftp://example.com")


@blob_only
def test_upload_lands_on_the_blob_server_under_the_documented_path(app, api, backend, running, blob_server):
    data = os.urandom(300_000) + b"end"
    before = local_files(app)

    response = api.upload(*running, "out/volts.csv", data)

    assert response.status_code == 201, response.get_json()
    artifact = response.get_json()
    assert artifact["size"] == len(data)
    assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
    pipeline_uuid, run_uuid = running
    assert blob_server.path(f"{pipeline_uuid}/{run_uuid}/{artifact['uuid']}").read_bytes() == data
    assert local_files(app) == before, "nothing is stored on the API's disk"

    download = api.client.get(
        api.run_path(*running, f"/artifacts/{artifact['uuid']}"), headers=api.keys.client
    )
    assert download.status_code == 200
    assert download.data == data
    assert download.headers["ETag"].strip('"') == artifact["sha256"]
    assert download.mimetype == "text/csv"


@blob_only
def test_an_empty_file_is_stored_too(api, backend, running, blob_server):
    response = api.upload(*running, "empty.txt", b"")
    assert response.status_code == 201, response.get_json()
    artifact = response.get_json()
    assert blob_server.path(f"{running[0]}/{running[1]}/{artifact['uuid']}").read_bytes() == b""
    download = api.client.get(
        api.run_path(*running, f"/artifacts/{artifact['uuid']}"), headers=api.keys.client
    )
    assert download.status_code == 200 and download.data == b""


@blob_only
def test_wrong_token_is_a_502_and_leaves_nothing(app, api, backend, running, blob_server):
    stored = api.upload(*running, "before.csv", b"kept").get_json()
    use_storage(app, BLOB_API_TOKEN="not-the-token")
    blobs = blob_server.files()

    response = api.upload(*running, "volts.csv", os.urandom(4 * MIB))

    body = assert_error(response, 502)
    assert "token" in body["message"] and "401" in body["message"]
    assert artifact_rows(app) == 1
    assert blob_server.files() == blobs
    run = api.client.get(api.run_path(*running), headers=api.keys.client).get_json()
    assert [a["name"] for a in run["artifacts"]] == ["before.csv"]

    download = api.client.get(api.run_path(*running, f"/artifacts/{stored['uuid']}"), headers=api.keys.client)
    assert "token" in assert_error(download, 502)["message"]


@blob_only
def test_server_answering_500_is_a_502_and_leaves_nothing(app, api, backend, running, blob_server):
    stored = api.upload(*running, "before.csv", b"kept").get_json()
    use_storage(app, BLOB_API_SERVER=blob_server.failing_url)
    blobs = blob_server.files()

    response = api.upload(*running, "volts.csv", os.urandom(4 * MIB))

    assert "500" in assert_error(response, 502)["message"]
    assert artifact_rows(app) == 1
    assert blob_server.files() == blobs
    download = api.client.get(api.run_path(*running, f"/artifacts/{stored['uuid']}"), headers=api.keys.client)
    assert "500" in assert_error(download, 502)["message"]


@blob_only
def test_nothing_listening_is_a_503_and_leaves_nothing(app, api, backend, running):
    stored = api.upload(*running, "before.csv", b"kept").get_json()
    use_storage(app, BLOB_API_SERVER=f"http://127.0.0.1:{free_port()}")

    response = api.upload(*running, "volts.csv", b"x" * 100_000)

    assert "cannot be reached" in assert_error(response, 503)["message"]
    assert artifact_rows(app) == 1
    download = api.client.get(api.run_path(*running, f"/artifacts/{stored['uuid']}"), headers=api.keys.client)
    assert_error(download, 503)


class StopsServerMidway:
    """An upload body that stops the blob server once ``after`` bytes were read."""

    def __init__(self, server, size, after):
        self.server = server
        self.size = size
        self.after = after
        self.sent = 0

    def read(self, size=-1):
        if self.sent >= self.after and self.server.process is not None:
            self.server.stop()
        piece = min(self.size - self.sent, 64 * 1024 if size is None or size < 0 else size)
        self.sent += piece
        return b"z" * piece

    # The test client measures the body by seeking to its end and back.
    def tell(self):
        return self.sent

    def seek(self, offset, whence=0):
        self.sent = self.size + offset if whence == 2 else offset


@pytest.fixture
def own_blob_server():
    """A blob server of the test's own, to be stopped by it."""
    server = start_blob_server()
    yield server
    server.remove()


def test_blob_server_stopped_during_an_upload_is_a_503_and_leaves_nothing(app, api, running, own_blob_server):
    use_storage(app, **blob_settings(own_blob_server))
    try:
        body = StopsServerMidway(own_blob_server, size=16 * MIB, after=2 * MIB)
        response = api.client.post(
            api.run_path(*running, "/artifacts"),
            query_string={"name": "big.bin"},
            input_stream=body,
            headers={**api.keys.worker, "Content-Type": "application/octet-stream"},
            environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"},
        )
    finally:
        app.config.update(BLOB_API_SERVER=None)
        init_storage(app)

    assert own_blob_server.process is None, "the server was stopped during the upload"
    assert body.after <= body.sent < body.size, "the upload was cut short, not finished"
    assert "cannot be reached" in assert_error(response, 503)["message"]
    assert artifact_rows(app) == 0
    assert own_blob_server.files() == set(), "no partial blob"


@blob_only
def test_a_body_over_max_content_length_is_a_413_not_a_blob_server_error(
    app, api, backend, running, blob_server
):
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024
    blobs = blob_server.files()
    response = api.client.post(
        api.run_path(*running, "/artifacts"),
        query_string={"name": "big.bin"},
        input_stream=io.BytesIO(b"y" * (1024 * 1024)),
        headers={**api.keys.worker, "Content-Type": "application/octet-stream"},
        environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"},
    )
    assert_error(response, 413)
    assert artifact_rows(app) == 0
    assert blob_server.files() == blobs


@blob_only
def test_bytes_missing_on_the_blob_server_are_a_502(api, backend, running, blob_server):
    artifact = api.upload(*running, "gone.csv", b"a,b\n").get_json()
    blob_server.path(f"{running[0]}/{running[1]}/{artifact['uuid']}").unlink()
    response = api.client.get(
        api.run_path(*running, f"/artifacts/{artifact['uuid']}"), headers=api.keys.client
    )
    assert "404" in assert_error(response, 502)["message"]


# The blob backend on its own (no app): retries.


class CuttingServer:
    """Accepts connections, reads a little of each request, and hangs up; counts them."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            with connection:
                connection.recv(4096)

    def close(self):
        self.sock.close()


def test_a_put_whose_body_went_out_is_not_replayed_but_a_get_is_retried():
    server = CuttingServer()
    try:
        storage = BlobStorage(server.url, "token", timeout=5, retries=3, backoff=0.01)
        with pytest.raises(StorageUnavailable):
            storage.save("p/r/a", io.BytesIO(b"x" * (4 * MIB)))
        # One PUT; then the best-effort DELETE of what it may have left (1 + 3 retries).
        assert server.connections == 1 + 4
        server.connections = 0
        with pytest.raises(StorageUnavailable):
            storage.open("p/r/a")
        assert server.connections == 1 + 3
    finally:
        server.close()
    assert "PUT" not in REPLAYABLE_METHODS


def test_a_put_is_retried_while_the_server_cannot_be_connected_to():
    port = free_port()
    server = BlobServer(BLOB_TOKEN, port=port)
    starter = threading.Timer(0.3, server.start)
    data = os.urandom(3 * MIB)
    try:
        storage = BlobStorage(server.url, BLOB_TOKEN, timeout=5, retries=6, backoff=0.1)
        started = time.monotonic()
        starter.start()
        stored = storage.save("p/r/retried", io.BytesIO(data))
        assert time.monotonic() - started >= 0.3, "the first attempts found nothing listening"
        assert stored.size == len(data)
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        assert server.path("p/r/retried").read_bytes() == data
    finally:
        starter.join()
        server.remove()


def test_blob_errors_are_502_or_503(blob_server):
    refused = BlobStorage(blob_server.url, "wrong", retries=0)
    with pytest.raises(StorageRefused) as error:
        refused.delete("p/r/a")
    assert error.value.status == 502
    unreachable = BlobStorage(f"http://127.0.0.1:{free_port()}", "t", retries=0)
    with pytest.raises(StorageUnavailable) as error:
        unreachable.delete("p/r/a")
    assert error.value.status == 503
    # Deleting what is not there is fine.
    BlobStorage(blob_server.url, BLOB_TOKEN).delete("p/r/never-stored")


def test_the_blob_server_checks_the_token(blob_server):
    url = f"{blob_server.url}/token-check/a"
    assert requests.put(url, data=b"x", timeout=5).status_code == 401
    assert requests.put(url, data=b"x", headers={"Authorization": "Bearer no"}, timeout=5).status_code == 401
    assert not blob_server.path("token-check/a").exists()
    good = {"Authorization": f"Bearer {BLOB_TOKEN}"}
    assert requests.put(url, data=b"x", headers=good, timeout=5).status_code == 201
    assert requests.get(url, headers=good, timeout=5).content == b"x"
    assert requests.delete(url, headers=good, timeout=5).status_code == 204
