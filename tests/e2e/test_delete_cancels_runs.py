"""Deleting a pipeline stops its run on a real worker, as a cancel does, and
nothing more is stored for it (API under gunicorn, a Celery worker, the
GridLAB-D engine, on the embedded default)."""

import time

import pytest
import requests

from .stack import Stack

MODEL = "ieee4.glm"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("delete-cancels"), embedded=True)
    yield stack
    stack.close()


def test_deleting_a_pipeline_stops_its_running_simulation_and_stores_nothing_more(stack):
    pipeline = stack.create_pipeline(model=MODEL, arguments=["-D", "REALTIME_SECONDS=60"])
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    stack.wait_for(run, {"RUNNING"}, timeout=60)
    deadline = time.monotonic() + 30
    while not stack.gridlabd_processes() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.gridlabd_processes(), "gridlabd is running"
    uploads = stack.folder / "uploads"
    before = sorted(uploads.rglob("*")) if uploads.exists() else []

    response = requests.delete(
        f"{stack.url}/v1/pipelines/{pipeline['uuid']}", headers=stack.client, timeout=10
    )
    assert response.status_code == 204, response.text

    deleted_at = time.monotonic()
    while stack.gridlabd_processes() and time.monotonic() - deleted_at < 10:
        time.sleep(0.1)
    assert not stack.gridlabd_processes(), "gridlabd still running 10 s after the pipeline was deleted"
    state = requests.get(stack.run_url(run, "/state"), headers=stack.worker_key, timeout=10)
    assert state.status_code == 409, state.text
    assert "cancelled" in state.json()["message"]
    time.sleep(3)  # give a misbehaving worker the chance to upload anyway
    assert (sorted(uploads.rglob("*")) if uploads.exists() else []) == before
    assert requests.get(stack.run_url(run), headers=stack.client, timeout=10).status_code == 404
