"""Sweeps: creating a 10,000-run sweep, paging its runs, and draining 100
runs through the service against the same gridlabd commands by hand.

    .venv/bin/python -m bench.studies [--drain-runs 100] [--sweep-runs 10000]

Starts its own stack (a fresh PostgreSQL database, Redis database 12,
gunicorn with 2 processes of 4 threads), then:

1. creates a sweep of ``--sweep-runs`` runs three times (no worker
   running; the queue is emptied after), the p50 of the three;
2. lists ``limit=100`` of that sweep's runs at offsets 0, the middle and
   the end, against a 10-run sweep, ``--list-requests`` times each;
3. drain: ``--drain-runs`` gridlabd commands of ``ieee4.glm`` run 2 at a
   time by hand (each in a fresh folder with the model copied in), then
   the same runs as one sweep through the service with one Celery worker
   of 2 processes, from the POST until the sweep reads COMPLETED, waited
   for as ``wf`` waits (the sweep's events stream).
"""

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import redis
import requests
from wf.client import Client

from tests.e2e.stack import EXAMPLES, Stack

from . import BENCH_REDIS_DB

MODEL = "ieee4.glm"
API_WORKERS = 2
API_THREADS = 4
DRAIN_CONCURRENCY = 2


def say(message):
    print(message, flush=True)


def _sweep(stack, pipeline, body, timeout=120):
    started = time.perf_counter()
    response = requests.post(
        f"{stack.url}/v1/pipelines/{pipeline['uuid']}/sweeps",
        json=body,
        headers=stack.client,
        timeout=timeout,
    )
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise SystemExit(f"sweep refused: {response.status_code} {response.text[:500]}")
    return response.json(), elapsed


def sweep_creation(stack, runs, list_requests):
    """Seconds to create ``runs``-run sweeps (3 of them), and the p50 of
    ``limit=100`` pages of its runs at three offsets and of a 10-run sweep."""
    pipeline = stack.create_pipeline(model=MODEL)
    inputs = [{"name": MODEL, "url": stack.input_url(MODEL)}]
    body = {"inputs": inputs, "parameters": {"load_w": list(range(1, runs + 1))}}
    _sweep(stack, pipeline, {"inputs": inputs, "rows": [{}]})  # warm up
    times, large = [], None
    for _ in range(3):
        large, elapsed = _sweep(stack, pipeline, body)
        times.append(elapsed)
    small, _ = _sweep(stack, pipeline, {"inputs": inputs, "parameters": {"i": list(range(10))}})
    redis.Redis.from_url(stack.broker_url).flushdb()  # no worker will run them

    session = requests.Session()
    session.headers.update(stack.client)

    def page_p50(sweep, offset):
        url = f"{stack.url}/v1/pipelines/{pipeline['uuid']}/sweeps/{sweep['uuid']}/runs"
        took = []
        for _ in range(list_requests):
            started = time.perf_counter()
            response = session.get(url, params={"limit": 100, "offset": offset}, timeout=30)
            took.append(time.perf_counter() - started)
            assert response.status_code == 200 and response.json(), response.text[:300]
        return statistics.median(took)

    pages = {"10-run sweep, offset 0": page_p50(small, 0)}
    for offset in (0, runs // 2, runs - 100):
        pages[f"{runs:,}-run sweep, offset {offset:,}"] = page_p50(large, offset)
    return {"runs": runs, "times": times, "p50": statistics.median(times), "pages": pages}


def drain_by_hand(count):
    """Seconds for ``count`` gridlabd commands, ``DRAIN_CONCURRENCY`` at a time."""
    from worker.runner import child_environment, gridlabd_command

    command, env = gridlabd_command(), child_environment()

    def one(_):
        with tempfile.TemporaryDirectory(prefix="bench-drain-") as folder:
            shutil.copy(EXAMPLES / MODEL, folder)
            subprocess.run([*command, MODEL], cwd=folder, env=env, check=True, capture_output=True)

    started = time.perf_counter()
    with ThreadPoolExecutor(DRAIN_CONCURRENCY) as pool:
        list(pool.map(one, range(count)))
    return time.perf_counter() - started


def drain_service(stack, count):
    """Seconds from POSTing a ``count``-run sweep to reading it COMPLETED,
    with one worker of ``DRAIN_CONCURRENCY`` processes (warmed first)."""
    stack.start_worker(DRAIN_CONCURRENCY)
    try:
        pipeline = stack.create_pipeline(model=MODEL)
        inputs = [{"name": MODEL, "url": stack.input_url(MODEL)}]
        for _ in range(DRAIN_CONCURRENCY):
            stack.wait_for(stack.start_run(pipeline, inputs), {"COMPLETED", "FAILED"})
        started = time.perf_counter()
        sweep, _ = _sweep(stack, pipeline, {"inputs": inputs, "rows": [{}] * count})
        # Waited for as `wf` waits (its events stream), not by polling: a
        # poll every 50 ms would cost the API more than what it measures.
        client = Client(stack.url, stack.client["Workflow-API-Key"])
        sweep = client.wait_sweep(sweep)
        elapsed = time.perf_counter() - started
    finally:
        stack.stop_worker()
    if sweep["state"] != "COMPLETED":
        raise SystemExit(f"drain sweep ended {sweep['state']}: {sweep['counts']}")
    return elapsed


def run_studies(folder, sweep_runs, drain_runs, list_requests, report=say):
    stack = Stack(
        folder,
        api_workers=API_WORKERS,
        api_threads=API_THREADS,
        worker_concurrency=0,
        redis_db=BENCH_REDIS_DB,
    )
    figures = {}
    try:
        if sweep_runs:
            figures["sweep"] = result = sweep_creation(stack, sweep_runs, list_requests)
            report(
                f"sweep of {sweep_runs:,} runs accepted in p50 {result['p50']:.2f} s "
                f"({', '.join(f'{t:.2f}' for t in result['times'])})"
            )
            for label, p50 in result["pages"].items():
                report(f"  limit=100, {label}: p50 {p50 * 1000:.1f} ms")
        if drain_runs:
            by_hand = drain_by_hand(drain_runs)
            report(f"drain: {drain_runs} commands, {DRAIN_CONCURRENCY} at a time, by hand: {by_hand:.2f} s")
            service = drain_service(stack, drain_runs)
            report(f"drain: the same as a sweep through the service: {service:.2f} s")
            figures["drain"] = {"runs": drain_runs, "by_hand": by_hand, "service": service}
            report(f"drain ratio (by hand / service): {by_hand / service:.2f}")
    finally:
        stack.close()
    return figures


def document_section(figures):
    """The Markdown section of docs/benchmarks.md for these figures."""
    lines = ["", "## Sweeps (issue 13)", ""]
    rows = []
    if "sweep" in figures:
        sweep = figures["sweep"]
        pages = sweep["pages"]
        few = pages["10-run sweep, offset 0"]
        slowest = max(value for key, value in pages.items() if not key.startswith("10-run"))
        lines += [
            f"`bench/studies.py`: a sweep of {sweep['runs']:,} runs (`parameters` with one name",
            "of that many values) POSTed three times with no worker running: one",
            "transaction of bulk inserts, then one bulk publish to Redis",
            "([ADR 19](adr/0019-bulk-sweeps.md)). Then `limit=100` pages of its runs, and",
            "of a 10-run sweep, each the p50 of its requests.",
            "",
            "| measure | p50 |",
            "| --- | --- |",
            f"| POST a {sweep['runs']:,}-run sweep (3 times: "
            f"{', '.join(f'{t:.2f}' for t in sweep['times'])} s) | {sweep['p50']:.2f} s |",
            *(
                f"| `GET .../runs?limit=100`, {label} | {value * 1000:.1f} ms |"
                for label, value in pages.items()
            ),
        ]
        rows.append(
            (
                f"a {sweep['runs']:,}-run sweep accepted in under 5 s (p50 of 3)",
                f"{sweep['p50']:.2f} s",
                sweep["p50"] < 5,
            )
        )
        rows.append(
            (
                "`limit=100` at any offset within 2x of a 10-run sweep",
                f"{slowest * 1000:.1f} ms against {few * 1000:.1f} ms: {slowest / few:.2f}x",
                slowest <= 2 * few,
            )
        )
    if "drain" in figures:
        drain = figures["drain"]
        ratio = drain["by_hand"] / drain["service"]
        lines += [
            "",
            f"Drain: {drain['runs']} runs of `ieee4.glm` (one simulated day) run",
            f"{DRAIN_CONCURRENCY} at a time by hand, each in a fresh folder with the model copied",
            "in, against the same",
            f"runs as one sweep through the service with one Celery worker of {DRAIN_CONCURRENCY}",
            "processes (warmed with a run each), timed from the POST until the sweep",
            "reads COMPLETED, waited for as `wf` waits: on the sweep's events stream.",
            "",
            "| drain | seconds |",
            "| --- | --- |",
            f"| {drain['runs']} gridlabd commands by hand, {DRAIN_CONCURRENCY} at a time "
            f"| {drain['by_hand']:.2f} s |",
            f"| a {drain['runs']}-run sweep through the service | {drain['service']:.2f} s |",
            f"| ratio (by hand / service) | {ratio:.2f} |",
        ]
        rows.append(("drain ratio at least 0.8 (aim: past 1.0)", f"{ratio:.2f}", ratio >= 0.8))
    if rows:
        lines += ["", "### Issue 13's targets", "", "| target | this run | met |", "| --- | --- | --- |"]
        lines += [f"| {target} | {figure} | {'yes' if met else '**no**'} |" for target, figure, met in rows]
    return lines


def add_arguments(parser):
    parser.add_argument("--sweep-runs", type=int, default=10_000, help="runs of the large sweep (0: skip)")
    parser.add_argument("--drain-runs", type=int, default=100, help="runs drained (0: skip)")
    parser.add_argument("--list-requests", type=int, default=30, help="requests per listing measure")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-studies-") as folder:
        figures = run_studies(Path(folder), args.sweep_runs, args.drain_runs, args.list_requests)
    print("\n".join(document_section(figures)))


if __name__ == "__main__":
    main()
