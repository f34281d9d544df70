"""Broker loss, with real processes: gunicorn and a Celery worker on a
private ``redis-server``, which the tests stop and start again on the same
port (empty, as a Redis that keeps nothing on disk comes back).

While it is down a new run is refused with 503 and nothing of it is kept;
once it is back the same API process and the same worker take runs again,
and a run that was RUNNING when it went away still ends COMPLETED, once.
When only the connections are cut, Redis keeps the task and the worker gives
it back for another to take: that copy must not run the run a second time.
Runs that were queued when Redis lost its data have their task sent again
by the recovery sweep (RUN_QUEUE_TIMEOUT) and complete.
"""

import re
import shutil
import time

import pytest
import redis
import requests
import sqlalchemy as sa

from ..processes import RedisServer
from ..services import unavailable
from .stack import FINAL_STATES, Stack

# It stops or kills services of its stack on purpose: run apart from the rest (invoke test).
pytestmark = pytest.mark.faults

MODEL = "ieee4.glm"


@pytest.fixture
def redis_server(tmp_path):
    if not shutil.which("redis-server"):
        unavailable("redis-server is not on PATH: the broker-loss tests stop a private one")
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    yield server
    server.stop()


@pytest.fixture
def make_stack(tmp_path, redis_server):
    stacks = []

    def make(**options):
        (tmp_path / "stack").mkdir()
        stacks.append(Stack(tmp_path / "stack", broker_url=redis_server.url, **options))
        return stacks[-1]

    yield make
    for stack in stacks:
        stack.close()


@pytest.fixture
def stack(make_stack):
    return make_stack()


def post_run(stack, pipeline):
    return requests.post(
        f"{stack.url}/v1/pipelines/{pipeline['uuid']}/runs",
        json={"inputs": [{"name": MODEL, "url": stack.input_url(MODEL)}]},
        headers=stack.client,
        timeout=30,
    )


def stored_runs(stack):
    """Rows of runs and of their states, counted in the database itself."""
    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            runs = connection.execute(sa.text("SELECT count(*) FROM run")).scalar_one()
            states = connection.execute(sa.text("SELECT count(*) FROM run_state")).scalar_one()
    finally:
        engine.dispose()
    return runs, states


def test_run_created_while_broker_is_down_gets_503_and_nothing_is_kept(stack, redis_server):
    pipeline = stack.create_pipeline(model=MODEL)
    redis_server.stop()

    response = post_run(stack, pipeline)
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    assert "try again" in response.json()["message"].lower()
    listed = requests.get(
        f"{stack.url}/v1/pipelines/{pipeline['uuid']}/runs", headers=stack.client, timeout=10
    )
    assert listed.json() == []
    assert stored_runs(stack) == (0, 0)

    # Back, empty, on the same port: the API's publisher and the worker
    # reconnect by themselves, and the next run is accepted and executed.
    redis_server.start()
    response = post_run(stack, pipeline)
    assert response.status_code == 201, response.text
    run = stack.wait_for(response.json(), FINAL_STATES, timeout=120)
    assert run["state"] == "COMPLETED", stack.get(run, "/console")
    assert stored_runs(stack)[0] == 1


def test_run_in_progress_when_broker_restarts_completes_once(stack, redis_server):
    # Paced by the clock: about 14 s, so the broker is gone and back mid-run.
    pipeline = stack.create_pipeline(model=MODEL, arguments=["-D", "REALTIME_SECONDS=10"])
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    stack.wait_for(run, {"RUNNING"}, timeout=60)

    redis_server.stop()
    time.sleep(5)
    redis_server.start()

    # The worker reports through the API, not the broker: the run goes on.
    final = stack.wait_for(run, FINAL_STATES, timeout=120)
    console = stack.get(run, "/console")
    assert final["state"] == "COMPLETED", console
    assert {artifact["name"] for artifact in final["artifacts"]} == {
        "ieee4_load_voltages.csv",
        "ieee4_substation_power.csv",
    }

    # Its acknowledgement went to a broker that no longer holds the task, so
    # nothing hands it out again: a later run is executed, this one is not.
    after = stack.wait_for(stack.start_run(pipeline, run["inputs"]), FINAL_STATES, timeout=120)
    assert after["state"] == "COMPLETED", stack.get(after, "/console")
    final = stack.get(run)
    assert [change["state"] for change in final["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    # Nothing but the model's own output (which has no std_err): no note of
    # a lost worker or of a second start.
    assert stack.get(run, "/console")["std_err"] == ""
    received = [line for line in stack.worker.output().splitlines() if line.endswith("] received")]
    assert len(received) == 2, received


def test_run_in_progress_when_broker_connections_drop_runs_once(make_stack, redis_server):
    # Two pool processes: one runs the run, the other is free to take the
    # task again if the broker hands it out a second time.
    stack = make_stack(worker_concurrency=2)
    pipeline = stack.create_pipeline(model=MODEL, arguments=["-D", "REALTIME_SECONDS=10"])
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    stack.wait_for(run, {"RUNNING"}, timeout=60)
    time.sleep(2)

    # Redis stays up and keeps its data; only the connections are cut, as a
    # network blip or a proxy restart would.
    assert redis.Redis(port=redis_server.port).client_kill_filter(_type="normal") > 0

    final = stack.wait_for(run, FINAL_STATES, timeout=120)
    time.sleep(5)  # time for a second execution to show itself
    final, console = stack.get(run), stack.get(run, "/console")
    assert final["state"] == "COMPLETED", console
    assert [change["state"] for change in final["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    assert console["std_err"] == "", "the run was started again while it was running"
    times = re.findall(r"Processing (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", console["std_out"])
    assert times == sorted(set(times)), "two executions wrote to the console"


def test_runs_queued_when_the_broker_loses_its_data_are_sent_again_and_complete(make_stack, redis_server):
    # No worker yet: the runs wait in the queue when Redis goes.
    stack = make_stack(
        worker_concurrency=0,
        api_settings={"RUN_QUEUE_TIMEOUT": 3},
        WORKER_RECOVERY_INTERVAL=1,
        WORKER_ARTIFACT_EXPIRY_INTERVAL=0,
    )
    pipeline = stack.create_pipeline(model=MODEL)
    runs = []
    for _ in range(2):
        response = post_run(stack, pipeline)
        assert response.status_code == 201, response.text
        runs.append(response.json())
    assert redis.Redis(port=redis_server.port).llen("celery") == 2

    redis_server.stop()
    redis_server.start()
    assert redis.Redis(port=redis_server.port).llen("celery") == 0, "Redis came back with its data"

    stack.start_beat()
    stack.start_worker()
    for run in runs:
        final = stack.wait_for(run, FINAL_STATES, timeout=120)
        assert final["state"] == "COMPLETED", stack.get(run, "/console")
        assert [change["state"] for change in final["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
