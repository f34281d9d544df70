"""Faithful where the original said no (the contract's section of that name).

The original service refused these requests; its clients may rely on the
answers: a console replace needs both streams, a run needs ``inputs``, a
body of exactly MAX_CONTENT_LENGTH bytes fits, ``file://`` inputs are
refused unless ALLOW_FILE_URLS, and deleting a pipeline cancels its runs,
after which the worker's calls on them store nothing.
"""

import io

import pytest
import requests

from app.config import from_environment
from app.extensions import db
from app.runs.models import Run, RunStateChange

from .helpers import assert_error, failed_cases, run_in_state, table_snapshot
from .test_artifacts import artifact_rows, stored_files
from .test_fuzz import Targets, headers_for, operations
from .test_hostile_input import oversized_json
from .test_streaming_upload import Deployment

LIMIT = 4096


@pytest.fixture
def pipeline(api):
    return api.create_pipeline()["uuid"]


def runs_path(pipeline_uuid):
    return f"/v1/pipelines/{pipeline_uuid}/runs"


def run_rows(app):
    with app.app_context():
        return db.session.query(Run).count()


# --- PUT .../console needs both streams -------------------------------------


@pytest.mark.parametrize(
    "body",
    [{}, {"std_out": "only out"}, {"std_err": "only err"}, {"std_out": "x", "std_err": None}],
    ids=["empty", "no-std_err", "no-std_out", "std_err-null"],
)
def test_console_replace_without_both_streams_is_400_and_changes_nothing(
    app, api, client, keys, pipeline, body
):
    run = run_in_state(api, pipeline, "RUNNING")
    path = api.run_path(pipeline, run["uuid"], "/console")
    assert client.post(path, json={"std_out": "kept\n"}, headers=keys.worker).status_code == 204
    before = table_snapshot(app)

    response = client.put(path, json=body, headers=keys.worker)

    answer = assert_error(response, 400)
    missing = {"std_out", "std_err"} - {name for name, value in body.items() if value is not None}
    assert missing <= set(answer.get("errors", {})), answer
    assert table_snapshot(app) == before
    assert client.get(path, headers=keys.client).get_json() == {"std_out": "kept\n", "std_err": ""}


def test_console_replace_with_both_streams_replaces_and_post_still_appends_one(api, client, keys, pipeline):
    run = run_in_state(api, pipeline, "RUNNING")
    path = api.run_path(pipeline, run["uuid"], "/console")
    assert client.put(path, json={"std_out": "a", "std_err": ""}, headers=keys.worker).status_code == 200
    assert client.post(path, json={"std_err": "e"}, headers=keys.worker).status_code == 204
    assert client.get(path, headers=keys.client).get_json() == {"std_out": "a", "std_err": "e"}


# --- POST .../runs needs inputs ---------------------------------------------------


@pytest.mark.parametrize(
    "body", [{}, {"callback_url": "https://hook.test/x"}], ids=["empty", "callback-only"]
)
def test_run_without_inputs_is_400_and_creates_nothing(app, client, keys, pipeline, body):
    before = table_snapshot(app)
    response = client.post(runs_path(pipeline), json=body, headers=keys.client)
    assert_error(response, 400, ["inputs"])
    assert table_snapshot(app) == before


def test_run_with_empty_inputs_is_created(client, keys, pipeline):
    response = client.post(runs_path(pipeline), json={"inputs": []}, headers=keys.client)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["inputs"] == []


# --- a body of exactly MAX_CONTENT_LENGTH fits, one byte more is 413 ---------------


def framed(body, framing):
    """Request options sending ``body`` with a Content-Length, or without
    one, as gunicorn hands on a chunked body."""
    if framing == "content-length":
        return {"data": body}
    return {
        "input_stream": io.BytesIO(body),
        "environ_overrides": {"wsgi.input_terminated": True, "HTTP_TRANSFER_ENCODING": "chunked"},
    }


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_every_json_body_of_exactly_max_content_length_is_read_and_one_byte_more_is_413(
    app, api, keys, client, framing
):
    targets = Targets(app, api)
    document = client.get("/apispec.json").get_json()
    endpoints = [
        (method, path.format(**targets.path_parameters()), headers_for(keys, operation))
        for path, method, operation in operations(document)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(endpoints) >= 7
    app.config["MAX_CONTENT_LENGTH"] = LIMIT  # the app fixture puts it back

    def check(endpoint):
        method, path, headers = endpoint
        over = client.open(
            path, method=method, content_type="application/json", headers=headers,
            **framed(oversized_json(LIMIT + 1), framing),
        )  # fmt: skip
        assert_error(over, 413)
        at_limit = client.open(
            path, method=method, content_type="application/json", headers=headers,
            **framed(oversized_json(LIMIT), framing),
        )  # fmt: skip
        # Read whole: whatever the endpoint makes of it (a 400 for a field
        # too long, a 409 for a run that ended), not a 413.
        assert at_limit.status_code != 413, at_limit.get_json()
        targets.reset()

    assert failed_cases(endpoints, check) == []


def test_console_body_of_exactly_max_content_length_is_stored(app, api, client, keys, pipeline):
    run = run_in_state(api, pipeline, "RUNNING")
    path = api.run_path(pipeline, run["uuid"], "/console")
    app.config["MAX_CONTENT_LENGTH"] = LIMIT
    head, tail = b'{"std_out": "', b'", "std_err": ""}'
    body = head + b"o" * (LIMIT - len(head) - len(tail)) + tail
    assert len(body) == LIMIT
    for framing in ("content-length", "chunked"):
        response = client.put(
            path, content_type="application/json", headers=keys.worker, **framed(body, framing)
        )
        assert response.status_code == 200, (framing, response.get_json())
        over = client.put(
            path, content_type="application/json", headers=keys.worker, **framed(body[:-1] + b" }", framing)
        )
        assert_error(over, 413)
    assert client.get(path, headers=keys.client).get_json()["std_out"] == "o" * (
        LIMIT - len(head) - len(tail)
    )


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_artifact_of_exactly_max_content_length_is_stored_and_one_byte_more_is_413(
    app, api, client, keys, pipeline, framing
):
    run = run_in_state(api, pipeline, "RUNNING")
    path = api.run_path(pipeline, run["uuid"], "/artifacts")
    headers = {**keys.worker, "Content-Type": "application/octet-stream"}
    app.config["MAX_CONTENT_LENGTH"] = LIMIT
    before = stored_files(app)

    over = client.post(
        path, query_string={"name": "over.bin"}, headers=headers, **framed(b"x" * (LIMIT + 1), framing)
    )
    assert_error(over, 413)
    assert stored_files(app) == before and artifact_rows(app) == 0

    fits = client.post(
        path, query_string={"name": "fits.bin"}, headers=headers, **framed(b"x" * LIMIT, framing)
    )
    assert fits.status_code == 201, fits.get_json()
    assert fits.get_json()["size"] == LIMIT


@pytest.fixture(scope="module")
def limited_server(tmp_path_factory):
    """gunicorn (PostgreSQL) with MAX_CONTENT_LENGTH=LIMIT, and its deployment."""
    deployment = Deployment(tmp_path_factory.mktemp("limit-edge"))
    try:
        yield deployment, deployment.serve(MAX_CONTENT_LENGTH=LIMIT)
    finally:
        deployment.close()


def chunks(body, size=1000):
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_the_limit_edge_through_gunicorn(limited_server, framing):
    deployment, server = limited_server
    run_url = deployment.running_run(server)

    def send(url, body, content_type, **kwargs):
        data = chunks(body) if framing == "chunked" else body
        headers = {**deployment.worker, "Content-Type": content_type}
        return requests.post(url, data=data, headers=headers, timeout=30, **kwargs)

    assert (
        send(
            run_url + "/artifacts", b"a" * LIMIT, "application/octet-stream", params={"name": "a"}
        ).status_code
        == 201
    )
    over = send(run_url + "/artifacts", b"a" * (LIMIT + 1), "application/octet-stream", params={"name": "b"})
    assert over.status_code == 413 and over.json()["message"]

    head, tail = b'{"std_out": "', b'"}'
    body = head + b"o" * (LIMIT - len(head) - len(tail)) + tail
    assert send(run_url + "/console", body, "application/json").status_code == 204
    over = send(run_url + "/console", body[:-1] + b" }", "application/json")
    assert over.status_code == 413 and over.json()["message"]
    run = requests.get(run_url, headers=deployment.client, timeout=10).json()
    assert [artifact["name"] for artifact in run["artifacts"]] == ["a"]


# --- file:// inputs only where ALLOW_FILE_URLS allows them -------------------------

FILE_URLS = [
    "file:///srv/data/model.glm",
    "FILE:///etc/passwd",
    "file://localhost/tmp/m.glm",
    "file:relative.glm",
]


def test_file_input_urls_are_400_by_default_and_create_nothing(app, client, keys, pipeline):
    assert app.config["ALLOW_FILE_URLS"] is False
    before = table_snapshot(app)

    def check(url):
        response = client.post(
            runs_path(pipeline), json={"inputs": [{"name": "m.glm", "url": url}]}, headers=keys.client
        )
        answer = assert_error(response, 400, ["inputs"])
        assert "ALLOW_FILE_URLS" in str(answer["errors"]), answer

    assert failed_cases(FILE_URLS, check) == []
    assert table_snapshot(app) == before


def test_file_input_urls_are_accepted_where_allow_file_urls_is_on(app, client, keys, pipeline):
    app.config["ALLOW_FILE_URLS"] = True
    try:
        inputs = [{"name": "m.glm", "url": "file:///srv/data/model.glm"}]
        response = client.post(runs_path(pipeline), json={"inputs": inputs}, headers=keys.client)
    finally:
        app.config["ALLOW_FILE_URLS"] = False
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["inputs"] == inputs


def test_allow_file_urls_is_off_unless_set(monkeypatch):
    monkeypatch.delenv("ALLOW_FILE_URLS", raising=False)
    assert from_environment()["ALLOW_FILE_URLS"] is False
    monkeypatch.setenv("ALLOW_FILE_URLS", "1")
    assert from_environment()["ALLOW_FILE_URLS"] is True


# --- deleting a pipeline cancels its runs; worker calls on them store nothing -------


def states_by_uuid(app):
    with app.app_context():
        return {run.uuid: run.state for run in db.session.query(Run)}


def history(app, run_uuid):
    with app.app_context():
        run = db.session.query(Run).filter_by(uuid=run_uuid).one()
        changes = db.session.query(RunStateChange).filter_by(run_id=run.id).order_by(RunStateChange.id)
        return [change.state for change in changes], run.completed_at


def test_deleting_a_pipeline_cancels_its_runs_that_are_not_final(app, api, client, keys, pipeline):
    runs = {
        state: run_in_state(api, pipeline, state)["uuid"]
        for state in ("NOT_STARTED", "RUNNING", "COMPLETED", "FAILED")
    }
    other = api.create_pipeline(name="other")["uuid"]
    untouched = run_in_state(api, other, "RUNNING")["uuid"]

    assert client.delete(f"/v1/pipelines/{pipeline}", headers=keys.client).status_code == 204

    states = states_by_uuid(app)
    assert states[runs["NOT_STARTED"]] == "CANCELLED"
    assert states[runs["RUNNING"]] == "CANCELLED"
    assert states[runs["COMPLETED"]] == "COMPLETED"
    assert states[runs["FAILED"]] == "FAILED"
    assert states[untouched] == "RUNNING"
    changes, completed_at = history(app, runs["RUNNING"])
    assert changes == ["NOT_STARTED", "RUNNING", "CANCELLED"] and completed_at is not None


def worker_calls(api, client, keys, pipeline, run_uuid):
    """Every call a worker makes on a run: name -> response."""
    path = api.run_path(pipeline, run_uuid)
    return {
        "GET state": client.get(path + "/state", headers=keys.worker),
        "PUT state RUNNING": api.set_state(pipeline, run_uuid, "RUNNING"),
        "PUT state COMPLETED": api.set_state(pipeline, run_uuid, "COMPLETED"),
        "PUT heartbeat": client.put(path + "/heartbeat", headers=keys.worker),
        "PUT console": client.put(
            path + "/console", json={"std_out": "o", "std_err": "e"}, headers=keys.worker
        ),
        "POST console": client.post(path + "/console", json={"std_out": "o"}, headers=keys.worker),
        "POST artifacts": api.upload(pipeline, run_uuid, "late.csv", b"1,2\n"),
    }


@pytest.mark.parametrize("state", ["NOT_STARTED", "RUNNING"])
def test_worker_calls_on_a_run_cancelled_by_a_pipeline_delete_are_409_and_store_nothing(
    app, api, client, keys, pipeline, state
):
    run = run_in_state(api, pipeline, state)["uuid"]
    assert client.delete(f"/v1/pipelines/{pipeline}", headers=keys.client).status_code == 204
    before, files = table_snapshot(app), stored_files(app)

    answers = worker_calls(api, client, keys, pipeline, run)

    wrong = {name: response.status_code for name, response in answers.items() if response.status_code != 409}
    assert wrong == {}
    for response in answers.values():
        assert_error(response, 409)
    assert table_snapshot(app) == before
    assert stored_files(app) == files


@pytest.mark.parametrize("state", ["COMPLETED", "FAILED", "CANCELLED-before"])
def test_worker_calls_on_other_runs_of_a_deleted_pipeline_are_404_and_store_nothing(
    app, api, client, keys, pipeline, state
):
    run = run_in_state(api, pipeline, state.split("-")[0])["uuid"]
    assert client.delete(f"/v1/pipelines/{pipeline}", headers=keys.client).status_code == 204
    before, files = table_snapshot(app), stored_files(app)

    answers = worker_calls(api, client, keys, pipeline, run)

    expected = 409 if state.startswith("CANCELLED") else 404
    wrong = {
        name: response.status_code for name, response in answers.items() if response.status_code != expected
    }
    assert wrong == {}
    assert table_snapshot(app) == before
    assert stored_files(app) == files


def test_no_run_is_created_on_a_pipeline_deleted_meanwhile(app, api, pipeline):
    """The delete's cancel cannot miss a run created at the same moment: the
    creation numbers the run on the pipeline's row only while it is not
    deleted, so a creation that read the pipeline before the delete is a 404."""
    from app.errors import NotFound
    from app.pipelines.queries import get_pipeline
    from app.pipelines.services import delete_pipeline
    from app.runs.services import create_run

    with app.test_request_context():
        read_before = get_pipeline(pipeline)
        with app.app_context():
            delete_pipeline(get_pipeline(pipeline))
        with pytest.raises(NotFound):
            create_run(read_before, [])
    assert run_rows(app) == 0
