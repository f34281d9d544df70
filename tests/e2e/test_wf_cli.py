"""The `wf` command-line client and its Python API against a real stack:
gunicorn, a Celery worker and GridLAB-D, on PostgreSQL + Redis."""

import os
import subprocess

import pytest
from wf import ApiError, Client

from ..processes import executable, free_port
from .stack import EXAMPLES, Stack

MODEL = "ieee4.glm"
LOAD_VOLTAGES = "ieee4_load_voltages.csv"
WF_REDIS_DB = 0  # a database of its own, away from the other end-to-end tests


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("wf-cli"), redis_db=WF_REDIS_DB)
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def pipeline(stack):
    return stack.create_pipeline(name="ieee4", model=MODEL)


def wf(stack, *args, key=None, server=None, timeout=180, raw=False):
    env = {
        **os.environ,
        "WORKFLOW_API_SERVER": server or stack.url,
        "WORKFLOW_API_KEY": key or stack.client["Workflow-API-Key"],
        "COLUMNS": "200",
    }
    # raw: bytes as printed (text mode would turn GridLAB-D's \r into \n).
    return subprocess.run(
        [executable("wf"), *args], env=env, capture_output=True, text=not raw, timeout=timeout, check=False
    )


def data_rows(path):
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_run_of_a_local_file_waits_and_downloads_the_recorder_csv(stack, pipeline, tmp_path):
    result = wf(
        stack, "run", pipeline["uuid"], str(EXAMPLES / MODEL), "--wait", "--download", str(tmp_path / "out")
    )
    assert result.returncode == 0, result.stderr
    assert "COMPLETED" in result.stderr
    voltages = tmp_path / "out" / LOAD_VOLTAGES
    assert voltages.is_file(), result.stderr
    # One simulated day, a row a minute.
    assert len(data_rows(voltages)) >= 24 * 60
    assert f"saved {voltages}" in result.stderr


def test_a_pipeline_is_found_by_its_name_and_params_reach_the_run(stack, pipeline):
    result = wf(
        stack, "--json", "run", "ieee4", str(EXAMPLES / MODEL), "--param", "RECORDER_INTERVAL=3600", "--wait"
    )
    assert result.returncode == 0, result.stderr
    client = Client(stack.url, stack.client["Workflow-API-Key"])
    [run] = [
        run for run in client.runs(pipeline["uuid"]) if run.get("parameters") == {"RECORDER_INTERVAL": "3600"}
    ]
    assert run["state"] == "COMPLETED"
    artifacts = {artifact["name"]: artifact for artifact in run["artifacts"]}
    body = client.request("GET", artifacts[LOAD_VOLTAGES]["url"], expect_json=False).text
    # An hourly recorder over one day: 24 rows (or 25 with the stop time).
    rows = [line for line in body.splitlines() if line and not line.startswith("#")]
    assert 24 <= len(rows) <= 25


def test_a_failing_model_exits_non_zero_with_the_reason(stack, pipeline, tmp_path):
    broken = tmp_path / MODEL
    broken.write_text((EXAMPLES / "broken.glm").read_text())
    result = wf(stack, "run", pipeline["uuid"], str(broken), "--wait")
    assert result.returncode == 1, result.stderr
    assert "FAILED" in result.stderr
    [reason] = [line for line in result.stderr.splitlines() if line.startswith("reason: ")]
    assert len(reason) > len("reason: ")


def test_without_wait_it_prints_the_run_and_logs_and_cancel_take_it(stack, pipeline):
    url = stack.input_url(MODEL)
    result = wf(stack, "run", pipeline["uuid"], url, "--param", "REALTIME_SECONDS=60")
    assert result.returncode == 0, result.stderr
    ref = result.stdout.strip()
    assert ref.startswith(pipeline["uuid"] + "/")
    cancelled = wf(stack, "cancel", ref)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "CANCELLED" in cancelled.stderr
    # A bare run uuid is found in its pipeline too; the run ended CANCELLED.
    logs = wf(stack, "logs", ref.split("/")[1], "--follow", timeout=60)
    assert logs.returncode == 1, logs.stderr


def test_logs_print_the_console_of_a_finished_run(stack, pipeline):
    client = Client(stack.url, stack.client["Workflow-API-Key"])
    ref, run = client.run(pipeline["uuid"], [stack.input_url(MODEL)])
    assert run["state"] == "COMPLETED"
    console = client.console(ref)
    result = wf(stack, "logs", str(ref), raw=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == console["std_out"]
    assert result.stderr.decode() == console["std_err"]


def test_an_api_error_is_one_readable_line(stack):
    result = wf(stack, "runs", "0" * 32)
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("wf: error: 404"), lines
    assert "Traceback" not in result.stderr


def test_a_refused_key_is_one_readable_line(stack):
    result = wf(stack, "pipelines", key="not-a-key")
    assert result.returncode == 3
    assert result.stderr.strip().startswith("wf: error: 401"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_unreachable_server_is_one_readable_line(stack):
    result = wf(stack, "pipelines", server=f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 3
    assert result.stderr.startswith("wf: cannot reach the API"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_sweep_waits_for_every_run_and_prints_a_table(stack, pipeline):
    result = wf(
        stack,
        "sweep",
        pipeline["uuid"],
        str(EXAMPLES / MODEL),
        "--param",
        "RECORDER_INTERVAL=1800,3600",
        "--wait",
    )
    assert result.returncode == 0, result.stderr
    assert "2 runs" in result.stderr
    table = [line for line in result.stdout.splitlines() if "COMPLETED" in line]
    assert len(table) == 2, result.stdout
    assert any("1800" in line for line in table) and any("3600" in line for line in table)


def test_python_client_run_and_its_errors(stack, pipeline):
    client = Client(stack.url, stack.client["Workflow-API-Key"])
    ref, run = client.run(pipeline["uuid"], [stack.input_url(MODEL)])
    assert run["state"] == "COMPLETED"
    assert ref.pipeline == pipeline["uuid"]
    with pytest.raises(ApiError) as error:
        client.get_run(type(ref)(pipeline["uuid"], "f" * 32))
    assert error.value.status == 404
