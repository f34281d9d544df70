"""Uploading (worker) and downloading (client) a run's artifacts."""

import hashlib
import io
import os

import pytest

from app.artifacts.models import Artifact
from app.extensions import db


def stored_files(app):
    """Every file under the app's UPLOAD_FOLDER, as paths relative to it."""
    root = app.config["UPLOAD_FOLDER"]
    return {
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root)
        for name in names
    }


def artifact_rows(app):
    with app.app_context():
        return db.session.query(Artifact).count()


@pytest.fixture
def running(api):
    """A pipeline and one of its runs in RUNNING."""
    pipeline = api.create_pipeline()
    run = api.create_run(pipeline["uuid"])
    assert api.set_state(pipeline["uuid"], run["uuid"], "RUNNING").status_code == 200
    return pipeline["uuid"], run["uuid"]


def test_upload_while_running_stores_the_bytes(app, api, running):
    data = os.urandom(200_000) + b"end"
    before = stored_files(app)

    response = api.upload(*running, "volts.csv", data)

    assert response.status_code == 201, response.get_json()
    artifact = response.get_json()
    assert artifact["name"] == "volts.csv"
    assert artifact["size"] == len(data)
    assert artifact["sha256"] == hashlib.sha256(data).hexdigest()
    assert set(artifact) >= {"uuid", "name", "url", "size", "sha256", "created_at"}
    (new_file,) = stored_files(app) - before
    assert "volts.csv" not in new_file  # stored under a name the service chose
    with open(os.path.join(app.config["UPLOAD_FOLDER"], new_file), "rb") as handle:
        assert handle.read() == data
    listed = api.client.get(api.run_path(*running), headers=api.keys.client).get_json()
    assert listed["artifacts"] == [artifact]


def test_empty_file_is_an_artifact_too(api, running):
    response = api.upload(*running, "empty.txt", b"")
    assert response.status_code == 201
    assert response.get_json()["size"] == 0
    assert response.get_json()["sha256"] == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("out/volts.csv", "volts.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\x", "x"),
        ("C:\\results\\meter.csv", "meter.csv"),
        ("/abs/path/log.txt", "log.txt"),
        ("spaced name.csv", "spaced name.csv"),
        ("ünïcode.glm", "ünïcode.glm"),
    ],
)
def test_name_keeps_only_its_last_part(app, api, running, raw, stored):
    before = stored_files(app)
    response = api.upload(*running, raw, b"data")
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["name"] == stored
    # nothing written outside the upload folder's own layout
    for path in stored_files(app) - before:
        assert not path.startswith("..")
        assert stored not in path


@pytest.mark.parametrize(
    "name",
    [None, "", "x" * 256, "bad\x00name", "out/", "..", ".", "a/..", "dir\\"],
)
def test_bad_names_are_400(app, api, running, name):
    before = stored_files(app)
    query = {} if name is None else {"name": name}
    response = api.client.post(
        api.run_path(*running, "/artifacts"),
        query_string=query,
        data=b"data",
        headers={**api.keys.worker, "Content-Type": "application/octet-stream"},
    )
    assert response.status_code == 400
    assert "name" in response.get_json()["message"]
    assert stored_files(app) == before
    assert artifact_rows(app) == 0


def test_a_name_of_255_characters_is_fine(api, running):
    response = api.upload(*running, "x" * 251 + ".csv", b"data")
    assert response.status_code == 201
    assert response.get_json()["name"] == "x" * 251 + ".csv"


@pytest.mark.parametrize("final", [None, "COMPLETED", "FAILED", "CANCELLED"])
def test_upload_is_409_unless_running(app, api, final):
    pipeline = api.create_pipeline()["uuid"]
    run = api.create_run(pipeline)["uuid"]
    if final is not None:
        if final != "CANCELLED":
            assert api.set_state(pipeline, run, "RUNNING").status_code == 200
        assert api.set_state(pipeline, run, final).status_code == 200
    before = stored_files(app)

    response = api.upload(pipeline, run, "volts.csv", b"late bytes")

    assert response.status_code == 409
    assert "RUNNING" in response.get_json()["message"]
    assert stored_files(app) == before
    assert artifact_rows(app) == 0


def test_upload_needs_the_worker_key(api, running):
    for kind, status in (("none", 401), ("unknown", 401), ("revoked", 401), ("client", 403)):
        response = api.client.post(
            api.run_path(*running, "/artifacts"),
            query_string={"name": "x.csv"},
            data=b"data",
            headers=api.keys.by_kind(kind),
        )
        assert response.status_code == status, kind
        assert response.is_json


def test_download_gives_the_exact_bytes(api, running):
    data = bytes(range(256)) * 1000
    artifact = api.upload(*running, "out/volts.csv", data).get_json()
    path = api.run_path(*running, f"/artifacts/{artifact['uuid']}")
    assert artifact["url"].endswith(path)

    response = api.client.get(path, headers=api.keys.client)

    assert response.status_code == 200
    assert response.data == data
    assert response.mimetype == "text/csv"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment")
    assert "volts.csv" in disposition
    assert response.headers["ETag"].strip('"') == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(
    "name, mimetype",
    [
        ("model.json", "application/json"),
        ("plot.png", "image/png"),
        ("output.glmx", "application/octet-stream"),
    ],
)
def test_download_content_type_comes_from_the_name(api, running, name, mimetype):
    artifact = api.upload(*running, name, b"\x89PNG...").get_json()
    response = api.client.get(
        api.run_path(*running, f"/artifacts/{artifact['uuid']}"), headers=api.keys.client
    )
    assert response.status_code == 200
    assert response.mimetype == mimetype


def test_download_needs_the_client_key(api, running):
    artifact = api.upload(*running, "a.txt", b"data").get_json()
    path = api.run_path(*running, f"/artifacts/{artifact['uuid']}")
    for kind, status in (("none", 401), ("unknown", 401), ("revoked", 401), ("worker", 403)):
        response = api.client.get(path, headers=api.keys.by_kind(kind))
        assert response.status_code == status, kind


def test_another_runs_artifact_is_404_through_this_run(api, running):
    pipeline, run = running
    other_run = api.create_run(pipeline)["uuid"]
    assert api.set_state(pipeline, other_run, "RUNNING").status_code == 200
    theirs = api.upload(pipeline, other_run, "theirs.csv", b"secret").get_json()

    response = api.client.get(
        api.run_path(pipeline, run, f"/artifacts/{theirs['uuid']}"), headers=api.keys.client
    )
    assert response.status_code == 404
    assert response.is_json
    ok = api.client.get(
        api.run_path(pipeline, other_run, f"/artifacts/{theirs['uuid']}"), headers=api.keys.client
    )
    assert ok.status_code == 200

    # and through another pipeline's path
    other_pipeline = api.create_pipeline()["uuid"]
    response = api.client.get(
        api.run_path(other_pipeline, other_run, f"/artifacts/{theirs['uuid']}"),
        headers=api.keys.client,
    )
    assert response.status_code == 404


@pytest.mark.parametrize("artifact_uuid", ["0" * 32, "not-a-uuid"])
def test_unknown_artifact_is_404(api, running, artifact_uuid):
    response = api.client.get(api.run_path(*running, f"/artifacts/{artifact_uuid}"), headers=api.keys.client)
    assert response.status_code == 404
    assert response.is_json


def test_body_over_max_content_length_is_a_json_413(app, api, running):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    before = stored_files(app)

    response = api.upload(*running, "big.bin", b"x" * 1025)

    assert response.status_code == 413
    assert response.is_json
    assert response.get_json()["message"]
    assert stored_files(app) == before
    assert artifact_rows(app) == 0
    # at the limit it is fine
    assert api.upload(*running, "fits.bin", b"x" * 1024).status_code == 201


def upload_streamed(api, running, data):
    """An upload without Content-Length, as a server that decodes chunked bodies hands it on."""
    return api.client.post(
        api.run_path(*running, "/artifacts"),
        query_string={"name": "streamed.bin"},
        input_stream=io.BytesIO(data),
        headers={**api.keys.worker, "Content-Type": "application/octet-stream"},
        environ_overrides={"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"},
    )


def test_streamed_body_over_max_content_length_is_a_json_413(app, api, running):
    """A body without Content-Length (as chunked uploads arrive) is cut at the limit."""
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    before = stored_files(app)

    for size in (64 * 1024 + 1, 160 * 1024):
        response = upload_streamed(api, running, b"y" * size)
        assert response.status_code == 413, size
        assert response.is_json
    assert stored_files(app) == before
    assert artifact_rows(app) == 0


def test_streamed_body_of_exactly_max_content_length_is_stored(app, api, running):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    data = os.urandom(64 * 1024)
    response = upload_streamed(api, running, data)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["size"] == len(data)
    assert response.get_json()["sha256"] == hashlib.sha256(data).hexdigest()
