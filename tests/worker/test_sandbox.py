"""The sandbox itself, through the runner (worker/sandbox.py, worker/runner.py):
real bubblewrap, real processes, no API. The hostile models through a whole
stack are in tests/e2e/test_sandbox_e2e.py."""

import os
import resource
import shutil
import sys

import pytest

from worker.runner import gridlabd_command, run_gridlabd
from worker.sandbox import Limits, Sandbox, check_available, sandbox_environment

from ..services import unavailable
from .conftest import IEEE4, Console

LIMITS = Limits(memory_bytes=1024**3, processes=32, disk_bytes=5 * 1024**2, file_bytes=2 * 1024**2)


@pytest.fixture(autouse=True)
def bubblewrap():
    if not shutil.which("bwrap"):
        unavailable("bubblewrap (bwrap) is not installed: bin/install-bubblewrap")


def shell(folder, command, limits=LIMITS, network=False):
    console = Console()
    result = run_gridlabd(
        ["-c", command],
        folder,
        command=["/bin/sh"],
        on_output=console,
        sandbox=Sandbox(folder, network=network, limits=limits),
        timeout=60,
    )
    return result, console


def test_the_sandbox_can_be_built_here():
    check_available()


def test_the_engine_runs_sandboxed(tmp_path):
    shutil.copy(IEEE4, tmp_path / "model.glm")

    result = run_gridlabd(["model.glm"], tmp_path, sandbox=Sandbox(tmp_path, limits=LIMITS))

    assert result.returncode == 0 and result.limit is None
    assert (tmp_path / "ieee4_load_voltages.csv").stat().st_size > 0


def test_the_environment_is_built_from_scratch(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKER_API_TOKEN", "worker-secret-token")
    monkeypatch.setenv("GLPATH", "/opt/gridlabd/lib")

    result, console = shell(tmp_path, "env")

    assert result.returncode == 0
    shown = dict(line.split("=", 1) for line in console.std_out.splitlines() if "=" in line)
    assert "worker-secret-token" not in console.std_out
    assert shown.pop("PWD") == str(tmp_path.resolve())
    assert shown == sandbox_environment()
    assert shown["GLPATH"] == "/opt/gridlabd/lib"  # the engine's own variables pass


def test_it_runs_as_an_unprivileged_uid_without_capabilities(tmp_path):
    result, console = shell(tmp_path, "grep -E '^(Uid|CapEff|CapBnd|NoNewPrivs)' /proc/self/status")

    assert result.returncode == 0
    fields = dict(line.split(":", 1) for line in console.std_out.splitlines())
    assert fields["CapEff"].strip() == fields["CapBnd"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    if os.geteuid() == 0:
        assert fields["Uid"].split()[0] != "0"


def test_the_process_limit_holds_for_a_root_worker(tmp_path):
    """RLIMIT_NPROC counts per real uid, and the kernel never applies it to
    root: the sandbox runs as a uid of its own so that it holds."""
    result, console = shell(tmp_path, "for i in $(seq 1 100); do sleep 30 & done; wait")

    assert "Cannot fork" in console.std_err
    assert result.limit.startswith("process limit reached")
    assert "(WORKER_MAX_PROCESSES=32)" in result.limit


def test_the_file_size_limit_stops_a_file_where_it_is(tmp_path):
    result, _ = shell(tmp_path, "head -c 100000000 /dev/zero > big.bin")

    assert (tmp_path / "big.bin").stat().st_size == LIMITS.file_bytes
    assert result.limit == (
        f"file size limit reached: big.bin reached {LIMITS.file_bytes} bytes "
        f"(WORKER_MAX_FILE_BYTES={LIMITS.file_bytes})"
    )


def test_the_private_tmp_counts_toward_the_disk_limit(tmp_path):
    command = "i=0; while true; do i=$((i+1)); head -c 1000000 /dev/zero > /tmp/f$i; sleep 0.05; done"

    result, _ = shell(tmp_path, command)

    assert result.limit == (
        f"disk limit reached: the run wrote more than {LIMITS.disk_bytes} bytes "
        f"(WORKER_MAX_DISK_BYTES={LIMITS.disk_bytes})"
    )
    assert not result.timed_out


def test_memory_past_the_limit_is_refused(tmp_path):
    result, console = shell(tmp_path, 'python3 -c "bytearray(2 * 1024 ** 3)"')

    assert "MemoryError" in console.std_err
    assert result.limit.startswith("memory limit reached")


def test_the_sandboxed_process_gets_every_limit_soft_and_hard(tmp_path):
    probe = (
        "import resource as r; print(*('%d:%d' % r.getrlimit(getattr(r, 'RLIMIT_' + name)) "
        "for name in ('AS', 'NPROC', 'FSIZE', 'CORE')))"
    )
    console, sandbox = Console(), Sandbox(tmp_path, limits=LIMITS)

    result = run_gridlabd(
        ["-c", probe], tmp_path, command=[sys.executable], on_output=console, sandbox=sandbox
    )

    assert result.returncode == 0, console.std_err
    expected = (LIMITS.memory_bytes, LIMITS.processes, LIMITS.file_bytes, 0)
    assert console.std_out.split() == [f"{value}:{value}" for value in expected]


def test_limits_are_set_by_prlimit_so_that_no_code_runs_between_fork_and_exec(tmp_path):
    if not shutil.which("prlimit"):
        unavailable("util-linux prlimit is not installed")
    sandbox = Sandbox(tmp_path, limits=LIMITS)

    argv = sandbox.wrap(["/bin/true"])

    assert os.path.basename(argv[0]) == "prlimit"
    assert f"--as={LIMITS.memory_bytes}" in argv and f"--nproc={LIMITS.processes}" in argv
    assert sandbox.preexec() is None


def test_a_key_one_run_stores_is_not_in_the_next_runs_keyring(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the worker maps a uid of its own only when it runs as root")
    keys = "import ctypes; c = ctypes.CDLL(None); c.syscall.restype = ctypes.c_long; "
    add = keys + "print(c.syscall(248, b'user', b'left', b'secret', 6, -4) > 0)"  # add_key, x86-64
    read = keys + "print(c.syscall(250, 11, -4, None, 0))"  # keyctl(KEYCTL_READ, @u): bytes of key ids

    first, second = Console(), Console()
    for code, console in ((add, first), (read, second)):
        sandbox = Sandbox(tmp_path, limits=LIMITS)
        result = run_gridlabd(
            ["-c", code], tmp_path, command=[sys.executable], on_output=console, sandbox=sandbox
        )
        assert result.returncode == 0, console.std_err
        assert sandbox.fds == []  # its user namespace: the sandbox's own, closed here once started

    assert first.std_out.strip() == "True"
    assert second.std_out.strip() == "0"  # an empty keyring


def test_limits_apply_without_the_sandbox_too(tmp_path):
    console = Console()
    probe = "import resource; print(resource.getrlimit(resource.RLIMIT_FSIZE)[0])"

    result = run_gridlabd(["-c", probe], tmp_path, command=[sys.executable], on_output=console, limits=LIMITS)

    assert result.returncode == 0
    assert int(console.std_out) == LIMITS.file_bytes
    assert resource.getrlimit(resource.RLIMIT_FSIZE)[0] != LIMITS.file_bytes  # not the worker's own


def test_the_default_command_finds_the_wrapper_inside(tmp_path):
    console = Console()

    result = run_gridlabd(
        ["--version"], tmp_path, command=gridlabd_command(), on_output=console, sandbox=Sandbox(tmp_path)
    )

    assert result.returncode == 0, console.std_err
    assert "GridLAB-D" in console.std_out + console.std_err
