"""Running gridlabd under supervision: argv, streaming, timeout, cancel."""

import subprocess
import sys
import textwrap
import threading
import time

from worker.runner import ExitWatch, gridlabd_command, has_exited, run_gridlabd

from .conftest import CLI, processes_in

REALTIME = ["-D", "REALTIME_SECONDS=60", "model.glm"]


class Console:
    """Collects what the runner hands on, with when it arrived."""

    def __init__(self):
        self.batches = []
        self.lock = threading.Lock()

    def __call__(self, std_out, std_err):
        with self.lock:
            self.batches.append((time.monotonic(), std_out, std_err))

    @property
    def std_out(self):
        return "".join(batch[1] for batch in self.batches)

    @property
    def std_err(self):
        return "".join(batch[2] for batch in self.batches)


def test_default_command_is_the_wrapper_without_native_gridlabd(monkeypatch):
    monkeypatch.delenv("GRIDLABD_BINARY", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")

    assert gridlabd_command() == [sys.executable, "-P", "-m", "worker.gridlabd_cli"]


def test_python_files_in_the_working_folder_cannot_replace_the_engine(model_folder, monkeypatch):
    monkeypatch.delenv("GRIDLABD_BINARY", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    (model_folder / "gridlabd.py").write_text("raise SystemExit('shadowed')")
    (model_folder / "worker").mkdir()
    (model_folder / "worker" / "__init__.py").write_text("raise SystemExit('shadowed')")

    result = run_gridlabd(["model.glm"], model_folder)

    assert result.returncode == 0


def test_gridlabd_binary_is_split_into_argv_without_a_shell(monkeypatch, tmp_path):
    (tmp_path / "show_argv.py").write_text("import sys; print(sys.argv[1:])")
    monkeypatch.setenv("GRIDLABD_BINARY", f"{sys.executable} {tmp_path / 'show_argv.py'} --first")
    console = Console()

    result = run_gridlabd(["-D", "name=a b; echo hacked", "$(model).glm"], tmp_path, on_output=console)

    assert result.returncode == 0
    assert console.std_out.strip() == str(["--first", "-D", "name=a b; echo hacked", "$(model).glm"])


def test_example_run_reports_its_output(model_folder):
    console = Console()

    result = run_gridlabd(["model.glm"], model_folder, on_output=console, command=CLI)

    assert (result.returncode, result.timed_out, result.cancelled) == (0, False, False)
    assert "solver_KLU" in console.std_out  # the engine's own warning, on stdout
    assert (model_folder / "ieee4_load_voltages.csv").exists()


def test_model_errors_are_caught_for_the_failure_reason(tmp_path):
    (tmp_path / "model.glm").write_text("module tape;\nobject bogus {\n}\n")

    result = run_gridlabd(["model.glm"], tmp_path, command=CLI)

    assert result.returncode == 1
    assert result.first_error == "model.glm(2): class 'bogus' is not known"


def test_output_arrives_in_batches_while_it_runs(model_folder):
    console = Console()
    started = time.monotonic()

    result = run_gridlabd(REALTIME, model_folder, timeout=4, on_output=console, command=CLI)

    assert result.timed_out
    progress = [batch for batch in console.batches if "Processing" in batch[1]]
    assert progress and progress[0][0] - started < 3
    assert len(console.batches) >= 2  # one per second, not one per line nor one at the end


def test_timeout_kills_the_simulation_and_its_group(model_folder):
    started = time.monotonic()

    result = run_gridlabd(REALTIME, model_folder, timeout=2, command=CLI)

    assert result.timed_out
    assert result.returncode != 0
    assert time.monotonic() - started < 5
    assert processes_in(model_folder) == []


def test_cancel_kills_the_process_group_within_five_seconds(model_folder):
    console = Console()
    cancel_at = time.monotonic() + 2
    asked = []

    def is_cancelled():
        asked.append(time.monotonic())
        return time.monotonic() >= cancel_at

    result = run_gridlabd(REALTIME, model_folder, on_output=console, is_cancelled=is_cancelled, command=CLI)

    assert result.cancelled
    assert time.monotonic() - cancel_at < 5
    assert processes_in(model_folder) == []
    assert len(asked) >= 2  # polled about every second


def test_everything_the_run_started_in_its_group_is_killed(tmp_path):
    # A "gridlabd" that leaves a child behind in its process group.
    (tmp_path / "leaves_child.py").write_text(
        textwrap.dedent(
            """
            import subprocess, sys
            subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            print("started")
            """
        )
    )

    result = run_gridlabd(
        ["model.glm"], tmp_path, command=[sys.executable, str(tmp_path / "leaves_child.py")]
    )

    assert result.returncode == 0
    deadline = time.monotonic() + 3
    while processes_in(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_in(tmp_path) == []


def test_output_is_kept_while_the_console_is_unreachable(tmp_path):
    (tmp_path / "talk.py").write_text(
        "import time\nfor i in range(3):\n    print(i, flush=True)\n    time.sleep(0.6)"
    )
    received = []
    failures = [True]

    def flaky_console(std_out, std_err):
        if failures:
            failures.pop()
            raise ConnectionError("API down")
        received.append(std_out)

    result = run_gridlabd(
        [], tmp_path, on_output=flaky_console, command=[sys.executable, str(tmp_path / "talk.py")]
    )

    assert result.returncode == 0
    assert "".join(received) == "0\n1\n2\n"


def test_the_exit_of_a_run_is_seen_as_it_happens_not_at_the_next_tick():
    process = subprocess.Popen(["sleep", "0.2"])
    watch = ExitWatch(process)
    try:
        assert watch.pidfd is not None, "this kernel gives pidfds (Linux 5.3 and later)"
        # Woken by the exit itself: the call returns True well before an
        # hour, and only once the process has exited.
        assert watch.wait(3600) is True
        assert has_exited(process)
    finally:
        watch.close()
        process.wait()
