"""API loss, with real processes: gunicorn stopped for 30 seconds in the
middle of a run and started again on the same port. The worker keeps what it
has to report and retries with backoff, so the run still ends COMPLETED with
its whole console (what the engine printed, byte for byte) and its artifacts
(as running the model by hand gives)."""

import hashlib
import re
import shutil
import subprocess
import threading
import time

import pytest

from ..processes import REPO_ROOT, RedisServer
from ..services import unavailable
from .stack import EXAMPLES, FINAL_STATES, Stack, run_folders

# It stops or kills services of its stack on purpose: run apart from the rest (invoke test).
pytestmark = pytest.mark.faults

MODEL = "ieee4.glm"
# Paced by the wall clock: the simulation runs about REALTIME + 4 seconds, so
# it ends while the API is still down and the end of its console, its
# artifacts and its final state all wait for the API to come back.
REALTIME = 20
ARGUMENTS = ["-D", f"REALTIME_SECONDS={REALTIME}"]
OUTAGE = 30
ARTIFACTS = {"ieee4_load_voltages.csv", "ieee4_substation_power.csv"}
# The worker runs the engine through engine_tee.sh, which keeps what the engine
# prints in this file: the run's third artifact. How many progress lines the
# engine prints, and for which seconds, depends on its timer and the load (a
# busy machine skips a second now and then), so the console is compared with
# that copy, not with a clock or another run. (A configured command runs in a
# sandbox of its own, not from an engine host; the console's way to the API
# is the same.)
ENGINE_STDOUT = "engine-stdout.txt"
ENGINE = f"/bin/bash {REPO_ROOT / 'tests' / 'e2e' / 'engine_tee.sh'} python -P -m worker.gridlabd_cli"

# What differs between two runs of the model: the wall-clock times (the
# progress line, the recorders' rows and the CSV header's date).
SIMULATED_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [A-Z]{3,4}")
HEADER_DATE = re.compile(r"[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}")
# The engine prints this when another gridlabd holds the processor it would
# pin itself to: it depends on what else the machine runs at that moment.
BUSY_MACHINE = re.compile(r"^WARNING  \[INIT\] : no processor available.*\n", re.MULTILINE)


def normalized(text):
    text = BUSY_MACHINE.sub("", text)
    return HEADER_DATE.sub("<date>", SIMULATED_TIME.sub("<time>", text))


TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def progress_times(std_out):
    """The simulated times of the progress lines (``Processing <time>...``), in order."""
    return re.findall(r"Processing (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", std_out)


def run_by_hand(folder):
    """``bin/gridlabd ARGUMENTS ieee4.glm`` in a folder of its own: the reference."""
    shutil.copy(EXAMPLES / MODEL, folder)
    result = subprocess.run(
        [str(REPO_ROOT / "bin" / "gridlabd"), *ARGUMENTS, MODEL],
        cwd=folder,
        capture_output=True,  # bytes: text mode would turn the progress line's \r into \n
        timeout=REALTIME + 60,
    )
    assert result.returncode == 0, result.stderr
    files = {path.name: path.read_bytes() for path in folder.iterdir() if path.name in ARTIFACTS}
    return {"std_out": result.stdout.decode(), "std_err": result.stderr.decode(), "files": files}


@pytest.fixture
def stack(tmp_path):
    # A broker of its own: on a shared Redis database, tasks of other stacks
    # running at the same time (other test sessions) would cross with ours.
    if not shutil.which("redis-server"):
        unavailable("redis-server is not on PATH: the API-loss test runs a private one")
    for name in ("redis", "stack"):
        (tmp_path / name).mkdir()
    redis_server = RedisServer(tmp_path / "redis")
    try:
        stack = Stack(tmp_path / "stack", broker_url=redis_server.url, GRIDLABD_BINARY=ENGINE)
        yield stack
        stack.close()
    finally:
        redis_server.stop()


def wait_for_output(stack, run, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stack.get(run, "/console")["std_out"]:
            return
        time.sleep(0.2)
    raise AssertionError(f"no console output within {timeout}s")


def test_run_completes_with_whole_console_and_artifacts_across_30s_api_outage(stack, tmp_path):
    # The reference runs beside the service's run: both are paced by the clock.
    reference = {}
    (tmp_path / "by-hand").mkdir()
    by_hand = threading.Thread(target=lambda: reference.update(run_by_hand(tmp_path / "by-hand")))
    by_hand.start()

    pipeline = stack.create_pipeline(model=MODEL, arguments=ARGUMENTS)
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    stack.wait_for(run, {"RUNNING"}, timeout=60)
    wait_for_output(stack, run)

    stopped_at = time.monotonic()
    stack.restart_api(OUTAGE)
    assert time.monotonic() - stopped_at >= OUTAGE

    # Within the worker's retry budget (about 2.5 minutes of backoff).
    final = stack.wait_for(run, FINAL_STATES, timeout=180)
    console = stack.get(run, "/console")
    assert final["state"] == "COMPLETED", console
    assert [change["state"] for change in final["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    by_hand.join()

    # Printed across the outage, which began once the first output was in.
    times = progress_times(console["std_out"])
    span = time.mktime(time.strptime(times[-1], TIME_FORMAT)) - time.mktime(
        time.strptime(times[0], TIME_FORMAT)
    )
    assert span >= REALTIME / 2, times
    assert normalized(console["std_err"]) == normalized(reference["std_err"])

    artifacts = {artifact["name"]: artifact for artifact in final["artifacts"]}
    assert set(artifacts) == ARTIFACTS | {ENGINE_STDOUT}
    bodies = {}
    for name, artifact in artifacts.items():
        bodies[name] = stack.download(artifact).content
        assert len(bodies[name]) == artifact["size"], name
        assert hashlib.sha256(bodies[name]).hexdigest() == artifact["sha256"], name
    # No console chunk lost or stored twice: the console is what the engine printed.
    assert console["std_out"] == bodies[ENGINE_STDOUT].decode()
    for name in ARTIFACTS:
        assert len(bodies[name]) == len(reference["files"][name]), name
        assert normalized(bodies[name].decode()) == normalized(reference["files"][name].decode()), name
    assert not run_folders(stack), "the working directory was removed"
