"""Pieces of a run that need no process: the model path and the failure reasons."""

import os

import pytest

from worker.inputs import PreparationError
from worker.pipeline import RunSpec, failure_reason, model_argument, run_timeout
from worker.runner import RunResult


def test_the_model_may_be_in_a_subfolder(tmp_path):
    (tmp_path / "feeders").mkdir()
    (tmp_path / "feeders" / "ieee4.glm").write_text("")
    (tmp_path / "-odd.glm").write_text("")

    assert model_argument(str(tmp_path), "feeders/ieee4.glm") == "feeders/ieee4.glm"
    assert model_argument(str(tmp_path), "-odd.glm") == "./-odd.glm"  # never read as an option


@pytest.mark.parametrize("model", ["", "/etc/passwd", "../model.glm", "feeders/../../model.glm", "link.glm"])
def test_the_model_must_be_a_file_inside_the_folder(tmp_path, model):
    folder = tmp_path / "work"
    folder.mkdir()
    (tmp_path / "model.glm").write_text("")
    os.symlink("/etc/passwd", folder / "link.glm")

    with pytest.raises(PreparationError, match="^model file not found: "):
        model_argument(str(folder), model)


def test_a_missing_model_is_named(tmp_path):
    with pytest.raises(PreparationError, match=r"^model file not found: model\.glm$"):
        model_argument(str(tmp_path), "model.glm")


def test_a_missing_model_says_what_the_run_had_and_that_the_pipeline_names_it(tmp_path):
    spec = RunSpec(
        inputs=[
            {"name": "feeder.glm", "url": "https://x.test/f"},
            {"name": "w.csv", "url": "https://x.test/w"},
        ]
    )
    with pytest.raises(PreparationError) as error:
        model_argument(str(tmp_path), "ieee4.glm", spec)
    assert str(error.value) == (
        "model file not found: ieee4.glm is what the pipeline's model names, but the run's inputs were "
        "feeder.glm, w.csv; give the run an input named ieee4.glm or change the pipeline's model."
    )
    with pytest.raises(PreparationError, match="but the run had no inputs; "):
        model_argument(str(tmp_path), "ieee4.glm", RunSpec())


@pytest.mark.parametrize(
    "result, reason",
    [
        (RunResult(returncode=-15, timed_out=True), "timed out after 30 seconds"),
        (RunResult(returncode=2), "gridlabd exited with code 2"),
        (RunResult(returncode=1), "gridlabd exited with code 1"),
        (
            RunResult(returncode=1, first_error="m.glm(3): syntax error"),
            "model has errors: m.glm(3): syntax error (gridlabd exited with code 1)",
        ),
        (RunResult(returncode=-9), "gridlabd was killed by signal SIGKILL"),
    ],
)
def test_failure_reasons(result, reason):
    assert failure_reason(result, 30) == reason


def test_every_run_is_bounded(monkeypatch):
    monkeypatch.setenv("WORKER_MAX_RUN_SECONDS", "100")

    assert run_timeout(None) == 100
    assert run_timeout(30) == 30
    assert run_timeout(500) == 100
