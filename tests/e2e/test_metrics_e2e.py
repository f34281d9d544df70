"""/metrics with real processes: the API under gunicorn with two processes,
a Celery worker exporting its own metrics, the real GridLAB-D engine."""

import shutil

import pytest
import requests
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from ..processes import children, free_port
from ..test_metrics import requests_counted, samples
from .stack import Stack

MODEL = "ieee4.glm"
RUN_STATE = "/v1/pipelines/<pipeline_uuid>/runs/<run_uuid>/state"
RUNS = "/v1/pipelines/<pipeline_uuid>/runs"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("e2e-metrics"), api_workers=2, WORKER_METRICS_PORT=free_port())
    yield stack
    stack.close()


def scrape(url):
    # A connection of its own each time: either gunicorn process may answer.
    response = requests.get(url + "/metrics", timeout=10, headers={"Connection": "close"})
    assert response.status_code == 200, response.text
    return samples(response.text)


def runs_by_state(found):
    return {
        dict(labels)["state"]: value for (name, labels), value in found.items() if name == "workflow_runs"
    }


def test_a_real_run_shows_in_the_runs_by_state_the_requests_and_the_worker_metrics(stack):
    worker_url = f"http://127.0.0.1:{stack.worker_env['WORKER_METRICS_PORT']}"
    pipeline = stack.create_pipeline(model=MODEL)
    before = scrape(stack.url)
    assert runs_by_state(before) == {
        "QUEUED": 0,
        "NOT_STARTED": 0,
        "RUNNING": 0,
        "COMPLETED": 0,
        "FAILED": 0,
        "CANCELLED": 0,
    }

    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    final = stack.wait_for(run, {"COMPLETED", "FAILED", "CANCELLED"})
    assert final["state"] == "COMPLETED", final
    after = scrape(stack.url)

    assert runs_by_state(after) == {
        "QUEUED": 0,
        "NOT_STARTED": 0,
        "RUNNING": 0,
        "COMPLETED": 1,
        "FAILED": 0,
        "CANCELLED": 0,
    }
    assert after[("workflow_runs_stale", ())] == 0
    assert after[("workflow_broker_up", ())] == 1
    assert after[("workflow_queue_length", (("queue", "celery"),))] == 0
    # The client's POST, and the worker's two state changes (RUNNING, then COMPLETED).
    assert requests_counted(after, "POST", RUNS, "201") - requests_counted(before, "POST", RUNS, "201") == 1
    assert (
        requests_counted(after, "PUT", RUN_STATE, "200") - requests_counted(before, "PUT", RUN_STATE, "200")
        == 2
    )
    assert [entry["state"] for entry in final["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]

    worker = scrape(worker_url)
    assert worker[("workflow_worker_runs_total", (("outcome", "COMPLETED"),))] == 1
    assert worker[("workflow_worker_run_duration_seconds_count", (("outcome", "COMPLETED"),))] == 1
    assert worker[("workflow_worker_run_duration_seconds_sum", (("outcome", "COMPLETED"),))] > 0


def test_the_requests_of_both_gunicorn_processes_are_counted(stack, tmp_path):
    sent = 60
    before = scrape(stack.url)
    for _ in range(sent):  # a new connection each: the kernel spreads them over both processes
        response = requests.get(stack.url + "/healthcheck", timeout=10, headers={"Connection": "close"})
        assert response.status_code == 200

    # Whichever process answers the scrape, it counts every request.
    for _ in range(6):
        after = scrape(stack.url)
        assert (
            requests_counted(after, "GET", "/healthcheck", "200")
            - requests_counted(before, "GET", "/healthcheck", "200")
            == sent
        )

    # And each of the two processes did answer some of them: its own files hold its share.
    processes = children(stack.api.process.pid)
    assert len(processes) == 2, processes
    shares = []
    for pid in processes:
        folder = tmp_path / str(pid)
        folder.mkdir()
        for path in stack.api.metrics_folder.glob(f"*_{pid}.db"):
            shutil.copy(path, folder)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(folder))
        found = {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in registry.collect()
            for sample in family.samples
        }
        shares.append(requests_counted(found, "GET", "/healthcheck", "200"))
    assert all(share > 0 for share in shares), shares
    assert sum(shares) - requests_counted(before, "GET", "/healthcheck", "200") == sent
