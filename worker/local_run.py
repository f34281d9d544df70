"""Run one pipeline on a folder of inputs, without the API or a broker.

``run_locally`` does what a worker does for a run whose inputs are the
files of ``folder``, and prints what the worker would report: state
changes, the console as it streams, the artifacts. Nothing in ``folder`` is
changed; pass ``artifacts_folder`` to keep copies of the artifacts.
"""

import os
import pathlib
import shutil
import sys
import tempfile
import time

from .pipeline import COMPLETED, RUNNING, RunReport, RunSpec, execute_run


class PrintedRunReport(RunReport):
    def __init__(self, out=None, err=None, artifacts_folder=None):
        super().__init__()
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.artifacts_folder = artifacts_folder
        self.out_at_line_start = True

    def say(self, line):
        # gridlabd's progress line ends in "\r", not "\n"
        self.out.write(("" if self.out_at_line_start else "\n") + f"[worker] {line}\n")
        self.out.flush()
        self.out_at_line_start = True

    def start(self):
        self.say(f"state: {RUNNING}")
        return True

    def is_cancelled(self):
        return False

    def send_console(self, std_out, std_err):
        for stream, text in ((self.out, std_out), (self.err, std_err)):
            if text:
                stream.write(text)
                stream.flush()
        if std_out:
            self.out_at_line_start = std_out.endswith("\n")

    def upload_artifact(self, name, path):
        self.say(f"artifact: {name} ({os.path.getsize(path)} bytes)")
        if self.artifacts_folder:
            destination = os.path.join(self.artifacts_folder, name)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            shutil.copyfile(path, destination)

    def finish(self, state):
        self.say(f"state: {state}")


def new_artifacts_folder(parent):
    """A new folder under ``parent`` named after the time, for one run's artifacts."""
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=parent)


def file_url(path):
    return pathlib.Path(path).resolve().as_uri()


def run_locally(folder, model="model.glm", arguments=(), timeout=None, artifacts_folder=None):
    """Run ``model`` with every file directly in ``folder`` as an input.

    Returns 0 when the run COMPLETED, 1 otherwise (for use as an exit code).
    """
    inputs = [
        {"name": name, "url": file_url(os.path.join(folder, name))}
        for name in sorted(os.listdir(folder))
        if os.path.isfile(os.path.join(folder, name))
    ]
    spec = RunSpec(inputs=inputs, model=model, arguments=list(arguments), timeout=timeout)
    report = PrintedRunReport(artifacts_folder=artifacts_folder)
    state = execute_run(report, spec, allow_file_urls=True)  # the inputs are this machine's files
    if artifacts_folder:
        report.say(f"artifacts kept in {os.path.abspath(artifacts_folder)}")
    return 0 if state == COMPLETED else 1
