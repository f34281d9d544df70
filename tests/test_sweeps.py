"""Sweeps: /v1/pipelines/<uuid>/sweeps, on both databases."""

import csv
import io
import threading

import pytest

from app.extensions import db
from app.runs.models import Run
from app.runs.states import STATE_NAMES

from .helpers import assert_error, table_snapshot

INPUTS = [{"name": "model.glm", "url": "https://example.com/model.glm"}]


def sweeps_path(pipeline_uuid, tail=""):
    return f"/v1/pipelines/{pipeline_uuid}/sweeps{tail}"


def create(client, keys, pipeline_uuid, **body):
    return client.post(sweeps_path(pipeline_uuid), json={"inputs": INPUTS, **body}, headers=keys.client)


def created(client, keys, pipeline_uuid, **body):
    response = create(client, keys, pipeline_uuid, **body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def sweep_runs(client, keys, pipeline_uuid, sweep_uuid, **query):
    response = client.get(
        sweeps_path(pipeline_uuid, f"/{sweep_uuid}/runs"), query_string=query, headers=keys.client
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def get_sweep(client, keys, pipeline_uuid, sweep_uuid):
    response = client.get(sweeps_path(pipeline_uuid, f"/{sweep_uuid}"), headers=keys.client)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_parameters_make_the_cartesian_product_last_name_fastest(api, client, keys):
    pipeline = api.create_pipeline()
    sweep = created(
        client, keys, pipeline["uuid"], parameters={"load_w": [1000, 2000.5], "mode": ["a", "b", True]}
    )
    assert sweep["run_count"] == 6 and sweep["state"] == "NOT_STARTED"
    assert sweep["parameters"] == {"load_w": ["1000", "2000.5"], "mode": ["a", "b", "true"]}
    assert sweep["rows"] is None and sweep["completed_at"] is None
    assert sweep["counts"] == {name: (6 if name == "NOT_STARTED" else 0) for name in STATE_NAMES}
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    assert [run["parameters"] for run in runs] == [
        {"load_w": load, "mode": mode} for load in ("1000", "2000.5") for mode in ("a", "b", "true")
    ]
    assert [run["sequence"] for run in runs] == [1, 2, 3, 4, 5, 6]
    assert all(run["sweep_uuid"] == sweep["uuid"] and run["inputs"] == INPUTS for run in runs)
    assert all([s["state"] for s in run["states"]] == ["NOT_STARTED"] for run in runs)
    # Each is an ordinary run of the pipeline too.
    listed = client.get(f"/v1/pipelines/{pipeline['uuid']}/runs", headers=keys.client).get_json()
    assert [run["uuid"] for run in listed] == [run["uuid"] for run in runs]
    one = client.get(api.run_path(pipeline["uuid"], runs[2]["uuid"]), headers=keys.client).get_json()
    assert one == runs[2]


def test_rows_make_one_run_each_in_order(api, client, keys):
    pipeline = api.create_pipeline()
    rows = [{"load_w": 3}, {"load_w": 1, "pv": "big"}, {"pv": "none"}]
    sweep = created(client, keys, pipeline["uuid"], rows=rows, callback_url="https://hook.test/")
    assert sweep["rows"] == [{"load_w": "3"}, {"load_w": "1", "pv": "big"}, {"pv": "none"}]
    assert sweep["parameters"] is None and sweep["callback_url"] == "https://hook.test/"
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    assert [run["parameters"] for run in runs] == sweep["rows"]
    assert all(run["callback_url"] == "https://hook.test/" for run in runs)


def test_other_runs_have_no_sweep_and_no_parameters(api, client, keys):
    pipeline = api.create_pipeline()
    run = api.create_run(pipeline["uuid"], inputs=INPUTS)
    assert run["sweep_uuid"] is None and run["parameters"] == {}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"parameters": {"a": [1]}, "rows": [{"a": 1}]},
        {"parameters": {}},
        {"parameters": {"a": []}},
        {"parameters": {"a": 1}},
        {"parameters": {"1a": [1]}},
        {"parameters": {"a" * 65: [1]}},
        {"parameters": {"a": [None]}},
        {"parameters": {"a": [{"x": 1}]}},
        {"parameters": {"a": ["x\ny"]}},
        {"parameters": {"a": ["x" * 1001]}},
        {"parameters": {"a": list(range(101)), "b": list(range(100))}},
        {"rows": []},
        {"rows": [{"a": 1}] * 10_001},
        {"rows": [{"a": 1}, {"b c": 2}]},
        {"rows": [{"a": 1}, "x"]},
        {"rows": [{f"n{i}": 1 for i in range(101)}]},
        {"parameters": {"a": [1]}, "unknown": 1},
        {"parameters": {"a": [1]}, "inputs": [{"name": "a/b", "url": "https://x.test/"}]},
    ],
)
def test_bad_sweeps_are_400_and_change_nothing(app, api, client, keys, body):
    pipeline = api.create_pipeline()
    before = table_snapshot(app)
    response = client.post(sweeps_path(pipeline["uuid"]), json=body, headers=keys.client)
    assert_error(response, 400)
    assert table_snapshot(app) == before


def test_the_limits_themselves_are_accepted(api, client, keys):
    pipeline = api.create_pipeline()
    sweep = created(client, keys, pipeline["uuid"], parameters={"a": list(range(100)), "b": list(range(100))})
    assert sweep["run_count"] == 10_000
    assert created(client, keys, pipeline["uuid"], rows=[{}])["run_count"] == 1
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"], limit=2, offset=9_998)
    assert [run["parameters"] for run in runs] == [{"a": "99", "b": "98"}, {"a": "99", "b": "99"}]
    assert [run["sequence"] for run in runs] == [9_999, 10_000]


def test_paging_and_state_filter_of_a_sweeps_runs(api, client, keys):
    pipeline = api.create_pipeline()
    api.create_run(pipeline["uuid"])  # sequence 1: not the sweep's
    sweep = created(client, keys, pipeline["uuid"], parameters={"i": list(range(10))})
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    assert [run["parameters"]["i"] for run in runs] == [str(i) for i in range(10)]
    assert sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"], limit=3, offset=4) == runs[4:7]
    assert sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"], offset=20) == []
    for index in (1, 3, 8):
        assert api.set_state(pipeline["uuid"], runs[index]["uuid"], "RUNNING").status_code == 200
    running = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"], state="RUNNING")
    assert [run["uuid"] for run in running] == [runs[i]["uuid"] for i in (1, 3, 8)]
    page = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"], state="RUNNING", limit=1, offset=1)
    assert [run["uuid"] for run in page] == [runs[3]["uuid"]]
    response = client.get(
        sweeps_path(pipeline["uuid"], f"/{sweep['uuid']}/runs"),
        query_string={"state": "NOPE"},
        headers=keys.client,
    )
    assert_error(response, 400)


def test_state_and_counts_follow_the_runs(api, client, keys):
    pipeline = api.create_pipeline()
    sweep = created(client, keys, pipeline["uuid"], parameters={"i": [1, 2, 3]})
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    uuid = sweep["uuid"]

    def step(index, state):
        assert api.set_state(pipeline["uuid"], runs[index]["uuid"], state).status_code == 200
        return get_sweep(client, keys, pipeline["uuid"], uuid)

    assert step(0, "RUNNING")["state"] == "RUNNING"
    now = step(0, "COMPLETED")
    assert now["state"] == "RUNNING" and now["counts"]["COMPLETED"] == 1 and now["counts"]["NOT_STARTED"] == 2
    step(1, "RUNNING"), step(1, "COMPLETED"), step(2, "RUNNING")
    done = step(2, "COMPLETED")
    assert done["state"] == "COMPLETED" and done["counts"]["COMPLETED"] == 3
    last = client.get(api.run_path(pipeline["uuid"], runs[2]["uuid"]), headers=keys.client).get_json()
    assert done["completed_at"] == last["completed_at"]


def test_a_failed_run_makes_the_finished_sweep_failed(api, client, keys):
    pipeline = api.create_pipeline()
    sweep = created(client, keys, pipeline["uuid"], parameters={"i": [1, 2]})
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    for run, end in zip(runs, ("COMPLETED", "FAILED"), strict=True):
        api.set_state(pipeline["uuid"], run["uuid"], "RUNNING")
        api.set_state(pipeline["uuid"], run["uuid"], end)
    assert get_sweep(client, keys, pipeline["uuid"], sweep["uuid"])["state"] == "FAILED"
    response = client.post(sweeps_path(pipeline["uuid"], f"/{sweep['uuid']}/cancel"), headers=keys.client)
    assert_error(response, 409)


def test_cancel_cancels_every_run_not_final_then_409(api, client, keys):
    pipeline = api.create_pipeline()
    sweep = created(client, keys, pipeline["uuid"], parameters={"i": [1, 2, 3]})
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    api.set_state(pipeline["uuid"], runs[0]["uuid"], "RUNNING")
    api.set_state(pipeline["uuid"], runs[0]["uuid"], "COMPLETED")
    api.set_state(pipeline["uuid"], runs[1]["uuid"], "RUNNING")
    path = sweeps_path(pipeline["uuid"], f"/{sweep['uuid']}/cancel")
    response = client.post(path, headers=keys.client)
    assert response.status_code == 200, response.get_json()
    cancelled = response.get_json()
    assert cancelled["state"] == "CANCELLED" and cancelled["completed_at"] is not None
    assert cancelled["counts"]["COMPLETED"] == 1 and cancelled["counts"]["CANCELLED"] == 2
    after = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    assert [run["state"] for run in after] == ["COMPLETED", "CANCELLED", "CANCELLED"]
    assert [s["state"] for s in after[1]["states"]] == ["NOT_STARTED", "RUNNING", "CANCELLED"]
    # The worker of the running run now hears it is over.
    assert api.set_state(pipeline["uuid"], runs[1]["uuid"], "COMPLETED").status_code == 409
    assert_error(client.post(path, headers=keys.client), 409)


def test_list_get_and_404s(api, client, keys):
    pipeline, other = api.create_pipeline(), api.create_pipeline()
    first = created(client, keys, pipeline["uuid"], parameters={"i": [1]})
    second = created(client, keys, pipeline["uuid"], rows=[{"i": 2}, {"i": 3}])
    listed = client.get(sweeps_path(pipeline["uuid"]), headers=keys.client).get_json()
    assert [s["uuid"] for s in listed] == [first["uuid"], second["uuid"]]
    assert [s["run_count"] for s in listed] == [1, 2]
    assert listed[1] == get_sweep(client, keys, pipeline["uuid"], second["uuid"])
    paged = client.get(
        sweeps_path(pipeline["uuid"]), query_string={"limit": 1, "offset": 1}, headers=keys.client
    )
    assert [s["uuid"] for s in paged.get_json()] == [second["uuid"]]
    assert client.get(sweeps_path(other["uuid"]), headers=keys.client).get_json() == []
    for tail in ("", "/runs", "/results.csv"):
        assert_error(
            client.get(sweeps_path(other["uuid"], f"/{first['uuid']}{tail}"), headers=keys.client), 404
        )
        assert_error(
            client.get(sweeps_path(pipeline["uuid"], f"/{'0' * 32}{tail}"), headers=keys.client), 404
        )
    assert_error(client.get(sweeps_path("f" * 32), headers=keys.client), 404)
    assert_error(client.get(sweeps_path(pipeline["uuid"]), headers=keys.worker), 403)
    assert_error(create(client, keys, "f" * 32, parameters={"i": [1]}), 404)


def test_results_csv_has_a_row_per_run_and_a_column_per_artifact(api, client, keys):
    pipeline = api.create_pipeline()
    sweep = created(client, keys, pipeline["uuid"], parameters={"load_w": [10, 20], "pf": ["0.9"]})
    runs = sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])
    api.set_state(pipeline["uuid"], runs[0]["uuid"], "RUNNING")
    assert api.upload(pipeline["uuid"], runs[0]["uuid"], "volts.csv", b"1,2\n").status_code == 201
    assert api.upload(pipeline["uuid"], runs[0]["uuid"], "gridlabd.log", b"ok\n").status_code == 201
    api.set_state(pipeline["uuid"], runs[0]["uuid"], "COMPLETED")
    response = client.get(sweeps_path(pipeline["uuid"], f"/{sweep['uuid']}/results.csv"), headers=keys.client)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.is_streamed
    table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert table[0] == [
        "sequence", "run_uuid", "state", "load_w", "pf", "started_at", "completed_at",
        "gridlabd.log", "volts.csv",
    ]  # fmt: skip
    first = client.get(api.run_path(pipeline["uuid"], runs[0]["uuid"]), headers=keys.client).get_json()
    urls = {artifact["name"]: artifact["url"] for artifact in first["artifacts"]}
    assert table[1] == [
        "1", first["uuid"], "COMPLETED", "10", "0.9", first["started_at"], first["completed_at"],
        urls["gridlabd.log"], urls["volts.csv"],
    ]  # fmt: skip
    assert table[2] == ["2", runs[1]["uuid"], "NOT_STARTED", "20", "0.9", "", "", "", ""]
    assert len(table) == 3
    download = client.get(urls["volts.csv"], headers=keys.client)
    assert download.status_code == 200 and download.data == b"1,2\n"


def test_sequences_stay_unique_when_sweeps_and_runs_are_made_at_once(app, api, client, keys):
    pipeline = api.create_pipeline()
    errors = []

    def make(kind):
        local = app.test_client()
        for _ in range(3):
            if kind == "sweep":
                response = create(local, keys, pipeline["uuid"], parameters={"i": list(range(20))})
            else:
                response = local.post(
                    f"/v1/pipelines/{pipeline['uuid']}/runs", json={"inputs": INPUTS}, headers=keys.client
                )
            if response.status_code != 201:
                errors.append(response.get_json())

    threads = [threading.Thread(target=make, args=(kind,)) for kind in ("sweep", "sweep", "run", "run")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with app.app_context():
        sequences = (
            db.session.execute(
                db.select(Run.sequence).join(Run.pipeline).where(Run.pipeline.has(uuid=pipeline["uuid"]))
            )
            .scalars()
            .all()
        )
    assert len(sequences) == 2 * 3 * 20 + 2 * 3
    assert sorted(sequences) == list(range(1, len(sequences) + 1))
    # A sweep's runs are numbered one after another.
    for sweep in client.get(sweeps_path(pipeline["uuid"]), headers=keys.client).get_json():
        numbers = [run["sequence"] for run in sweep_runs(client, keys, pipeline["uuid"], sweep["uuid"])]
        assert numbers == list(range(numbers[0], numbers[0] + 20))


@pytest.mark.parametrize("body", [True, 1, "x", [], None])
def test_a_body_that_is_not_an_object_is_a_400(api, client, keys, body):
    pipeline = api.create_pipeline()
    response = client.post(f"/v1/pipelines/{pipeline['uuid']}/sweeps", json=body, headers=keys.client)
    assert response.status_code == 400, response.get_json()
    assert "message" in response.get_json()
