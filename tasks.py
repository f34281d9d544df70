"""Developer and operator tasks: ``invoke -l`` lists them."""

import os
import sys

from invoke import task

PYTHON_SOURCES = (
    "app roles worker filesystem_broker wf-client tests bench tasks.py run.py quickstart.py blob_server.py"
)


def _sources():
    return " ".join(path for path in PYTHON_SOURCES.split() if os.path.exists(path))


def _app():
    from app import create_app

    return create_app()


def _permission(name):
    from app.permissions import WorkflowPermissions

    try:
        return WorkflowPermissions[name]
    except KeyError:
        names = ", ".join(p.name for p in WorkflowPermissions)
        sys.exit(f"Unknown permission {name!r}; choose one of: {names}")


@task(help={"name": "who the key is for", "permission": "PIPELINES_CLIENT or PIPELINES_WORKER"})
def create_application_key(c, name, permission):
    """Create an application key; prints exactly one line API_TOKEN=<key>."""
    from roles.services import create_application_key as create

    with _app().app_context():
        _, key = create(name, [_permission(permission)])
    print(f"API_TOKEN={key}")


@task
def list_application_keys(c):
    """List applications: id, name, key prefix, permissions, revoked or not."""
    from roles.queries import list_applications

    with _app().app_context():
        for application in list_applications():
            permissions = ",".join(p.name for p in application.permissions)
            revoked = f"revoked {application.revoked_at:%Y-%m-%d}" if application.revoked_at else "active"
            print(
                f"{application.id}\t{application.name}\t{application.key_prefix}…\t{permissions}\t{revoked}"
            )


@task(help={"id": "the application id, from list-application-keys"})
def revoke_application_key(c, id):
    """Revoke an application's key: it gets 401 from then on."""
    from roles.services import revoke_application

    with _app().app_context():
        if revoke_application(int(id)) is None:
            sys.exit(f"No application with id {id}")
    print(f"revoked application {id}")


@task(
    help={
        "name": "pipeline name",
        "description": "what it is for",
        "model": "the .glm file to run (default model.glm)",
        "repository": "git URL holding the model files",
        "branch": "git branch",
        "timeout": "seconds a run may take",
    }
)
def create_pipeline(c, name, description=None, model="model.glm", repository=None, branch=None, timeout=None):
    """Create a pipeline directly in the database; prints its JSON."""
    import json

    from app.pipelines.schemas import pipeline_input, pipeline_output
    from app.pipelines.services import create_pipeline as create

    fields = {
        "name": name,
        "description": description,
        "model": model,
        "repository_ssh_url": repository,
        "repository_branch": branch,
        "timeout": int(timeout) if timeout else None,
    }
    with _app().app_context():
        pipeline = create(pipeline_input.load(fields))
        print(json.dumps(pipeline_output.dump(pipeline)))


@task
def expire_artifacts(c):
    """Delete artifacts past ARTIFACT_RETENTION_DAYS from storage and mark them expired."""
    from app.artifacts.services import expire_artifacts as expire

    with _app().app_context():
        report = expire()
    if report.retention_days is None:
        print("ARTIFACT_RETENTION_DAYS is not set: nothing expires")
        return
    print(
        f"expired {report.expired} artifacts of runs finished before {report.cutoff.isoformat()}"
        f" ({report.failed} could not be deleted, left for the next pass)"
    )
    if report.failed:
        sys.exit(1)


@task
def recover_runs(c):
    """Queue again, or fail, the RUNNING runs whose worker has been silent for RUN_HEARTBEAT_TIMEOUT;
    send again the task of runs NOT_STARTED for RUN_QUEUE_TIMEOUT."""
    from flask import current_app

    from app.runs.recovery import recover_runs as recover

    with _app().app_context():
        report = recover()
        timeout = current_app.config["RUN_HEARTBEAT_TIMEOUT"]
    print(
        f"runs silent for over {timeout:g} s: {report.requeued} queued again, {report.failed} failed;"
        f" runs waiting too long: {report.resent} sent again"
        f" ({report.postponed} left as they were: the task queue is unavailable)"
    )
    if report.postponed:
        sys.exit(1)


@task(
    help={
        "duration": "measured seconds per API workload (default 10)",
        "warmup": "unmeasured seconds before each API workload (default 2)",
        "clients": "concurrent HTTP clients (default 8)",
        "only": "run only this API workload (repeat for more; the document is then not written)",
        "jobs": "jobs timed one after another for job latency (default 20)",
        "throughput-jobs": "jobs per job-throughput figure (default 12)",
        "embedded": "also time job latency on the embedded default (default yes)",
        "write": "write docs/benchmarks.md (default yes)",
        "sweep-runs": "runs of the large sweep created and paged (default 10000; 0: none)",
        "drain-runs": "runs drained through the service against by hand (default 100; 0: none)",
        "streams": "open event streams beside the usual load (default 200; 0: none)",
    },
    iterable=["only"],
)
def bench(
    c,
    duration=None,
    warmup=None,
    clients=None,
    only=None,
    jobs=None,
    throughput_jobs=None,
    embedded=True,
    write=True,
    sweep_runs=None,
    drain_runs=None,
    streams=None,
):
    """Benchmark the API and the workers on a stack of their own; writes docs/benchmarks.md."""
    from bench.suite import main

    options = {
        "--duration": duration,
        "--warmup": warmup,
        "--clients": clients,
        "--jobs": jobs,
        "--throughput-jobs": throughput_jobs,
        "--sweep-runs": sweep_runs,
        "--drain-runs": drain_runs,
        "--streams": streams,
    }
    argv = [part for name, value in options.items() if value is not None for part in (name, str(value))]
    if only:
        argv += ["--only", *only]
    argv += [] if embedded else ["--no-embedded"]
    argv += [] if write else ["--no-write"]
    shown = [f"--{name.lstrip('-')} {value}" for name, value in options.items() if value is not None]
    shown += [f"--only {name}" for name in only or []]
    shown += [] if embedded else ["--no-embedded"]
    main(argv, command=" ".join([".venv/bin/invoke bench", *shown]))


@task(
    help={
        "rows": "rows of the recorder file (default 1,000,000; other sizes are not written)",
        "repeat": "times the chart is drawn, each in a fresh page (default 3)",
        "write": "write the figure into docs/benchmarks.md (default yes)",
    }
)
def bench_chart(c, rows=1_000_000, repeat=3, write=True):
    """Time the web console's chart of a large recorder file in headless Chromium."""
    from bench.chart import main

    argv = ["--rows", str(rows), "--repeat", str(repeat)] + ([] if write else ["--no-write"])
    shown = ".venv/bin/invoke bench-chart" + (f" --repeat {repeat}" if int(repeat) != 3 else "")
    main(argv, command=shown)


@task(
    help={
        "mode": "soak (SIGKILL workers), broker-loss or api-loss (default soak)",
        "clients": "concurrent clients creating runs (default 20)",
        "duration": "seconds of load (default 300)",
        "kill-every": "soak: seconds between two worker kills (default 60)",
        "down-at": "broker-loss, api-loss: seconds into the load of the outage (default 20)",
        "down-for": "broker-loss, api-loss: seconds of outage (default 10 and 30)",
        "broker-keeps-data": "broker-loss: the private Redis keeps its data across the restart",
    }
)
def faults(
    c,
    mode="soak",
    clients=None,
    duration=None,
    kill_every=None,
    down_at=None,
    down_for=None,
    broker_keeps_data=False,
):
    """Load and faults on a stack of its own (bench/faults.py); exits 1 if a run was lost or stuck."""
    from bench.faults import main

    options = {
        "--clients": clients,
        "--duration": duration,
        "--kill-every": kill_every,
        "--down-at": down_at,
        "--down-for": down_for,
    }
    argv = [
        mode,
        *(part for name, value in options.items() if value is not None for part in (name, str(value))),
    ]
    argv += ["--broker-keeps-data"] if broker_keeps_data else []
    sys.exit(main(argv))


@task(
    help={
        "requests": "generated requests to send, at least (default 2000)",
        "seed": "schemathesis' seed, to repeat a run (default: random)",
    }
)
def fuzz_api(c, requests=2000, seed=None):
    """schemathesis against a live API on a stack of its own (bench/api_fuzz.py); exits 1 on any 5xx."""
    from bench.api_fuzz import main

    argv = ["--requests", str(requests)] + (["--seed", str(seed)] if seed is not None else [])
    sys.exit(main(argv))


# pytest-xdist processes for the tests other than the fault tests, and for the
# fault tests, chosen on a 2-core machine: the tests mostly wait on
# subprocesses (README, Tests).
TEST_PROCESSES = 3
FAULT_TEST_PROCESSES = 2


@task(
    help={
        "cov": "measure coverage (the two parts then run one after the other)",
        "k": "only tests matching this expression",
        "processes": f"processes for the tests other than the fault tests (default {TEST_PROCESSES})",
        "fault-processes": f"processes for the fault tests (default {FAULT_TEST_PROCESSES})",
    }
)
def test(c, cov=False, k=None, processes=TEST_PROCESSES, fault_processes=FAULT_TEST_PROCESSES):
    """Run the whole test suite: the fault tests (-m faults) in a pytest process of
    their own, beside the others spread over several processes; fails if either fails."""
    import subprocess
    import tempfile

    # The plugins by name, not found through their entry points: found so,
    # pytest rewrites the asserts of every module in their packages
    # (schemathesis, hypothesis, anyio: 280 modules) in every test process, as
    # PYTHONDONTWRITEBYTECODE machines never keep the result; about 2 CPU-s a
    # process. A plugin the tests start to need is named here.
    plugins = [
        "xdist.plugin",
        "pytest_timeout",
        "_hypothesis_pytestplugin",
        "schemathesis.pytest.plugin",
        "pytest_cov.plugin",
    ]
    pytest = [sys.executable, "-m", "pytest"] + [f"-p{name}" for name in plugins] + (["-k", k] if k else [])

    def spread(count):
        # worksteal: a process that runs out of tests takes half of another's
        # queue. With the default (load), the process that drew the end-to-end
        # tests ran them alone for the last 2.5 minutes while the others idled.
        return ["-n", str(count), "--dist", "worksteal"] if int(count) > 1 else []

    rest = pytest + ["-m", "not faults"] + spread(processes)
    # Only tests/e2e/ has fault tests (tests/conftest.py refuses one elsewhere):
    # collecting the whole tree for them took twice the CPU.
    faults = pytest + ["-m", "faults"] + spread(fault_processes) + ["tests/e2e"]
    # Ports: blocks 0 to 6 for the first run's processes, 7 and up for the second's (tests/processes.py).
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    rest_env = {**env, "TEST_PORT_BLOCK": "0"}
    faults_env = {**env, "TEST_PORT_BLOCK": "7"}
    if cov:
        measure = ["--cov=app", "--cov=roles", "--cov=worker"]
        codes = [
            subprocess.call(rest + measure + ["--cov-report="], env=rest_env),
            subprocess.call(faults + measure + ["--cov-append", "--cov-report=term-missing"], env=faults_env),
        ]
    else:
        # Side by side: the fault tests take about as long as all the others together.
        with tempfile.TemporaryFile("w+") as log:
            beside = subprocess.Popen(faults, stdout=log, stderr=subprocess.STDOUT, env=faults_env)
            try:
                codes = [subprocess.call(rest, env=rest_env)]
                codes.append(beside.wait())
            finally:
                if beside.poll() is None:
                    beside.send_signal(2)  # SIGINT: pytest tears its stacks down
                    beside.wait()
            log.seek(0)
            print(f"\n==== the fault tests, beside the others: {' '.join(faults[1:])} ====", flush=True)
            sys.stdout.write(log.read())
    # 5: no test matched (-k) in that part; the other part's code decides.
    if codes.count(5) < len(codes):
        codes = [0 if code == 5 else code for code in codes]
    failed = [code for code in codes if code]
    if failed:
        sys.exit(failed[0] if failed[0] > 0 else 1)


@task(help={"port": "port of the API (default 5000)", "host": "address to listen on"})
def serve(c, port=5000, host="127.0.0.1"):
    """Run the API and one worker on the embedded default (or the configured services)."""
    from quickstart import serve as run_service

    run_service(host, int(port))


@task(help={"port": "Flower's port (default 5555)", "address": "address to listen on (default 127.0.0.1)"})
def flower(c, port=5555, address="127.0.0.1"):
    """Flower, the workers' web view (and Celery's /metrics), on the broker the workers use."""
    c.run(f"{sys.executable} -m celery -A worker flower --address={address} --port={int(port)}", pty=False)


@task(
    help={
        "folder": "folder whose files are the run's inputs",
        "model": "the .glm file to run (default model.glm)",
        "argument": "an extra gridlabd argument (repeat for more)",
        "timeout": "seconds the run may take",
        "artifacts": "folder to copy the artifacts into (default: a new one under var/run-worker/)",
    },
    iterable=["argument"],
)
def run_worker(c, folder, model="model.glm", argument=None, timeout=None, artifacts=None):
    """Run one pipeline locally on a folder of inputs, without API or broker."""
    from worker.local_run import new_artifacts_folder, run_locally

    if not artifacts:
        artifacts = new_artifacts_folder(
            os.path.join(os.environ.get("WORKFLOW_DATA_FOLDER", "var"), "run-worker")
        )
    code = run_locally(folder, model, argument or [], int(timeout) if timeout else None, artifacts)
    sys.exit(code)


@task
def style(c):
    """Check formatting (ruff format --check)."""
    c.run(f"{sys.executable} -m ruff format --check {_sources()}")


@task
def lint(c):
    """Static checks (ruff)."""
    c.run(f"{sys.executable} -m ruff check {_sources()}")


@task(pre=[style, lint, test])
def precommit(c):
    """Everything CI checks: style, lint and tests."""
