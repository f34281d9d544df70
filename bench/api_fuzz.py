"""schemathesis against a live API, on a stack of its own: what ``invoke fuzz-api`` runs.

    .venv/bin/invoke fuzz-api [--requests 2000] [--seed N]
    .venv/bin/python -m bench.api_fuzz [--requests 2000] [--seed N]

Starts a stack on loopback (a fresh PostgreSQL database, Redis database
11, gunicorn, no Celery worker: the runs created stay queued), makes a
client key and a worker key, and real pipelines, runs, console output and
artifacts through the API. Then schemathesis loads the server's own
``/apispec.json`` and generates requests for every operation in all its
phases (examples, coverage, fuzzing, and stateful sequences along the links
it infers), valid and invalid ones, until at least ``--requests`` were sent.

Each request carries the key the operation's ``x-permissions`` names (one
of the two at random where both are let in); outside the stateful phase its
path parameters are, a third of the time each, left as generated, all
pointed at one real pipeline/run/artifact, or each pointed at a real object
of any pipeline (a run of B through A's path, a deleted pipeline...), so
that the code behind the 404s is reached. The real objects are put back as
they were before every request (deletions undone, their runs' rows restored).

Checks: ``not_a_server_error`` and the document's conformance (status code,
content type, headers, response schema), as ``tests/test_fuzz.py``. The
counts come from schemathesis' own records of what it sent. Prints the
requests by phase, by status class and by operation, and every failure with
a curl command that reproduces it; exits 1 on any 5xx or failed check.
"""

import argparse
import math
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import schemathesis
import sqlalchemy as sa
from schemathesis.engine import events, from_schema
from schemathesis.generation.meta import TestPhase
from schemathesis.hooks import GLOBAL_HOOK_DISPATCHER

from tests.e2e.stack import Stack

from . import http_load

FUZZ_REDIS_DB = 11
KEY_HEADER = http_load.API_KEY_HEADER
CLIENT, WORKER = "PIPELINES_CLIENT", "PIPELINES_WORKER"
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
MAX_ROUNDS = 20


def say(message=""):
    print(message, flush=True)


# --- the real objects the requests aim at ------------------------------------


class Targets:
    """Pipelines A and B, and C deleted; A has a NOT_STARTED, a RUNNING and a
    COMPLETED run, B and C a RUNNING one; the RUNNING and COMPLETED runs have
    console output and an artifact. Made through the API; ``reset()`` puts
    back in the database what requests change, when ``sent()`` saw one that
    may have: accepted, with a method other than GET or HEAD, or unanswered
    (the API changes nothing for a request it refuses)."""

    def __init__(self, api, database_url):
        self.api = api
        self.changed = True
        self.engine = sa.create_engine(database_url)
        self.paths = []  # consistent (pipeline, run, artifact) triples
        a, b, c = (api.create_pipeline(f"fuzz {name}") for name in "ABC")
        self.pipelines = [a["uuid"], b["uuid"], c["uuid"]]
        self.runs, self.artifacts = [], []
        self._add(a, "NOT_STARTED")
        self._add(a, "RUNNING")
        self._add(a, "COMPLETED")
        self._add(b, "RUNNING")
        self._add(c, "RUNNING")
        api.call("DELETE", f"/v1/pipelines/{c['uuid']}", api.client, 204)
        self._saved = self._read()

    def _add(self, pipeline, state):
        api = self.api
        run = api.create_run(pipeline) if state == "NOT_STARTED" else api.running_run(pipeline)
        artifact = None
        if state != "NOT_STARTED":
            path = http_load.run_path(run)
            api.call("POST", path + "/console", api.worker, 204, json={"std_out": "fuzz target\n"})
            headers = {**api.worker, "Content-Type": "application/octet-stream"}
            uploaded = api.call(
                "POST", path + "/artifacts", headers, 201, params={"name": "volts.csv"}, data=b"t,v\n0,1\n"
            )
            artifact = uploaded["uuid"]
            self.artifacts.append(artifact)
        if state == "COMPLETED":
            api.call("PUT", http_load.run_path(run, "/state"), api.worker, 200, json={"state": state})
        self.runs.append(run["uuid"])
        self.paths.append((pipeline["uuid"], run["uuid"], artifact))

    def _tables(self):
        from app.pipelines.models import Pipeline
        from app.runs.models import Run

        return Pipeline.__table__, Run.__table__

    def _read(self):
        pipelines, runs = self._tables()
        with self.engine.connect() as connection:
            deleted = dict(
                connection.execute(
                    sa.select(pipelines.c.uuid, pipelines.c.deleted_at).where(
                        pipelines.c.uuid.in_(self.pipelines)
                    )
                ).all()
            )
            rows = connection.execute(runs.select().where(runs.c.uuid.in_(self.runs))).mappings()
            # Whole rows: state, times, attempt... whatever a request may change.
            saved = {
                row["uuid"]: {name: value for name, value in row.items() if name != "id"} for row in rows
            }
        return deleted, saved

    def sent(self, method, status=None):
        if status is None or (method.upper() not in {"GET", "HEAD"} and status < 400):
            self.changed = True

    def reset(self):
        if not self.changed:
            return
        self.changed = False
        pipelines, runs = self._tables()
        deleted, saved = self._saved
        with self.engine.begin() as connection:
            for uuid, deleted_at in deleted.items():
                connection.execute(
                    pipelines.update().where(pipelines.c.uuid == uuid).values(deleted_at=deleted_at)
                )
            for uuid, values in saved.items():
                connection.execute(runs.update().where(runs.c.uuid == uuid).values(**values))

    def point(self, rng, path_parameters):
        """Leave the generated path parameters, or point all (at one real path)
        or each (at any real object of its kind) at real objects."""
        how = rng.choice(("generated", "one path", "mixed"))
        if how == "generated":
            return
        pipeline, run, artifact = rng.choice(self.paths)
        real = {
            "pipeline_uuid": pipeline,
            "run_uuid": run,
            "artifact_uuid": artifact or rng.choice(self.artifacts),
        }
        pools = {"pipeline_uuid": self.pipelines, "run_uuid": self.runs, "artifact_uuid": self.artifacts}
        for name in path_parameters:
            if name in real:
                path_parameters[name] = real[name] if how == "one path" else rng.choice(pools[name])

    def close(self):
        self.engine.dispose()


# --- what was sent and what came back ----------------------------------------


@dataclass
class Failure:
    operation: str
    check: str
    title: str
    message: str
    curl: str


@dataclass
class Tally:
    requests: int = 0
    by_phase: Counter = field(default_factory=Counter)
    by_status: Counter = field(default_factory=Counter)
    by_operation: Counter = field(default_factory=Counter)
    by_key: Counter = field(default_factory=Counter)
    no_answer: int = 0
    failures: list = field(default_factory=list)
    errors: list = field(default_factory=list)
    operations: list = field(default_factory=list)

    @property
    def server_errors(self):
        return sum(count for status, count in self.by_status.items() if status >= 500)

    def by_class(self):
        classes = Counter()
        for status, count in self.by_status.items():
            classes[f"{status // 100}xx"] += count
        return dict(sorted(classes.items()))

    @property
    def ok(self):
        return not (self.server_errors or self.failures or self.errors or self.no_answer)

    def record(self, recorder, phase, key_kinds):
        seen = {(failure.operation, failure.check, failure.title) for failure in self.failures}
        sent_keys = {}
        for case_id, interaction in recorder.interactions.items():
            case = recorder.cases[case_id].value
            self.requests += 1
            self.by_phase[phase] += 1
            self.by_operation[case.operation.label] += 1
            sent_keys[case_id] = interaction.request.headers.get(KEY_HEADER, [None])[0]
            self.by_key[key_kinds.get(sent_keys[case_id], "other")] += 1
            if interaction.response is None:
                self.no_answer += 1
            else:
                self.by_status[interaction.response.status_code] += 1
        for case_id, checks in recorder.checks.items():
            for check in checks:
                if check.failure_info is None:
                    continue
                operation = recorder.cases[case_id].value.operation.label
                failure = check.failure_info.failure
                if (operation, check.name, failure.title) in seen:
                    continue
                seen.add((operation, check.name, failure.title))
                # schemathesis masks the key: name the kind it was instead.
                kind = key_kinds.get(sent_keys.get(case_id), "other")
                curl = check.failure_info.code_sample.replace("[Filtered]", f"<{kind} key>")
                self.failures.append(Failure(operation, check.name, failure.title, failure.message, curl))


# --- schemathesis --------------------------------------------------------------


def config(seed, max_examples, phases):
    return schemathesis.Config.from_dict(
        {
            "seed": seed,
            "continue-on-failure": True,
            "request-timeout": 30,
            # Nothing written into the work tree.
            "cache": {"enabled": False},
            "generation": {
                "mode": "all",
                "max-examples": max_examples,
                "allow-x00": True,
                "database": "none",
                # The key is set per request (``before_call``); without this
                # schemathesis also sends cases without one, which never get
                # past the 401.
                "with-security-parameters": False,
            },
            "phases": {
                name: {"enabled": name in phases} for name in ("examples", "coverage", "fuzzing", "stateful")
            },
            "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        }
    )


class Keys:
    """The key each request carries, from its operation's ``x-permissions``."""

    def __init__(self, client_key, worker_key):
        self.keys = {CLIENT: client_key, WORKER: worker_key}
        self.kinds = {client_key: "client", worker_key: "worker"}

    def for_operation(self, rng, operation):
        allowed = operation.definition.raw.get("x-permissions") or [CLIENT]
        return self.keys[rng.choice(sorted(allowed))]


def run_round(url, seed, max_examples, phases, keys, targets, tally):
    """One pass of schemathesis' engine over the live API; adds to ``tally``.
    Without ``targets`` the path parameters stay as generated."""
    rng = random.Random(seed)

    def before_call(context, case, kwargs):
        case.headers = {**(case.headers or {}), KEY_HEADER: keys.for_operation(rng, case.operation)}
        if targets is None:
            return
        if case.meta is None or case.meta.phase.name != TestPhase.STATEFUL:
            # Stateful steps take their parameters from earlier answers: kept.
            if case.path_parameters:
                targets.point(rng, case.path_parameters)
        targets.reset()

    def after_call(context, case, response):
        if targets is not None:
            targets.sent(case.method, response.status_code)

    def after_network_error(context, case, request):
        if targets is not None:
            targets.sent(case.method)

    schema = schemathesis.openapi.from_url(url + "/apispec.json", config=config(seed, max_examples, phases))
    # An event stream of a run that is not final stays open until the run
    # ends: its answers are checked by its own tests (tests/test_run_progress.py,
    # tests/test_group_events.py, tests/e2e/test_run_events.py), not here.
    schema = schema.exclude(path_regex=r"/events$")
    if not tally.operations:
        tally.operations = [result.ok().label for result in schema.get_all_operations()]
    hooks = (before_call, after_call, after_network_error)
    for hook in hooks:
        schemathesis.hook(hook)
    try:
        for event in from_schema(schema).execute():
            if isinstance(event, events.ScenarioFinished):
                tally.record(event.recorder, event.phase.value, keys.kinds)
            elif isinstance(event, events.NonFatalError):
                tally.errors.append(f"{event.label}: {event.info.format()}")
            elif isinstance(event, events.FatalError):
                raise event.exception
    finally:
        for hook in hooks:
            GLOBAL_HOOK_DISPATCHER.unregister(hook)


def fuzz(url, client_key, worker_key, database_url, requests, seed, report=say):
    """At least ``requests`` generated requests to the API at ``url``; the Tally."""
    keys = Keys(client_key, worker_key)
    api = http_load.Api(url, client_key, worker_key)
    targets = Targets(api, database_url)
    tally = Tally()
    operations = len(list(schemathesis.openapi.from_url(url + "/apispec.json").get_all_operations()))
    try:
        phases = ("examples", "coverage", "fuzzing", "stateful")
        # About half the requests from the fuzzing phase; the coverage phase
        # sends a fixed number (about 700), the stateful phase some more.
        max_examples = max(5, math.ceil(requests / 2 / operations))
        for number in range(1, MAX_ROUNDS + 1):
            before, started, round_seed = tally.requests, time.monotonic(), seed + number - 1
            run_round(url, round_seed, max_examples, phases, keys, targets, tally)
            report(
                f"round {number} ({', '.join(phases)}; max-examples {max_examples}, seed {round_seed}): "
                f"{tally.requests - before} requests in {time.monotonic() - started:.1f} s"
            )
            if tally.requests >= requests:
                break
            # More of the random phases only: the others send the same each time.
            phases = ("fuzzing", "stateful")
            max_examples = max(5, math.ceil((requests - tally.requests) / operations))
    finally:
        targets.close()
    return tally


def summary(tally, report=say):
    report(f"\nrequests: {tally.requests} ({', '.join(f'{k} {v}' for k, v in tally.by_phase.items())})")
    report(f"by status class: {', '.join(f'{k} {v}' for k, v in tally.by_class().items())}")
    report(f"by status: {', '.join(f'{k} {v}' for k, v in sorted(tally.by_status.items()))}")
    report(f"by key: {', '.join(f'{k} {v}' for k, v in sorted(tally.by_key.items()))}")
    if tally.no_answer:
        report(f"no answer (network error): {tally.no_answer}")
    report(f"\n{len(tally.operations)} operations:")
    for operation in tally.operations:
        report(f"  {tally.by_operation[operation]:6d}  {operation}")
    report(f"\nchecks: {', '.join(CHECKS)}")
    report(
        f"failures: {len(tally.failures)}, 5xx answers: {tally.server_errors}, errors: {len(tally.errors)}"
    )
    for failure in tally.failures:
        report(f"\n- {failure.operation}: {failure.check}: {failure.title}\n  {failure.message}")
        report(f"  reproduce: {failure.curl}")
    for error in tally.errors:
        report(f"\n- error: {error}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--requests", type=int, default=2000, help="generated requests, at least (default 2000)"
    )
    parser.add_argument("--seed", type=int, default=None, help="schemathesis' seed (default: random)")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.randrange(2**31)
    say(f"schemathesis {schemathesis.__version__}, at least {args.requests} requests, seed {seed}")
    with tempfile.TemporaryDirectory(prefix="api-fuzz-") as folder:
        stack = Stack(Path(folder), worker_concurrency=0, redis_db=FUZZ_REDIS_DB)
        try:
            say(f"API: {stack.url} (gunicorn), database {stack.database_url.rsplit('/', 1)[1]}")
            tally = fuzz(
                stack.url,
                stack.client[KEY_HEADER],
                stack.worker_key[KEY_HEADER],
                stack.database_url,
                args.requests,
                seed,
            )
            summary(tally)
        finally:
            stack.close()
    return 0 if tally.ok else 1


if __name__ == "__main__":
    sys.exit(main())
