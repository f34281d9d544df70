"""Job latency: POST .../runs to COMPLETED, next to the gridlabd command alone.

    .venv/bin/python -m bench.job_latency [--jobs 10] [--embedded]

Starts its own stack on loopback (a fresh PostgreSQL database, Redis db 12,
gunicorn, one Celery worker; or the embedded default with --embedded), runs
the example model as a service job ``--jobs`` times one after another, then
runs the same gridlabd command in a fresh folder as many times, and prints
the median, min and max of both and the service's overhead.
"""

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.e2e.stack import EXAMPLES, Stack

from . import BENCH_REDIS_DB

MODEL = "ieee4.glm"


def gridlabd_command():
    """The command the worker runs by default, and its environment."""
    from worker.runner import child_environment
    from worker.runner import gridlabd_command as worker_command

    return worker_command(), child_environment()


def time_gridlabd_alone(jobs, arguments=()):
    command, env = gridlabd_command()
    times = []
    for _ in range(jobs):
        with tempfile.TemporaryDirectory(prefix="bench-gridlabd-") as folder:
            shutil.copy(EXAMPLES / MODEL, folder)
            started = time.perf_counter()
            subprocess.run(
                [*command, *arguments, MODEL], cwd=folder, env=env, check=True, capture_output=True
            )
            times.append(time.perf_counter() - started)
    return times


def time_service_jobs(stack, jobs):
    pipeline = stack.create_pipeline(model=MODEL)
    inputs = [{"name": MODEL, "url": stack.input_url(MODEL)}]
    # One job first, unmeasured, so the worker process is warm.
    stack.wait_for(stack.start_run(pipeline, inputs), {"COMPLETED", "FAILED"})
    times = []
    for _ in range(jobs):
        started = time.perf_counter()
        run = stack.start_run(pipeline, inputs)
        done = stack.wait_for(run, {"COMPLETED", "FAILED", "CANCELLED"}, poll=0.02)
        times.append(time.perf_counter() - started)
        if done["state"] != "COMPLETED":
            sys.exit(f"run ended {done['state']}: {stack.get(run, '/console')}")
    return times


def summary(times):
    return (
        f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, max {max(times):.3f} s "
        f"({len(times)} jobs)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--embedded", action="store_true", help="SQLite + filesystem broker")
    args = parser.parse_args()

    alone = time_gridlabd_alone(args.jobs)
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as folder:
        stack = Stack(Path(folder), embedded=args.embedded, redis_db=BENCH_REDIS_DB)
        try:
            service = time_service_jobs(stack, args.jobs)
        finally:
            stack.close()
    overhead = statistics.median(service) - statistics.median(alone)
    print(f"stack: {'embedded (SQLite, filesystem broker)' if args.embedded else 'PostgreSQL + Redis'}")
    print(f"gridlabd {MODEL} alone:        {summary(alone)}")
    print(f"POST run -> COMPLETED:       {summary(service)}")
    print(f"service overhead (medians):  {overhead:.3f} s")


if __name__ == "__main__":
    main()
