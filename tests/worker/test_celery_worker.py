"""A real ``celery -A worker worker`` process, fed by name as the API feeds it.

Runs once on the embedded default (kombu's filesystem transport) and once
on the tests' Redis (tests/services.py).
"""

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from celery import Celery

from ..services import require_redis
from .callback_receiver import CallbackReceiver
from .conftest import IEEE4, ROOT, processes_in


@pytest.fixture(params=["filesystem", "redis"])
def broker(request, tmp_path):
    """``(environment for the worker, publisher app, queue name)``."""
    queue = f"worker-test-{uuid.uuid4().hex[:8]}"
    if request.param == "redis":
        url = require_redis()
        environment = {"CELERY_BROKER_URL": url}
        publisher = Celery("api-stand-in", broker=url, set_as_current=False)
    else:
        folder = tmp_path / "broker"
        environment = {"CELERY_BROKER_FOLDER": str(folder)}
        publisher = Celery("api-stand-in", broker="filesystem://", set_as_current=False)
        publisher.conf.broker_transport_options = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "control_folder": str(folder / "control"),
        }
        for name in ("queue", "control"):
            (folder / name).mkdir(parents=True)
    publisher.conf.task_serializer = "json"
    yield environment, publisher, queue
    publisher.close()


@pytest.fixture
def celery_worker(broker, api, tmp_path, file_server):
    environment, publisher, queue = broker
    work = tmp_path / "work"
    work.mkdir()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    log = open(tmp_path / "worker.log", "w")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--loglevel=INFO",
            "--concurrency=1",
            "-Q",
            queue,
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=cwd,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "GRIDLABD_"))},
            **environment,
            "PYTHONPATH": ROOT,
            "WORKER_API_SERVER": api.url,
            "WORKER_API_TOKEN": api.token,
            "TMPDIR": str(work),
        },
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )

    def send(name, **kwargs):
        publisher.send_task(name, kwargs=kwargs, queue=queue)

    yield send, work
    # The test is over: kill the worker and its pool outright.
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    log.close()
    assert os.listdir(cwd) == []  # the broker's files stay in the broker folder


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def wait_for(condition, within, what):
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def execute_kwargs(run_uuid, inputs, arguments=()):
    return {
        "pipeline_uuid": "c" * 32,
        "run_uuid": run_uuid,
        "inputs": inputs,
        "repository_ssh_url": None,
        "repository_branch": None,
        "model": "model.glm",
        "arguments": list(arguments),
        "timeout": None,
    }


def test_worker_runs_a_pipeline_and_delivers_callbacks(celery_worker, api, file_server):
    send, _ = celery_worker
    served, url = file_server
    shutil.copy(IEEE4, served / "model.glm")
    run_uuid = uuid.uuid4().hex
    stand_in_run = api.add_run("c" * 32, run_uuid)

    with CallbackReceiver(statuses=[500, 200]) as receiver:
        send(
            "execute_pipeline", **execute_kwargs(run_uuid, [{"name": "model.glm", "url": f"{url}/model.glm"}])
        )
        send("deliver_callback", url=receiver.url, pipeline_run_uuid=run_uuid, state="RUNNING")

        wait_for(lambda: stand_in_run.state == "COMPLETED", 60, "the run to complete")
        assert len(stand_in_run.artifacts) == 2
        wait_for(lambda: len(receiver.bodies) == 2, 30, "the callback to be retried")
    assert receiver.bodies == [{"pipeline_run_uuid": run_uuid, "state": "RUNNING"}] * 2


def test_a_task_given_back_by_a_dead_worker_process_is_dropped_and_the_sweeps_runs(
    celery_worker, api, file_server
):
    """The pool process running a simulation is killed: the simulation dies
    with it and Celery gives the task back (acks_late, reject_on_worker_lost),
    but the run is still RUNNING under the lost attempt, so that task is
    refused and dropped. The task the API's recovery sweep sends after
    handing the run back to the queue runs it again, as attempt 2."""
    send, work = celery_worker
    served, url = file_server
    shutil.copy(IEEE4, served / "model.glm")
    run_uuid = uuid.uuid4().hex
    stand_in_run = api.add_run("c" * 32, run_uuid)
    task = execute_kwargs(
        run_uuid, [{"name": "model.glm", "url": f"{url}/model.glm"}], ["-D", "REALTIME_SECONDS=1"]
    )

    send("execute_pipeline", **task)
    wait_for(lambda: "Processing" in stand_in_run.console["std_out"], 60, "the simulation to start")
    # The sandbox (bwrap, its init, then gridlabd) runs in the working folder;
    # the pool process is the parent of the outermost of them.
    simulation = processes_in(work)
    parents = {pid: parent_of(pid) for pid in simulation}
    [pool_process] = {parent for parent in parents.values() if parent not in parents}
    os.kill(pool_process, signal.SIGKILL)

    gone = lambda: not any(os.path.exists(f"/proc/{pid}") for pid in simulation)  # noqa: E731
    wait_for(gone, 5, "the orphaned simulation to die")
    refused = lambda: [call for call in api.calls_to("PUT", "/state") if call[3] == 409]  # noqa: E731
    wait_for(refused, 30, "the task given back to be refused")
    assert stand_in_run.states == ["NOT_STARTED", "RUNNING"] and stand_in_run.attempt == 1

    api.requeue("c" * 32, run_uuid)  # what the sweep does, then it sends the task again
    send("execute_pipeline", **task)
    wait_for(lambda: stand_in_run.state == "COMPLETED", 60, "the second attempt to complete")
    assert stand_in_run.states == ["NOT_STARTED", "RUNNING", "NOT_STARTED", "RUNNING", "COMPLETED"]
    assert stand_in_run.attempt == 2
    assert len(refused()) == 1
