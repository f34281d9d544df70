"""No key reaches a pipeline's runs and artifacts through another pipeline's path.

The world: pipelines A and B with two RUNNING runs each, and D, deleted,
with one; every run has console output and an artifact, and every object a
name or content of its own. RUNNING runs are the ones every worker call would
change, so a lookup that let a mismatch through would show.

For every /v1 endpoint with a pipeline, run or artifact uuid in its path
(taken from ``app.url_map``: a new endpoint is covered as soon as it is
routed, with the request body of its row in ``test_auth_matrix.ENDPOINTS``)
and every mismatched combination of uuids (a run of B through A's path, an
artifact of run 2 through run 1's path, an artifact of B's run through A's
run, the deleted pipeline, a run's uuid where a pipeline's goes...), the
client key and the worker key get a 404, or a 403 when the key's kind is not
let in at all (checked before anything is looked up); the database is as it
was, and the body holds nothing of any object of the world.

A worker calling about a deleted pipeline's run through that pipeline's own
path gets a 409 instead: the delete cancelled the run (docs/api.md;
tests/test_original_refusals.py covers it), and nothing is stored either.
"""

from dataclasses import dataclass

import pytest

from .helpers import table_snapshot
from .test_auth_matrix import AUTOMATIC_METHODS, ENDPOINTS, PIPELINE, PIPELINES, RUN, RUNS, fill

UUID_ARGUMENTS = ("pipeline_uuid", "run_uuid", "artifact_uuid", "sweep_uuid", "file_uuid")
UNKNOWN = "0123456789abcdef0123456789abcdef"
KEY_KINDS = ("client", "worker")


@dataclass(frozen=True)
class Combination:
    """Path uuids as names of world objects (``A``, ``A1``, ``a1``...) or UNKNOWN."""

    label: str
    pipeline: str
    run: str = None
    artifact: str = None
    # The deleted pipeline's own run, which the delete cancelled: a worker's
    # calls on it are a 409, not a 404.
    worker_may_report: bool = False
    sweep: str = None
    file: str = None
    # The deleted pipeline's own input file: a worker still fetches the
    # inputs of the runs the delete did not reach in time.
    worker_may_fetch: bool = False

    def values(self, world):
        names = {
            "pipeline_uuid": self.pipeline,
            "run_uuid": self.run,
            "artifact_uuid": self.artifact,
            "sweep_uuid": self.sweep,
            "file_uuid": self.file,
        }
        return {key: world.uuids.get(name, name) for key, name in names.items() if name is not None}


PIPELINE_COMBINATIONS = [
    Combination("deleted pipeline", "D"),
    Combination("unknown pipeline", UNKNOWN),
    Combination("a run's uuid as the pipeline's", "A1"),
]
RUN_COMBINATIONS = [
    Combination("run of B through A's path", "A", "B1"),
    Combination("run of A through B's path", "B", "A1"),
    Combination("run of deleted D through A's path", "A", "D1"),
    Combination("run of A through deleted D's path", "D", "A1"),
    Combination("deleted D's own run", "D", "D1", worker_may_report=True),
    Combination("unknown run of A", "A", UNKNOWN),
    Combination("run of A under an unknown pipeline", UNKNOWN, "A1"),
    Combination("a run's uuid as the pipeline's", "A1", "A1"),
    Combination("the pipeline's uuid as the run's", "A", "A"),
]
ARTIFACT_COMBINATIONS = [
    Combination("artifact of run 2 through run 1's path", "A", "A1", "a2"),
    Combination("artifact of B's run through A's run", "A", "A1", "b1"),
    Combination("run and artifact of B through A's path", "A", "B1", "b1"),
    Combination("artifact of A through B's run", "B", "B1", "a1"),
    Combination("artifact of deleted D's run through A's run", "A", "A1", "d1"),
    Combination("artifact of deleted D through its own path", "D", "D1", "d1", worker_may_report=True),
    Combination("artifact of A through deleted D's path", "D", "A1", "a1"),
    Combination("unknown artifact of A1", "A", "A1", UNKNOWN),
    Combination("an artifact's uuid as the run's", "A", "a1", "a1"),
    Combination("the run's uuid as the artifact's", "A", "A1", "A1"),
]
SWEEP_COMBINATIONS = [
    Combination("sweep of B through A's path", "A", sweep="sB"),
    Combination("sweep of A through deleted D's path", "D", sweep="sA"),
    Combination("deleted D's own sweep", "D", sweep="sD"),
    Combination("unknown sweep of A", "A", sweep=UNKNOWN),
    Combination("a run's uuid as the sweep's", "A", sweep="A1"),
]
FILE_COMBINATIONS = [
    Combination("input file of B through A's path", "A", file="fB"),
    Combination("input file of A through deleted D's path", "D", file="fA"),
    Combination("deleted D's own input file", "D", file="fD", worker_may_fetch=True),
    Combination("unknown input file of A", "A", file=UNKNOWN),
    Combination("an artifact's uuid as the input file's", "A", file="a1"),
]


def combinations_for(arguments):
    if "sweep_uuid" in arguments:
        return SWEEP_COMBINATIONS
    if "file_uuid" in arguments:
        return FILE_COMBINATIONS
    if "artifact_uuid" in arguments:
        return ARTIFACT_COMBINATIONS
    if "run_uuid" in arguments:
        return RUN_COMBINATIONS
    return PIPELINE_COMBINATIONS


class World:
    """The objects, by name, and every string that belongs to one of them."""

    def __init__(self, api, client, keys):
        self.uuids = {}
        self.secrets = set()
        self.matching = {}  # pipeline name -> a consistent (pipeline, run, artifact)
        for pipeline_name, runs in (("A", 2), ("B", 2), ("D", 1)):
            name = f"pipeline {pipeline_name} name"
            pipeline = api.create_pipeline(name=name, description=f"what {pipeline_name} is for")
            self._keep(pipeline_name, pipeline["uuid"], name, f"what {pipeline_name} is for")
            for number in range(1, runs + 1):
                run_name = f"{pipeline_name}{number}"
                run = api.create_run(pipeline["uuid"])
                assert api.set_state(pipeline["uuid"], run["uuid"], "RUNNING").status_code == 200
                console = f"console of run {run_name}"
                response = client.post(
                    api.run_path(pipeline["uuid"], run["uuid"], "/console"),
                    json={"std_out": console},
                    headers=keys.worker,
                )
                assert response.status_code == 204, response.get_json()
                file_name, content = f"{run_name}-volts.csv", f"bytes of run {run_name}"
                response = api.upload(pipeline["uuid"], run["uuid"], file_name, content.encode())
                assert response.status_code == 201, response.get_json()
                artifact = response.get_json()
                self._keep(run_name, run["uuid"], console)
                self._keep(run_name.lower(), artifact["uuid"], file_name, content, artifact["sha256"])
                self.matching.setdefault(pipeline_name, [pipeline_name, run_name, run_name.lower()])
            sweep = client.post(
                f"/v1/pipelines/{pipeline['uuid']}/sweeps",
                json={"inputs": [], "rows": [{"i": 1}]},
                headers=keys.client,
            )
            assert sweep.status_code == 201, sweep.get_json()
            content = f"input file of {pipeline_name}"
            input_file = client.post(
                f"/v1/pipelines/{pipeline['uuid']}/input_files",
                query_string={"name": f"{pipeline_name}.glm"},
                data=content.encode(),
                headers={**keys.client, "Content-Type": "application/octet-stream"},
            )
            assert input_file.status_code == 201, input_file.get_json()
            self._keep(f"s{pipeline_name}", sweep.get_json()["uuid"])
            self._keep(
                f"f{pipeline_name}", input_file.get_json()["uuid"], content, input_file.get_json()["sha256"]
            )
            self.matching[pipeline_name] += [f"s{pipeline_name}", f"f{pipeline_name}"]
        response = client.delete(f"/v1/pipelines/{self.uuids['D']}", headers=keys.client)
        assert response.status_code == 204

    def _keep(self, name, uuid, *strings):
        self.uuids[name] = uuid
        self.secrets.update((uuid, *strings))

    def leaks(self, body, url):
        """The world's strings in ``body``, but for those the request itself named."""
        return sorted(secret for secret in self.secrets if secret in body and secret not in url)


@pytest.fixture
def world(api, client, keys):
    return World(api, client, keys)


def rows_by_endpoint():
    return {(endpoint.method, endpoint.rule): endpoint for endpoint in ENDPOINTS}


def routed_with_uuids(app):
    """(method, rule, its uuid arguments) for every /v1 route naming an object in its path."""
    found = set()
    for rule in app.url_map.iter_rules():
        arguments = tuple(name for name in UUID_ARGUMENTS if name in rule.arguments)
        if rule.rule.startswith("/v1/") and arguments:
            found.update((method, rule.rule, arguments) for method in rule.methods - AUTOMATIC_METHODS)
    return sorted(found)


def call(client, keys, endpoint, kind, values):
    url = fill(endpoint.rule, values)
    response = client.open(
        url, method=endpoint.method, headers=keys.by_kind(kind), **fill(endpoint.kwargs, values)
    )
    return url, response


def check_refused(app, client, keys, world, endpoint, kind, values, expected):
    """What is wrong with the answer to one request that must be refused."""
    before = table_snapshot(app)
    url, response = call(client, keys, endpoint, kind, values)
    after = table_snapshot(app)
    wrong = []
    body_text = response.get_data(as_text=True)
    if response.status_code != expected:
        wrong.append(f"{response.status_code} (expected {expected}) {body_text[:300]}")
    body = response.get_json(silent=True)
    if not (isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"].strip()):
        wrong.append(f"not a JSON error: {body_text[:300]!r}")
    if before != after:
        wrong.append("the database changed")
    leaks = world.leaks(body_text + str(response.headers), url)
    if leaks:
        wrong.append(f"the answer holds {leaks}")
    return wrong


def test_the_endpoints_with_uuids_all_have_a_row(app):
    """A new endpoint naming an object in its path needs a row (its body) in the auth matrix."""
    rows = rows_by_endpoint()
    missing = [f"{method} {rule}" for method, rule, _ in routed_with_uuids(app) if (method, rule) not in rows]
    assert missing == [], "add these to ENDPOINTS in tests/test_auth_matrix.py"
    assert len(routed_with_uuids(app)) >= 15


def test_no_key_reaches_an_object_through_another_objects_path(app, client, keys, world):
    rows = rows_by_endpoint()
    wrong, checked = [], 0
    for method, rule, arguments in routed_with_uuids(app):
        endpoint = rows.get((method, rule))
        if endpoint is None:
            wrong.append(f"{method} {rule}: no row in ENDPOINTS")
            continue
        for combination in combinations_for(arguments):
            values = combination.values(world)
            for kind in KEY_KINDS:
                allowed = kind in endpoint.allowed
                expected = 404 if allowed else 403
                if allowed and kind == "worker" and combination.worker_may_fetch:
                    continue
                if allowed and kind == "worker" and combination.worker_may_report:
                    expected = 409
                problems = check_refused(app, client, keys, world, endpoint, kind, values, expected)
                checked += 1
                wrong += [f"{endpoint.id} [{combination.label}, {kind} key]: {p}" for p in problems]
    assert wrong == [], "\n".join(wrong)
    assert checked >= 200


def test_the_matching_paths_are_found(app, client, keys, world):
    """The world is real: each pipeline's own run and artifact are read through its own path."""
    rows = rows_by_endpoint()
    for method, rule, _ in routed_with_uuids(app):
        endpoint = rows.get((method, rule))
        if method != "GET" or endpoint is None:
            continue
        kind = "client" if "client" in endpoint.allowed else "worker"
        for pipeline in ("A", "B"):
            names = dict(zip(UUID_ARGUMENTS, world.matching[pipeline], strict=True))
            values = {key: world.uuids[name] for key, name in names.items()}
            _, response = call(client, keys, endpoint, kind, values)
            # Closed here: a stream (events, results.csv) is not read to its end,
            # and its generator must not be left to end in another request's context.
            response.close()
            assert response.status_code == 200, (endpoint.id, pipeline)


def test_deleted_pipeline_is_left_out_of_listings_and_searches(client, keys, world):
    listed = client.get(PIPELINES, headers=keys.client)
    assert listed.status_code == 200
    assert {pipeline["uuid"] for pipeline in listed.get_json()} == {world.uuids["A"], world.uuids["B"]}
    searched = client.post(
        PIPELINES + "/search",
        json={"uuids": [world.uuids[name] for name in ("D", "D1", "d1", "A1", "a1")]},
        headers=keys.client,
    )
    assert searched.status_code == 200
    assert searched.get_json() == []


# What the issue names, spelled out: each is refused with the key's kind's
# 403, on the real objects of both pipelines, and changes nothing.
WORKER_CANNOT = [
    ("POST", PIPELINES, "create pipelines"),
    ("PUT", PIPELINE, "update pipelines"),
    ("DELETE", PIPELINE, "delete pipelines"),
    ("GET", PIPELINES, "list pipelines"),
    ("POST", PIPELINES + "/search", "search pipelines"),
    ("GET", PIPELINE, "read pipelines"),
    ("GET", RUN + "/artifacts/<artifact_uuid>", "read artifacts"),
    ("GET", RUNS, "list runs"),
    ("GET", RUN, "read runs"),
    ("GET", RUN + "/console", "read the console"),
    ("POST", RUN + "/cancel", "cancel runs"),
]
CLIENT_CANNOT = [
    ("PUT", RUN + "/state", "report a state"),
    ("PUT", RUN + "/console", "replace the console"),
    ("POST", RUN + "/console", "append to the console"),
    ("POST", RUN + "/artifacts", "upload artifacts"),
]


FORBIDDEN = [("worker", *row) for row in WORKER_CANNOT] + [("client", *row) for row in CLIENT_CANNOT]


@pytest.mark.parametrize(
    "kind, method, rule, what", FORBIDDEN, ids=[f"{kind} cannot {what}" for kind, _, _, what in FORBIDDEN]
)
def test_a_key_cannot_do_what_its_kind_may_not(app, client, keys, world, kind, method, rule, what):
    endpoint = rows_by_endpoint()[(method, rule)]
    assert kind not in endpoint.allowed, f"the auth matrix lets a {kind} key {what}"
    wrong = []
    for pipeline in ("A", "B"):
        names = dict(zip(UUID_ARGUMENTS, world.matching[pipeline], strict=True))
        values = {key: world.uuids[name] for key, name in names.items()}
        problems = check_refused(app, client, keys, world, endpoint, kind, values, 403)
        wrong += [f"pipeline {pipeline}: {problem}" for problem in problems]
    assert wrong == [], "\n".join(wrong)
