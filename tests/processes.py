"""Running the project's commands the way a user does: in subprocesses.

The executables (flask, invoke, gunicorn) are the ones next to the Python
running the tests, and every command runs from the repository root with an
environment that keeps the embedded defaults (SQLite file, broker folder,
uploads) out of the work tree.
"""

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

REPO_ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def executable(name):
    path = BIN / name
    assert path.exists(), f"{name} is not installed next to {sys.executable}"
    return str(path)


def command_env(tmp_path, **settings):
    """The environment of a command: ours, plus the app's settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {
            "SQLALCHEMY_DATABASE_URI",
            "CELERY_BROKER_URL",
            "MAX_CONTENT_LENGTH",
            "BLOB_API_SERVER",
            "BLOB_API_TOKEN",
            "ARTIFACT_RETENTION_DAYS",
            "PROMETHEUS_MULTIPROC_DIR",
            "METRICS_TOKEN",
            "WORKER_METRICS_PORT",
        }
    }
    env.update(
        {
            "FLASK_APP": "run.py",
            "WORKFLOW_DATA_FOLDER": str(tmp_path / "data"),
            "UPLOAD_FOLDER": str(tmp_path / "uploads"),
            "CELERY_BROKER_URL": "memory://",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    env.update({key: str(value) for key, value in settings.items()})
    return env


def run_command(args, env, timeout=60, check=True, shell=False):
    """Run ``args`` from the repository root; returns the CompletedProcess."""
    result = subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        shell=shell,
    )
    if check:
        assert result.returncode == 0, (
            f"{args} exited {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
    return result


def flask_db(env, *args, **kwargs):
    """``flask db ARGS`` as the README has it (FLASK_APP=run.py in env)."""
    return run_command([executable("flask"), "db", *args], env, **kwargs)


# Each test process picks its ports from a block of its own, below the
# kernel's ephemeral range (32768 and up on Linux), so that no two pytest-xdist
# workers are handed the same port, and no outgoing connection takes one
# between the moment it is chosen and the moment a server binds it (or while
# a server the test stopped is down). Worker gwN has block TEST_PORT_BLOCK + N
# + 1; a serial run (and the benchmarks) block TEST_PORT_BLOCK, 0 unless set
# (`invoke test` gives its two pytest runs blocks apart).
FIRST_PORT = 20000
PORTS_PER_PROCESS = 1000
PORT_BLOCKS = 12
_ports_given = set()
_random = random.Random()  # its own: a test that seeds `random` does not change it


def port_block():
    """``(first, last + 1)``: the ports this process may hand out."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    block = int(os.environ.get("TEST_PORT_BLOCK") or 0) + (
        int(worker[2:]) + 1 if worker.startswith("gw") else 0
    )
    first = FIRST_PORT + (block % PORT_BLOCKS) * PORTS_PER_PROCESS
    return first, first + PORTS_PER_PROCESS


def free_port():
    """A port of this process's block that nothing listens on now (and so, for
    a moment, a closed one), never the same twice."""
    first, end = port_block()
    for _ in range(10 * PORTS_PER_PROCESS):
        port = _random.randrange(first, end)
        if port in _ports_given:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    raise AssertionError(f"no free port left in {first}-{end - 1}")


def children(pid):
    """The pids of ``pid``'s child processes."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(child) for child in handle.read().split()]
    except FileNotFoundError:
        found = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as handle:
                        fields = handle.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == pid:
                    found.append(int(entry))
        return found


def proc_status_kib(pid, field):
    """A ``kB`` figure (VmHWM, VmRSS, ...) from /proc/<pid>/status."""
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{pid}/status")


class LoggedProcess:
    """A command of the project in a session of its own, its output in a log
    file; ``stop()`` sends SIGTERM, then SIGKILLs the group after ``grace``."""

    grace = 10

    def __init__(self, args, env, log_path):
        self.log = open(log_path, "w")
        self.process = subprocess.Popen(
            args,
            cwd=REPO_ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self):
        self.log.flush()
        with open(self.log.name) as handle:
            return handle.read()

    def stop(self):
        if self.log.closed:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=self.grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self.log.close()

    def kill(self):
        """SIGKILL its process group at once, as when its host dies."""
        if self.log.closed:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)
        self.log.close()


class Gunicorn(LoggedProcess):
    """``gunicorn run:app`` on a free loopback port (or ``port``, to come back
    where an earlier one served): one worker process unless told otherwise,
    with ``threads`` threads each (gunicorn's gthread worker)."""

    def __init__(self, env, log_path, workers=1, threads=None, port=None):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers, self.threads = workers, threads
        # Where its processes keep their metrics (gunicorn.conf.py empties it at start).
        folder = Path(log_path).parent / f"api-metrics-{self.port}"
        env = {"PROMETHEUS_MULTIPROC_DIR": str(folder), **env}
        self.metrics_folder = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        args = [executable("gunicorn"), "run:app", "-b", f"127.0.0.1:{self.port}", "-w", str(workers)]
        # Without it every gunicorn makes the same socket under the user's home.
        args.append("--no-control-socket")
        if threads:
            args += ["--threads", str(threads)]
        super().__init__(args, env, log_path)
        try:
            self._wait_until_serving()
        except BaseException:
            self.stop()
            raise

    def _wait_until_serving(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited {self.process.returncode}: {self.output()}")
            try:
                if requests.get(self.url + "/healthcheck", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not serve within {timeout}s: {self.output()}")

    def worker_pid(self):
        workers = children(self.process.pid)
        assert len(workers) == 1, f"expected one gunicorn worker, found {workers}"
        return workers[0]


class RedisServer:
    """A private ``redis-server`` on a free loopback port, for faults the
    shared one must not see. It keeps nothing on disk (as the machine's
    Redis) unless ``appendonly``: then every write goes to an append-only
    file in ``folder`` before it is answered.

    ``stop()`` then ``start()`` brings it back on the same port, so the URL
    its clients were given stays valid: empty, or with what it held when
    ``appendonly``. Each start logs to a file of its own in ``folder``.
    """

    def __init__(self, folder, appendonly=False):
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise FileNotFoundError("redis-server is not on PATH")
        self.folder = Path(folder)
        self.appendonly = appendonly
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = None
        self.starts = 0
        self.start()

    def start(self, timeout=10):
        assert self.process is None, "redis-server is running already"
        self.starts += 1
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--dir", str(self.folder),
        ]  # fmt: skip
        self.process = LoggedProcess(args, dict(os.environ), self.folder / f"redis-{self.starts}.log")
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.process.poll() is not None or time.monotonic() > deadline:
                output = self.process.output()
                self.stop()
                raise AssertionError(f"redis-server did not start on port {self.port}: {output}")
            time.sleep(0.05)

    def answers(self):
        import redis

        try:
            return redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
        except redis.exceptions.RedisError:
            return False

    def stop(self):
        if self.process is not None:
            process, self.process = self.process, None
            process.stop()
