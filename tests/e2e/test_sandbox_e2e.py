"""Hostile models through the whole service: API, Redis, a real Celery worker
and the real engine in its bubblewrap sandbox (docs/adr/0015-sandbox.md).

Each model is what a client could send; each test checks what the contract's
"Untrusted models" promises: nothing written outside the working folder
reaches the host, no secret reaches an artifact, no connection leaves the
sandbox, the service's files stay out of sight, and each limit ends the run
FAILED with the limit named on the last line of std_err, nothing past the
limit uploaded. A model writing in its working folder still works.
"""

import os
import shutil
import socket
import sys
import time
import uuid

import pytest

from ..processes import REPO_ROOT
from .stack import EXAMPLES, InputServer, Stack, run_folders

SANDBOX_REDIS_DB = 9
MEMORY = 1024**3
PROCESSES = 64
DISK = 50 * 1024**2
FILE = 20 * 1024**2
ARTIFACTS = 20
LIMITS = {
    "WORKER_MAX_MEMORY_BYTES": MEMORY,
    "WORKER_MAX_PROCESSES": PROCESSES,
    "WORKER_MAX_DISK_BYTES": DISK,
    "WORKER_MAX_FILE_BYTES": FILE,
    "WORKER_MAX_ARTIFACTS": ARTIFACTS,
}
SECRETS = {"CALLBACK_SIGNING_SECRET": "callback-secret-" + uuid.uuid4().hex}
CLOCK = """
clock {
  starttime '2020-01-01 00:00:00';
  stoptime '2020-01-01 00:10:00';
}
"""
FINAL = {"COMPLETED", "FAILED", "CANCELLED"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("sandbox-e2e"), redis_db=SANDBOX_REDIS_DB, **LIMITS, **SECRETS)
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """``(folder, url)``: model files put in ``folder`` are served at ``url``."""
    folder = tmp_path_factory.mktemp("hostile-models")
    server = InputServer(folder)
    yield folder, server.url
    server.stop()


def run_model(stack, models, text, arguments=(), network=False, name="model.glm"):
    """Run ``text`` as the model of a new pipeline; returns (run, console, artifacts)."""
    folder, url = models
    served = f"{uuid.uuid4().hex}.glm"
    (folder / served).write_text(text)
    pipeline = stack.create_pipeline(model=name, arguments=list(arguments), network=network)
    run = stack.start_run(pipeline, [{"name": name, "url": f"{url}/{served}"}])
    run = stack.wait_for(run, FINAL)
    console = stack.get(run, "/console")
    return run, console, {artifact["name"]: artifact for artifact in run["artifacts"]}


def system(command):
    """A model that runs ``command`` with the shell, then simulates ten minutes."""
    return f"#system sh -c '{command}'\n{CLOCK}"


def last_line(text):
    return text.rstrip("\n").rsplit("\n", 1)[-1]


def sandbox_processes(stack):
    """Pids of live processes whose current folder is under the worker's
    TMPDIR, but a worker process's engine host (bwrap and the host in the
    host's folder, worker/engine_hosts.py), which outlives runs."""
    work = str(stack.work_folder.resolve())
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cwd = os.readlink(f"/proc/{pid}/cwd")
            with open(f"/proc/{pid}/cmdline", "rb") as file:
                program = file.read().split(b"\0")
        except OSError:
            continue
        if not cwd.startswith(work + os.sep):
            continue
        in_host_folder = os.path.basename(cwd).startswith("workflow-engine-")
        if in_host_folder and (b"worker.engine_host" in program or os.path.basename(program[0]) == b"bwrap"):
            continue
        found.append(pid)
    return found


def test_a_shell_command_writing_in_the_working_folder_still_works(stack, models):
    model = (EXAMPLES / "ieee4.glm").read_text()
    run, console, artifacts = run_model(stack, models, "#system sh -c 'echo pre > pre.txt'\n" + model)

    assert run["state"] == "COMPLETED", console
    assert stack.download(artifacts["pre.txt"]).content == b"pre\n"
    assert "ieee4_load_voltages.csv" in artifacts
    assert not run_folders(stack)


def test_writes_outside_the_working_folder_never_reach_the_host(stack, models):
    marker = uuid.uuid4().hex
    targets = [
        f"/tmp/escape-{marker}",
        str(stack.folder / f"escape-{marker}"),  # the worker's own folders
        str(stack.work_folder / f"escape-{marker}"),  # next to other runs' folders
        str(REPO_ROOT / f"escape-{marker}"),  # the service's checkout
        f"/root/escape-{marker}",
    ]
    command = "; ".join(f"echo x > {target}" for target in targets)
    run, console, artifacts = run_model(stack, models, system(command + "; echo done > inside.txt"))

    assert run["state"] == "COMPLETED", console
    assert "inside.txt" in artifacts
    assert [target for target in targets if os.path.exists(target)] == []


def test_the_environment_holds_none_of_the_workers_secrets(stack, models):
    run, console, artifacts = run_model(
        stack, models, system("env > env.txt; cat /proc/1/environ >> env.txt")
    )

    assert run["state"] == "COMPLETED", console
    env = stack.download(artifacts["env.txt"]).content.decode(errors="replace")
    assert "HOME=/tmp" in env
    for name, value in stack.worker_env.items():
        if name.startswith(("WORKER_", "CELERY_", "SQLALCHEMY_", "CALLBACK_", "SECRET")):
            assert name not in env
            # A short value (a number such as WORKER_MAX_ARTIFACTS=20) may
            # show inside a path; it must not be any variable's value.
            values = {line.split("=", 1)[1] for line in env.replace("\0", "\n").splitlines() if "=" in line}
            assert (value not in env) if len(value) >= 8 else (value not in values), name
    assert stack.worker_key["Workflow-API-Key"] not in env


class Listener:
    """A TCP listener on the host's loopback that records connections."""

    def __init__(self):
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.socket.settimeout(0.5)
        self.port = self.socket.getsockname()[1]

    def connections(self):
        try:
            connection, _ = self.socket.accept()
        except TimeoutError:
            return 0
        connection.close()
        return 1

    def close(self):
        self.socket.close()


def connect_to(port):
    """A model whose shell runs Python to connect to the host's ``port`` on loopback."""
    probe = f'import socket; socket.create_connection((\\"127.0.0.1\\", {port}), 3); print(\\"connected\\")'
    return system(f'python3 -c "{probe}" > probe.txt 2>&1; echo done >> probe.txt')


def test_no_connection_leaves_the_sandbox_not_even_to_loopback(stack, models):
    listener = Listener()
    try:
        run, console, artifacts = run_model(stack, models, connect_to(listener.port))

        assert run["state"] == "COMPLETED", console
        probe = stack.download(artifacts["probe.txt"]).content.decode()
        assert "connected" not in probe and "done" in probe, probe
        assert listener.connections() == 0
    finally:
        listener.close()


def test_a_pipeline_with_network_on_may_connect(stack, models):
    listener = Listener()
    try:
        run, console, artifacts = run_model(stack, models, connect_to(listener.port), network=True)

        assert run["state"] == "COMPLETED", console
        assert "connected" in stack.download(artifacts["probe.txt"]).content.decode()
        assert listener.connections() == 1
    finally:
        listener.close()


def test_the_services_files_and_the_hosts_secrets_are_out_of_sight(stack, models):
    # The virtualenv the engine runs from is bound read-only: where it lives
    # in the checkout (a fresh clone's .venv, as in CI) it is in sight.
    venv_inside = os.path.realpath(sys.prefix).startswith(str(REPO_ROOT.resolve()) + os.sep)
    venv_file = "" if venv_inside else f"{REPO_ROOT}/.venv/pyvenv.cfg "
    command = (
        f"ls -a {REPO_ROOT} > checkout.txt; "
        f"cat {REPO_ROOT}/app/config.py {venv_file}/etc/shadow /etc/passwd "
        f"{stack.folder}/worker.log > leak.txt 2> errors.txt; "
        f"ls -a /root /home {stack.work_folder} > others.txt 2>&1; ls -a .. > siblings.txt; true"
    )
    run, console, artifacts = run_model(stack, models, system(command))

    assert run["state"] == "COMPLETED", console
    # Of the checkout, the engine's wrapper alone, and that virtualenv.
    expected = [".", "..", *([".venv"] if venv_inside else []), "bin", "worker"]
    assert stack.download(artifacts["checkout.txt"]).content.decode().split() == expected
    assert artifacts["leak.txt"]["size"] == 0  # none of those files was there to read
    assert "No such file" in stack.download(artifacts["errors.txt"]).content.decode()
    others = stack.download(artifacts["others.txt"]).content.decode()
    # The one way to its own folder: that folder, or its worker process's
    # engine host's folder (worker/engine_hosts.py), which holds no other.
    assert others.count("workflow-run-") + others.count("workflow-engine-") == 1, others
    assert stack.download(artifacts["siblings.txt"]).content.decode().count("workflow-run-") == 1
    assert ".bashrc" not in others and ".ssh" not in others


def test_forking_past_the_process_limit_fails_the_run_and_leaves_nothing(stack, models):
    command = "for i in $(seq 1 500); do sleep 60 & done; wait"
    run, console, _ = run_model(stack, models, system(command))

    assert run["state"] == "FAILED", console
    assert last_line(console["std_err"]) == (
        f"process limit reached: a new process was refused past {PROCESSES} processes "
        f"and threads (WORKER_MAX_PROCESSES={PROCESSES})"
    )
    deadline = time.monotonic() + 5
    while sandbox_processes(stack) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_processes(stack) == []


def test_processes_a_run_leaves_behind_are_gone_when_it_ends(stack, models):
    run, console, _ = run_model(stack, models, system("setsid sleep 300 > /dev/null 2>&1 &"))

    assert run["state"] == "COMPLETED", console
    deadline = time.monotonic() + 5
    while sandbox_processes(stack) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sandbox_processes(stack) == []


def test_allocating_past_the_memory_limit_fails_the_run(stack, models):
    allocate = 'python3 -c "bytearray(2 * 1024 ** 3)"'
    run, console, _ = run_model(stack, models, system(allocate))

    assert run["state"] == "FAILED", console
    assert "MemoryError" in console["std_err"]
    assert last_line(console["std_err"]) == (
        f"memory limit reached: a process was refused memory past {MEMORY} bytes "
        f"of address space (WORKER_MAX_MEMORY_BYTES={MEMORY})"
    )


def test_writing_past_the_disk_limit_is_stopped_and_not_uploaded(stack, models):
    # 2 MB files, one every 20 ms, for ever: the worker must stop it.
    command = "i=0; while true; do i=$((i+1)); head -c 2000000 /dev/zero > part$i.bin; sleep 0.02; done"
    started = time.monotonic()
    run, console, artifacts = run_model(stack, models, system(command))

    assert run["state"] == "FAILED", console
    assert time.monotonic() - started < 60
    assert last_line(console["std_err"]) == (
        f"disk limit reached: the run wrote more than {DISK} bytes (WORKER_MAX_DISK_BYTES={DISK})"
    )
    assert sum(artifact["size"] for artifact in artifacts.values()) <= DISK
    assert sandbox_processes(stack) == []


def test_a_huge_file_stops_at_the_file_limit_and_is_never_uploaded(stack, models):
    run, console, artifacts = run_model(
        stack, models, system("head -c 10G /dev/zero > huge.bin; echo small > small.txt")
    )

    assert run["state"] == "FAILED", console
    assert last_line(console["std_err"]).startswith(f"file size limit reached: huge.bin reached {FILE} bytes")
    assert f"(WORKER_MAX_FILE_BYTES={FILE})" in last_line(console["std_err"])
    assert "huge.bin" not in artifacts
    assert "small.txt" in artifacts


def test_more_files_than_the_artifact_limit_fail_the_run_with_the_first_uploaded(stack, models):
    command = f"for i in $(seq 10 {10 + ARTIFACTS + 4}); do echo $i > out$i.txt; done"
    run, console, artifacts = run_model(stack, models, system(command))

    assert run["state"] == "FAILED", console
    assert last_line(console["std_err"]) == (
        f"artifact limit reached: the run wrote more than {ARTIFACTS} files; "
        f"the first {ARTIFACTS} were uploaded (WORKER_MAX_ARTIFACTS={ARTIFACTS})"
    )
    assert sorted(artifacts) == [f"out{i}.txt" for i in range(10, 10 + ARTIFACTS)]


@pytest.mark.parametrize(
    "arguments, written",
    [
        (["-o", "/tmp/{marker}.glm"], "/tmp/{marker}.glm"),
        (["--output", "/tmp/{marker}.json"], "/tmp/{marker}.json"),
        (["--redirect", "output:/tmp/{marker}.out"], "/tmp/{marker}.out"),
        (["-D", "savefile=/tmp/{marker}.xml"], "/tmp/{marker}.xml"),
        (["-o", "{repo}/{marker}.glm"], "{repo}/{marker}.glm"),
    ],
    ids=["-o", "--output", "--redirect", "-D savefile", "-o into the checkout"],
)
def test_engine_options_cannot_write_outside_the_working_folder(stack, models, arguments, written):
    marker = f"engine-option-{uuid.uuid4().hex}"
    fill = {"marker": marker, "repo": REPO_ROOT}
    arguments = [argument.format(**fill) for argument in arguments]
    model = (EXAMPLES / "ieee4.glm").read_text()

    run, console, _ = run_model(stack, models, model, arguments=arguments)

    assert run["state"] in {"COMPLETED", "FAILED"}, console
    assert not os.path.exists(written.format(**fill))
    assert not run_folders(stack)


@pytest.fixture(autouse=True, scope="module")
def _no_marker_left(stack):
    yield
    for path in (REPO_ROOT, stack.folder):
        for leftover in path.glob("escape-*"):
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
