"""HTTP load on a running Workflow API: requests/s, p50 and p99 per workload.

    .venv/bin/python -m bench.http_load --url http://127.0.0.1:8000 \\
        --client-key KEY --worker-key KEY --database-url postgresql://... \\
        [--clients 8] [--warmup 2] [--duration 10] [--only create-run ...]

Starts nothing. ``--clients`` threads, each with a keep-alive
``requests.Session`` of its own, call the API at ``--url`` as fast as it
answers, for ``--warmup`` seconds unmeasured and then ``--duration``
seconds measured, one workload after another. Each workload's fixtures are
made first: pipelines and a few runs through the API, and pipelines with
thousands of finished runs written straight into the database at
``--database-url`` (the API only ever sees them through HTTP).
"""

import argparse
import os
import statistics
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import requests

API_KEY_HEADER = "Workflow-API-Key"
ARTIFACT_BYTES = os.urandom(64 * 1024)
# What a worker sends when it replaces a run's console: a screenful of output.
CONSOLE = {
    "std_out": "".join(f"Processing 2020-07-01 {hour:02d}:00:00 EDT...\n" for hour in range(24)) * 4,
    "std_err": "WARNING  [2020-07-01 00:00:00 EDT] : a warning the engine printed\n",
}
RUN_INPUTS = {"inputs": [{"name": "model.glm", "url": "https://example.com/models/model.glm"}]}


@dataclass
class Workload:
    """One row of the table: ``call(session, client_index)`` makes one request."""

    key: str
    label: str
    setup: object  # setup(api) -> call
    expected: int = 200


@dataclass
class Result:
    workload: Workload
    latencies: list = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    duration: float = 0.0

    @property
    def count(self):
        return len(self.latencies)

    @property
    def rate(self):
        return self.count / self.duration if self.duration else 0.0

    def percentile(self, fraction):
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    @property
    def p50(self):
        return statistics.median(self.latencies) if self.latencies else float("nan")

    @property
    def p99(self):
        return self.percentile(0.99)


class Api:
    """The calls the fixtures need, with the client and worker keys."""

    def __init__(self, url, client_key, worker_key, database_url=None):
        self.url = url.rstrip("/")
        self.client = {API_KEY_HEADER: client_key}
        self.worker = {API_KEY_HEADER: worker_key}
        self.database_url = database_url
        self.session = requests.Session()

    def call(self, method, path, headers, expected, **kwargs):
        response = self.session.request(method, self.url + path, headers=headers, timeout=60, **kwargs)
        if response.status_code != expected:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def create_pipeline(self, name="bench"):
        return self.call("POST", "/v1/pipelines", self.client, 201, json={"name": name, "model": "model.glm"})

    def create_run(self, pipeline):
        return self.call("POST", f"/v1/pipelines/{pipeline['uuid']}/runs", self.client, 201, json=RUN_INPUTS)

    def running_run(self, pipeline):
        run = self.create_run(pipeline)
        self.call("PUT", run_path(run, "/state"), self.worker, 200, json={"state": "RUNNING"})
        return run

    def pipeline_with_runs(self, count, name="bench"):
        """A pipeline with ``count`` COMPLETED runs, each with 3 states and 2 artifacts."""
        pipeline = self.create_pipeline(name)
        if count:
            seed_finished_runs(self.database_url, pipeline["uuid"], count)
        return pipeline


def run_path(run, tail=""):
    return f"/v1/pipelines/{run['pipeline_uuid']}/runs/{run['uuid']}{tail}"


def store_final_json_of(database_url, run_ids, batch):
    """What the API does when a run ends, with the API's own code."""
    from app import create_app
    from app.runs.final_json import store_final_json
    from roles.models import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        for first in range(0, len(run_ids), batch):
            store_final_json(run_ids[first : first + batch])
            db.session.commit()
        db.engine.dispose()


def seed_finished_runs(database_url, pipeline_uuid, count, batch=2000):
    """Write ``count`` finished runs of a pipeline straight into the database.

    Each is COMPLETED with the three states and two artifacts a real run has,
    numbered after the pipeline's newest run, as the API would number them,
    and with the JSON the API stores for a run when it ends.
    """
    if not database_url:
        raise SystemExit("--database-url is needed to seed pipelines with many runs")
    import sqlalchemy as sa

    from app.artifacts.models import Artifact
    from app.ids import new_uuid
    from app.pipelines.models import Pipeline
    from app.runs.models import Run, RunStateChange

    pipelines, runs = Pipeline.__table__, Run.__table__
    states, artifacts = RunStateChange.__table__, Artifact.__table__
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            pipeline_id, last = connection.execute(
                sa.select(pipelines.c.id, pipelines.c.last_run_sequence)
                .where(pipelines.c.uuid == pipeline_uuid)
                .with_for_update()
            ).one()
            now = datetime.now(UTC) - timedelta(days=1)
            seeded = []
            for first in range(last + 1, last + count + 1, batch):
                numbers = range(first, min(first + batch, last + count + 1))
                rows = [
                    {
                        "uuid": new_uuid(),
                        "pipeline_id": pipeline_id,
                        "sequence": number,
                        "state": "COMPLETED",
                        "inputs": [{"name": "model.glm", "url": f"https://example.com/{number}/model.glm"}],
                        "callback_url": None,
                        "created_at": now,
                        "started_at": now,
                        "completed_at": now + timedelta(seconds=1),
                    }
                    for number in numbers
                ]
                connection.execute(runs.insert(), rows)
                ids = connection.execute(
                    sa.select(runs.c.id).where(
                        runs.c.pipeline_id == pipeline_id, runs.c.sequence.between(numbers[0], numbers[-1])
                    )
                ).scalars()
                ids = list(ids)
                connection.execute(
                    states.insert(),
                    [
                        {"run_id": run_id, "state": state, "created_at": now}
                        for run_id in ids
                        for state in ("NOT_STARTED", "RUNNING", "COMPLETED")
                    ],
                )
                seeded.extend(ids)
                connection.execute(
                    artifacts.insert(),
                    [
                        {
                            "uuid": new_uuid(),
                            "run_id": run_id,
                            "name": name,
                            "storage_key": f"bench/{run_id}/{name}",
                            "size": 1024,
                            "sha256": "0" * 64,
                            "created_at": now,
                        }
                        for run_id in ids
                        for name in ("ieee4_load_voltages.csv", "ieee4_substation_power.csv")
                    ],
                )
            connection.execute(
                pipelines.update().where(pipelines.c.id == pipeline_id).values(last_run_sequence=last + count)
            )
        store_final_json_of(database_url, seeded, batch)
        # What autovacuum would do within a minute, done now rather than
        # during a measurement: the planner knows how many runs the pipeline
        # has, as it would for a real history.
        if engine.dialect.name == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(sa.text("VACUUM (ANALYZE) run, run_state, artifact"))
    finally:
        engine.dispose()


# The workloads. Each setup makes its fixtures and returns the call to time.


def create_pipeline(api):
    body = {"name": "bench", "model": "ieee4.glm", "arguments": ["-D", "RECORDER_INTERVAL=60"]}
    return lambda session, index: session.post(api.url + "/v1/pipelines", json=body)


def read_pipeline(api):
    path = f"{api.url}/v1/pipelines/{api.create_pipeline()['uuid']}"
    return lambda session, index: session.get(path)


def create_run(runs):
    def setup(api):
        path = f"{api.url}/v1/pipelines/{api.pipeline_with_runs(runs)['uuid']}/runs"
        return lambda session, index: session.post(path, json=RUN_INPUTS)

    return setup


def read_run(api):
    pipeline = api.pipeline_with_runs(10)
    run = api.call("GET", f"/v1/pipelines/{pipeline['uuid']}/runs?limit=1&offset=5", api.client, 200)[0]
    path = api.url + run_path(run)
    return lambda session, index: session.get(path)


def list_runs(runs, limit=None):
    def setup(api):
        path = f"{api.url}/v1/pipelines/{api.pipeline_with_runs(runs)['uuid']}/runs"
        params = {"limit": limit} if limit else None
        listed = api.call("GET", path[len(api.url) :], api.client, 200, params=params)
        assert len(listed) == min(runs, limit or runs), len(listed)
        return lambda session, index: session.get(path, params=params)

    return setup


def replace_console(api):
    # One RUNNING run per client, as each worker reports on its own run.
    pipeline = api.create_pipeline()
    paths = [api.url + run_path(api.running_run(pipeline), "/console") for _ in range(64)]
    return lambda session, index: session.put(paths[index], json=CONSOLE)


def upload_artifact(api):
    pipeline = api.create_pipeline()
    paths = [api.url + run_path(api.running_run(pipeline), "/artifacts") for _ in range(64)]
    headers = {"Content-Type": "application/octet-stream"}
    params = {"name": "ieee4_load_voltages.csv"}
    return lambda session, index: session.post(
        paths[index], params=params, data=ARTIFACT_BYTES, headers=headers
    )


WORKLOADS = [
    Workload("create-pipeline", "create a pipeline", create_pipeline, 201),
    Workload("read-pipeline", "read a pipeline", read_pipeline),
    Workload("create-run-0", "create a run (enqueue included), on an empty pipeline", create_run(0), 201),
    Workload(
        "create-run-300", "create a run (enqueue included), on a pipeline with 300 runs", create_run(300), 201
    ),
    Workload(
        "create-run-10000",
        "create a run (enqueue included), on a pipeline with 10,000 runs",
        create_run(10_000),
        201,
    ),
    Workload("read-run", "read a run", read_run),
    Workload("list-10", "list a pipeline's runs, 10 runs", list_runs(10)),
    Workload("list-100", "list a pipeline's runs, 100 runs", list_runs(100)),
    Workload("list-1000", "list a pipeline's runs, 1,000 runs", list_runs(1000)),
    Workload("list-limit-10", "list with limit=100, 10 runs", list_runs(10, 100)),
    Workload("list-limit-1000", "list with limit=100, 1,000 runs", list_runs(1000, 100)),
    Workload("list-limit-10000", "list with limit=100, 10,000 runs", list_runs(10_000, 100)),
    Workload("replace-console", "worker replaces the console", replace_console),
    Workload("upload-artifact", "worker uploads a 64 KiB artifact", upload_artifact, 201),
]
WORKER_WORKLOADS = {"replace-console", "upload-artifact"}


def measure(api, workload, clients, warmup, duration):
    """Run ``workload`` with ``clients`` threads; returns its ``Result``."""
    if clients > 64:
        raise SystemExit("at most 64 clients")
    call = workload.setup(api)
    headers = api.worker if workload.key in WORKER_WORKLOADS else api.client
    result = Result(workload, duration=duration)
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)
    times = {}

    def client(index):
        session = requests.Session()
        session.headers.update(headers)
        latencies, errors, first_error = [], 0, ""
        ready.wait()
        measured_from, end = times["measured_from"], times["end"]
        try:
            while True:
                started = time.perf_counter()
                if started >= end:
                    break
                try:
                    response = call(session, index)
                    ok = response.status_code == workload.expected
                    error = "" if ok else f"{response.status_code} {response.text[:200]}"
                except requests.RequestException as exc:
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                finished = time.perf_counter()
                if started >= measured_from:
                    if ok:
                        latencies.append(finished - started)
                    else:
                        errors += 1
                        first_error = first_error or error
        finally:
            session.close()
            with lock:
                result.latencies.extend(latencies)
                result.errors += errors
                result.first_error = result.first_error or first_error

    threads = [threading.Thread(target=client, args=(index,), daemon=True) for index in range(clients)]
    for thread in threads:
        thread.start()
    now = time.perf_counter()
    times["measured_from"] = now + warmup
    times["end"] = now + warmup + duration
    ready.wait()
    for thread in threads:
        thread.join()
    return result


def pick(only):
    if not only:
        return list(WORKLOADS)
    known = {workload.key: workload for workload in WORKLOADS}
    unknown = [key for key in only if key not in known]
    if unknown:
        raise SystemExit(f"unknown workload(s) {', '.join(unknown)}; choose from: {', '.join(known)}")
    return [known[key] for key in only]


def harness_ceiling(api, server, clients, warmup, duration):
    """The most these clients can do on this machine: the same requests, to
    nginx (``server``, a started ``blob_server.BlobServer``) answering a
    stored file as large as a pipeline's JSON. No API can be measured above it."""
    pipeline = requests.get(
        f"{api.url}/v1/pipelines/{api.create_pipeline()['uuid']}", headers=api.client, timeout=30
    ).content
    url = f"{server.url}/ceiling/pipeline.json"
    token = {"Authorization": f"Bearer {server.token}"}
    requests.put(url, data=pipeline, headers=token, timeout=30).raise_for_status()
    workload = Workload(
        "harness-ceiling",
        "the harness's ceiling: nginx answering a file as large as a pipeline's JSON",
        lambda api: lambda session, index: session.get(url, headers=token),
    )
    return measure(api, workload, clients, warmup, duration)


def run_workloads(api, workloads, clients, warmup, duration, report=print):
    results = []
    for workload in workloads:
        result = measure(api, workload, clients, warmup, duration)
        report(format_result(result))
        results.append(result)
    return results


def format_result(result):
    line = (
        f"{result.workload.label:<64} {result.rate:8.1f} /s  p50 {result.p50 * 1000:7.1f} ms"
        f"  p99 {result.p99 * 1000:7.1f} ms"
    )
    if result.errors:
        line += f"  ERRORS {result.errors}: {result.first_error}"
    return line


def add_arguments(parser):
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default 8)")
    parser.add_argument(
        "--warmup", type=float, default=2.0, help="unmeasured seconds per workload (default 2)"
    )
    parser.add_argument(
        "--duration", type=float, default=10.0, help="measured seconds per workload (default 10)"
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="WORKLOAD",
        help=f"run only these workloads: {', '.join(w.key for w in WORKLOADS)}",
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="the API's base URL")
    parser.add_argument("--client-key", required=True, help="a PIPELINES_CLIENT key")
    parser.add_argument("--worker-key", required=True, help="a PIPELINES_WORKER key")
    parser.add_argument("--database-url", help="the API's database, to seed pipelines with many runs")
    add_arguments(parser)
    args = parser.parse_args()
    api = Api(args.url, args.client_key, args.worker_key, args.database_url)
    print(f"{args.clients} clients, {args.warmup:g} s warm-up, {args.duration:g} s measured per workload")
    run_workloads(api, pick(args.only), args.clients, args.warmup, args.duration)


if __name__ == "__main__":
    main()
