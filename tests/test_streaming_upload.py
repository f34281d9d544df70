"""Artifact uploads through the real server (gunicorn) are streamed, not held in memory."""

import hashlib
import os

import pytest
import requests

from app.extensions import db
from app.permissions import WorkflowPermissions
from roles.services import create_application_key

from .conftest import make_app
from .migrated import migrated_database
from .processes import Gunicorn, command_env, proc_status_kib
from .services import drop_postgres_database

MIB = 1024 * 1024
BIG = 64 * MIB
SMALL_LIMIT = 1 * MIB
ALLOWED_GROWTH_KIB = 8 * 1024


class Deployment:
    """A migrated PostgreSQL database, keys on it, and gunicorn servers over it."""

    def __init__(self, folder):
        self.folder = folder
        self.database_url = migrated_database("postgresql")
        self.uploads = folder / "uploads"
        self.servers = []
        self.env = command_env(folder, SQLALCHEMY_DATABASE_URI=self.database_url, UPLOAD_FOLDER=self.uploads)
        app = make_app(self.database_url, self.uploads)
        with app.app_context():
            _, client_key = create_application_key("client", [WorkflowPermissions.PIPELINES_CLIENT])
            _, worker_key = create_application_key("worker", [WorkflowPermissions.PIPELINES_WORKER])
            db.engine.dispose()
        self.client = {"Workflow-API-Key": client_key}
        self.worker = {"Workflow-API-Key": worker_key}

    def serve(self, **settings):
        env = {**self.env, **{key: str(value) for key, value in settings.items()}}
        server = Gunicorn(env, self.folder / f"gunicorn-{len(self.servers)}.log")
        self.servers.append(server)
        return server

    def running_run(self, server):
        """A new pipeline and run, set RUNNING through the server; returns the run's URL."""
        pipeline = requests.post(
            server.url + "/v1/pipelines", json={"name": "streaming"}, headers=self.client, timeout=10
        )
        assert pipeline.status_code == 201, pipeline.text
        pipeline_uuid = pipeline.json()["uuid"]
        run = requests.post(
            f"{server.url}/v1/pipelines/{pipeline_uuid}/runs",
            json={"inputs": []},
            headers=self.client,
            timeout=10,
        )
        assert run.status_code == 201, run.text
        run_url = f"{server.url}/v1/pipelines/{pipeline_uuid}/runs/{run.json()['uuid']}"
        state = requests.put(run_url + "/state", json={"state": "RUNNING"}, headers=self.worker, timeout=10)
        assert state.status_code == 200, state.text
        return run_url

    def upload(self, run_url, name, body, timeout=120):
        return requests.post(
            run_url + "/artifacts",
            params={"name": name},
            data=body,
            headers={**self.worker, "Content-Type": "application/octet-stream"},
            timeout=timeout,
        )

    def stored_path(self, artifact, run_url):
        pipeline_uuid, run_uuid = run_url.split("/v1/pipelines/")[1].split("/runs/")
        return self.uploads / pipeline_uuid / run_uuid / artifact["uuid"]

    def close(self):
        for server in self.servers:
            server.stop()
        drop_postgres_database(self.database_url)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployment = Deployment(tmp_path_factory.mktemp("streaming"))
    try:
        yield deployment
    finally:
        deployment.close()


@pytest.fixture
def server(deployment):
    """A fresh server per test: a worker's peak RSS (VmHWM) only ever goes up."""
    server = deployment.serve()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def small_limit_server(deployment):
    return deployment.serve(MAX_CONTENT_LENGTH=SMALL_LIMIT)


class Body:
    """``size`` bytes made on the fly, never held whole; tracks their sha256."""

    def __init__(self, size, block=64 * 1024):
        self.size = size
        self.pattern = os.urandom(MIB)
        self.block = block
        self.sha256 = hashlib.sha256()
        self.sent = 0

    def _next(self, limit):
        offset = self.sent % len(self.pattern)
        piece = self.pattern[offset : offset + min(limit, self.size - self.sent, len(self.pattern) - offset)]
        self.sent += len(piece)
        self.sha256.update(piece)
        return piece

    def chunks(self):
        """A generator: requests sends it with Transfer-Encoding: chunked."""
        while self.sent < self.size:
            yield self._next(self.block)

    def file(self):
        """A file-like object with a length: requests sends Content-Length."""
        body = self

        class Reader:
            def __len__(self):
                return body.size

            def read(self, size=-1):
                return body._next(body.block if size is None or size < 0 else size)

        return Reader()


def peak_rss_kib(server):
    return proc_status_kib(server.worker_pid(), "VmHWM")


@pytest.mark.parametrize("mode", ["chunked", "content-length"])
def test_64_mib_upload_is_streamed(deployment, server, mode, record_property):
    run_url = deployment.running_run(server)
    # Warm up the same code path (imports, buffers) with a small upload.
    warm = Body(2 * MIB)
    response = deployment.upload(run_url, "warm.bin", warm.chunks() if mode == "chunked" else warm.file())
    assert response.status_code == 201, response.text
    baseline = peak_rss_kib(server)

    body = Body(BIG)
    response = deployment.upload(run_url, "big.bin", body.chunks() if mode == "chunked" else body.file())

    assert response.status_code == 201, response.text
    assert body.sent == BIG
    artifact = response.json()
    assert artifact["size"] == BIG
    assert artifact["sha256"] == body.sha256.hexdigest()
    stored = deployment.stored_path(artifact, run_url)
    assert stored.stat().st_size == BIG
    digest = hashlib.sha256()
    with open(stored, "rb") as handle:
        for piece in iter(lambda: handle.read(MIB), b""):
            digest.update(piece)
    assert digest.hexdigest() == artifact["sha256"]

    growth = peak_rss_kib(server) - baseline
    record_property("peak_rss_growth_kib", growth)
    print(f"{mode}: worker VmHWM {baseline} KiB after warm-up, grew {growth} KiB for 64 MiB")
    assert growth <= ALLOWED_GROWTH_KIB, f"the worker's peak RSS grew {growth} KiB for a 64 MiB upload"


@pytest.mark.parametrize("mode", ["chunked", "content-length"])
def test_body_over_max_content_length_is_a_json_413(deployment, small_limit_server, mode):
    run_url = deployment.running_run(small_limit_server)
    before = set(deployment.uploads.rglob("*"))
    body = Body(SMALL_LIMIT + 64 * 1024)

    response = deployment.upload(run_url, "big.bin", body.chunks() if mode == "chunked" else body.file())

    assert response.status_code == 413
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["message"]
    assert {p for p in deployment.uploads.rglob("*") if p.is_file()} <= before
    run = requests.get(run_url, headers=deployment.client, timeout=10).json()
    assert run["artifacts"] == []
    # a body within the limit on the same server is stored
    fits = deployment.upload(run_url, "fits.bin", Body(SMALL_LIMIT).chunks())
    assert fits.status_code == 201, fits.text
