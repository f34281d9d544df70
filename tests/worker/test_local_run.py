"""run_locally: one run on a folder of inputs, printed instead of reported."""

import os
import re
import subprocess
import sys
from pathlib import Path

from worker.local_run import run_locally

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_runs_the_folder_and_prints_what_a_worker_would_report(model_folder, tmp_path, capsys):
    kept = tmp_path / "artifacts"

    assert run_locally(str(model_folder), artifacts_folder=str(kept)) == 0

    out = capsys.readouterr().out
    assert out.startswith("[worker] state: RUNNING\n")
    assert "solver_KLU" in out  # the console, as it streamed
    assert "[worker] artifact: ieee4_load_voltages.csv (" in out
    assert out.endswith(f"[worker] state: COMPLETED\n[worker] artifacts kept in {kept}\n")
    assert os.listdir(model_folder) == ["model.glm"]  # the inputs are left as they were
    assert sorted(os.listdir(kept)) == ["ieee4_load_voltages.csv", "ieee4_substation_power.csv"]


def test_a_failed_run_returns_1_with_the_reason(model_folder, capsys):
    assert run_locally(str(model_folder), model="other.glm") == 1

    captured = capsys.readouterr()
    assert captured.err == (
        "model file not found: other.glm is what the pipeline's model names, but the run's inputs were "
        "model.glm; give the run an input named other.glm or change the pipeline's model.\n"
    )
    assert captured.out.endswith("[worker] state: FAILED\n")


def test_arguments_and_timeout(model_folder, capsys):
    assert run_locally(str(model_folder), arguments=["-D", "REALTIME_SECONDS=30"], timeout=1) == 1

    assert capsys.readouterr().err.endswith("timed out after 1 seconds\n")


def test_invoke_run_worker_keeps_the_artifacts_in_a_folder_it_prints(tmp_path):
    env = {**os.environ, "WORKFLOW_DATA_FOLDER": str(tmp_path / "var")}
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "invoke"),
            "run-worker",
            "--folder",
            "examples",
            "--model",
            "ieee4.glm",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    kept = Path(re.search(r"^\[worker\] artifacts kept in (.+)$", result.stdout, re.M).group(1))
    assert kept.parent == tmp_path / "var" / "run-worker"
    assert sorted(os.listdir(kept)) == ["ieee4_load_voltages.csv", "ieee4_substation_power.csv"]
