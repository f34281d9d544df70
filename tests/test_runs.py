"""Runs: creation and its validation, numbering, listing, the state machine, cancel, soft delete."""

import re

import pytest

from .helpers import (
    ALL_STATES,
    FINAL_STATES,
    assert_error,
    failed_cases,
    parse_time,
    run_in_state,
    table_snapshot,
)

RUN_FIELDS = {
    "uuid",
    "pipeline_uuid",
    "parameters",
    "sweep_uuid",
    "sequence",
    "state",
    "created_at",
    "progress",
    "started_at",
    "completed_at",
    "inputs",
    "callback_url",
    "states",
    "artifacts",
}
ARTIFACT_FIELDS = {"uuid", "name", "url", "size", "sha256", "created_at", "expired_at"}
ALLOWED = {
    ("NOT_STARTED", "RUNNING"),
    ("NOT_STARTED", "CANCELLED"),
    ("RUNNING", "COMPLETED"),
    ("RUNNING", "FAILED"),
    ("RUNNING", "CANCELLED"),
}


@pytest.fixture
def pipeline(api):
    return api.create_pipeline()


def runs_path(pipeline_uuid):
    return f"/v1/pipelines/{pipeline_uuid}/runs"


def post_run(client, keys, pipeline_uuid, body):
    return client.post(runs_path(pipeline_uuid), json=body, headers=keys.client)


def run_count(client, keys, pipeline_uuid):
    return len(client.get(runs_path(pipeline_uuid), headers=keys.client).get_json())


# --- creation ------------------------------------------------------------------


def test_create_run_returns_the_whole_run(api, client, keys, pipeline):
    inputs = [
        {"name": "model.glm", "url": "https://example.com/ieee4.glm"},
        {"name": "weather.csv", "url": "http://example.com/w.csv?x=1"},
    ]
    response = post_run(
        client, keys, pipeline["uuid"], {"inputs": inputs, "callback_url": "https://hook.test/x"}
    )
    assert response.status_code == 201
    run = response.get_json()
    assert set(run) == RUN_FIELDS
    assert re.fullmatch(r"[0-9a-f]{32}", run["uuid"])
    assert run["pipeline_uuid"] == pipeline["uuid"]
    assert run["sequence"] == 1
    assert run["state"] == "NOT_STARTED"
    assert run["progress"] is None
    assert run["inputs"] == inputs
    assert run["callback_url"] == "https://hook.test/x"
    assert run["started_at"] is None and run["completed_at"] is None
    assert [entry["state"] for entry in run["states"]] == ["NOT_STARTED"]
    assert set(run["states"][0]) == {"state", "created_at"}
    parse_time(run["created_at"])
    parse_time(run["states"][0]["created_at"])
    assert run["artifacts"] == []
    assert client.get(api.run_path(pipeline["uuid"], run["uuid"]), headers=keys.client).get_json() == run


def test_callback_url_is_optional_and_inputs_may_be_empty(client, keys, pipeline):
    run = post_run(client, keys, pipeline["uuid"], {"inputs": []}).get_json()
    assert run["inputs"] == [] and run["callback_url"] is None
    run = post_run(client, keys, pipeline["uuid"], {"inputs": [], "callback_url": None}).get_json()
    assert run["inputs"] == [] and run["callback_url"] is None


BAD_NAMES = ["a/b", "/etc/passwd", "a\\b", "..", ".", "", "a\x00b", "n" * 256, None, 7]


def test_input_name_must_be_a_plain_file_name(client, keys, pipeline):
    def check(name):
        body = {"inputs": [{"name": name, "url": "https://example.com/m.glm"}]}
        assert_error(post_run(client, keys, pipeline["uuid"], body), 400, ["inputs"])

    assert failed_cases(BAD_NAMES, check) == []
    assert run_count(client, keys, pipeline["uuid"]) == 0


GOOD_NAMES = ["model.glm", "..model.glm", "a..b", ".hidden", "n" * 255, "ünïcode.csv", "with space.csv"]


def test_plain_file_names_are_accepted(api, pipeline):
    def check(name):
        run = api.create_run(pipeline["uuid"], inputs=[{"name": name, "url": "https://example.com/x"}])
        assert run["inputs"] == [{"name": name, "url": "https://example.com/x"}]

    assert failed_cases(GOOD_NAMES, check) == []


def test_duplicate_input_names_are_400(client, keys, pipeline):
    body = {
        "inputs": [{"name": "m.glm", "url": "https://a.test/1"}, {"name": "m.glm", "url": "https://a.test/2"}]
    }
    assert_error(post_run(client, keys, pipeline["uuid"], body), 400, ["inputs"])
    assert run_count(client, keys, pipeline["uuid"]) == 0


BAD_URLS = [
    "ftp://example.com/m.glm",
    "javascript:alert(1)",
    "data:text/plain,hello",
    "gopher://example.com/",
    "example.com/m.glm",
    "https://",
    "http:///no-host",
    "https://exa mple.com/m.glm",
    "https://example.com:99999/m.glm",
    "https://example.com/\x00",
    "",
    None,
]


def test_input_url_must_be_http_or_https(client, keys, pipeline):
    def check(url):
        body = {"inputs": [{"name": "m.glm", "url": url}]}
        assert_error(post_run(client, keys, pipeline["uuid"], body), 400, ["inputs"])

    assert failed_cases(BAD_URLS, check) == []
    assert run_count(client, keys, pipeline["uuid"]) == 0


MALFORMED_INPUTS = [
    [{"name": "m.glm"}],
    [{"url": "https://a.test/m"}],
    [{"name": "m.glm", "url": "https://a.test", "x": 1}],
    "m.glm",
    [["m.glm", "https://a.test"]],
    {"name": "m.glm", "url": "https://a.test"},
    None,
    [{"name": f"{i}.glm", "url": "https://a.test"} for i in range(101)],
]


def test_malformed_inputs_are_400(client, keys, pipeline):
    def check(inputs):
        assert_error(post_run(client, keys, pipeline["uuid"], {"inputs": inputs}), 400, ["inputs"])

    assert failed_cases(MALFORMED_INPUTS, check) == []
    assert run_count(client, keys, pipeline["uuid"]) == 0


BAD_CALLBACKS = [
    "ftp://hook.test/x",
    "file:///tmp/hook",
    "javascript:alert(1)",
    "hook.test",
    "",
    "https://",
    5,
]


def test_callback_url_must_be_http_or_https(client, keys, pipeline):
    def check(url):
        assert_error(post_run(client, keys, pipeline["uuid"], {"callback_url": url}), 400, ["callback_url"])

    assert failed_cases(BAD_CALLBACKS, check) == []
    assert run_count(client, keys, pipeline["uuid"]) == 0


def test_http_and_https_callbacks_are_accepted(api, pipeline):
    for url in ["http://hook.test/x", "https://hook.test:8443/runs?id=1"]:
        assert api.create_run(pipeline["uuid"], callback_url=url)["callback_url"] == url


BAD_RUN_BODIES = [
    {"json": {"unknown": 1}},
    {"json": []},
    {"json": "inputs"},
    {"data": "{}", "content_type": "text/plain"},
    {"data": "{}"},
    {"data": "{", "content_type": "application/json"},
    {"data": "", "content_type": "application/json"},
]


def test_bad_run_body_is_400(client, keys, pipeline):
    def check(kwargs):
        assert_error(client.post(runs_path(pipeline["uuid"]), headers=keys.client, **kwargs), 400)

    assert failed_cases(BAD_RUN_BODIES, check) == []
    assert run_count(client, keys, pipeline["uuid"]) == 0


def test_runs_of_an_unknown_pipeline_are_404(client, keys):
    assert_error(post_run(client, keys, "0" * 32, {}), 404)
    assert_error(client.get(runs_path("0" * 32), headers=keys.client), 404)


def test_unknown_run_is_404(api, client, keys, pipeline):
    for run_uuid in ("0" * 32, "nope"):
        assert_error(client.get(api.run_path(pipeline["uuid"], run_uuid), headers=keys.client), 404)


# --- numbering -------------------------------------------------------------------


def test_sequence_counts_per_pipeline(api):
    first = api.create_pipeline(name="first")["uuid"]
    second = api.create_pipeline(name="second")["uuid"]
    numbers = [(uuid, api.create_run(uuid)["sequence"]) for uuid in (first, first, second, first, second)]
    assert numbers == [(first, 1), (first, 2), (second, 1), (first, 3), (second, 2)]


def test_sequence_does_not_reuse_numbers_after_a_cancel(api, client, keys, pipeline):
    run = api.create_run(pipeline["uuid"])
    assert (
        client.post(api.run_path(pipeline["uuid"], run["uuid"], "/cancel"), headers=keys.client).status_code
        == 200
    )
    assert api.create_run(pipeline["uuid"])["sequence"] == 2


# --- listing -------------------------------------------------------------------


@pytest.fixture
def five_runs(api, pipeline):
    """Runs 1..5 of ``pipeline`` in states N, R, C, F, X (by sequence)."""
    states = ["NOT_STARTED", "RUNNING", "COMPLETED", "FAILED", "CANCELLED"]
    runs = [run_in_state(api, pipeline["uuid"], state) for state in states]
    return pipeline["uuid"], runs


def listed(client, keys, pipeline_uuid, **query):
    response = client.get(runs_path(pipeline_uuid), query_string=query, headers=keys.client)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_list_is_newest_last_with_full_runs(api, client, keys, five_runs):
    pipeline_uuid, runs = five_runs
    body = listed(client, keys, pipeline_uuid)
    assert [run["sequence"] for run in body] == [1, 2, 3, 4, 5]
    for run in body:
        single = client.get(api.run_path(pipeline_uuid, run["uuid"]), headers=keys.client).get_json()
        assert run == single


def test_list_filters_by_state(client, keys, five_runs):
    pipeline_uuid, runs = five_runs
    for run in runs:
        assert [r["uuid"] for r in listed(client, keys, pipeline_uuid, state=run["state"])] == [run["uuid"]]
    assert_error(
        client.get(runs_path(pipeline_uuid), query_string={"state": "DONE"}, headers=keys.client), 400
    )


def test_list_pages_with_limit_and_offset(client, keys, five_runs):
    pipeline_uuid, _ = five_runs

    def sequences(**query):
        return [run["sequence"] for run in listed(client, keys, pipeline_uuid, **query)]

    assert sequences(limit=2) == [1, 2]
    assert sequences(limit=2, offset=2) == [3, 4]
    assert sequences(offset=4) == [5]
    assert sequences(offset=5) == []
    assert sequences(limit=1000) == [1, 2, 3, 4, 5]
    assert sequences(state="RUNNING", limit=1, offset=0) == [2]
    assert sequences(state="RUNNING", offset=1) == []


def test_list_shows_only_this_pipelines_runs(api, client, keys, pipeline):
    other = api.create_pipeline(name="other")["uuid"]
    mine = api.create_run(pipeline["uuid"])["uuid"]
    api.create_run(other)
    assert [run["uuid"] for run in listed(client, keys, pipeline["uuid"])] == [mine]


BAD_LIST_QUERIES = [
    {"limit": 0},
    {"limit": 1001},
    {"limit": -1},
    {"limit": "x"},
    {"limit": ""},
    {"offset": -1},
    {"offset": "1e3"},
    {"state": "running"},
    {"state": ""},
    {"state": "DONE"},
]


def test_bad_list_parameters_are_400_naming_the_parameter(client, keys, pipeline):
    def check(query):
        response = client.get(runs_path(pipeline["uuid"]), query_string=query, headers=keys.client)
        body = assert_error(response, 400)
        assert next(iter(query)) in body["message"], body

    assert failed_cases(BAD_LIST_QUERIES, check) == []


# --- runs of another pipeline --------------------------------------------------


def test_run_of_another_pipeline_is_404_through_this_pipelines_path(app, api, client, keys, pipeline):
    other = api.create_pipeline(name="other")["uuid"]
    run = run_in_state(api, other, "RUNNING")
    artifact = api.upload(other, run["uuid"], "out.csv", b"1,2\n").get_json()
    wrong = api.run_path(pipeline["uuid"], run["uuid"])
    before = table_snapshot(app)

    assert_error(client.get(wrong, headers=keys.client), 404)
    assert_error(client.get(wrong + "/state", headers=keys.client), 404)
    assert_error(client.get(wrong + "/state", headers=keys.worker), 404)
    assert_error(client.put(wrong + "/state", json={"state": "COMPLETED"}, headers=keys.worker), 404)
    assert_error(client.get(wrong + "/console", headers=keys.client), 404)
    assert_error(client.put(wrong + "/console", json={"std_out": "x"}, headers=keys.worker), 404)
    assert_error(client.post(wrong + "/console", json={"std_out": "x"}, headers=keys.worker), 404)
    assert_error(client.post(wrong + "/cancel", headers=keys.client), 404)
    assert_error(api.upload(pipeline["uuid"], run["uuid"], "x.csv", b"x"), 404)
    assert_error(client.get(f"{wrong}/artifacts/{artifact['uuid']}", headers=keys.client), 404)

    assert table_snapshot(app) == before
    # The same calls through the run's own pipeline work.
    right = api.run_path(other, run["uuid"])
    assert client.get(right, headers=keys.client).status_code == 200
    assert client.get(f"{right}/artifacts/{artifact['uuid']}", headers=keys.client).status_code == 200


def test_artifact_of_another_run_is_404(api, client, keys, pipeline):
    first = run_in_state(api, pipeline["uuid"], "RUNNING")
    second = run_in_state(api, pipeline["uuid"], "RUNNING")
    artifact = api.upload(pipeline["uuid"], first["uuid"], "out.csv", b"1,2\n").get_json()
    path = api.run_path(pipeline["uuid"], second["uuid"], f"/artifacts/{artifact['uuid']}")
    assert_error(client.get(path, headers=keys.client), 404)


# --- the state machine ---------------------------------------------------------


@pytest.mark.parametrize("target", ALL_STATES)
@pytest.mark.parametrize("origin", ALL_STATES)
def test_state_change(app, api, client, keys, pipeline, origin, target):
    run = run_in_state(api, pipeline["uuid"], origin)
    run.pop("attempt", None)  # only a worker's answer has it: checked below
    before = table_snapshot(app)
    response = api.set_state(pipeline["uuid"], run["uuid"], target)

    if (origin, target) not in ALLOWED:
        assert_error(response, 409)
        assert table_snapshot(app) == before
        assert client.get(api.run_path(pipeline["uuid"], run["uuid"]), headers=keys.client).get_json() == run
        return

    assert response.status_code == 200, response.get_json()
    changed = response.get_json()
    # The worker's answer also names the attempt that has the run.
    assert changed.pop("attempt") == (1 if "RUNNING" in {origin, target} else 0)
    assert changed["state"] == target
    assert changed["states"][:-1] == run["states"]
    assert changed["states"][-1]["state"] == target
    entered = parse_time(changed["states"][-1]["created_at"])
    assert entered >= parse_time(run["states"][-1]["created_at"])
    if target == "RUNNING":
        assert parse_time(changed["started_at"]) == entered
    else:
        assert changed["started_at"] == run["started_at"]
    if target in FINAL_STATES:
        assert parse_time(changed["completed_at"]) == entered
    else:
        assert changed["completed_at"] is None
    stored = client.get(api.run_path(pipeline["uuid"], run["uuid"]), headers=keys.client).get_json()
    assert stored == changed
    assert client.get(
        api.run_path(pipeline["uuid"], run["uuid"], "/state"), headers=keys.worker
    ).get_json() == {"state": target}


def test_a_whole_life_records_every_state_in_order(api, client, keys, pipeline):
    run = run_in_state(api, pipeline["uuid"], "COMPLETED")
    assert [entry["state"] for entry in run["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    times = [parse_time(entry["created_at"]) for entry in run["states"]]
    assert times == sorted(times)
    assert parse_time(run["created_at"]) <= parse_time(run["started_at"]) <= parse_time(run["completed_at"])


BAD_STATE_BODIES = [
    {"state": "DONE"},
    {"state": "running"},
    {"state": None},
    {"state": 1},
    {},
    {"state": "RUNNING", "extra": 1},
    ["RUNNING"],
]


def test_bad_state_body_is_400_and_changes_nothing(app, api, client, keys, pipeline):
    run = api.create_run(pipeline["uuid"])
    before = table_snapshot(app)
    path = api.run_path(pipeline["uuid"], run["uuid"], "/state")

    def check(body):
        assert_error(client.put(path, json=body, headers=keys.worker), 400)

    assert failed_cases(BAD_STATE_BODIES, check) == []
    assert table_snapshot(app) == before


def test_state_needs_a_json_body(api, client, keys, pipeline):
    run = api.create_run(pipeline["uuid"])
    response = client.put(
        api.run_path(pipeline["uuid"], run["uuid"], "/state"), data="RUNNING", headers=keys.worker
    )
    assert_error(response, 400)


@pytest.mark.parametrize("kind", ["client", "worker"])
def test_get_state_for_client_and_worker(api, client, keys, pipeline, kind):
    run = api.create_run(pipeline["uuid"])
    path = api.run_path(pipeline["uuid"], run["uuid"], "/state")
    assert client.get(path, headers=keys.by_kind(kind)).get_json() == {"state": "NOT_STARTED"}
    api.set_state(pipeline["uuid"], run["uuid"], "RUNNING")
    response = client.get(path, headers=keys.by_kind(kind))
    assert response.status_code == 200
    assert response.get_json() == {"state": "RUNNING"}


# --- cancel --------------------------------------------------------------------


@pytest.mark.parametrize("origin", ["NOT_STARTED", "RUNNING"])
def test_cancel_a_run_that_has_not_ended(api, client, keys, pipeline, origin):
    run = run_in_state(api, pipeline["uuid"], origin)
    response = client.post(api.run_path(pipeline["uuid"], run["uuid"], "/cancel"), headers=keys.client)
    assert response.status_code == 200
    cancelled = response.get_json()
    assert cancelled["state"] == "CANCELLED"
    assert [entry["state"] for entry in cancelled["states"]] == [e["state"] for e in run["states"]] + [
        "CANCELLED"
    ]
    assert cancelled["completed_at"] is not None
    assert cancelled["started_at"] == run["started_at"]
    state = client.get(api.run_path(pipeline["uuid"], run["uuid"], "/state"), headers=keys.worker).get_json()
    assert state == {"state": "CANCELLED"}


@pytest.mark.parametrize("origin", FINAL_STATES)
def test_cancel_an_ended_run_is_409(app, api, client, keys, pipeline, origin):
    run = run_in_state(api, pipeline["uuid"], origin)
    before = table_snapshot(app)
    assert_error(
        client.post(api.run_path(pipeline["uuid"], run["uuid"], "/cancel"), headers=keys.client), 409
    )
    assert table_snapshot(app) == before


def test_a_cancelled_run_takes_no_more_reports(api, client, keys, pipeline):
    run = run_in_state(api, pipeline["uuid"], "RUNNING")
    client.post(api.run_path(pipeline["uuid"], run["uuid"], "/cancel"), headers=keys.client)
    assert_error(api.set_state(pipeline["uuid"], run["uuid"], "COMPLETED"), 409)
    assert_error(api.upload(pipeline["uuid"], run["uuid"], "late.csv", b"x"), 409)


# --- artifacts in the run JSON -------------------------------------------------


def test_run_lists_its_artifacts_with_working_download_urls(api, client, keys, pipeline):
    run = run_in_state(api, pipeline["uuid"], "RUNNING")
    api.upload(pipeline["uuid"], run["uuid"], "volts.csv", b"t,v\n0,120\n")
    api.upload(pipeline["uuid"], run["uuid"], "out/log.txt", b"done\n")
    run = client.get(api.run_path(pipeline["uuid"], run["uuid"]), headers=keys.client).get_json()
    assert [artifact["name"] for artifact in run["artifacts"]] == ["volts.csv", "log.txt"]
    for artifact, data in zip(run["artifacts"], [b"t,v\n0,120\n", b"done\n"], strict=True):
        assert set(artifact) == ARTIFACT_FIELDS
        assert artifact["size"] == len(data)
        parse_time(artifact["created_at"])
        download = client.get(artifact["url"], headers=keys.client)
        assert download.status_code == 200
        assert download.get_data() == data
        assert download.headers["Content-Disposition"].startswith("attachment")


# --- soft-deleted pipelines ----------------------------------------------------


def test_client_cannot_cancel_a_deleted_pipelines_run(api, client, keys, pipeline):
    run = api.create_run(pipeline["uuid"])
    client.delete(f"/v1/pipelines/{pipeline['uuid']}", headers=keys.client)
    assert_error(
        client.post(api.run_path(pipeline["uuid"], run["uuid"], "/cancel"), headers=keys.client), 404
    )
    # The delete cancelled it (tests/test_original_refusals.py).
    assert_error(client.get(api.run_path(pipeline["uuid"], run["uuid"], "/state"), headers=keys.worker), 409)
