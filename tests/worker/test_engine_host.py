"""The engine host (worker/engine_host.py, worker/engine_hosts.py): real
bubblewrap, the real engine forked per run, no API. Runs from one worker
process share a host, so what one run leaves must never reach the next,
and a run must not reach the host."""

import json
import os
import shutil
import sys
import tempfile
import time

import pytest

from worker import engine_hosts
from worker.runner import run_gridlabd
from worker.sandbox import Limits, Sandbox

from ..services import unavailable
from .conftest import IEEE4, Console, processes_in

LIMITS = Limits(memory_bytes=2 * 1024**3, processes=64, disk_bytes=50 * 1024**2, file_bytes=20 * 1024**2)

# Run by the model's #system line, in the sandbox, with the virtualenv's Python.
PROBE = r'''
import ctypes, json, os, subprocess, sys

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ADD_KEY, KEYCTL = 248, 250  # x86-64
KEYCTL_READ, KEY_SPEC_USER_KEYRING = 11, -4

def leave():
    quiet = subprocess.DEVNULL
    subprocess.Popen(["sleep", "300"], start_new_session=True, cwd="/tmp", stdout=quiet, stderr=quiet)
    with open("/tmp/left.txt", "w") as file:
        file.write("secret")
    try:  # not writable in the sandbox as bwrap makes it; if it ever is
        with open("/dev/shm/left.txt", "w") as file:
            file.write("secret")
    except PermissionError:
        pass
    os.mkdir("/tmp/locked")
    os.chmod("/tmp/locked", 0)
    assert libc.shmget(4242, 4096, 0o1666) >= 0  # IPC_CREAT, rw for all
    assert libc.msgget(4243, 0o1666) >= 0
    librt = ctypes.CDLL("librt.so.1", use_errno=True)
    assert librt.mq_open(b"/left", os.O_CREAT | os.O_RDWR, 0o666, None) >= 0
    assert libc.syscall(ADD_KEY, b"user", b"left", b"secret", 6, KEY_SPEC_USER_KEYRING) > 0
    print("left all of it", flush=True)

def command_lines():
    seen = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                seen[pid] = file.read().replace(b"\0", b" ").decode().strip()
        except OSError:
            pass
    return seen

def find_host(seen):
    """The parent of this run's engine process: the first ancestor forked
    from the host, so with its command line."""
    pid = os.getppid()
    while pid > 1:
        with open(f"/proc/{pid}/stat") as file:
            parent = int(file.read().rsplit(")", 1)[1].split()[1])
        if "worker.engine_host" in seen.get(str(pid), ""):
            return parent
        pid = parent
    return None

def kill_host():
    os.kill(find_host(command_lines()), 9)

def look():
    seen = command_lines()
    found = {
        "sleeping": [line for line in seen.values() if line.startswith("sleep")],
        "tmp": sorted(os.listdir("/tmp")),
        "shm": sorted(os.listdir("/dev/shm")),
        "mqueue": sorted(os.listdir("/dev/mqueue")),
        "sysv": [len(open(f"/proc/sysvipc/{t}").read().splitlines()) - 1 for t in ("shm", "msg")],
        "keys": libc.syscall(KEYCTL, KEYCTL_READ, KEY_SPEC_USER_KEYRING, None, 0),
    }
    host = find_host(seen)
    found["host"] = host
    reach = {}
    for what in ("environ", "mem", "fd"):
        try:
            os.listdir(f"/proc/{host}/fd") if what == "fd" else open(f"/proc/{host}/{what}", "rb").read(1)
            reach[what] = "reached"
        except OSError as error:
            reach[what] = error.strerror
    reach["ptrace"] = libc.ptrace(16, host, None, None) == 0 or os.strerror(ctypes.get_errno())
    found["reach"] = reach
    print(json.dumps(found), flush=True)

{"leave": leave, "look": look, "kill_host": kill_host}[sys.argv[1]]()
'''


@pytest.fixture(autouse=True)
def root_with_bubblewrap():
    if not shutil.which("bwrap"):
        unavailable("bubblewrap (bwrap) is not installed: bin/install-bubblewrap")
    if os.geteuid() != 0:
        pytest.skip("a worker keeps an engine host only when it runs as root (a uid of its own for runs)")


@pytest.fixture
def host(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    host = engine_hosts.host_for(LIMITS)
    assert host is not None
    yield host
    engine_hosts.forget(host)
    engine_hosts.remove_ended_folders()


def run_on_host(model_text=None, arguments=()):
    """Run a model through this process's host, in a fresh folder inside it."""
    host = engine_hosts.host_for(LIMITS)
    folder = tempfile.mkdtemp(prefix="workflow-run-", dir=host.folder)
    if model_text is None:
        shutil.copy(IEEE4, os.path.join(folder, "model.glm"))
    else:
        with open(os.path.join(folder, "model.glm"), "w") as model:
            model.write(model_text)
    with open(os.path.join(folder, "probe.py"), "w") as probe:
        probe.write(PROBE)
    console = Console()
    result = run_gridlabd(
        [*arguments, "model.glm"],
        folder,
        on_output=console,
        sandbox=Sandbox(folder, limits=LIMITS),
        engine_host=host,
        timeout=60,
    )
    return result, console, folder


def probe(host, action):
    result, console, folder = run_on_host(f"#system python probe.py {action}\n")
    assert result.returncode == 0, console.std_err
    return console, folder


def test_runs_of_a_worker_process_share_its_host_and_complete(host):
    for _ in range(3):
        result, console, folder = run_on_host()

        assert result.returncode == 0 and result.limit is None, console.std_err
        assert os.path.getsize(os.path.join(folder, "ieee4_load_voltages.csv")) > 0
        assert engine_hosts.host_for(LIMITS) is host and host.alive()


def test_the_next_run_finds_nothing_the_last_one_left(host):
    console, _ = probe(host, "leave")
    assert "left all of it" in console.std_out, console.std_err
    console, _ = probe(host, "look")

    assert engine_hosts.host_for(LIMITS) is host  # the same host, emptied
    found = json.loads(console.std_out.strip().splitlines()[-1])
    assert found["sleeping"] == []
    # Only the ways to what is bound in from the worker's /tmp: the host's
    # folder, and the checkout when it is there (a CI clone).
    bound_in_tmp = {path.split(os.sep)[2] for path in host.bound if path.startswith("/tmp/")}
    assert set(found["tmp"]) <= bound_in_tmp
    assert found["shm"] == [] and found["mqueue"] == []
    assert found["sysv"] == [0, 0]
    assert found["keys"] == 0  # an empty user keyring


def test_a_run_cannot_trace_or_read_its_host(host):
    console, _ = probe(host, "look")

    found = json.loads(console.std_out.strip().splitlines()[-1])
    assert found["host"] and found["host"] > 1
    assert found["reach"] == {
        "environ": "Permission denied",
        "mem": "Permission denied",
        "fd": "Permission denied",
        "ptrace": "Operation not permitted",
    }


def test_a_run_cannot_write_in_the_hosts_folder_outside_its_own(host):
    result, console, _ = run_on_host("#system touch ../intruder.txt\n")

    assert "Permission denied" in console.std_err + console.std_out
    assert not os.path.exists(os.path.join(host.folder, "intruder.txt"))


def test_a_run_that_kills_its_host_fails_and_the_next_gets_a_new_host(host):
    result, _, _ = run_on_host("#system python probe.py kill_host\n")

    assert result.returncode != 0
    assert not host.alive()
    result, console, _ = run_on_host()
    assert result.returncode == 0, console.std_err
    assert engine_hosts.host_for(LIMITS) is not host


def test_a_timed_out_run_ends_its_host(host):
    folder = tempfile.mkdtemp(prefix="workflow-run-", dir=host.folder)
    shutil.copy(IEEE4, os.path.join(folder, "model.glm"))
    result = run_gridlabd(
        ["-D", "REALTIME_SECONDS=60", "model.glm"],
        folder,
        sandbox=Sandbox(folder, limits=LIMITS),
        engine_host=host,
        timeout=1,
    )

    assert result.timed_out
    assert not host.alive()


def test_an_ended_host_has_no_process_left(tmp_path, monkeypatch):
    """The kernel empties a PID namespace after its bwrap is killed, not at
    once: end() returns only when it is empty (it once did not, and a test
    saw the cancelled run still there)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    for _ in range(10):
        host = engine_hosts.host_for(LIMITS)
        folder = tempfile.mkdtemp(prefix="workflow-run-", dir=host.folder)
        shutil.copy(IEEE4, os.path.join(folder, "model.glm"))
        os.chmod(folder, 0o777)  # the run's uid works in it
        run = host.start(["-D", "REALTIME_SECONDS=60", "model.glm"], folder, {"PATH": "/usr/bin:/bin"})
        deadline = time.monotonic() + 10
        while not processes_in(folder) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert processes_in(folder), "the run did not start"

        engine_hosts.forget(host)

        assert processes_in(str(tmp_path)) == []
        run.stdout.close()
        run.stderr.close()
    engine_hosts.remove_ended_folders()


@pytest.mark.parametrize(
    "why",
    ["network", "command", "setting"],
)
def test_runs_that_may_not_use_a_host(why, monkeypatch):
    command, network = engine_hosts.default_command(), False
    if why == "network":
        network = True
    elif why == "command":
        command = ["/usr/bin/gridlabd"]
    else:
        monkeypatch.setenv("WORKER_ENGINE_HOST", "off")

    assert engine_hosts.may_use_host(engine_hosts.default_command(), False) is (why != "setting")
    assert engine_hosts.may_use_host(command, network) is False


def test_the_default_command_is_the_runners():
    from worker.runner import gridlabd_command

    if os.environ.get("GRIDLABD_BINARY") or shutil.which("gridlabd"):
        pytest.skip("a GRIDLABD_BINARY or a native gridlabd is configured here")
    assert (
        gridlabd_command()
        == engine_hosts.default_command()
        == [sys.executable, "-P", "-m", "worker.gridlabd_cli"]
    )
