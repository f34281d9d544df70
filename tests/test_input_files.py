"""Input files: a client's upload, stored as artifacts are, on local disk
and on the blob server, fetched back by clients and workers only."""

import hashlib

from app.input_files.models import InputFile

from .helpers import assert_error, parse_time, table_snapshot


def upload(client, keys, pipeline_uuid, name, data, headers=None):
    return client.post(
        f"/v1/pipelines/{pipeline_uuid}/input_files",
        query_string={"name": name} if name is not None else {},
        data=data,
        headers={**(keys.client if headers is None else headers), "Content-Type": "application/octet-stream"},
    )


def test_an_upload_is_stored_and_answered_with_a_url_runs_take(app, api, client, keys, backend):
    pipeline = api.create_pipeline()
    data = b"clock { timezone EST+5EDT; }\n" * 1000
    response = upload(client, keys, pipeline["uuid"], "folder/ieee4.glm", data)
    assert response.status_code == 201, response.get_json()
    stored = response.get_json()
    assert set(stored) == {"uuid", "name", "size", "sha256", "url", "created_at"}
    assert stored["name"] == "ieee4.glm" and stored["size"] == len(data)
    assert stored["sha256"] == hashlib.sha256(data).hexdigest()
    parse_time(stored["created_at"])
    key = f"{pipeline['uuid']}/input_files/{stored['uuid']}"
    assert key in backend.keys() and backend.read(key) == data
    assert (
        stored["url"] == f"http://workflow.test/v1/pipelines/{pipeline['uuid']}/input_files/{stored['uuid']}"
    )

    for headers in (keys.client, keys.worker):
        download = client.get(stored["url"], headers=headers)
        assert download.status_code == 200 and download.data == data
        assert download.headers["ETag"] == f'"{stored["sha256"]}"'
    ranged = client.get(stored["url"], headers={**keys.worker, "Range": "bytes=0-4"})
    assert ranged.status_code == 206 and ranged.data == data[:5]

    run = api.create_run(pipeline["uuid"], inputs=[{"name": "model.glm", "url": stored["url"]}])
    assert run["inputs"] == [{"name": "model.glm", "url": stored["url"]}]


def test_nobody_else_fetches_an_input_file(app, api, client, keys, backend):
    pipeline, other = api.create_pipeline(), api.create_pipeline()
    stored = upload(client, keys, pipeline["uuid"], "model.glm", b"x").get_json()
    for kind in ("none", "unknown", "revoked"):
        assert_error(client.get(stored["url"], headers=keys.by_kind(kind)), 401)
    elsewhere = f"/v1/pipelines/{other['uuid']}/input_files/{stored['uuid']}"
    assert_error(client.get(elsewhere, headers=keys.client), 404)
    missing = f"/v1/pipelines/{pipeline['uuid']}/input_files/{'0' * 32}"
    assert_error(client.get(missing, headers=keys.client), 404)


def test_bad_uploads_are_refused_and_store_nothing(app, api, client, keys, backend):
    pipeline = api.create_pipeline()
    before, stored_before = table_snapshot(app), backend.keys()
    assert_error(upload(client, keys, pipeline["uuid"], None, b"x"), 400)
    assert_error(upload(client, keys, pipeline["uuid"], "", b"x"), 400)
    assert_error(upload(client, keys, pipeline["uuid"], "a" * 256, b"x"), 400)
    assert_error(upload(client, keys, pipeline["uuid"], "folder/", b"x"), 400)
    assert_error(upload(client, keys, pipeline["uuid"], "model.glm", b"x", headers=keys.worker), 403)
    assert_error(upload(client, keys, "f" * 32, "model.glm", b"x"), 404)
    app.config["MAX_CONTENT_LENGTH"] = 10
    assert_error(upload(client, keys, pipeline["uuid"], "model.glm", b"x" * 11), 413)
    assert upload(client, keys, pipeline["uuid"], "model.glm", b"x" * 10).status_code == 201
    after = table_snapshot(app)
    assert len(after["input_file"]) == len(before["input_file"]) + 1
    assert len(backend.keys() - stored_before) == 1


def test_a_worker_still_fetches_the_files_of_a_deleted_pipeline(app, api, client, keys, backend):
    pipeline = api.create_pipeline()
    stored = upload(client, keys, pipeline["uuid"], "model.glm", b"kept").get_json()
    assert client.delete(f"/v1/pipelines/{pipeline['uuid']}", headers=keys.client).status_code in (200, 204)
    assert client.get(stored["url"], headers=keys.worker).data == b"kept"
    assert_error(client.get(stored["url"], headers=keys.client), 404)
    with app.app_context():
        assert InputFile.query.count() == 1


def test_an_input_file_of_an_api_on_a_blocked_address_is_a_run_input(app, api, client, keys, monkeypatch):
    """The quick start's API listens on 127.0.0.1, which BLOCKED_NETWORKS
    blocks by default: its own input file URLs still make runs, other URLs
    on that address (another port) do not."""
    from app.config import network_list

    monkeypatch.setitem(app.config, "BLOCKED_NETWORKS", network_list("127.0.0.0/8"))
    monkeypatch.setitem(app.config, "SERVER_NAME", "127.0.0.1:5000")
    pipeline = api.create_pipeline()
    stored = upload(client, keys, pipeline["uuid"], "ieee4.glm", b"// model\n").get_json()
    assert stored["url"].startswith("http://127.0.0.1:5000/v1/pipelines/")

    run = api.create_run(pipeline["uuid"], inputs=[{"name": "ieee4.glm", "url": stored["url"]}])
    assert run["inputs"][0]["url"] == stored["url"]
    for url in (stored["url"].replace(":5000/", ":5001/"), "http://127.0.0.1:5000/elsewhere/ieee4.glm"):
        refused = client.post(
            f"/v1/pipelines/{pipeline['uuid']}/runs",
            json={"inputs": [{"name": "ieee4.glm", "url": url}]},
            headers=keys.client,
        )
        assert_error(refused, 400, ["inputs"])
