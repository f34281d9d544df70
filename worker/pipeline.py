"""One run of a pipeline, from RUNNING to its final state.

What happens is told to a ``RunReport``: the API in a worker
(``reports.ApiRunReport``), the terminal in ``local_run``.
"""

import os
import signal
import tempfile
from dataclasses import dataclass, field

from . import engine_hosts, metrics
from .artifacts import changed_files, snapshot
from .inputs import PreparationError, prepare_working_folder, shown
from .runner import gridlabd_command, run_gridlabd
from .sandbox import Limits, Sandbox
from .settings import max_artifact_bytes, max_artifacts, max_run_seconds, sandbox_enabled

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
    network: bool = False  # the pipeline lets the simulation reach the network
    # The run's parameters: ``-D name=value`` each, before ``arguments``.
    parameters: dict = field(default_factory=dict)


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


def _what_the_run_had(spec):
    names = [str(item.get("name")) for item in (spec.inputs or ()) if isinstance(item, dict)]
    had = f"the run's inputs were {', '.join(names)}" if names else "the run had no inputs"
    if spec.repository_ssh_url:
        had += f" besides the checkout of {shown(spec.repository_ssh_url)}"
    return had


def model_argument(folder, model, spec=None):
    """The model as gridlabd's last argument, checked to be a file in ``folder``
    (also through symlinks: a checkout must not point it at a host file).
    ``spec``, the run's, makes the message say what the folder was given."""
    root = os.path.realpath(folder)
    path = os.path.realpath(os.path.join(root, model or ""))
    if not model or os.path.isabs(model) or not path.startswith(root + os.sep):
        raise PreparationError(f"model file not found: {model} (it must be a file in the working folder)")
    if not os.path.isfile(path):
        if spec is None:
            raise PreparationError(f"model file not found: {model}")
        raise PreparationError(
            f"model file not found: {model} is what the pipeline's model names, "
            f"but {_what_the_run_had(spec)}; give the run an input named {model} "
            "or change the pipeline's model."
        )
    return "./" + model if model.startswith("-") else model


def define_arguments(parameters):
    """``-D name=value`` for each parameter, so that the model reads ``${name}``."""
    arguments = []
    for name, value in (parameters or {}).items():
        arguments += ["-D", f"{name}={value}"]
    return arguments


def run_timeout(timeout):
    return min(timeout, max_run_seconds()) if timeout else max_run_seconds()


def failure_reason(result, timeout):
    if result.limit:
        return result.limit
    if result.timed_out:
        return f"timed out after {timeout} seconds"
    code = result.returncode
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
        return f"gridlabd was killed by signal {name}"
    if code == 1 and result.first_error:
        return f"model has errors: {result.first_error} (gridlabd exited with code 1)"
    return f"gridlabd exited with code {code}"


def run_in_folder(folder, report, spec, command=None, allow_file_urls=None, engine_host=None):
    try:
        prepare_working_folder(
            folder, spec.inputs, spec.repository_ssh_url, spec.repository_branch, allow_file_urls
        )
        model = model_argument(folder, spec.model, spec)
    except PreparationError as error:
        report.fail(str(error))
        return FAILED
    if report.is_cancelled():
        raise Cancelled
    before = snapshot(folder)
    timeout = run_timeout(spec.timeout)
    limits = Limits.from_settings()
    result = run_gridlabd(
        [*define_arguments(spec.parameters), *(spec.arguments or []), model],
        folder,
        timeout=timeout,
        on_output=report.append_console,
        is_cancelled=report.is_cancelled,
        command=command,
        sandbox=Sandbox(folder, network=spec.network, limits=limits) if sandbox_enabled() else None,
        limits=limits,
        on_progress=report.set_progress,
        engine_host=engine_host,
    )
    if result.cancelled:
        raise Cancelled
    if result.timed_out:
        metrics.limit_killed("time")
    elif result.limit:
        metrics.limit_killed(result.limit.split(" limit", 1)[0])
    # Uploaded whatever the outcome, so that users see what a failed run
    # wrote, but only what fits in the limits.
    uploads, over_limit = within_limits(folder, changed_files(before, snapshot(folder)), limits)
    for path in uploads:
        report.upload_artifact(path, os.path.join(folder, path))
    reason = failure_reason(result, timeout) if result.returncode != 0 or result.timed_out else None
    reason = result.limit or over_limit or reason
    if reason is None:
        report.finish(COMPLETED)
        return COMPLETED
    report.fail(reason)
    return FAILED


def within_limits(folder, paths, limits):
    """``(paths to upload, why others were not)``: none that reached the
    file size limit, at most ``WORKER_MAX_ARTIFACTS`` files and
    ``WORKER_MAX_ARTIFACT_BYTES`` bytes in all (in path order)."""
    count, total_limit = max_artifacts(), max_artifact_bytes()
    uploads, total, reason = [], 0, None
    for path in paths:
        size = os.path.getsize(os.path.join(folder, path))
        if limits.file_bytes and size >= limits.file_bytes:
            reason = reason or (
                f"file size limit reached: {path} reached {limits.file_bytes} bytes "
                f"(WORKER_MAX_FILE_BYTES={limits.file_bytes}); it was not uploaded"
            )
            continue
        if count and len(uploads) >= count:
            reason = reason or (
                f"artifact limit reached: the run wrote more than {count} files; "
                f"the first {count} were uploaded (WORKER_MAX_ARTIFACTS={count})"
            )
            break
        if total_limit and total + size > total_limit:
            reason = reason or (
                f"artifact size limit reached: the run's files hold more than {total_limit} bytes; "
                f"{path} and what follows were not uploaded (WORKER_MAX_ARTIFACT_BYTES={total_limit})"
            )
            continue
        uploads.append(path)
        total += size
    return uploads, reason


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
        # A run that may use this worker process's engine host gets its folder in the host's.
        host = None
        if engine_hosts.may_use_host(command or gridlabd_command(), spec.network):
            host = engine_hosts.host_for(Limits.from_settings())
        with tempfile.TemporaryDirectory(
            prefix="workflow-run-", dir=host and host.folder, ignore_cleanup_errors=True
        ) as folder:
            try:
                return run_in_folder(folder, report, spec, command, allow_file_urls, host)
            except Cancelled:
                return CANCELLED
            except Exception as error:
                try:
                    report.fail(f"worker error: {type(error).__name__}: {error}")
                except Exception:  # noqa: BLE001 - the original error matters more
                    pass
                raise
    finally:
        engine_hosts.remove_ended_folders()
        report.close()
