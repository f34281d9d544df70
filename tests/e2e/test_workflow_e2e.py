"""A two-node workflow end to end: the API under gunicorn, a Celery worker,
the real GridLAB-D engine. The second model (examples/ieee4_followup.glm)
loads only when the first one's recorder file is in its folder, which only
the API's step from the first node to the second puts there, fetched by the
worker with its own key. On the embedded default (SQLite, local disk) and on
PostgreSQL + Redis with artifacts on the blob server."""

import time

import pytest
import requests

from ..blob import start_blob_server
from .stack import Stack

FIRST, SECOND = "ieee4.glm", "ieee4_followup.glm"
RECORDING = "ieee4_load_voltages.csv"
REDIS_DB = 6  # not the other e2e modules' 14: both may run at once


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("e2e-workflow-embedded"), embedded=True)
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def blob_stack(tmp_path_factory):
    blob = start_blob_server()
    api_settings = {"BLOB_API_SERVER": blob.url, "BLOB_API_TOKEN": blob.token}
    stack = Stack(tmp_path_factory.mktemp("e2e-workflow-blob"), api_settings=api_settings, redis_db=REDIS_DB)
    yield stack
    stack.close()
    blob.remove()


def call(stack, method, path, body=None, status=200):
    response = requests.request(method, stack.url + path, json=body, headers=stack.client, timeout=10)
    assert response.status_code == status, response.text
    return response.json()


def wait_for_workflow_run(stack, workflow_run, timeout=120):
    path = f"/v1/workflows/{workflow_run['workflow_uuid']}/runs/{workflow_run['uuid']}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = call(stack, "GET", path)
        if current["state"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            return current
        time.sleep(0.2)
    raise AssertionError(
        f"workflow run stayed {current['state']}\nworker log:\n{stack.worker.output()[-4000:]}"
    )


def run_two_node_workflow(stack):
    first = stack.create_pipeline(name="feeder", model=FIRST)
    second = stack.create_pipeline(name="followup", model=SECOND)
    workflow = call(stack, "POST", "/v1/workflows", {"name": "feeder then followup"}, status=201)
    nodes_path = f"/v1/workflows/{workflow['uuid']}/pipelines"
    feeder = call(stack, "POST", nodes_path, {"pipeline_uuid": first["uuid"]}, status=201)
    followup = call(
        stack,
        "POST",
        nodes_path,
        {"pipeline_uuid": second["uuid"], "source_workflow_pipelines": [feeder["uuid"]]},
        status=201,
    )
    inputs = [{"name": name, "url": stack.input_url(name)} for name in (FIRST, SECOND)]
    workflow_run = call(
        stack, "POST", f"/v1/workflows/{workflow['uuid']}/runs", {"inputs": inputs}, status=201
    )
    assert [item["pipeline_run"]["state"] for item in workflow_run["workflow_pipeline_runs"]] == [
        "NOT_STARTED",
        "QUEUED",
    ]

    done = wait_for_workflow_run(stack, workflow_run)
    runs = {item["workflow_pipeline_uuid"]: item["pipeline_run"] for item in done["workflow_pipeline_runs"]}
    upstream, downstream = runs[feeder["uuid"]], runs[followup["uuid"]]
    consoles = {
        name: stack.get(run, "/console") for name, run in (("feeder", upstream), ("followup", downstream))
    }
    assert done["state"] == "COMPLETED", consoles
    assert [s["state"] for s in done["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    assert [s["state"] for s in downstream["states"]] == ["QUEUED", "NOT_STARTED", "RUNNING", "COMPLETED"]
    assert f"{RECORDING} found" in consoles["followup"]["std_out"] + consoles["followup"]["std_err"], consoles

    recorded = {artifact["name"]: artifact for artifact in upstream["artifacts"]}[RECORDING]
    given = {item["name"]: item["url"] for item in downstream["inputs"]}
    assert given[RECORDING] == recorded["url"]
    # What the second model saw is byte for byte what the first recorded.
    digest = {artifact["name"]: artifact for artifact in downstream["artifacts"]}["upstream.sha256"]
    assert stack.download(digest).text.split()[0] == recorded["sha256"]
    assert stack.download(recorded).content.startswith(b"#")
    return upstream


def test_a_two_node_workflow_completes_on_the_embedded_default(embedded_stack):
    run_two_node_workflow(embedded_stack)


def test_a_two_node_workflow_completes_on_postgresql_with_the_blob_server(blob_stack):
    run_two_node_workflow(blob_stack)
