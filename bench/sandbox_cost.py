"""What the sandbox costs per run, measured side by side in one run.

    .venv/bin/python -m bench.sandbox_cost [--jobs 10] [--no-write]

1. The gridlabd command alone (``ieee4.glm``) through the worker's runner,
   unsandboxed and in the sandbox, alternately, ``--jobs`` times each.
2. One stack (fresh PostgreSQL database, Redis db 12, gunicorn, one Celery
   worker): ``--jobs`` jobs POST to COMPLETED with ``WORKER_SANDBOX=off``,
   then the worker restarted with the sandbox on and ``--jobs`` jobs again.

Prints the medians and the differences, and (unless ``--no-write``)
replaces the section between the ``sandbox-cost`` markers of
docs/benchmarks.md, which ``invoke bench`` keeps when it rewrites the rest.
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from tests.e2e.stack import EXAMPLES, Stack
from tests.processes import REPO_ROOT
from worker.runner import run_gridlabd
from worker.sandbox import Sandbox

from . import BENCH_REDIS_DB
from .job_latency import MODEL, summary, time_service_jobs

DOCUMENT = REPO_ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- sandbox-cost: begin -->", "<!-- sandbox-cost: end -->"


def time_runner(sandboxed):
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as folder:
        shutil.copy(EXAMPLES / MODEL, folder)
        started = time.perf_counter()
        result = run_gridlabd([MODEL], folder, sandbox=Sandbox(folder) if sandboxed else None)
        elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"gridlabd {'sandboxed' if sandboxed else 'alone'} exited {result.returncode}")
    return elapsed


def time_alone(jobs):
    """``(unsandboxed, sandboxed)`` times, alternating so that load hits both alike."""
    plain, sandboxed = [], []
    time_runner(False), time_runner(True)  # warm the page cache
    for _ in range(jobs):
        plain.append(time_runner(False))
        sandboxed.append(time_runner(True))
    return plain, sandboxed


def time_through_the_service(folder, jobs):
    stack = Stack(folder, redis_db=BENCH_REDIS_DB, worker_concurrency=0, WORKER_SANDBOX="off")
    try:
        stack.start_worker()
        unsandboxed = time_service_jobs(stack, jobs)
        stack.stop_worker()
        stack.worker_env["WORKER_SANDBOX"] = "on"
        stack.start_worker()
        sandboxed = time_service_jobs(stack, jobs)
    finally:
        stack.close()
    return unsandboxed, sandboxed


def median(times):
    return statistics.median(times)


def section(figures, jobs):
    plain, boxed, service_plain, service_boxed = figures
    rows = [
        ("gridlabd through the runner", plain, boxed),
        ("POST run -> COMPLETED", service_plain, service_boxed),
    ]
    lines = [
        BEGIN,
        "## Sandbox cost per run",
        "",
        "`bench/sandbox_cost.py`, one run, before and after side by side: the",
        "example model (`ieee4.glm`, one simulated day) through the worker's runner",
        "unsandboxed and in the bubblewrap sandbox (alternately), then through the",
        "service with one Celery worker started with `WORKER_SANDBOX=off`, then",
        f"the same worker restarted with the sandbox on; {jobs} runs of each.",
        "",
        "    .venv/bin/python -m bench.sandbox_cost --jobs " + str(jobs),
        "",
        "| measure | unsandboxed (median) | sandboxed (median) | cost per run | ratio |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, before, after in rows:
        cost = median(after) - median(before)
        lines.append(
            f"| {name} | {median(before):.3f} s | {median(after):.3f} s | "
            f"{cost * 1000:+.0f} ms | {median(after) / median(before):.2f} |"
        )
    lines += [
        "",
        "Through the runner, the cost is bubblewrap's setup (namespaces, mounts, the",
        "user namespace made for a root worker) and the worker's watch over the",
        "working folder; the simulation itself runs at the same speed inside.",
        "Through the service, a root worker with the sandbox on forks each run from",
        "its engine host, which has the engine imported already",
        "([ADR 24](adr/0024-engine-host.md)); unsandboxed, each run starts a fresh",
        "Python. That start is what the sandboxed row saves.",
        END,
    ]
    return "\n".join(lines) + "\n"


def write_section(text):
    document = DOCUMENT.read_text()
    if BEGIN in document and END in document:
        head, rest = document.split(BEGIN, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        document = head + text + ("\n" + tail if tail else "")
    else:
        document = document.rstrip("\n") + "\n\n" + text
    DOCUMENT.write_text(document)


def kept_section(document):
    """The sandbox section of an existing docs/benchmarks.md, for ``bench.suite``."""
    if BEGIN not in document or END not in document:
        return ""
    return BEGIN + document.split(BEGIN, 1)[1].split(END, 1)[0] + END + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)

    plain, boxed = time_alone(args.jobs)
    print(f"runner, unsandboxed:   {summary(plain)}", flush=True)
    print(f"runner, sandboxed:     {summary(boxed)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-stack-") as folder:
        service_plain, service_boxed = time_through_the_service(Path(folder), args.jobs)
    print(f"service, unsandboxed:  {summary(service_plain)}")
    print(f"service, sandboxed:    {summary(service_boxed)}")
    text = section((plain, boxed, service_plain, service_boxed), args.jobs)
    print(text)
    if args.write:
        write_section(text)
        print(f"wrote its section of {DOCUMENT}")


if __name__ == "__main__":
    main()
