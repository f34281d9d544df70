"""Worker loss end to end, with real processes: gunicorn, Celery workers,
``celery -A worker beat`` sending the recovery sweep, and the real GridLAB-D
engine, on PostgreSQL + Redis and on the embedded default.

A worker process is killed with SIGKILL in the middle of a simulation; the
sweep finds the run silent (RUN_HEARTBEAT_TIMEOUT, here 4 s, checked every
WORKER_RECOVERY_INTERVAL, here 1 s) and queues it again, or fails it once
it has had RUN_MAX_ATTEMPTS (2) attempts. Each test prints how long the
recovery took (``pytest -s`` shows it).
"""

import os
import re
import signal
import time

import pytest
import sqlalchemy as sa

from .stack import Stack, run_folders

# It stops or kills services of its stack on purpose: run apart from the rest (invoke test).
pytestmark = pytest.mark.faults

MODEL = "ieee4.glm"
HEARTBEAT_TIMEOUT = 4
API_SETTINGS = {"RUN_HEARTBEAT_TIMEOUT": HEARTBEAT_TIMEOUT, "RUN_MAX_ATTEMPTS": 2}
WORKER_SETTINGS = {
    "WORKER_HEARTBEAT_INTERVAL": 1,
    "WORKER_RECOVERY_INTERVAL": 1,
    "WORKER_ARTIFACT_EXPIRY_INTERVAL": 0,
}
# Paced by the wall clock: each attempt runs about 6 + 4 seconds.
ARGUMENTS = ["-D", "REALTIME_SECONDS=6"]
FINAL = {"COMPLETED", "FAILED", "CANCELLED"}
NOTE = re.compile(
    r"^\[service\] worker lost: no sign of life for \d+ s; run queued again \(attempt 2 of 2\)$"
)
REASON = re.compile(r"^worker lost: no sign of life from its worker for \d+ seconds after 2 attempts$")


# A Redis database of its own: a stack empties its database when it starts,
# and workers on a shared one would take each other's tasks.
REDIS_DB = 8  # away from the other tests and benchmarks (9 to 14)


def recovering_stack(folder, **options):
    stack = Stack(folder, redis_db=REDIS_DB, api_settings=API_SETTINGS, **WORKER_SETTINGS, **options)
    try:
        stack.start_beat()
    except BaseException:
        stack.close()
        raise
    return stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = recovering_stack(tmp_path_factory.mktemp("loss-postgres"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def embedded_stack(tmp_path_factory):
    stack = recovering_stack(tmp_path_factory.mktemp("loss-embedded"), embedded=True)
    yield stack
    stack.close()


def wait_until(condition, timeout, what, stack=None, run=None):
    deadline = time.monotonic() + timeout
    while True:
        found = condition()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting {timeout} s for {what}\n{diagnosis(stack, run)}")
        time.sleep(0.1)


def diagnosis(stack, run):
    """What a failed wait shows: the run's states and std_err, the worker's
    and beat's logs (their ends)."""
    if stack is None:
        return ""
    parts = []
    if run is not None:
        current = stack.get(run)
        parts.append(f"run: {[(s['state'], s['created_at']) for s in current['states']]}")
        parts.append("std_err: " + stack.get(run, "/console")["std_err"][-1500:])
    if stack.worker:
        parts.append("worker log: " + stack.worker.output()[-3000:])
    if stack.beat:
        parts.append("beat log: " + stack.beat.output()[-1500:])
    return "\n".join(parts)


def parent_of(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def is_celery(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as handle:
        return b"celery" in handle.read()


def simulation(stack, not_these=()):
    """``(pid, pool process pid)`` of the stack's gridlabd once one runs (a
    new one: not in ``not_these``). The pool process is the nearest Celery
    process above it: the sandbox puts bwrap processes in between, and a
    scan of /proc can catch them half started, so "the parent of the first
    pid whose parent is not in the list" could be bwrap itself."""

    def found():
        pids = [pid for pid in stack.gridlabd_processes() if pid not in not_these]
        for pid in pids:
            ancestor = pid
            try:
                while ancestor > 1:
                    ancestor = parent_of(ancestor)
                    if is_celery(ancestor):
                        return pid, ancestor
            except OSError:
                continue
        return None

    return wait_until(found, 60, "gridlabd to run", stack)


def state_names(stack, run):
    return [entry["state"] for entry in stack.get(run)["states"]]


def database_url(stack):
    if stack.database_url:
        return stack.database_url
    return "sqlite:///" + os.path.join(stack.env["WORKFLOW_DATA_FOLDER"], "workflow.sqlite3")


def attempt_of(stack, run):
    engine = sa.create_engine(database_url(stack))
    try:
        with engine.connect() as connection:
            return connection.execute(
                sa.text("SELECT attempt FROM run WHERE uuid = :u"), {"u": run["uuid"]}
            ).scalar_one()
    finally:
        engine.dispose()


def start_long_run(stack):
    pipeline = stack.create_pipeline(model=MODEL, arguments=ARGUMENTS)
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    return run


def requeued(stack, run, times=1):
    """Once the run has gone back to the queue ``times`` times."""
    return lambda: state_names(stack, run).count("NOT_STARTED") > times


def assert_no_gridlabd_left(stack):
    try:
        wait_until(lambda: not stack.gridlabd_processes(), 10, "the killed attempt's gridlabd to die", stack)
    except AssertionError as error:
        raise AssertionError(f"{error}\nstill there:\n{describe(stack.gridlabd_processes())}") from None


def describe(pids):
    """Each process with its state and its ancestors' command lines, for a
    failure to show what kept a simulation alive."""
    lines = []
    for pid in pids:
        chain, current = [], pid
        while current > 1 and len(chain) < 8:
            try:
                with open(f"/proc/{current}/status") as status:
                    lines_of = status.read().splitlines()
                fields = dict(line.split(":\t", 1) for line in lines_of if ":\t" in line)
                with open(f"/proc/{current}/cmdline", "rb") as handle:
                    command = handle.read().replace(b"\0", b" ").decode(errors="replace")[:120]
            except OSError:
                break
            chain.append(f"{current} [{fields.get('State', '?').strip()}] {command}")
            current = int(fields.get("PPid", "0"))
        lines.append("  " + " <- ".join(chain))
    return "\n".join(lines)


def report(what, **seconds):
    figures = ", ".join(f"{name} {value:.1f} s" for name, value in seconds.items())
    print(f"\n[worker loss] {what}: {figures}")


def assert_completed_on_attempt_2(stack, run, killed_folders, before):
    final = stack.wait_for(run, FINAL, timeout=120)
    std_err = stack.get(run, "/console")["std_err"]
    assert final["state"] == "COMPLETED", std_err
    assert [entry["state"] for entry in final["states"]] == [
        "NOT_STARTED",
        "RUNNING",
        "NOT_STARTED",
        "RUNNING",
        "COMPLETED",
    ]
    assert attempt_of(stack, run) == 2
    assert [line for line in std_err.splitlines() if NOTE.match(line)], std_err
    names = sorted(artifact["name"] for artifact in final["artifacts"])
    assert names == ["ieee4_load_voltages.csv", "ieee4_substation_power.csv"], (
        "the lost attempt uploaded nothing"
    )
    assert not stack.gridlabd_processes()
    # The killed attempt's working folder stays (its process could not
    # clean up); the second attempt's was removed.
    assert set(run_folders(stack)) - before == killed_folders


def test_a_killed_pool_process_is_recovered_and_the_run_completes_on_attempt_2(stack):
    before = set(run_folders(stack))
    run = start_long_run(stack)
    gridlabd, pool_process = simulation(stack)
    killed_folders = set(run_folders(stack)) - before

    os.kill(pool_process, signal.SIGKILL)
    killed = time.monotonic()

    assert_no_gridlabd_left(stack)
    wait_until(requeued(stack, run), 60, "the sweep to queue the run again", stack, run)
    requeued_after = time.monotonic() - killed
    stack.wait_for(run, FINAL, timeout=120)
    report("pool process killed", requeued_after=requeued_after, completed_after=time.monotonic() - killed)
    assert_completed_on_attempt_2(stack, run, killed_folders, before)


def kill_the_whole_worker_and_start_another(stack):
    before = set(run_folders(stack))
    run = start_long_run(stack)
    simulation(stack)
    killed_folders = set(run_folders(stack)) - before

    stack.kill_worker()
    killed = time.monotonic()
    assert_no_gridlabd_left(stack)
    stack.start_worker()

    wait_until(requeued(stack, run), 90, "the sweep to queue the run again", stack, run)
    requeued_after = time.monotonic() - killed
    stack.wait_for(run, FINAL, timeout=120)
    return run, killed_folders, before, requeued_after, time.monotonic() - killed


def test_a_killed_worker_is_recovered_and_the_run_completes_on_a_new_worker(stack):
    run, killed_folders, before, requeued_after, completed_after = kill_the_whole_worker_and_start_another(
        stack
    )
    report(
        "whole worker killed (PostgreSQL + Redis)",
        requeued_after=requeued_after,
        completed_after=completed_after,
    )
    assert_completed_on_attempt_2(stack, run, killed_folders, before)


def test_a_run_whose_worker_is_lost_twice_fails_with_the_reason(stack):
    run = start_long_run(stack)
    first, pool_process = simulation(stack)
    os.kill(pool_process, signal.SIGKILL)
    killed = time.monotonic()
    wait_until(requeued(stack, run), 60, "the sweep to queue the run again", stack, run)
    first_requeue = time.monotonic() - killed
    wait_until(lambda: state_names(stack, run).count("RUNNING") == 2, 60, "the second attempt", stack, run)

    second, pool_process = simulation(stack, not_these={first})
    os.kill(pool_process, signal.SIGKILL)
    killed = time.monotonic()
    final = stack.wait_for(run, FINAL, timeout=60)
    report("lost twice", first_requeued_after=first_requeue, failed_after=time.monotonic() - killed)

    assert final["state"] == "FAILED"
    assert [entry["state"] for entry in final["states"]] == [
        "NOT_STARTED",
        "RUNNING",
        "NOT_STARTED",
        "RUNNING",
        "FAILED",
    ]
    assert attempt_of(stack, run) == 2
    std_err = stack.get(run, "/console")["std_err"]
    assert std_err.endswith("\n")
    assert REASON.match(std_err.rstrip("\n").splitlines()[-1]), std_err[-500:]
    assert_no_gridlabd_left(stack)


def test_a_killed_worker_is_recovered_on_the_embedded_default(embedded_stack):
    run, killed_folders, before, requeued_after, completed_after = kill_the_whole_worker_and_start_another(
        embedded_stack
    )
    report("whole worker killed (embedded)", requeued_after=requeued_after, completed_after=completed_after)
    assert_completed_on_attempt_2(embedded_stack, run, killed_folders, before)
