"""A run's progress, as workers report it with their console, and its events
stream as Flask's test client gets it (the request's own thread: no
gunicorn here; tests/e2e/test_run_events.py runs it under gunicorn)."""

import json

import pytest

from .helpers import assert_error, run_in_state, table_snapshot

START, STOP = "2020-07-01T00:00:00-04:00", "2020-07-02T00:00:00-04:00"


def progress(clock, fraction):
    return {"clock": clock, "start": START, "stop": STOP, "fraction": fraction}


@pytest.fixture
def running(api):
    pipeline_uuid = api.create_pipeline()["uuid"]
    run = run_in_state(api, pipeline_uuid, "RUNNING")
    return pipeline_uuid, run["uuid"]


def post(api, client, keys, running, body):
    return client.post(api.run_path(*running, "/console"), json=body, headers=keys.worker)


def read(api, client, keys, running):
    return client.get(api.run_path(*running), headers=keys.client).get_json()


def test_progress_comes_with_the_console_or_alone(api, client, keys, running):
    assert read(api, client, keys, running)["progress"] is None
    quarter = progress("2020-07-01T06:00:00-04:00", 0.25)
    assert post(api, client, keys, running, {"std_out": "x\n", "progress": quarter}).status_code == 204
    assert read(api, client, keys, running)["progress"] == quarter
    half = progress("2020-07-01T12:00:00-04:00", 0.5)
    assert post(api, client, keys, running, {"progress": half}).status_code == 204
    assert read(api, client, keys, running)["progress"] == half
    console = client.get(api.run_path(*running, "/console"), headers=keys.client).get_json()
    assert console == {"std_out": "x\n", "std_err": ""}


def test_progress_never_goes_back(api, client, keys, running):
    half = progress("2020-07-01T12:00:00-04:00", 0.5)
    post(api, client, keys, running, {"progress": half})
    assert post(api, client, keys, running, {"progress": progress(START, 0.0)}).status_code == 204
    assert read(api, client, keys, running)["progress"] == half


def test_progress_without_a_stop_time(api, client, keys, running):
    open_ended = {
        "clock": "2026-12-01T19:11:00",
        "start": "2026-12-01T19:10:00",
        "stop": None,
        "fraction": None,
    }
    assert post(api, client, keys, running, {"progress": open_ended}).status_code == 204
    assert read(api, client, keys, running)["progress"] == open_ended


@pytest.mark.parametrize(
    "bad",
    [
        {"clock": "yesterday", "start": START, "stop": STOP, "fraction": 0.1},
        {"clock": START, "start": START, "stop": STOP, "fraction": 1.5},
        {"clock": START, "start": START, "stop": STOP, "fraction": -0.1},
        {"clock": START, "start": START, "stop": None, "fraction": 0.5},
        {"clock": START, "start": START, "stop": STOP},
        {"clock": START, "start": START, "stop": STOP, "fraction": 0.1, "eta": 3},
        "halfway",
    ],
)
def test_bad_progress_is_a_400_and_changes_nothing(app, api, client, keys, running, bad):
    before = table_snapshot(app)
    response = post(api, client, keys, running, {"std_out": "lost?\n", "progress": bad})
    assert_error(response, 400, ["progress"])
    assert table_snapshot(app) == before


def test_a_finished_run_keeps_its_progress_in_every_json(api, client, keys, running):
    done = progress(STOP, 1.0)
    post(api, client, keys, running, {"progress": done})
    assert api.set_state(*running, "COMPLETED").status_code == 200
    assert read(api, client, keys, running)["progress"] == done
    listing = client.get(f"/v1/pipelines/{running[0]}/runs", headers=keys.client)
    listed = [run for run in listing.get_json() if run["uuid"] == running[1]]
    assert [run["progress"] for run in listed] == [done]


# --- the events stream, in the request's own thread ---------------------------


def events(response):
    found = []
    for block in response.get_data(as_text=True).split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        if fields:
            found.append((fields["id"], fields["event"], json.loads(fields["data"])))
    return found


def test_a_finished_run_streams_its_story_and_ends(api, client, keys, running):
    post(api, client, keys, running, {"std_out": "one\n", "std_err": "warn\n"})
    post(api, client, keys, running, {"std_out": "two\n", "progress": progress(STOP, 1.0)})
    api.set_state(*running, "COMPLETED")
    response = client.get(api.run_path(*running, "/events"), headers=keys.client)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    found = events(response)
    assert [kind for _, kind, _ in found] == ["state", "state", "state", "console", "progress"]
    assert [data["state"] for _, kind, data in found if kind == "state"] == [
        "NOT_STARTED",
        "RUNNING",
        "COMPLETED",
    ]
    assert found[3][2] == {"std_out": "one\ntwo\n", "std_err": "warn\n"}
    assert found[4][2] == progress(STOP, 1.0)
    # Resuming from the RUNNING state's id: the output, the progress, then COMPLETED.
    resumed = client.get(
        api.run_path(*running, "/events"), headers={**keys.client, "Last-Event-ID": found[1][0]}
    )
    assert [kind for _, kind, _ in events(resumed)] == ["console", "progress", "state"]
    assert events(resumed)[0][2] == {"std_out": "one\ntwo\n", "std_err": "warn\n"}
    # From the last id: nothing more.
    last = client.get(
        api.run_path(*running, "/events"), headers={**keys.client, "Last-Event-ID": found[-1][0]}
    )
    assert events(last) == []


def test_the_stream_checks_keys_runs_and_ids(api, client, keys, running):
    path = api.run_path(*running, "/events")
    assert_error(client.get(path), 401)
    assert_error(client.get(path, headers=keys.worker), 403)
    assert_error(client.get(api.run_path(running[0], "0" * 32, "/events"), headers=keys.client), 404)
    assert_error(client.get(path, headers={**keys.client, "Last-Event-ID": "1-2"}), 400)


@pytest.mark.parametrize(
    "last", ["999999999999999999-0-0", "0-999999999999999999-0", "0-0-999999999999999999"]
)
def test_a_last_event_id_past_every_id_sends_nothing_more(api, client, keys, running, last):
    api.set_state(*running, "COMPLETED")
    response = client.get(api.run_path(*running, "/events"), headers={**keys.client, "Last-Event-ID": last})
    assert response.status_code == 200
    kinds = [kind for _, kind, _ in events(response)]
    assert "console" not in kinds and "progress" not in kinds


def test_a_last_event_id_of_other_digits_is_a_400(api, client, keys, running):
    response = client.get(
        api.run_path(*running, "/events"), headers={**keys.client, "Last-Event-ID": "٣-0-0"}
    )
    assert_error(response, 400)
