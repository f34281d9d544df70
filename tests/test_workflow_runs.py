"""Workflow runs: QUEUED nodes, the step to the next node in the API, failure
and cancel cascades, snapshots of the edges; on PostgreSQL and SQLite.

The worker's reports are made as a worker makes them, with its key, through
the API (``PUT .../state``, artifact uploads)."""

import hashlib
import threading
from datetime import timedelta
from urllib.parse import urlsplit

import pytest

from app.extensions import db
from app.runs.models import Run
from app.runs.recovery import recover_runs
from roles.models import utcnow

from .helpers import assert_error, table_snapshot
from .processes import free_port
from .test_broker import apps, redis_app, redis_queue  # noqa: F401 - fixtures
from .workflow_api import Workflows

FINAL = {"COMPLETED", "FAILED", "CANCELLED"}
MODEL = {"name": "model.glm", "url": "https://example.com/model.glm"}


@pytest.fixture
def flows(api):
    return Workflows(api)


@pytest.fixture
def chain(flows, api):
    """A workflow prepare -> feeder -> report, and its nodes."""
    workflow = flows.create("chain")
    prepare = flows.add_node(workflow, api.create_pipeline(name="prepare"))
    feeder = flows.add_node(workflow, api.create_pipeline(name="feeder"), sources=[prepare])
    report = flows.add_node(workflow, api.create_pipeline(name="report"), sources=[feeder])
    return workflow, prepare, feeder, report


def test_a_workflow_without_nodes_cannot_run(app, flows, client, keys):
    workflow = flows.create()
    before = table_snapshot(app)
    response = client.post(f"/v1/workflows/{workflow['uuid']}/runs", json={"inputs": []}, headers=keys.client)
    assert "no pipelines" in assert_error(response, 400)["message"]
    assert table_snapshot(app) == before


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "inputs"),
        ({"inputs": [{"name": "a/b", "url": "https://example.com/x"}]}, "inputs"),
        ({"inputs": [], "callback_url": "ftp://example.com"}, "callback_url"),
        ({"inputs": [], "extra": 1}, "extra"),
    ],
)
def test_a_bad_workflow_run_body_is_a_400_and_keeps_nothing(app, chain, client, keys, body, field):
    workflow = chain[0]
    before = table_snapshot(app)
    response = client.post(f"/v1/workflows/{workflow['uuid']}/runs", json=body, headers=keys.client)
    assert_error(response, 400, [field])
    assert table_snapshot(app) == before


def test_every_node_gets_a_run_roots_start_and_the_others_wait_queued(flows, chain):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL], callback_url="https://example.com/hook")
    assert set(workflow_run) == {
        "uuid",
        "workflow_uuid",
        "state",
        "created_at",
        "started_at",
        "completed_at",
        "states",
        "workflow_pipeline_runs",
    }
    assert workflow_run["workflow_uuid"] == workflow["uuid"]
    assert workflow_run["state"] == "NOT_STARTED"
    assert [s["state"] for s in workflow_run["states"]] == ["NOT_STARTED"]
    assert (workflow_run["started_at"], workflow_run["completed_at"]) == (None, None)
    items = workflow_run["workflow_pipeline_runs"]
    assert [item["workflow_pipeline_uuid"] for item in items] == [
        prepare["uuid"],
        feeder["uuid"],
        report["uuid"],
    ]
    assert [item["pipeline_uuid"] for item in items] == [
        node["pipeline_uuid"] for node in (prepare, feeder, report)
    ]
    runs = [item["pipeline_run"] for item in items]
    assert [run["state"] for run in runs] == ["NOT_STARTED", "QUEUED", "QUEUED"]
    assert [[s["state"] for s in run["states"]] for run in runs] == [["NOT_STARTED"], ["QUEUED"], ["QUEUED"]]
    assert all(run["inputs"] == [MODEL] for run in runs)
    assert all(run["callback_url"] == "https://example.com/hook" for run in runs)
    # Ordinary runs of their pipelines too, listed and filtered by state as any run.
    listed = flows.get(f"/v1/pipelines/{feeder['pipeline_uuid']}/runs?state=QUEUED")
    assert [run["uuid"] for run in listed] == [runs[1]["uuid"]]
    assert flows.get(f"/v1/pipelines/{feeder['pipeline_uuid']}/runs/{runs[1]['uuid']}")["state"] == "QUEUED"
    assert flows.read(workflow_run) == workflow_run


def test_a_queued_node_cannot_be_started_by_a_worker(flows, api, chain):
    workflow_run = flows.start(chain[0], [MODEL])
    queued = flows.node_run(workflow_run, chain[2])
    response = api.set_state(queued["pipeline_uuid"], queued["uuid"], "RUNNING")
    assert "QUEUED" in assert_error(response, 409)["message"]
    response = api.set_state(queued["pipeline_uuid"], queued["uuid"], "COMPLETED")
    assert_error(response, 409)
    assert flows.states(workflow_run)[0][chain[2]["uuid"]] == "QUEUED"


def test_root_tasks_are_sent_after_the_commit_and_queued_nodes_get_theirs_when_their_sources_complete(
    app,
    keys,
    chain,
    tmp_path,
    redis_app,  # noqa: F811 - the fixture imported above
    redis_queue,  # noqa: F811 - the fixture imported above
):
    workflow, prepare, feeder, report = chain
    publishing = redis_app(app, tmp_path)
    flows = Workflows(_Api(publishing.test_client(), keys))
    workflow_run = flows.start(workflow, [MODEL])
    (task,) = redis_queue.take()
    root = flows.node_run(workflow_run, prepare)
    assert task["task"] == "execute_pipeline"
    assert task["kwargs"]["run_uuid"] == root["uuid"]
    assert task["kwargs"]["inputs"] == [MODEL]

    flows.report(root, "RUNNING")
    assert redis_queue.take() == []
    upload = flows.api.upload(root["pipeline_uuid"], root["uuid"], "loads.csv", b"hour,load\n0,1\n")
    assert upload.status_code == 201
    flows.report(root, "COMPLETED")
    (task,) = redis_queue.take()
    queued = flows.node_run(flows.read(workflow_run), feeder)
    assert queued["state"] == "NOT_STARTED"
    assert [s["state"] for s in queued["states"]] == ["QUEUED", "NOT_STARTED"]
    assert task["kwargs"]["run_uuid"] == queued["uuid"]
    assert task["kwargs"]["inputs"] == queued["inputs"]
    assert [item["name"] for item in queued["inputs"]] == ["model.glm", "loads.csv"]
    # The report node still waits for the feeder.
    assert flows.node_run(flows.read(workflow_run), report)["state"] == "QUEUED"


class _Api:
    """conftest's ``Api`` on another app's client (same database)."""

    def __init__(self, client, keys):
        from .conftest import Api

        self._api = Api(client, keys)
        self.client, self.keys = client, keys

    def __getattr__(self, name):
        return getattr(self._api, name)


def _complete(flows, run, artifacts=()):
    flows.report(run, "RUNNING")
    for name, data in artifacts:
        response = flows.api.upload(run["pipeline_uuid"], run["uuid"], name, data)
        assert response.status_code == 201, response.get_json()
    return flows.report(run, "COMPLETED")


def test_a_chain_runs_node_by_node_with_its_sources_artifacts_and_completes(flows, chain):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL])
    first = flows.node_run(workflow_run, prepare)
    flows.report(first, "RUNNING")
    assert flows.states(workflow_run) == (
        {prepare["uuid"]: "RUNNING", feeder["uuid"]: "QUEUED", report["uuid"]: "QUEUED"},
        "RUNNING",
    )
    _complete_running(flows, first, [("loads.csv", b"hour,load\n0,1\n")])

    current = flows.read(workflow_run)
    second = flows.node_run(current, feeder)
    assert second["state"] == "NOT_STARTED"
    upstream = flows.node_run(current, prepare)["artifacts"]
    assert second["inputs"] == [MODEL, {"name": "loads.csv", "url": upstream[0]["url"]}]
    assert urlsplit(upstream[0]["url"]).path.endswith(
        f"/runs/{first['uuid']}/artifacts/{upstream[0]['uuid']}"
    )

    _complete(flows, second, [("volts.csv", b"t,v\n0,2400\n")])
    third = flows.node_run(flows.read(workflow_run), report)
    # Its own source's artifacts only, not those of the node before that.
    assert [item["name"] for item in third["inputs"]] == ["model.glm", "volts.csv"]
    assert flows.read(workflow_run)["state"] == "RUNNING"
    _complete(flows, third)

    done = flows.read(workflow_run)
    assert done["state"] == "COMPLETED"
    assert [s["state"] for s in done["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    assert done["started_at"] and done["completed_at"]
    assert all(item["pipeline_run"]["state"] == "COMPLETED" for item in done["workflow_pipeline_runs"])
    assert flows.cancel(done, status=409)["message"]


def _complete_running(flows, run, artifacts=()):
    for name, data in artifacts:
        assert flows.api.upload(run["pipeline_uuid"], run["uuid"], name, data).status_code == 201
    return flows.report(run, "COMPLETED")


def test_a_node_waits_for_all_its_sources(flows, api):
    """A diamond: prepare -> (left, right) -> join."""
    workflow = flows.create("diamond")
    pipeline = api.create_pipeline()
    prepare = flows.add_node(workflow, pipeline)
    left = flows.add_node(workflow, pipeline, sources=[prepare])
    right = flows.add_node(workflow, pipeline, sources=[prepare])
    join = flows.add_node(workflow, pipeline, sources=[left, right])
    workflow_run = flows.start(workflow, [MODEL])
    _complete(flows, flows.node_run(workflow_run, prepare), [("base.csv", b"1")])
    current = flows.read(workflow_run)
    assert flows.node_run(current, left)["state"] == flows.node_run(current, right)["state"] == "NOT_STARTED"

    _complete(flows, flows.node_run(current, left), [("left.csv", b"2")])
    assert flows.states(workflow_run)[0][join["uuid"]] == "QUEUED"
    _complete(flows, flows.node_run(current, right), [("right.csv", b"3")])
    joined = flows.node_run(flows.read(workflow_run), join)
    assert joined["state"] == "NOT_STARTED"
    assert [item["name"] for item in joined["inputs"]] == ["model.glm", "left.csv", "right.csv"]


def test_two_inputs_of_one_name_fail_the_node_naming_both(flows, api):
    workflow = flows.create("clash")
    pipeline = api.create_pipeline()
    left = flows.add_node(workflow, pipeline)
    right = flows.add_node(workflow, pipeline)
    join = flows.add_node(workflow, pipeline, sources=[left, right])
    workflow_run = flows.start(workflow, [MODEL])
    _complete(flows, flows.node_run(workflow_run, left), [("out.csv", b"left")])
    _complete(flows, flows.node_run(workflow_run, right), [("out.csv", b"right")])

    current = flows.read(workflow_run)
    failed = flows.node_run(current, join)
    assert failed["state"] == "FAILED"
    assert [s["state"] for s in failed["states"]] == ["QUEUED", "FAILED"]
    std_err = flows.console(failed)["std_err"]
    assert "out.csv" in std_err and left["uuid"] in std_err and right["uuid"] in std_err, std_err
    assert current["state"] == "FAILED"


def test_an_artifact_named_as_a_request_input_fails_the_node_naming_both(flows, chain):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL])
    _complete(flows, flows.node_run(workflow_run, prepare), [("model.glm", b"changed")])
    current = flows.read(workflow_run)
    failed = flows.node_run(current, feeder)
    assert failed["state"] == "FAILED"
    std_err = flows.console(failed)["std_err"]
    assert "the workflow run's input 'model.glm'" in std_err and prepare["uuid"] in std_err, std_err
    assert current["state"] == "FAILED"
    # The rest is cancelled, saying why.
    assert flows.node_run(current, report)["state"] == "CANCELLED"
    assert feeder["uuid"] in flows.console(flows.node_run(current, report))["std_err"]


def test_a_failing_node_fails_the_workflow_run_and_cancels_the_rest_saying_why(flows, api):
    workflow = flows.create("fan")
    pipeline = api.create_pipeline(name="feeder")
    broken = flows.add_node(workflow, pipeline)
    busy = flows.add_node(workflow, pipeline)
    idle = flows.add_node(workflow, pipeline)
    after = flows.add_node(workflow, pipeline, sources=[broken, busy])
    workflow_run = flows.start(workflow, [MODEL])
    flows.report(flows.node_run(workflow_run, busy), "RUNNING")
    flows.report(flows.node_run(workflow_run, broken), "RUNNING", "FAILED")

    current = flows.read(workflow_run)
    assert current["state"] == "FAILED"
    assert [s["state"] for s in current["states"]] == ["NOT_STARTED", "RUNNING", "FAILED"]
    assert current["completed_at"]
    for node in (busy, idle, after):
        run = flows.node_run(current, node)
        assert run["state"] == "CANCELLED", node
        assert run["completed_at"]
        last_line = flows.console(run)["std_err"].splitlines()[-1]
        assert broken["uuid"] in last_line and "FAILED" in last_line and workflow_run["uuid"] in last_line
    assert flows.node_run(current, broken)["state"] == "FAILED"
    # The RUNNING node's worker is told to stop: its reports are refused.
    run = flows.node_run(current, busy)
    assert_error(api.set_state(run["pipeline_uuid"], run["uuid"], "COMPLETED"), 409)
    assert flows.cancel(current, status=409)["message"]


def test_cancel_cascades_to_every_node_not_final(flows, api, chain, client, keys):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL])
    flows.report(flows.node_run(workflow_run, prepare), "RUNNING")
    cancelled = flows.cancel(workflow_run)
    assert cancelled["state"] == "CANCELLED"
    assert [s["state"] for s in cancelled["states"]] == ["NOT_STARTED", "RUNNING", "CANCELLED"]
    for node in (prepare, feeder, report):
        run = flows.node_run(cancelled, node)
        assert run["state"] == "CANCELLED"
        assert "the workflow run was cancelled" in flows.console(run)["std_err"]
    assert [s["state"] for s in flows.node_run(cancelled, feeder)["states"]] == ["QUEUED", "CANCELLED"]
    assert flows.cancel(workflow_run, status=409)["message"]
    response = client.post(f"/v1/workflows/{workflow['uuid']}/runs/{'f' * 32}/cancel", headers=keys.client)
    assert_error(response, 404)


def test_cancelling_one_node_cancels_the_workflow_run(flows, api, chain, client, keys):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL])
    run = flows.node_run(workflow_run, feeder)
    response = client.post(api.run_path(run["pipeline_uuid"], run["uuid"], "/cancel"), headers=keys.client)
    assert response.status_code == 200, response.get_json()
    assert flows.states(workflow_run) == (
        {prepare["uuid"]: "CANCELLED", feeder["uuid"]: "CANCELLED", report["uuid"]: "CANCELLED"},
        "CANCELLED",
    )


def test_a_node_failed_by_the_recovery_sweep_fails_the_workflow_run(app, flows, chain):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL])
    root = flows.node_run(workflow_run, prepare)
    flows.report(root, "RUNNING")
    with app.test_request_context():
        report_ = recover_runs(now=utcnow() + timedelta(hours=1), timeout=60, max_attempts=1, queue_timeout=0)
        db.session.remove()
    assert report_.failed == 1
    current = flows.read(workflow_run)
    assert current["state"] == "FAILED"
    assert flows.node_run(current, feeder)["state"] == flows.node_run(current, report)["state"] == "CANCELLED"


def test_editing_or_deleting_nodes_never_changes_a_workflow_run_already_made(flows, api, chain, client, keys):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL])
    other = api.create_pipeline(name="other")
    # The feeder now follows nothing and runs another pipeline; the report node is gone.
    response = client.put(
        f"/v1/workflows/{workflow['uuid']}/pipelines/{feeder['uuid']}",
        json={"pipeline_uuid": other["uuid"]},
        headers=keys.client,
    )
    assert response.status_code == 200
    path = f"/v1/workflows/{workflow['uuid']}/pipelines/{report['uuid']}"
    assert client.delete(path, headers=keys.client).status_code == 204
    assert flows.read(workflow_run) == workflow_run

    _complete(flows, flows.node_run(workflow_run, prepare), [("a.csv", b"a")])
    current = flows.read(workflow_run)
    second = flows.node_run(current, feeder)
    assert second["state"] == "NOT_STARTED" and second["pipeline_uuid"] == feeder["pipeline_uuid"]
    assert [item["name"] for item in second["inputs"]] == ["model.glm", "a.csv"]
    _complete(flows, second, [("b.csv", b"b")])
    third = flows.node_run(flows.read(workflow_run), report)
    assert third["state"] == "NOT_STARTED"
    assert [item["name"] for item in third["inputs"]] == ["model.glm", "b.csv"]
    _complete(flows, third)
    assert flows.read(workflow_run)["state"] == "COMPLETED"

    # A run made now follows the workflow as it is: two roots, no report node.
    later = flows.start(workflow, [MODEL])
    assert [item["pipeline_run"]["state"] for item in later["workflow_pipeline_runs"]] == ["NOT_STARTED"] * 2


def test_workflow_runs_are_listed_oldest_first_and_paged(flows, chain, client, keys):
    workflow = chain[0]
    made = [flows.start(workflow, [MODEL]) for _ in range(3)]
    listed = flows.get(f"/v1/workflows/{workflow['uuid']}/runs")
    assert [item["uuid"] for item in listed] == [item["uuid"] for item in made]
    assert listed[0] == made[0]
    page = flows.get(f"/v1/workflows/{workflow['uuid']}/runs?limit=1&offset=1")
    assert [item["uuid"] for item in page] == [made[1]["uuid"]]
    assert_error(client.get(f"/v1/workflows/{workflow['uuid']}/runs?limit=0", headers=keys.client), 400)
    other = flows.create("other")
    path = f"/v1/workflows/{other['uuid']}/runs/{made[0]['uuid']}"
    assert_error(client.get(path, headers=keys.client), 404)


def test_a_worker_key_reads_the_artifacts_that_are_inputs_of_its_running_run(
    flows, api, chain, client, keys, backend
):
    workflow, prepare, feeder, report = chain
    workflow_run = flows.start(workflow, [MODEL])
    root = flows.node_run(workflow_run, prepare)
    data = bytes(range(256)) * 4000 + b"tail"
    _complete(flows, root, [("loads.bin", data), ("other.csv", b"x")])
    current = flows.read(workflow_run)
    upstream = {artifact["name"]: artifact for artifact in flows.node_run(current, prepare)["artifacts"]}
    # Stored where the backend keeps it (local folder or blob server).
    assert backend.read(f"{root['pipeline_uuid']}/{root['uuid']}/{upstream['loads.bin']['uuid']}") == data
    second = flows.node_run(current, feeder)
    url = urlsplit(second["inputs"][1]["url"]).path

    # Not yet: the run whose input it is has not started.
    assert_error(client.get(url, headers=keys.worker), 403)
    flows.report(second, "RUNNING")
    response = client.get(url, headers=keys.worker)
    assert response.status_code == 200
    assert hashlib.sha256(response.data).hexdigest() == upstream["loads.bin"]["sha256"]
    assert hashlib.sha256(data).hexdigest() == upstream["loads.bin"]["sha256"]

    # An artifact that is an input of no running run stays out of a worker's reach.
    lone = api.create_run(api.create_pipeline(name="alone")["uuid"])
    flows.report(lone, "RUNNING")
    assert api.upload(lone["pipeline_uuid"], lone["uuid"], "private.csv", b"secret").status_code == 201
    private = flows.get(api.run_path(lone["pipeline_uuid"], lone["uuid"]))["artifacts"][0]
    assert_error(client.get(urlsplit(private["url"]).path, headers=keys.worker), 403)
    assert client.get(urlsplit(private["url"]).path, headers=keys.client).status_code == 200

    # Once the run ended, its inputs are out of reach again; clients still read them.
    flows.report(second, "COMPLETED")
    assert_error(client.get(url, headers=keys.worker), 403)
    assert client.get(url, headers=keys.client).data == data


def test_queued_is_counted_and_filtered_as_any_state(flows, chain, client, keys, app):
    workflow, prepare, feeder, report = chain
    flows.start(workflow, [MODEL])
    with app.app_context():
        states = sorted(db.session.execute(db.select(Run.state)).scalars())
    assert states == ["NOT_STARTED", "QUEUED", "QUEUED"]
    queued = flows.get(f"/v1/pipelines/{report['pipeline_uuid']}/runs?state=QUEUED")
    assert len(queued) == 1 and queued[0]["state"] == "QUEUED"
    assert flows.get(f"/v1/pipelines/{report['pipeline_uuid']}/runs?state=NOT_STARTED") == []


def test_two_sources_completing_at_the_same_moment_queue_their_destination(app, flows, api, keys):
    """The step locks the workflow run first (ADR 20): whichever source
    commits second sees the other COMPLETED. Five rounds of two reports
    released together from two threads, each with a client of its own."""
    workflow = flows.create("race")
    pipeline = api.create_pipeline()
    left = flows.add_node(workflow, pipeline)
    right = flows.add_node(workflow, pipeline)
    join = flows.add_node(workflow, pipeline, sources=[left, right])
    for _ in range(5):
        workflow_run = flows.start(workflow, [MODEL])
        sources = [flows.node_run(workflow_run, node) for node in (left, right)]
        for run in sources:
            flows.report(run, "RUNNING")
        barrier = threading.Barrier(2)
        answers = []

        def complete(run, barrier=barrier, answers=answers):
            client = app.test_client()
            barrier.wait()
            response = client.put(
                api.run_path(run["pipeline_uuid"], run["uuid"], "/state"),
                json={"state": "COMPLETED"},
                headers=keys.worker,
            )
            answers.append(response.status_code)

        threads = [threading.Thread(target=complete, args=(run,)) for run in sources]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert answers == [200, 200]
        assert flows.node_run(flows.read(workflow_run), join)["state"] == "NOT_STARTED"


def test_with_the_broker_down_a_workflow_run_is_a_503_and_nothing_is_kept(
    app,
    keys,
    chain,
    tmp_path,
    apps,  # noqa: F811 - the fixture imported above
):
    down_app = apps(app, tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/13")
    before = table_snapshot(app)
    response = down_app.test_client().post(
        f"/v1/workflows/{chain[0]['uuid']}/runs", json={"inputs": [MODEL]}, headers=keys.client
    )
    assert "queue" in assert_error(response, 503)["message"]
    after = table_snapshot(app)
    # The numbering of runs moved on (as for a refused run); nothing else changed.
    assert {name: rows for name, rows in after.items() if name != "pipeline"} == {
        name: rows for name, rows in before.items() if name != "pipeline"
    }


def test_a_node_whose_pipeline_was_deleted_keeps_the_workflow_from_running(app, flows, chain, client, keys):
    workflow, prepare, feeder, report = chain
    assert client.delete(f"/v1/pipelines/{feeder['pipeline_uuid']}", headers=keys.client).status_code == 204
    before = table_snapshot(app)
    response = client.post(f"/v1/workflows/{workflow['uuid']}/runs", json={"inputs": []}, headers=keys.client)
    assert feeder["uuid"] in assert_error(response, 400)["message"]
    assert table_snapshot(app) == before
