import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .api_stand_in import StandInApi

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = os.path.join(ROOT, "examples")
IEEE4 = os.path.join(EXAMPLES, "ieee4.glm")
CLI = [sys.executable, "-P", "-m", "worker.gridlabd_cli"]


def cli_environment():
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))}


def run_cli(arguments, cwd, timeout=60):
    return subprocess.run(
        [*CLI, *arguments], cwd=cwd, env=cli_environment(), capture_output=True, text=True, timeout=timeout
    )


class Console:
    """An ``on_output`` for the runner that keeps all it is given."""

    def __init__(self):
        self.std_out = self.std_err = ""

    def __call__(self, std_out, std_err):
        self.std_out += std_out
        self.std_err += std_err


def processes_in(folder):
    """Pids of live processes whose current directory is ``folder`` or below."""
    folder = os.path.realpath(folder)
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            with open(f"/proc/{pid}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (cwd == folder or cwd.startswith(folder + os.sep)):
            found.append(int(pid))
    return found


@pytest.fixture
def model_folder(tmp_path):
    """A folder holding the IEEE 4-node example as model.glm."""
    folder = tmp_path / "model"
    folder.mkdir()
    shutil.copy(IEEE4, folder / "model.glm")
    return folder


@pytest.fixture
def api(monkeypatch):
    with StandInApi() as stand_in:
        monkeypatch.setenv("WORKER_API_SERVER", stand_in.url)
        monkeypatch.setenv("WORKER_API_TOKEN", stand_in.token)
        yield stand_in


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def file_server(tmp_path):
    """``(folder, base_url)``: files put in ``folder`` are served over HTTP."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield folder, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def work_root(tmp_path, monkeypatch):
    """Where the worker makes its working folders during the test."""
    root = tmp_path / "work"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    return root


# The worker tests serve inputs and take callbacks on 127.0.0.1, which the
# default WORKER_BLOCKED_NETWORKS blocks: they allow loopback explicitly,
# and block the rest of the default list. Tests of the default unset it.
LOOPBACK_ALLOWED = (
    "0.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,"
    "::/128,fc00::/7,fe80::/10,64:ff9b::/96"
)


@pytest.fixture(autouse=True)
def worker_test_settings(monkeypatch):
    """What every worker test runs with, set explicitly: loopback allowed,
    unsigned callbacks allowed (tests of signing set a secret)."""
    monkeypatch.setenv("WORKER_BLOCKED_NETWORKS", LOOPBACK_ALLOWED)
    monkeypatch.setenv("CALLBACK_ALLOW_UNSIGNED", "true")
