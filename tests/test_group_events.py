"""The event streams of sweeps and workflow runs, as Flask's test client gets
them (the request's own thread): their runs' state changes, their counts,
resuming with Last-Event-ID, and the end once they are final."""

import pytest

from .helpers import assert_error
from .test_run_progress import events
from .workflow_api import Workflows


@pytest.fixture
def sweep(api, client, keys):
    pipeline = api.create_pipeline()
    body = {"inputs": [], "parameters": {"load_w": [1, 2]}}
    response = client.post(f"/v1/pipelines/{pipeline['uuid']}/sweeps", json=body, headers=keys.client)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sweep_path(sweep, tail=""):
    return f"/v1/pipelines/{sweep['pipeline_uuid']}/sweeps/{sweep['uuid']}{tail}"


def sweep_runs(client, keys, sweep):
    return client.get(sweep_path(sweep, "/runs"), headers=keys.client).get_json()


def test_a_sweep_streams_its_runs_changes_and_counts_until_it_is_final(api, client, keys, sweep):
    response = client.get(sweep_path(sweep, "/events"), headers=keys.client, buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    opening = events_of(next(chunks))
    assert [kind for _, kind, _ in opening] == ["counts"]
    assert opening[0][2]["state"] == "NOT_STARTED" and opening[0][2]["counts"]["NOT_STARTED"] == 2

    first, second = sweep_runs(client, keys, sweep)
    assert api.set_state(sweep["pipeline_uuid"], first["uuid"], "RUNNING").status_code == 200
    found = events_of(next(chunks))
    assert [kind for _, kind, _ in found] == ["run", "counts"]
    assert found[0][2]["run_uuid"] == first["uuid"] and found[0][2]["state"] == "RUNNING"
    assert found[1][2]["state"] == "RUNNING" and found[1][2]["counts"]["RUNNING"] == 1

    assert client.post(sweep_path(sweep, "/cancel"), headers=keys.client).status_code == 200
    rest = []
    for chunk in chunks:  # the stream ends by itself once the sweep is final
        rest += events_of(chunk)
    changes = [data for _, kind, data in rest if kind == "run"]
    assert sorted(change["run_uuid"] for change in changes) == sorted([first["uuid"], second["uuid"]])
    assert all(change["state"] == "CANCELLED" for change in changes)
    assert rest[-1][1] == "counts" and rest[-1][2]["state"] == "CANCELLED"

    # Resuming after the RUNNING change: the two cancels, then the counts.
    resumed = client.get(sweep_path(sweep, "/events"), headers={**keys.client, "Last-Event-ID": found[0][0]})
    assert [kind for _, kind, _ in events(resumed)] == ["run", "run", "counts"]
    # A final sweep's stream is its counts alone, and ends.
    assert [kind for _, kind, _ in events(client.get(sweep_path(sweep, "/events"), headers=keys.client))] == [
        "counts"
    ]


def events_of(chunk):
    class Text:
        def __init__(self, data):
            self.data = data

        def get_data(self, as_text):
            return self.data.decode() if isinstance(self.data, bytes) else self.data

    return events(Text(chunk))


def test_a_sweep_stream_checks_keys_sweeps_and_ids(client, keys, sweep):
    path = sweep_path(sweep, "/events")
    assert_error(client.get(path), 401)
    assert_error(client.get(path, headers=keys.worker), 403)
    assert_error(client.get(sweep_path({**sweep, "uuid": "0" * 32}, "/events"), headers=keys.client), 404)
    assert_error(client.get(path, headers={**keys.client, "Last-Event-ID": "1-2-3"}), 400)


def test_a_workflow_run_streams_its_nodes_until_it_is_final(api, client, keys):
    workflows = Workflows(api)
    pipeline = api.create_pipeline()
    workflow = workflows.create()
    first = workflows.add_node(workflow, pipeline)
    workflows.add_node(workflow, pipeline, sources=[first])
    workflow_run = workflows.start(workflow)
    path = f"/v1/workflows/{workflow['uuid']}/runs/{workflow_run['uuid']}/events"

    response = client.get(path, headers=keys.client, buffered=False)
    chunks = iter(response.response)
    opening = events_of(next(chunks))
    assert [kind for _, kind, _ in opening] == ["counts"]
    assert opening[0][2]["counts"]["QUEUED"] == 1 and opening[0][2]["counts"]["NOT_STARTED"] == 1

    workflows.cancel(workflow_run)
    rest = []
    for chunk in chunks:
        rest += events_of(chunk)
    assert sorted(data["state"] for _, kind, data in rest if kind == "run") == ["CANCELLED", "CANCELLED"]
    assert rest[-1][1] == "counts" and rest[-1][2]["state"] == "CANCELLED"
    assert rest[-1][2]["counts"]["CANCELLED"] == 2
    assert_error(client.get(path, headers=keys.worker), 403)


def test_a_sweep_last_event_id_past_every_id_is_no_error(client, keys, sweep):
    assert client.post(sweep_path(sweep, "/cancel"), headers=keys.client).status_code == 200
    headers = {**keys.client, "Last-Event-ID": "999999999999999999"}
    response = client.get(sweep_path(sweep, "/events"), headers=headers)
    assert response.status_code == 200
    assert [kind for _, kind, _ in events(response)] == ["counts"]
