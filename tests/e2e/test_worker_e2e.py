"""End to end with real processes: API under gunicorn, a Celery worker, the
real GridLAB-D engine, on PostgreSQL + Redis and on the embedded default."""

import csv
import io
import time

import pytest
import requests

from .stack import Stack, run_folders

MODEL = "ieee4.glm"
LOAD_VOLTAGES = "ieee4_load_voltages.csv"


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("e2e-postgres"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("e2e-embedded"), embedded=True)
    yield stack
    stack.close()


def voltages(csv_bytes):
    """The rows of a recorder CSV as lists of complex voltages."""
    lines = [line for line in csv_bytes.decode().splitlines() if line and not line.startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    return [[complex(value.replace("i", "j").replace(" ", "")) for value in row[1:]] for row in rows]


def assert_example_completed(stack, run):
    run = stack.wait_for(run, {"COMPLETED", "FAILED", "CANCELLED"})
    console = stack.get(run, "/console")
    assert run["state"] == "COMPLETED", console
    assert [s["state"] for s in run["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    artifacts = {artifact["name"]: artifact for artifact in run["artifacts"]}
    assert LOAD_VOLTAGES in artifacts, artifacts
    assert MODEL not in artifacts, "an input the run did not change is not an artifact"
    body = stack.download(artifacts[LOAD_VOLTAGES]).content
    assert len(body) == artifacts[LOAD_VOLTAGES]["size"]
    rows = voltages(body)
    # One simulated day sampled every minute, three phases at the load.
    assert len(rows) >= 24 * 60
    for row in rows:
        assert len(row) == 3
        # The powerflow solution at a 4.16 kV load bus: each phase somewhat
        # below the source's 2,400 V line-to-neutral, not a constant or zero.
        assert all(1500 < abs(value) < 2500 for value in row), row
    assert len({round(abs(row[0]), 3) for row in rows}) > 1, "voltages follow the load shape"
    assert not run_folders(stack), "the working directory was removed"
    return run


def test_example_model_completes_with_its_recorder_csv(stack):
    pipeline = stack.create_pipeline(model=MODEL)
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    assert_example_completed(stack, run)


def test_example_model_completes_on_the_embedded_default(embedded_stack):
    pipeline = embedded_stack.create_pipeline(model=MODEL)
    run = embedded_stack.start_run(pipeline, [{"name": MODEL, "url": embedded_stack.input_url(MODEL)}])
    assert_example_completed(embedded_stack, run)


def failed_run(stack, pipeline, inputs):
    run = stack.wait_for(stack.start_run(pipeline, inputs), {"COMPLETED", "FAILED", "CANCELLED"})
    assert run["state"] == "FAILED"
    std_err = stack.get(run, "/console")["std_err"]
    assert not run_folders(stack), "the working directory was removed"
    return run, std_err.rstrip("\n").splitlines()[-1]


def test_model_with_a_syntax_error_fails_with_the_reason(stack, tmp_path):
    pipeline = stack.create_pipeline(model="broken.glm")
    run, reason = failed_run(stack, pipeline, [{"name": "broken.glm", "url": stack.input_url("broken.glm")}])
    assert "broken.glm" in reason or "model" in reason.lower(), reason


def test_input_answering_404_fails_with_the_reason(stack):
    pipeline = stack.create_pipeline(model=MODEL)
    _, reason = failed_run(stack, pipeline, [{"name": MODEL, "url": stack.input_url("no-such-file.glm")}])
    assert "404" in reason and MODEL in reason, reason


def test_missing_model_file_fails_with_the_reason(stack):
    pipeline = stack.create_pipeline(model="absent.glm")
    _, reason = failed_run(stack, pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    assert "absent.glm" in reason and "not found" in reason.lower(), reason


def test_timeout_fails_with_the_reason_and_stops_gridlabd(stack):
    pipeline = stack.create_pipeline(model=MODEL, timeout=3, arguments=["-D", "REALTIME_SECONDS=60"])
    started = time.monotonic()
    _, reason = failed_run(stack, pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    assert "timed out" in reason.lower() and "3" in reason, reason
    assert time.monotonic() - started < 40
    assert not stack.gridlabd_processes()


def test_console_shows_output_while_running_and_cancel_stops_gridlabd(stack):
    pipeline = stack.create_pipeline(model=MODEL, arguments=["-D", "REALTIME_SECONDS=60"])
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    stack.wait_for(run, {"RUNNING"}, timeout=60)

    deadline = time.monotonic() + 30
    console = {"std_out": "", "std_err": ""}
    while time.monotonic() < deadline and not (console["std_out"] or console["std_err"]):
        time.sleep(0.5)
        console = stack.get(run, "/console")
    assert console["std_out"] or console["std_err"], "no output while RUNNING"
    assert stack.get(run)["state"] == "RUNNING", "the output was read while the run was still going"
    assert stack.gridlabd_processes(), "gridlabd is running"

    response = requests.post(stack.run_url(run, "/cancel"), headers=stack.client, timeout=10)
    assert response.status_code == 200, response.text
    cancelled_at = time.monotonic()
    while stack.gridlabd_processes() and time.monotonic() - cancelled_at < 5:
        time.sleep(0.1)
    assert not stack.gridlabd_processes(), "gridlabd still running 5 s after the cancel"

    time.sleep(3)  # give a misbehaving worker the chance to upload anyway
    final = stack.get(run)
    assert final["state"] == "CANCELLED"
    assert final["artifacts"] == [], "nothing is uploaded after a cancel"
    deadline = time.monotonic() + 20
    while run_folders(stack) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not run_folders(stack), "the working directory was removed"
