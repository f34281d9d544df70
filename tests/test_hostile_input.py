"""Hostile input the other test modules leave out, on PostgreSQL and SQLite.

Already covered elsewhere, and not repeated here: bad input names, URL
schemes and callback schemes (test_runs.py), artifact names that climb out
of folders, NUL or 256+ characters and oversized uploads (test_artifacts.py,
test_streaming_upload.py through gunicorn), and bad JSON, JSON of the wrong
shape or type and odd strings on every JSON endpoint (test_fuzz.py).

Here: URLs whose host is an address in BLOCKED_NETWORKS, control
characters in names, bodies over MAX_CONTENT_LENGTH on every JSON endpoint
(with and without Content-Length, and chunked through gunicorn), each
refused with nothing changed in the database.
"""

import io
import json
import os

import pytest
import requests

from app.config import network_list
from app.extensions import db
from app.permissions import WorkflowPermissions
from roles.services import create_application_key

from .conftest import make_app
from .helpers import assert_error, failed_cases, table_snapshot
from .migrated import migrated_database
from .processes import Gunicorn, command_env
from .services import drop_postgres_database
from .test_fuzz import Targets, headers_for, operations
from .test_runs import BAD_NAMES

METADATA_URLS = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/",
    "http://169.254.169.254./latest/",  # trailing dot
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped IPv6
    "http://[fe80::1]/",
    "http://[fe80::1%25eth0]:8080/",  # with a zone id
    "http://2852039166/",  # 169.254.169.254 as one number
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://0251.0376.0251.0376/",
    "HTTP://169.254.1.1:80/x",
]


@pytest.fixture
def pipeline(api):
    return api.create_pipeline()


def create_run(client, keys, pipeline, body):
    return client.post(f"/v1/pipelines/{pipeline['uuid']}/runs", json=body, headers=keys.client)


def test_callback_and_input_urls_into_blocked_networks_are_400(app, client, keys, pipeline):
    before = table_snapshot(app)

    def check(url):
        assert_error(create_run(client, keys, pipeline, {"callback_url": url}), 400, ["callback_url"])
        inputs = [{"name": "m.glm", "url": url}]
        assert_error(create_run(client, keys, pipeline, {"inputs": inputs}), 400, ["inputs"])

    assert failed_cases(METADATA_URLS, check) == []
    assert table_snapshot(app) == before


def test_other_schemes_for_callbacks_are_400(app, client, keys, pipeline):
    before = table_snapshot(app)

    def check(url):
        assert_error(create_run(client, keys, pipeline, {"callback_url": url}), 400, ["callback_url"])

    cases = ["gopher://hook.test/", "file:///etc/passwd", "javascript:alert(1)", "ftp://hook.test/"]
    assert failed_cases(cases, check) == []
    assert table_snapshot(app) == before


@pytest.mark.parametrize(
    "repository",
    [
        "https://169.254.169.254/repo.git",
        "http://[fe80::1]/repo.git",
        "ssh://git@169.254.169.254/repo.git",
        "git://169.254.169.254/repo.git",
        "git@169.254.169.254:repo.git",
    ],
)
def test_repositories_in_blocked_networks_are_400(app, client, keys, repository):
    before = table_snapshot(app)
    response = client.post(
        "/v1/pipelines", json={"name": "p", "repository_ssh_url": repository}, headers=keys.client
    )
    assert_error(response, 400, ["repository_ssh_url"])
    assert table_snapshot(app) == before


def test_names_are_not_resolved_by_the_api(app, api, pipeline, monkeypatch):
    """Only addresses are checked here: the worker resolves names when it connects."""
    monkeypatch.setitem(app.config, "BLOCKED_NETWORKS", network_list("127.0.0.0/8"))

    run = api.create_run(pipeline["uuid"], callback_url="http://localhost:8080/hook")
    assert run["callback_url"] == "http://localhost:8080/hook"
    response = create_run(api.client, api.keys, pipeline, {"callback_url": "http://127.0.0.1:8080/hook"})
    assert_error(response, 400, ["callback_url"])


def test_blocked_networks_are_configurable(app, api, pipeline, monkeypatch):
    monkeypatch.setitem(app.config, "BLOCKED_NETWORKS", network_list("10.0.0.0/8, fd00::/8"))

    for url in ("http://10.1.2.3/", "http://[fd12::1]/"):
        assert_error(create_run(api.client, api.keys, pipeline, {"callback_url": url}), 400, ["callback_url"])
    # no longer in the list: allowed
    assert api.create_run(pipeline["uuid"], callback_url="http://169.254.169.254/")["callback_url"]


def test_blocked_networks_setting(monkeypatch):
    from app import config

    monkeypatch.delenv("BLOCKED_NETWORKS", raising=False)
    assert [str(n) for n in config.from_environment()["BLOCKED_NETWORKS"]] == [
        *"0.0.0.0/8 127.0.0.0/8 10.0.0.0/8 172.16.0.0/12 192.168.0.0/16 100.64.0.0/10 169.254.0.0/16".split(),
        *"::/128 ::1/128 fc00::/7 fe80::/10 64:ff9b::/96".split(),
    ]
    monkeypatch.setenv("BLOCKED_NETWORKS", " 10.0.0.0/8 ,192.168.1.7")
    assert [str(n) for n in config.from_environment()["BLOCKED_NETWORKS"]] == ["10.0.0.0/8", "192.168.1.7/32"]
    monkeypatch.setenv("BLOCKED_NETWORKS", "")
    assert config.from_environment()["BLOCKED_NETWORKS"] == ()


# Loopback, private and shared ranges, in the spellings a resolver takes,
# and IPv6 addresses that reach them: blocked by the default list.
INTERNAL_URLS = [
    "http://127.0.0.1:5000/healthcheck",  # the API itself
    "http://127.1/",
    "http://2130706433/",  # 127.0.0.1 as one number
    "http://0x7f.0.0.1/",
    "http://0.0.0.0:5000/",  # reaches loopback on Linux
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[64:ff9b::7f00:1]/",  # NAT64
    "http://[2002:7f00:1::]/",  # 6to4
    "http://10.0.0.5/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://[::ffff:192.168.1.1]/",
    "http://100.64.0.1/",  # CGNAT
    "http://[fd00::1]/",  # unique-local
    "http://[fe80::1]/",
]


def test_loopback_and_private_addresses_are_400_by_default(app, client, keys, pipeline):
    before = table_snapshot(app)

    def check(url):
        assert_error(create_run(client, keys, pipeline, {"callback_url": url}), 400, ["callback_url"])
        inputs = [{"name": "m.glm", "url": url}]
        assert_error(create_run(client, keys, pipeline, {"inputs": inputs}), 400, ["inputs"])
        body = {"name": "p", "repository_ssh_url": url + "repo.git"}
        assert_error(
            client.post("/v1/pipelines", json=body, headers=keys.client), 400, ["repository_ssh_url"]
        )

    assert failed_cases(INTERNAL_URLS, check) == []
    assert table_snapshot(app) == before


def test_public_addresses_and_names_are_allowed_by_default(api, pipeline):
    urls = (
        "https://hooks.example.com/x",
        "http://localhost:9000/hook",
        "http://93.184.215.14/",
        "http://[2606:4700::1]/",
    )
    for url in urls:
        assert api.create_run(pipeline["uuid"], callback_url=url)["callback_url"] == url


def test_a_replaced_list_allows_loopback(app, api, pipeline, monkeypatch):
    monkeypatch.setitem(app.config, "BLOCKED_NETWORKS", network_list("169.254.0.0/16"))

    url = "http://127.0.0.1:9000/hook"
    assert api.create_run(pipeline["uuid"], callback_url=url, inputs=[{"name": "m.glm", "url": url}])


# --- names ------------------------------------------------------------------


def test_input_names_that_escape_or_hide_are_400_with_nothing_created(app, client, keys, pipeline):
    before = table_snapshot(app)

    def check(name):
        body = {"inputs": [{"name": name, "url": "https://example.com/m.glm"}]}
        assert_error(create_run(client, keys, pipeline, body), 400, ["inputs"])

    names = [*BAD_NAMES, "../x", "a\nb.glm", "tab\t.glm", "bell\x07", "del\x7f", "c1\x85.glm"]
    # Bidirectional overrides and isolates, and other invisible format characters.
    names += [
        "gnp\u202eexe.glm",
        "a\u202ab.glm",
        "a\u2066b\u2069.glm",
        "zero\u200bwidth.glm",
        "\ufeffbom.glm",
    ]
    assert failed_cases(names, check) == []
    assert table_snapshot(app) == before


@pytest.fixture
def running(api, pipeline):
    run = api.create_run(pipeline["uuid"])
    assert api.set_state(pipeline["uuid"], run["uuid"], "RUNNING").status_code == 200
    return pipeline["uuid"], run["uuid"]


def files_under(folder):
    return {os.path.join(root, name) for root, _, names in os.walk(folder) for name in names}


@pytest.mark.parametrize(
    "raw, stored",
    [
        ("a\r\nSet-Cookie: session=stolen", "a__Set-Cookie: session=stolen"),
        ("out/line\nbreak.csv", "line_break.csv"),
        ("../../bell\x07.txt", "bell_.txt"),
        ("c1\x85\x9f.csv", "c1__.csv"),
        ("report\u202egnp.exe", "report_gnp.exe"),  # would show as "reportexe.png"
        ("a\u2067b\u2069c\u200f.csv", "a_b_c_.csv"),
    ],
)
def test_control_characters_in_artifact_names_are_stored_safely(app, api, running, raw, stored):
    folder = os.path.realpath(app.config["UPLOAD_FOLDER"])
    before = files_under(folder)

    response = api.upload(*running, raw, b"data")

    assert response.status_code == 201, response.get_json()
    artifact = response.get_json()
    assert artifact["name"] == stored
    for path in files_under(folder) - before:
        assert os.path.realpath(path).startswith(folder + os.sep)
        assert os.path.basename(path) == artifact["uuid"]  # the client's name is no path
    download = api.client.get(
        api.run_path(*running, f"/artifacts/{artifact['uuid']}"), headers=api.keys.client
    )
    assert download.status_code == 200
    assert download.data == b"data"
    disposition = download.headers["Content-Disposition"]
    assert "\r" not in disposition and "\n" not in disposition
    assert "Set-Cookie" not in download.headers


# --- bodies over MAX_CONTENT_LENGTH -----------------------------------------

LIMIT = 1024


def oversized_json(size):
    """A valid JSON object of ``size`` bytes: only its size is wrong."""
    head = b'{"name": "'
    return head + b"x" * (size - len(head) - 2) + b'"}'


@pytest.fixture
def document(client):
    return client.get("/apispec.json").get_json()


@pytest.mark.parametrize("framing", ["content-length", "streamed"])
def test_json_bodies_over_max_content_length_are_a_json_413(app, api, keys, document, framing):
    targets = Targets(app, api)
    endpoints = [
        (method, path.format(**targets.path_parameters()), headers_for(keys, operation))
        for path, method, operation in operations(document)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(endpoints) >= 7
    app.config["MAX_CONTENT_LENGTH"] = LIMIT  # the app fixture puts it back
    before = table_snapshot(app)

    def check(endpoint):
        method, path, headers = endpoint
        body = oversized_json(LIMIT + 1 if framing == "content-length" else 4 * LIMIT)
        options = {"data": body}
        if framing == "streamed":
            # As gunicorn hands on a chunked body: no Content-Length, the input terminated.
            options = {
                "input_stream": io.BytesIO(body),
                "environ_overrides": {"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"},
            }
        response = api.client.open(
            path, method=method, content_type="application/json", headers=headers, **options
        )
        assert_error(response, 413)

    assert failed_cases(endpoints, check) == []
    assert table_snapshot(app) == before


# --- the same through gunicorn ------------------------------------------------


@pytest.fixture(scope="module")
def small_limit_server(tmp_path_factory):
    """gunicorn with MAX_CONTENT_LENGTH=64 KiB over a migrated PostgreSQL database; its URL and client key."""
    folder = tmp_path_factory.mktemp("hostile")
    database_url = migrated_database("postgresql")
    server = None
    try:
        env = command_env(folder, SQLALCHEMY_DATABASE_URI=database_url, MAX_CONTENT_LENGTH=64 * 1024)
        app = make_app(database_url, folder / "uploads")
        with app.app_context():
            _, key = create_application_key("client", [WorkflowPermissions.PIPELINES_CLIENT])
            db.engine.dispose()
        server = Gunicorn(env, folder / "gunicorn.log")
        yield server.url, {"Workflow-API-Key": key}
    finally:
        if server is not None:
            server.stop()
        drop_postgres_database(database_url)


def chunks(body, size=8 * 1024):
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("framing", ["chunked", "content-length"])
def test_json_body_over_the_limit_through_gunicorn_is_a_json_413(small_limit_server, framing):
    url, client = small_limit_server
    body = oversized_json(64 * 1024 + 16 * 1024)

    response = requests.post(
        url + "/v1/pipelines",
        data=chunks(body) if framing == "chunked" else body,
        headers={**client, "Content-Type": "application/json"},
        timeout=30,
    )

    assert response.status_code == 413, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["message"]
    listed = requests.get(url + "/v1/pipelines", headers=client, timeout=10)
    assert listed.json() == []
    # A chunked JSON body within the limit is read whole.
    fits = json.dumps({"name": "fits", "description": "d" * 300}).encode()
    created = requests.post(
        url + "/v1/pipelines",
        data=chunks(fits, 256),
        headers={**client, "Content-Type": "application/json"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    requests.delete(f"{url}/v1/pipelines/{created.json()['uuid']}", headers=client, timeout=10)
