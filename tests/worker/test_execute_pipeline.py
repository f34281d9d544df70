"""The execute_pipeline task, reporting to the stand-in API over HTTP."""

import shutil
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import worker.api_client
from worker.tasks import execute_pipeline

from .conftest import IEEE4, processes_in
from .test_gridlabd_cli import FAILING_ASSERT, TWO_NODE_MODEL, magnitudes

P, R = "a" * 32, "b" * 32


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    """The real backoff, scaled down so that retry tests stay fast."""
    monkeypatch.setattr(worker.api_client.retrying_session, "__defaults__", (10, 0.05, 1))


@pytest.fixture
def serve_model(file_server):
    """Put a model text on the file server; returns the run's inputs."""
    served, url = file_server

    def serve(text=None, name="model.glm"):
        if text is None:
            shutil.copy(IEEE4, served / name)
        else:
            (served / name).write_text(text)
        return [{"name": name, "url": f"{url}/{name}"}]

    return serve


def run(**kwargs):
    arguments = {
        "pipeline_uuid": P,
        "run_uuid": R,
        "inputs": [],
        "repository_ssh_url": None,
        "repository_branch": None,
        "model": "model.glm",
        "arguments": [],
        "timeout": None,
    }
    return execute_pipeline(**{**arguments, **kwargs})


def last_line(text):
    return text.rstrip("\n").rsplit("\n", 1)[-1]


def test_a_run_completes_and_uploads_what_gridlabd_wrote(api, serve_model, work_root):
    stand_in_run = api.add_run(P, R)

    assert run(inputs=serve_model()) == "COMPLETED"

    assert stand_in_run.states == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    names = sorted(name for name, _ in stand_in_run.artifacts)
    assert names == ["ieee4_load_voltages.csv", "ieee4_substation_power.csv"]  # not the model
    volts = dict(stand_in_run.artifacts)["ieee4_load_voltages.csv"]
    assert b"# timestamp,voltage_A,voltage_B,voltage_C" in volts
    assert "solver_KLU" in stand_in_run.console["std_out"]
    # The working folder is gone (the engine host's folder, which held it, stays with the host).
    assert list(work_root.glob("**/workflow-run-*")) == []


def test_arguments_are_passed_before_the_model(api, serve_model, work_root):
    stand_in_run = api.add_run(P, R)

    state = run(inputs=serve_model(TWO_NODE_MODEL), arguments=["-D", "OUTPUT=chosen"])

    assert state == "COMPLETED"
    assert [name for name, _ in stand_in_run.artifacts] == ["chosen.csv"]


def test_a_run_from_a_repository_checkout(api, work_root, tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "feeders").mkdir(parents=True)
    shutil.copy(IEEE4, repo / "feeders" / "ieee4.glm")
    for command in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *command], cwd=repo, check=True)
    monkeypatch.setenv("WORKER_ALLOW_FILE_URLS", "1")
    stand_in_run = api.add_run(P, R)

    state = run(repository_ssh_url=repo.as_uri(), repository_branch="main", model="feeders/ieee4.glm")

    assert state == "COMPLETED"
    assert sorted(name for name, _ in stand_in_run.artifacts) == [
        "ieee4_load_voltages.csv",
        "ieee4_substation_power.csv",
    ]


def test_a_missing_model_fails_with_its_name(api, work_root):
    stand_in_run = api.add_run(P, R)

    assert run(model="feeder.glm") == "FAILED"

    assert stand_in_run.states[-1] == "FAILED"
    reason = stand_in_run.console["std_err"]
    assert reason.startswith("model file not found: feeder.glm is what the pipeline's model names, but ")
    assert reason.endswith("; give the run an input named feeder.glm or change the pipeline's model.\n")


def test_a_failed_download_fails_the_run(api, file_server, work_root):
    stand_in_run = api.add_run(P, R)
    _, url = file_server

    assert run(inputs=[{"name": "model.glm", "url": f"{url}/nowhere.glm"}]) == "FAILED"

    assert last_line(stand_in_run.console["std_err"]).startswith("failed to download input model.glm: 404")
    assert stand_in_run.artifacts == []


def test_model_errors_are_the_failure_reason(api, serve_model, work_root):
    stand_in_run = api.add_run(P, R)

    assert run(inputs=serve_model("module tape;\nobject bogus {\n}\n")) == "FAILED"

    std_err = stand_in_run.console["std_err"]
    assert "failed to load model file" in std_err
    assert last_line(std_err) == (
        "model has errors: model.glm(2): class 'bogus' is not known (gridlabd exited with code 1)"
    )
    assert stand_in_run.states[-1] == "FAILED"


def test_a_failing_simulation_still_uploads_what_it_wrote(api, file_server, work_root):
    stand_in_run = api.add_run(P, R)
    served, url = file_server
    with open(IEEE4) as model:
        (served / "model.glm").write_text(model.read() + FAILING_ASSERT)

    assert run(inputs=[{"name": "model.glm", "url": f"{url}/model.glm"}]) == "FAILED"

    assert last_line(stand_in_run.console["std_err"]) == "gridlabd exited with code 2"
    assert "ieee4_load_voltages.csv" in [name for name, _ in stand_in_run.artifacts]


def test_files_in_folders_are_uploaded_by_relative_path(api, serve_model, work_root, monkeypatch, tmp_path):
    fake = tmp_path / "fake_gridlabd.py"
    fake.write_text(
        "import os, sys\nos.makedirs('out')\nopen('out/volts.csv', 'w').write('1\\n')\n"
        "print('oops', file=sys.stderr, end='')\nsys.exit(3)\n"
    )
    monkeypatch.setenv("GRIDLABD_BINARY", f"{sys.executable} {fake}")
    stand_in_run = api.add_run(P, R)

    assert run(inputs=serve_model("// any\n")) == "FAILED"

    assert [call[2] for call in api.calls_to("POST", "/artifacts")] == [
        f"/v1/pipelines/{P}/runs/{R}/artifacts"
    ]
    assert stand_in_run.artifacts == [("volts.csv", b"1\n")]
    # The reason starts a line of its own after output that did not end one.
    assert stand_in_run.console["std_err"] == "oops\ngridlabd exited with code 3\n"


def test_a_run_that_takes_too_long_times_out(api, serve_model, work_root):
    stand_in_run = api.add_run(P, R)
    started = time.monotonic()

    state = run(inputs=serve_model(), arguments=["-D", "REALTIME_SECONDS=60"], timeout=2)

    assert state == "FAILED"
    assert time.monotonic() - started < 8
    assert last_line(stand_in_run.console["std_err"]) == "timed out after 2 seconds"
    assert processes_in(work_root) == []


def test_cancel_stops_gridlabd_and_nothing_is_reported_after_it(api, serve_model, work_root):
    stand_in_run = api.add_run(P, R)
    cancelled_at = {}

    def cancel_once_running():
        deadline = time.monotonic() + 20
        while "Processing" not in stand_in_run.console["std_out"] and time.monotonic() < deadline:
            time.sleep(0.05)
        api.cancel(P, R)
        cancelled_at["time"] = time.monotonic()

    client = threading.Thread(target=cancel_once_running)
    client.start()
    state = run(inputs=serve_model(), arguments=["-D", "REALTIME_SECONDS=60"])
    client.join()

    assert state == "CANCELLED"
    assert time.monotonic() - cancelled_at["time"] < 5
    assert stand_in_run.states == ["NOT_STARTED", "RUNNING", "CANCELLED"]
    assert stand_in_run.artifacts == []
    # The API refuses writes after a cancel; the worker should not even try
    # them, short of one that crossed the cancel on the wire.
    after = [call for call in api.calls if call[0] > cancelled_at["time"] and call[1] != "GET"]
    assert all(call[3] == 409 for call in after) and len(after) <= 1
    assert processes_in(work_root) == []
    assert list(work_root.iterdir()) == []


def test_a_run_cancelled_before_it_starts_is_left_alone(api, serve_model, work_root):
    stand_in_run = api.add_run(P, R, state="CANCELLED")

    assert run(inputs=serve_model()) is None

    assert stand_in_run.states == ["CANCELLED"]
    assert [(call[1], call[3]) for call in api.calls] == [("PUT", 409)]


def test_a_task_for_a_run_already_running_elsewhere_does_nothing(api, serve_model, work_root):
    """A duplicate task, or one the broker gave back after its worker was
    lost: whether the run runs again is the API's recovery sweep's call."""
    stand_in_run = api.add_run(P, R, state="RUNNING", attempt=1)
    stand_in_run.std_out.append("output of the attempt that has the run\n")

    assert run(inputs=serve_model()) is None

    assert stand_in_run.states == ["RUNNING"] and stand_in_run.attempt == 1
    assert stand_in_run.console["std_out"] == "output of the attempt that has the run\n"
    assert [(call[1], call[3]) for call in api.calls] == [("PUT", 409)]
    assert list(work_root.iterdir()) == []


def test_every_call_after_running_names_the_attempt(api, serve_model, work_root):
    # Queued again by the recovery sweep after a first attempt was lost.
    stand_in_run = api.add_run(P, R, attempt=1)

    assert run(inputs=serve_model()) == "COMPLETED"

    assert stand_in_run.attempt == 2
    first, *later = api.calls
    assert first[1:] == ("PUT", f"/v1/pipelines/{P}/runs/{R}/state", 200, None)
    # Console, artifacts, state; a cancel poll (GET) only once the last answer is 1 s old.
    assert {call[1] for call in later} >= {"POST", "PUT"}
    assert [call for call in later if call[4] != "2"] == []


class SlowFile(BaseHTTPRequestHandler):
    """Serves the IEEE 4-node model after ``delay`` seconds of silence."""

    delay = 1.5

    def log_message(self, *args):
        pass

    def do_GET(self):
        time.sleep(self.delay)
        with open(IEEE4, "rb") as model:
            body = model.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_heartbeats_go_on_while_the_worker_has_the_run(api, work_root, monkeypatch):
    """Through a slow download as through the simulation; none after the end."""
    monkeypatch.setenv("WORKER_HEARTBEAT_INTERVAL", "0.2")
    stand_in_run = api.add_run(P, R)
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowFile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/model.glm"
        state = run(inputs=[{"name": "model.glm", "url": url}], arguments=["-D", "REALTIME_SECONDS=1"])
    finally:
        server.shutdown()
        server.server_close()
    ended = time.monotonic()

    assert state == "COMPLETED"
    (running,) = [call[0] for call in api.calls_to("PUT", "/state") if call[3] == 200][:1]
    first_output = api.calls_to("POST", "/console")[0][0]
    during_download = [t for t in stand_in_run.heartbeats if running < t < first_output]
    assert len(during_download) >= 3, "the download took 1.5 s: heartbeats every 0.2 s meanwhile"
    assert len(stand_in_run.heartbeats) >= len(during_download) + 5, "and during the 5 s simulation"
    assert all(call[4] == "1" for call in api.calls_to("PUT", "/heartbeat"))
    time.sleep(0.6)
    assert [t for t in stand_in_run.heartbeats if t > ended] == [], "the heartbeat stopped with the run"


def test_an_attempt_given_up_for_lost_stops_and_reports_nothing_more(api, serve_model, work_root):
    """The API handed the run to another attempt while this one was still
    going (it had looked dead): gridlabd is stopped, nothing more is sent."""
    stand_in_run = api.add_run(P, R)
    handed_over = {}

    def hand_over_once_running():
        deadline = time.monotonic() + 20
        while "Processing" not in stand_in_run.console["std_out"] and time.monotonic() < deadline:
            time.sleep(0.05)
        api.requeue(P, R)  # the recovery sweep
        with api.lock:  # and another worker takes the run: attempt 2
            stand_in_run.states.append("RUNNING")
            stand_in_run.attempt += 1
        handed_over["time"] = time.monotonic()

    other_side = threading.Thread(target=hand_over_once_running)
    other_side.start()
    state = run(inputs=serve_model(), arguments=["-D", "REALTIME_SECONDS=60"])
    other_side.join()

    assert state == "CANCELLED"
    assert time.monotonic() - handed_over["time"] < 5
    assert stand_in_run.states == ["NOT_STARTED", "RUNNING", "NOT_STARTED", "RUNNING"]
    assert stand_in_run.artifacts == []
    after = [call for call in api.calls if call[0] > handed_over["time"]]
    assert after and all(call[3] == 409 and call[4] == "1" for call in after)
    assert processes_in(work_root) == []
    assert list(work_root.iterdir()) == []


def test_nothing_is_lost_while_the_api_is_briefly_down(api, serve_model, work_root):
    stand_in_run = api.add_run(P, R)
    api.fail_next(4, 503)

    assert run(inputs=serve_model()) == "COMPLETED"

    assert stand_in_run.states == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    assert "solver_KLU" in stand_in_run.console["std_out"]
    assert len(stand_in_run.artifacts) == 2
    assert [call[3] for call in api.calls[:5]] == [503, 503, 503, 503, 200]


def test_csv_artifacts_hold_computed_voltages(api, serve_model, work_root, tmp_path):
    stand_in_run = api.add_run(P, R)

    run(inputs=serve_model())

    (tmp_path / "volts.csv").write_bytes(dict(stand_in_run.artifacts)["ieee4_load_voltages.csv"])
    volts = magnitudes(tmp_path / "volts.csv")
    assert len(volts) == 1440 and all(1800 < v < 2400 for v in volts)


def test_an_input_named_localhost_is_failed_under_the_default_block_list(
    api, file_server, work_root, monkeypatch
):
    """The API lets names through (it does not resolve them); the worker
    resolves ``localhost`` to loopback, which the default list blocks."""
    monkeypatch.delenv("WORKER_BLOCKED_NETWORKS")
    served, url = file_server
    shutil.copy(IEEE4, served / "model.glm")
    stand_in_run = api.add_run(P, R)

    inputs = [{"name": "model.glm", "url": url.replace("127.0.0.1", "localhost") + "/model.glm"}]
    assert run(inputs=inputs) == "FAILED"

    reason = last_line(stand_in_run.console["std_err"])
    assert (
        "not allowed: localhost resolves to 127.0.0.1, which is in the blocked network 127.0.0.0/8" in reason
    )
    assert stand_in_run.artifacts == []


def test_a_replaced_block_list_lets_the_same_input_through(api, file_server, work_root, monkeypatch):
    monkeypatch.setenv("WORKER_BLOCKED_NETWORKS", "169.254.0.0/16")
    served, url = file_server
    shutil.copy(IEEE4, served / "model.glm")
    api.add_run(P, R)

    inputs = [{"name": "model.glm", "url": url.replace("127.0.0.1", "localhost") + "/model.glm"}]
    assert run(inputs=inputs) == "COMPLETED"
