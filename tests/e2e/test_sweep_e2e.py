"""A sweep end to end with real processes and the real GridLAB-D engine:
the model comes from an uploaded input file, its load is a parameter, and
the voltages at the load fall as the load rises."""

import csv
import io
import time

import pytest
import requests

from ..services import REDIS_URL
from .stack import EXAMPLES, Stack
from .test_worker_e2e import LOAD_VOLTAGES, MODEL, voltages

LOADS = [900000, 1800000, 2700000]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    # The Redis db the tests were given, not the e2e default others may use at once.
    redis_db = int(REDIS_URL.rsplit("/", 1)[-1] or 0)
    stack = Stack(tmp_path_factory.mktemp("e2e-sweep"), worker_concurrency=2, redis_db=redis_db)
    yield stack
    stack.close()


def wait_for_sweep(stack, path, timeout=180):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sweep = requests.get(path, headers=stack.client, timeout=10).json()
        if sweep["state"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            return sweep
        time.sleep(0.3)
    raise AssertionError(f"sweep not final after {timeout} s: {sweep}")


def test_a_load_sweep_gives_voltages_that_fall_as_the_load_rises(stack):
    pipeline = stack.create_pipeline(model=MODEL)
    base = f"{stack.url}/v1/pipelines/{pipeline['uuid']}"
    uploaded = requests.post(
        base + "/input_files",
        params={"name": MODEL},
        data=(EXAMPLES / MODEL).read_bytes(),
        headers={**stack.client, "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert uploaded.status_code == 201, uploaded.text
    model_url = uploaded.json()["url"]
    # Only the service's clients and workers may read it.
    assert requests.get(model_url, timeout=10).status_code == 401

    response = requests.post(
        base + "/sweeps",
        json={"inputs": [{"name": MODEL, "url": model_url}], "parameters": {"load_w": LOADS}},
        headers=stack.client,
        timeout=30,
    )
    assert response.status_code == 201, response.text
    sweep = wait_for_sweep(stack, f"{base}/sweeps/{response.json()['uuid']}")
    runs = requests.get(f"{base}/sweeps/{sweep['uuid']}/runs", headers=stack.client, timeout=10).json()
    consoles = [
        requests.get(f"{base}/runs/{run['uuid']}/console", headers=stack.client).json() for run in runs
    ]
    assert sweep["state"] == "COMPLETED", consoles
    assert sweep["counts"]["COMPLETED"] == 3 and sweep["completed_at"] is not None

    results = requests.get(f"{base}/sweeps/{sweep['uuid']}/results.csv", headers=stack.client, timeout=30)
    table = list(csv.DictReader(io.StringIO(results.text)))
    assert [row["load_w"] for row in table] == [str(load) for load in LOADS]
    assert all(row["state"] == "COMPLETED" for row in table)
    # Phase A at the load, at the same moment of each run's day.
    at_noon = []
    for row in table:
        recorded = requests.get(row[LOAD_VOLTAGES], headers=stack.client, timeout=30)
        assert recorded.status_code == 200
        at_noon.append(abs(voltages(recorded.content)[12 * 60][0]))
    assert at_noon[0] > at_noon[1] > at_noon[2], at_noon
    assert all(1500 < volts < 2500 for volts in at_noon), at_noon
