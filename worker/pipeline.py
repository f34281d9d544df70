"""One run of a pipeline, from RUNNING to its final state.

What happens is told to a ``RunReport``: the API in a worker
(``reports.ApiRunReport``), the terminal in ``local_run``.
"""

import os
import signal
import tempfile
from dataclasses import dataclass, field

from .artifacts import changed_files, snapshot
from .inputs import PreparationError, prepare_working_folder
from .runner import run_gridlabd
from .settings import max_run_seconds

RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
CANCELLED = "CANCELLED"


@dataclass
class RunSpec:
    """What to run: the ``execute_pipeline`` task's arguments."""

    inputs: list = field(default_factory=list)
    repository_ssh_url: str | None = None
    repository_branch: str | None = None
    model: str = "model.glm"
    arguments: list = field(default_factory=list)
    timeout: int | None = None


class Cancelled(Exception):
    """The run was cancelled (or ended elsewhere): report nothing more."""


class RunReport:
    """Where a run's progress goes. Subclasses send or print it."""

    def __init__(self):
        self.std_err_at_line_start = True
        self.progress = None  # the latest, not yet sent

    def set_progress(self, progress):
        """The run's progress changed; it goes with the next console report."""
        self.progress = progress

    def start(self):
        """Mark the run RUNNING; False when it must not run (e.g. cancelled)."""
        raise NotImplementedError

    def is_cancelled(self):
        raise NotImplementedError

    def send_console(self, std_out, std_err):
        raise NotImplementedError

    def upload_artifact(self, name, path):
        """Upload one file; raise ``Cancelled`` when the run no longer takes any."""
        raise NotImplementedError

    def finish(self, state):
        raise NotImplementedError

    def close(self):
        """The run is over for this worker (whatever its end): stop anything
        started for it."""

    def append_console(self, std_out="", std_err=""):
        self.send_console(std_out, std_err)
        if std_err:
            self.std_err_at_line_start = std_err.endswith("\n")

    def fail(self, reason):
        """The reason goes last in std_err, on a line of its own, then FAILED."""
        self.append_console(std_err=("" if self.std_err_at_line_start else "\n") + reason + "\n")
        self.finish(FAILED)


def model_argument(folder, model):
    """The model as gridlabd's last argument, checked to be a file in ``folder``
    (also through symlinks: a checkout must not point it at a host file)."""
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, model or ""))
    if not model or os.path.isabs(model) or not path.startswith(root + os.sep):
        raise PreparationError(f"model file not found: {model} (it must be a file in the working folder)")
    if not os.path.isfile(path):
        raise PreparationError(f"model file not found: {model}")
    return "./" + model if model.startswith("-") else model


def run_timeout(timeout):
    return min(timeout, max_run_seconds()) if timeout else max_run_seconds()


def failure_reason(result, timeout):
    if result.timed_out:
        return f"timed out after {timeout} seconds"
    code = result.returncode
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"gridlabd was killed by signal {name}"
    if code == 1 and result.first_error:
        return f"model has errors: {result.first_error} (gridlabd exited with code 1)"
    return f"gridlabd exited with code {code}"


def run_in_folder(folder, report, spec, command=None, allow_file_urls=None):
    try:
        prepare_working_folder(
            folder, spec.inputs, spec.repository_ssh_url, spec.repository_branch, allow_file_urls
        )
        model = model_argument(folder, spec.model)
    except PreparationError as error:
        report.fail(str(error))
        return FAILED
    if report.is_cancelled():
        raise Cancelled
    before = snapshot(folder)
    timeout = run_timeout(spec.timeout)
    result = run_gridlabd(
        [*(spec.arguments or []), model],
        folder,
        timeout=timeout,
        on_output=report.append_console,
        is_cancelled=report.is_cancelled,
        command=command,
        on_progress=report.set_progress,
    )
    if result.cancelled:
        raise Cancelled
    # Uploaded whatever the outcome, so that users see what a failed run wrote.
    for path in changed_files(before, snapshot(folder)):
        report.upload_artifact(path, os.path.join(folder, path))
    if result.returncode == 0 and not result.timed_out:
        report.finish(COMPLETED)
        return COMPLETED
    report.fail(failure_reason(result, timeout))
    return FAILED


def execute_run(report, spec, command=None, allow_file_urls=None):
    """Run ``spec`` in a fresh working folder, removed afterwards.

    ``command`` overrides ``GRIDLABD_BINARY``; ``allow_file_urls``,
    ``WORKER_ALLOW_FILE_URLS``. Returns the final state (CANCELLED also
    when the run was taken from this worker meanwhile), or None when the
    run was not ours to start.
    """
    if not report.start():
        return None
    try:
        with tempfile.TemporaryDirectory(prefix="workflow-run-", ignore_cleanup_errors=True) as folder:
            try:
                return run_in_folder(folder, report, spec, command, allow_file_urls)
            except Cancelled:
                return CANCELLED
            except Exception as error:
                try:
                    report.fail(f"worker error: {type(error).__name__}: {error}")
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
                raise
    finally:
        report.close()
