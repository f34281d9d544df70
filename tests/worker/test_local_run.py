"""run_locally: one run on a folder of inputs, printed instead of reported."""

import os

from worker.local_run import run_locally


def test_runs_the_folder_and_prints_what_a_worker_would_report(model_folder, tmp_path, capsys):
    kept = tmp_path / "artifacts"

    assert run_locally(str(model_folder), artifacts_folder=str(kept)) == 0

    out = capsys.readouterr().out
    assert out.startswith("[worker] state: RUNNING\n")
    assert "solver_KLU" in out  # the console, as it streamed
    assert "[worker] artifact: ieee4_load_voltages.csv (" in out
    assert out.endswith("[worker] state: COMPLETED\n")
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
