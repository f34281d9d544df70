"""Every benchmark of the service, on a stack of its own: what ``invoke bench`` runs.

    .venv/bin/invoke bench [--duration 10] [--warmup 2] [--clients 8] [--no-write]
    .venv/bin/python -m bench.suite [same options]

Starts a stack on loopback (a fresh PostgreSQL database, Redis database 12,
gunicorn with 2 processes of 4 threads, no worker yet), then:

1. drives the API over HTTP with ``bench.http_load`` (every workload);
2. empties the task queue those runs filled, starts one Celery worker
   process and times ``--jobs`` jobs one after another, POST to COMPLETED,
   next to the gridlabd command alone (``bench.job_latency``);
3. job throughput: ``--throughput-jobs`` jobs of about a second of CPU each
   (``ieee4.glm`` with ``-D RECORDER_INTERVAL=4``) submitted at once, with
   one worker process, then with two;
4. the console's chart on a 1,000,000-row recorder file in headless
   Chromium (``bench.chart``) unless ``--no-chart``;
5. the job latency again on the embedded default (SQLite, filesystem broker)
   unless ``--no-embedded``;
6. sweeps (``bench.studies``, on a stack of its own): a 10,000-run sweep
   created three times, its runs paged, and 100 runs drained through the
   service against the same gridlabd commands by hand;

and writes the figures to ``docs/benchmarks.md`` (unless ``--no-write``).
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import redis
import requests

from blob_server import BlobServer, NginxMissing
from tests.e2e.stack import FINAL_STATES, Stack
from tests.processes import REPO_ROOT

from . import BENCH_REDIS_DB, chart, http_load, job_latency, sandbox_cost, streams, studies

API_WORKERS = 2
API_THREADS = 4
LONG_ARGUMENTS = ["-D", "RECORDER_INTERVAL=4"]
DOCUMENT = REPO_ROOT / "docs" / "benchmarks.md"

# The original service on this kind of machine, from issue 6:
# workload key -> (requests/s, median ms).
ORIGINAL = {
    "create-pipeline": (284, 26),
    "read-pipeline": (349, 22),
    "create-run-300": (11, 639),
    "read-run": (156, 42),
    "list-10": (50, 148),
    "list-100": (12, 625),
    "list-1000": (1.3, 5431),
    "replace-console": (182, 37),
    "upload-artifact": (56, 108),
}
# Issue 16: the simplest requests, the original (unmodified, the same harness
# and gunicorn settings) measured side by side with this service, alternated
# twice: its lowest and highest requests/s. They replace issue 6's figures.
SIDE_BY_SIDE = {"read-pipeline": (397, 423), "replace-console": (212, 243), "read-run": (111, 139)}
# ... and what this service must reach: 3x the highest.
SIDE_BY_SIDE_TARGET = 3


def say(message):
    print(message, flush=True)


def load_average():
    return "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


def machine(stack):
    """What the figures were measured on."""
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as handle:
            cpu = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            kib = int(next(line for line in handle if line.startswith("MemTotal")).split()[1])
        memory = f", {kib / 1024**2:.0f} GiB"
    except (OSError, StopIteration):
        pass
    import sqlalchemy as sa

    engine = sa.create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            postgres = connection.execute(sa.text("SHOW server_version")).scalar_one().split()[0]
    finally:
        engine.dispose()
    redis_version = redis.Redis.from_url(stack.broker_url).info("server")["redis_version"]
    return (
        f"{os.cpu_count()} cores ({cpu}){memory}, Linux {platform.release()}, "
        f"Python {platform.python_version()}, PostgreSQL {postgres} and Redis {redis_version} on loopback"
    )


def wait_for_all(stack, pipeline, count, timeout=600):
    """Poll the pipeline's runs until ``count`` of them have ended; returns them."""
    url = f"{stack.url}/v1/pipelines/{pipeline['uuid']}/runs"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = requests.get(url, headers=stack.client, timeout=30).json()
        if sum(run["state"] in FINAL_STATES for run in runs) >= count:
            return runs
        time.sleep(0.5)  # the figures come from the API's timestamps, not from this
    raise SystemExit(f"jobs did not end within {timeout} s")


def job_throughput(stack, jobs, concurrency):
    """Jobs per second with ``concurrency`` worker processes, on ~1 s jobs.

    The worker is warmed with one job per process first. The figure is the
    number of jobs over the time from the first job's creation to the last
    one's completion, both as the API recorded them.
    """
    stack.start_worker(concurrency)
    try:
        pipeline = stack.create_pipeline(model=job_latency.MODEL, arguments=LONG_ARGUMENTS)
        inputs = [{"name": job_latency.MODEL, "url": stack.input_url(job_latency.MODEL)}]
        for _ in range(concurrency):
            stack.start_run(pipeline, inputs)
        wait_for_all(stack, pipeline, concurrency)
        for _ in range(jobs):
            stack.start_run(pipeline, inputs)
        runs = wait_for_all(stack, pipeline, concurrency + jobs)[concurrency:]
    finally:
        stack.stop_worker()
    failed = [run for run in runs if run["state"] != "COMPLETED"]
    if failed:
        raise SystemExit(f"{len(failed)} jobs ended {failed[0]['state']}: {stack.get(failed[0], '/console')}")
    first = min(datetime.fromisoformat(run["created_at"]) for run in runs)
    last = max(datetime.fromisoformat(run["completed_at"]) for run in runs)
    elapsed = (last - first).total_seconds()
    run_times = [
        (
            datetime.fromisoformat(run["completed_at"]) - datetime.fromisoformat(run["started_at"])
        ).total_seconds()
        for run in runs
    ]
    return {
        "jobs": jobs,
        "elapsed": elapsed,
        "rate": jobs / elapsed,
        "run_median": statistics.median(run_times),
    }


def run_suite(args, folder):
    figures = {"load_before": load_average(), "started": datetime.now(UTC)}
    for name in ("postgres", "embedded"):
        (folder / name).mkdir()
    say(f"load average before: {figures['load_before']}")
    stack = Stack(
        folder / "postgres",
        api_workers=API_WORKERS,
        api_threads=API_THREADS,
        worker_concurrency=0,
        redis_db=BENCH_REDIS_DB,
    )
    try:
        figures["machine"] = machine(stack)
        say(figures["machine"])
        api = http_load.Api(
            stack.url,
            stack.client[http_load.API_KEY_HEADER],
            stack.worker_key[http_load.API_KEY_HEADER],
            stack.database_url,
        )
        say(f"\nAPI: {args.clients} clients, {args.warmup:g} s warm-up, {args.duration:g} s measured")
        figures["http"] = http_load.run_workloads(
            api, http_load.pick(args.only), args.clients, args.warmup, args.duration, report=say
        )
        try:
            with BlobServer("bench-ceiling") as server:
                ceiling = http_load.harness_ceiling(api, server, args.clients, args.warmup, args.duration)
        except NginxMissing as error:
            say(f"no harness ceiling: {error}")
        else:
            say(http_load.format_result(ceiling))
            figures["http"].append(ceiling)
        if args.streams:
            say(f"\nEvent streams: the usual load without, then with {args.streams} open streams")
            figures["streams"] = streams.measure(
                api, args.streams, args.clients, args.warmup, args.duration, report=say
            )
        # The runs created above wait in the queue; no worker should see them.
        redis.Redis.from_url(stack.broker_url).flushdb()

        if args.jobs:
            say(f"\nJob latency, {args.jobs} jobs one after another")
            figures["alone"] = job_latency.time_gridlabd_alone(args.jobs)
            say(f"gridlabd alone:        {job_latency.summary(figures['alone'])}")
            stack.start_worker(1)
            try:
                figures["service"] = job_latency.time_service_jobs(stack, args.jobs)
            finally:
                stack.stop_worker()
            say(f"POST run -> COMPLETED: {job_latency.summary(figures['service'])}")

        if args.throughput_jobs:
            say(f"\nJob throughput, {args.throughput_jobs} jobs of ieee4.glm {' '.join(LONG_ARGUMENTS)}")
            figures["long_alone"] = job_latency.time_gridlabd_alone(3, LONG_ARGUMENTS)
            say(f"gridlabd alone:        {job_latency.summary(figures['long_alone'])}")
            figures["throughput"] = {}
            for concurrency in (1, 2):
                result = job_throughput(stack, args.throughput_jobs, concurrency)
                figures["throughput"][concurrency] = result
                say(
                    f"{concurrency} worker process(es): {result['rate']:.3f} jobs/s "
                    f"({result['jobs']} jobs in {result['elapsed']:.2f} s, "
                    f"median run {result['run_median']:.2f} s)"
                )

        if args.chart:
            say("\nThe console's chart, 1,000,000 rows, in headless Chromium")
            figures["chart"] = chart.run(stack)
    finally:
        stack.close()

    if args.jobs and args.embedded:
        say(f"\nJob latency on the embedded default, {args.jobs} jobs")
        figures["embedded_alone"] = job_latency.time_gridlabd_alone(args.jobs)
        say(f"gridlabd alone:        {job_latency.summary(figures['embedded_alone'])}")
        embedded = Stack(folder / "embedded", embedded=True, api_workers=API_WORKERS, api_threads=API_THREADS)
        try:
            figures["embedded"] = job_latency.time_service_jobs(embedded, args.jobs)
        finally:
            embedded.close()
        say(f"POST run -> COMPLETED: {job_latency.summary(figures['embedded'])}")

    if args.sweep_runs or args.drain_runs:
        say("\nSweeps and drain (bench/studies.py)")
        (folder / "studies").mkdir()
        figures["studies"] = studies.run_studies(
            folder / "studies", args.sweep_runs, args.drain_runs, args.list_requests, report=say
        )

    figures["load_after"] = load_average()
    say(f"\nload average after: {figures['load_after']}")
    return figures


# The document.


def ms(seconds):
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds * 1000:,.0f} ms"


def original_figure(key, rate):
    """``(the original's figure, this rate against it)`` for a workload."""
    if key in SIDE_BY_SIDE:
        low, high = SIDE_BY_SIDE[key]
        return f"{low}-{high} /s", f"{rate / high:.1f}-{rate / low:.1f}x"
    if key in ORIGINAL:
        original = ORIGINAL[key]
        return f"{original[0]:g} /s, {original[1]:,} ms", f"{rate / original[0]:.1f}x"
    return "", ""


def http_table(results):
    rows = [
        "| workload | original | requests/s | against the original | p50 | p99 | errors |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for result in results:
        before, ratio = original_figure(result.workload.key, result.rate)
        rows.append(
            f"| {result.workload.label} | {before} | {result.rate:,.0f} /s | {ratio} | {ms(result.p50)} "
            f"| {ms(result.p99)} | {result.errors} |"
        )
    return "\n".join(rows)


def seconds(times):
    return f"{statistics.median(times):.3f} s (min {min(times):.3f}, max {max(times):.3f})"


def latency_row(stack, alone, service):
    overhead = statistics.median(service) - statistics.median(alone)
    return f"| {stack} | {seconds(alone)} | {seconds(service)} | {overhead:.3f} s |"


def targets(figures):
    """Issue 6's targets next to this run's figures."""
    http = {result.workload.key: result for result in figures["http"]}
    rows = []

    def row(target, figure, met):
        rows.append(f"| {target} | {figure} | {'yes' if met else '**no**'} |")

    if {"create-run-0", "create-run-10000"} <= http.keys():
        empty, full = http["create-run-0"].rate, http["create-run-10000"].rate
        row("creating a run: at least 250 /s", f"{empty:,.0f} /s", empty >= 250)
        row(
            "... at 10,000 runs within 20% of an empty pipeline",
            f"{full:,.0f} /s ({full / empty:.2f} of it)",
            full >= 0.8 * empty,
        )
    if "list-1000" in http:
        p50 = http["list-1000"].p50
        row("listing 1,000 runs: p50 under 100 ms", ms(p50), p50 < 0.1)
    if {"list-limit-10", "list-limit-10000"} <= http.keys():
        few, many = http["list-limit-10"].p50, http["list-limit-10000"].p50
        row(
            "`limit=100` at 10,000 runs within 2x of at 10 runs (p50)",
            f"{ms(many)} against {ms(few)}: {many / few:.2f}x",
            many <= 2 * few,
        )
    for key, label in (
        ("read-run", "reading a run"),
        ("read-pipeline", "reading a pipeline"),
        ("replace-console", "replacing the console"),
    ):
        if key in http:
            high, rate = SIDE_BY_SIDE[key][1], http[key].rate
            ceiling = http.get("harness-ceiling")
            beside = f"; the harness's ceiling {ceiling.rate:,.0f} /s" if ceiling else ""
            row(
                f"{label}: at least {SIDE_BY_SIDE_TARGET}x the original's {high} /s (issue 16)",
                f"{rate:,.0f} /s ({rate / high:.2f}x{beside})",
                rate >= SIDE_BY_SIDE_TARGET * high,
            )
    if "service" in figures:
        overhead = statistics.median(figures["service"]) - statistics.median(figures["alone"])
        row("end-to-end overhead, median: under 0.3 s", f"{overhead:.3f} s", overhead < 0.3)
    if "throughput" in figures:
        ratio = figures["throughput"][2]["rate"] / figures["throughput"][1]["rate"]
        row("two worker processes: at least 1.8x one", f"{ratio:.2f}x", ratio >= 1.8)
    if not rows:
        return []
    return [
        "",
        "### Targets (issues 6 and 16)",
        "",
        "| target | this run | met |",
        "| --- | --- | --- |",
        *rows,
    ]


def document(figures, command, args):
    date = figures["started"].strftime("%Y-%m-%d")
    parts = [
        "# Benchmarks",
        "",
        textwrap.fill(
            "Written by `invoke bench` (`bench/suite.py`) from one run; do not edit by hand, "
            f"run it again. Measured {date} on {figures['machine']}. Load average (1, 5, 15 "
            f"minutes) {figures['load_before']} before the run, {figures['load_after']} after it: "
            "other work on the machine lowers the figures.",
            width=78,
        ),
        "",
        "    " + command,
        "",
        "It starts its own stack on loopback: a fresh PostgreSQL database, Redis",
        f"database {BENCH_REDIS_DB}, gunicorn (`gunicorn run:app`) with {API_WORKERS} processes of "
        f"{API_THREADS} threads,",
        "Celery workers (`celery -A worker worker`) when the jobs need them.",
        "Runs under faults (workers killed, broker or API stopped) are in",
        "[faults.md](faults.md), from `bench/faults.py`.",
        "",
        "## The API under load",
        "",
        f"`bench/http_load.py`: {args.clients} client threads, each with a keep-alive `requests`",
        f"session, call the API as fast as it answers: {args.warmup:g} s warm-up, then "
        f"{args.duration:g} s measured,",
        "per workload. It can drive any running API (`python -m bench.http_load --help`).",
        "Pipelines with many runs are seeded straight into the database: COMPLETED",
        "runs, each with its three states and two artifacts, as the worker leaves",
        "them, then `VACUUM (ANALYZE)`d as autovacuum would within a minute. A listing without",
        "`limit` returns every run. Runs created here are",
        "queued with no worker running; the queue is emptied afterwards. The console",
        "and upload workloads give each client a RUNNING run of its own; the console",
        f"replaced holds {sum(len(text) for text in http_load.CONSOLE.values()):,} characters.",
        "The original's figures are those of issue 6, measured the same way, but for reading",
        "a pipeline, reading a run and replacing the console: those are issue 16's, the",
        "lowest and highest of the original measured side by side with this service",
        "(unmodified, the same harness and gunicorn settings, alternated twice); the ratio",
        "is against the highest, then the lowest. The last row is the harness's own",
        "ceiling on this machine: the same clients reading a file nginx serves, as",
        "large as a pipeline's JSON. The clients' own CPU caps every row at about that.",
        "",
        http_table(figures["http"]),
    ]
    parts += targets(figures)
    if "service" in figures:
        parts += [
            "",
            "## Job latency: the service against the gridlabd command alone",
            "",
            "`bench/job_latency.py`, with one Celery worker process (concurrency 1): the",
            "example model is served over HTTP as the run's input, the worker is warmed",
            f"with one job, then {len(figures['service'])} runs one after another are timed from",
            "`POST .../runs` until the run reads `COMPLETED` (polled every 20 ms). Next to",
            "it, the same gridlabd command (`python -P -m worker.gridlabd_cli ieee4.glm`,",
            "the worker's default) run by itself in a fresh folder as many times.",
            "",
            "| stack | gridlabd alone (median) | POST run to COMPLETED (median) | overhead (medians) |",
            "| --- | --- | --- | --- |",
            latency_row("PostgreSQL + Redis", figures["alone"], figures["service"]),
        ]
        if "embedded" in figures:
            parts.append(
                latency_row(
                    "embedded (SQLite, filesystem broker)", figures["embedded_alone"], figures["embedded"]
                )
            )
        parts += [
            "",
            "The overhead holds the API calls a run makes (create, RUNNING, console,",
            "two artifact uploads, COMPLETED), the input download, the broker hop and",
            "the client's polling. On the embedded default the worker looks in the",
            "broker folder every 0.1 s (kombu's default of 1 s made the median 0.998 s).",
            "Alone: `python -m bench.job_latency --jobs 20 [--embedded]`.",
        ]
    if "throughput" in figures:
        one, two = figures["throughput"][1], figures["throughput"][2]
        parts += [
            "",
            "## Job throughput: one worker process against two",
            "",
            f"{one['jobs']} jobs submitted at once on a pipeline running `ieee4.glm` with",
            f"`{' '.join(LONG_ARGUMENTS)}` (the same simulated day, solved and recorded every",
            f"4 s: {seconds(figures['long_alone'])} for the gridlabd command alone, CPU-bound, "
            "two CSV artifacts of about 1.7 MB).",
            "One worker process (`--concurrency=1`), then two (`--concurrency=2`), each warmed",
            "with a job per process. Throughput is the jobs over the time from the first",
            "one's creation to the last one's completion, as the API recorded them.",
            "",
            "| worker processes | jobs/s | elapsed | median run (RUNNING to COMPLETED) |",
            "| --- | --- | --- | --- |",
            f"| 1 | {one['rate']:.3f} | {one['elapsed']:.2f} s | {one['run_median']:.2f} s |",
            f"| 2 | {two['rate']:.3f} | {two['elapsed']:.2f} s | {two['run_median']:.2f} s |",
            "",
            f"Two processes: {two['rate'] / one['rate']:.2f} times the throughput of one.",
        ]
    if figures.get("studies"):
        parts += studies.document_section(figures["studies"])
    parts += [
        "",
        "## What keeps these figures",
        "",
        "- A key is checked with one query (the application joined with its",
        "  permissions), then kept by the API process for 0.5 s, so a busy client's",
        "  requests cost no query for it; a revocation reaches every process within",
        "  that ([ADR 17](adr/0017-key-cache.md)). The statements the hot paths run are",
        "  built once, so that SQLAlchemy finds them in its cache without building and",
        "  hashing them again.",
        "- Reading a pipeline is one row read with SQLAlchemy Core, not the ORM, made",
        "  into JSON by a plain loop over `PipelineSchema`'s fields. Reading a finished",
        "  run answers the JSON stored when it ended (one query, the text passed on).",
        "- GET requests read in autocommit: no BEGIN before the first query, no ROLLBACK",
        "  at the end (two round trips of the four a read took), and PostgreSQL's driver",
        "  keeps its prepared statements, which it forgets at every ROLLBACK. There is no",
        "  pre-ping either: a connection that died fails one request with a 503.",
        "- A run is found with its pipeline in one query; its states and artifacts are",
        "  loaded only by the answers that hold them.",
        "- Creating a run costs the same at any history: on PostgreSQL one statement",
        "  numbers the run (the pipeline's counter), inserts it and its first state, so",
        "  the pipeline's row is locked for one statement and the commit (concurrent",
        "  creations on one pipeline queue on that lock); nothing is read back after the",
        "  commit. The task is published through Celery's producer pool, on a broker",
        "  connection kept open.",
        "- A listing is one query whatever its length on PostgreSQL, which writes the",
        "  page's JSON itself (`app/runs/listing.py`): Python took about twice as long",
        "  a run to read the rows and make the JSON. Elsewhere (SQLite) it is three",
        "  queries (the page, then the states and the artifacts of that page, selected",
        "  by the page's own query), read as plain rows and turned into JSON by plain",
        "  functions (`app/runs/output.py`), not marshmallow's per-field machinery.",
        "  The artifact URL is asked of Flask's router once per request. PostgreSQL",
        "  sessions run in UTC, which makes the driver read times about twice as fast.",
        "- Replacing the console is two statements on PostgreSQL, in autocommit: the",
        "  run's state and attempt, then one that claims the run's row only if it is",
        "  still so, deletes the old chunks and inserts the new ones (a run that changed",
        "  meanwhile, or a refusal, takes the transaction that decides on the claimed",
        "  row, as before). The answer is what was written, not read back.",
        "- A finished run's JSON is stored when it ends, so a listing copies it instead",
        "  of building it ([ADR 12](adr/0012-stored-json-of-finished-runs.md)).",
        "- The API's PostgreSQL sessions run without parallel query: on a large run",
        "  table the planner would scan every run of every pipeline with a second",
        "  process instead of reading the page through the pipeline's index",
        "  ([ADR 13](adr/0013-no-parallel-query-for-the-api.md)).",
        "- gunicorn gives each worker process a socket of its own (`reuse_port` in",
        "  `gunicorn.conf.py`): without it one process took every keep-alive connection",
        "  of a burst while the other idled.",
        "",
        "`tests/test_query_counts.py` pins the statement counts (a key lookup, reading",
        "a run, replacing a console, creating and listing runs at 1 and at 500 runs);",
        "`tests/test_run_output.py` checks that the plain functions make what",
        "`RunSchema` and `ArtifactSchema` declare, and that PostgreSQL's JSON is the same.",
        "`tests/test_listing_plan.py` checks that plan on a run table of about 20 MB.",
    ]
    text = "\n".join(parts) + "\n"
    if figures.get("streams"):
        text += "\n" + streams.section(figures["streams"], "part of the run above")
    return text


def add_arguments(parser):
    http_load.add_arguments(parser)
    parser.add_argument("--jobs", type=int, default=20, help="jobs timed for latency (default 20; 0: none)")
    parser.add_argument(
        "--throughput-jobs", type=int, default=12, help="jobs per throughput measure (default 12; 0: none)"
    )
    parser.add_argument(
        "--no-embedded", dest="embedded", action="store_false", help="skip the embedded stack"
    )
    studies.add_arguments(parser)
    parser.add_argument(
        "--streams",
        type=int,
        default=200,
        help="open event streams beside the usual load (default 200; 0: none)",
    )
    parser.add_argument("--no-write", dest="write", action="store_false", help=f"do not write {DOCUMENT}")
    parser.add_argument("--no-chart", dest="chart", action="store_false", help="skip the console's chart")


def main(argv=None, command=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    command = command or " ".join(
        [".venv/bin/python -m bench.suite", *(sys.argv[1:] if argv is None else argv)]
    )
    with tempfile.TemporaryDirectory(prefix="bench-suite-") as folder:
        figures = run_suite(args, Path(folder))
    if args.write:
        if args.only or not (args.jobs and args.throughput_jobs):
            say(f"\nnot writing {DOCUMENT}: only part of the suite ran")
        else:
            # bench/sandbox_cost.py's section is its own: kept as it is.
            kept = sandbox_cost.kept_section(DOCUMENT.read_text()) if DOCUMENT.exists() else ""
            DOCUMENT.write_text(document(figures, command, args) + ("\n" + kept if kept else ""))
            if "chart" in figures:
                chart.write_section(chart.section(figures["chart"], command))
            say(f"\nwrote {DOCUMENT}")


if __name__ == "__main__":
    main()
