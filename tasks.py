"""Developer and operator tasks: ``invoke -l`` lists them."""

import os
import sys

from invoke import task

PYTHON_SOURCES = "app roles worker wf-client tests bench tasks.py run.py quickstart.py blob_server.py"


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
):
    """Benchmark the API and the workers on a stack of their own; writes docs/benchmarks.md."""
    from bench.suite import main

    options = {
        "--duration": duration,
        "--warmup": warmup,
        "--clients": clients,
        "--jobs": jobs,
        "--throughput-jobs": throughput_jobs,
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


@task(help={"cov": "measure coverage", "k": "only tests matching this expression"})
def test(c, cov=False, k=None):
    """Run the whole test suite."""
    args = [sys.executable, "-m", "pytest"]
    if cov:
        args += ["--cov=app", "--cov=roles", "--cov=worker", "--cov-report=term-missing"]
    if k:
        args += ["-k", repr(k)]
    c.run(" ".join(args), pty=False)


@task(help={"port": "port of the API (default 5000)", "host": "address to listen on"})
def serve(c, port=5000, host="127.0.0.1"):
    """Run the API and one worker on the embedded default (or the configured services)."""
    from quickstart import serve as run_service

    run_service(host, int(port))


@task(
    help={
        "folder": "folder whose files are the run's inputs",
        "model": "the .glm file to run (default model.glm)",
        "argument": "an extra gridlabd argument (repeat for more)",
        "timeout": "seconds the run may take",
        "artifacts": "folder to copy the artifacts into",
    },
    iterable=["argument"],
)
def run_worker(c, folder, model="model.glm", argument=None, timeout=None, artifacts=None):
    """Run one pipeline locally on a folder of inputs, without API or broker."""
    from worker.local_run import run_locally

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
