"""Every /v1 endpoint times every kind of key gives the status docs/api.md promises.

The table below is the single list of endpoints; ``test_table_covers_every_v1_endpoint``
fails when a route or method is added under /v1 without a row here.
"""

from dataclasses import dataclass, field

import pytest

from .helpers import assert_error, table_snapshot

KINDS = ("none", "unknown", "revoked", "client", "worker")
CLIENT = frozenset({"client"})
WORKER = frozenset({"worker"})
BOTH = frozenset({"client", "worker"})

# Flask answers these itself for every rule (HEAD runs the GET view).
AUTOMATIC_METHODS = {"HEAD", "OPTIONS"}

PIPELINES = "/v1/pipelines"
PIPELINE = "/v1/pipelines/<pipeline_uuid>"
RUNS = "/v1/pipelines/<pipeline_uuid>/runs"
RUN = "/v1/pipelines/<pipeline_uuid>/runs/<run_uuid>"
SWEEPS = "/v1/pipelines/<pipeline_uuid>/sweeps"
SWEEP = "/v1/pipelines/<pipeline_uuid>/sweeps/<sweep_uuid>"
INPUT_FILES = "/v1/pipelines/<pipeline_uuid>/input_files"
WORKFLOWS = "/v1/workflows"
WORKFLOW = "/v1/workflows/<workflow_uuid>"
NODE = WORKFLOW + "/pipelines/<node_uuid>"
WORKFLOW_RUN = WORKFLOW + "/runs/<workflow_run_uuid>"


@dataclass(frozen=True)
class Endpoint:
    method: str
    rule: str
    allowed: frozenset
    success: int
    mutates: bool
    kwargs: dict = field(default_factory=dict, hash=False)

    @property
    def id(self):
        return f"{self.method} {self.rule}"


ENDPOINTS = [
    Endpoint("POST", PIPELINES, CLIENT, 201, True, {"json": {"name": "another"}}),
    Endpoint("GET", PIPELINES, CLIENT, 200, False),
    Endpoint("POST", PIPELINES + "/search", CLIENT, 200, False, {"json": {"uuids": ["<pipeline_uuid>"]}}),
    Endpoint("GET", PIPELINE, CLIENT, 200, False),
    Endpoint("PUT", PIPELINE, CLIENT, 200, True, {"json": {"name": "renamed"}}),
    Endpoint("DELETE", PIPELINE, CLIENT, 204, True),
    Endpoint("POST", RUNS, CLIENT, 201, True, {"json": {"inputs": []}}),
    Endpoint("GET", RUNS, CLIENT, 200, False),
    Endpoint("GET", RUN, CLIENT, 200, False),
    Endpoint("GET", RUN + "/state", BOTH, 200, False),
    Endpoint("PUT", RUN + "/state", WORKER, 200, True, {"json": {"state": "COMPLETED"}}),
    Endpoint("POST", RUN + "/cancel", CLIENT, 200, True),
    Endpoint("GET", RUN + "/console", CLIENT, 200, False),
    # The run is RUNNING: the stream stays open; its status is what is checked.
    Endpoint("GET", RUN + "/events", CLIENT, 200, False),
    Endpoint("PUT", RUN + "/console", WORKER, 200, True, {"json": {"std_out": "new", "std_err": ""}}),
    Endpoint("POST", RUN + "/console", WORKER, 204, True, {"json": {"std_out": " more"}}),
    # The run is RUNNING: the heartbeat is recorded.
    Endpoint("PUT", RUN + "/heartbeat", WORKER, 200, True),
    Endpoint(
        "POST",
        RUN + "/artifacts",
        WORKER,
        201,
        True,
        {
            "query_string": {"name": "out.csv"},
            "data": b"a,b\n1,2\n",
            "content_type": "application/octet-stream",
        },
    ),
    Endpoint("GET", RUN + "/artifacts/<artifact_uuid>", CLIENT, 200, False),
    # With ARTIFACT_RETENTION_DAYS unset (as here) a pass expires nothing.
    Endpoint("POST", "/v1/artifacts/expire", WORKER, 200, False),
    # The world's run has just reported: the sweep leaves it alone.
    Endpoint("POST", "/v1/runs/recover", WORKER, 200, False),
    Endpoint("POST", SWEEPS, CLIENT, 201, True, {"json": {"inputs": [], "rows": [{"load_w": 1}]}}),
    Endpoint("GET", SWEEPS, CLIENT, 200, False),
    Endpoint("GET", SWEEP, CLIENT, 200, False),
    Endpoint("GET", SWEEP + "/runs", CLIENT, 200, False),
    Endpoint("GET", SWEEP + "/results.csv", CLIENT, 200, False),
    # The world's sweep is not final: the stream stays open; its status is what is checked.
    Endpoint("GET", SWEEP + "/events", CLIENT, 200, False),
    # The world's sweep has a run NOT_STARTED: cancelling it changes it.
    Endpoint("POST", SWEEP + "/cancel", CLIENT, 200, True),
    Endpoint(
        "POST",
        INPUT_FILES,
        CLIENT,
        201,
        True,
        {
            "query_string": {"name": "model.glm"},
            "data": b"// glm\n",
            "content_type": "application/octet-stream",
        },
    ),
    Endpoint("GET", INPUT_FILES + "/<file_uuid>", BOTH, 200, False),
    Endpoint("POST", WORKFLOWS, CLIENT, 201, True, {"json": {"name": "another"}}),
    Endpoint("GET", WORKFLOWS, CLIENT, 200, False),
    Endpoint("POST", WORKFLOWS + "/search", CLIENT, 200, False, {"json": {"uuids": ["<workflow_uuid>"]}}),
    Endpoint("GET", WORKFLOW, CLIENT, 200, False),
    Endpoint("PUT", WORKFLOW, CLIENT, 200, True, {"json": {"name": "renamed"}}),
    Endpoint("DELETE", WORKFLOW, CLIENT, 204, True),
    Endpoint(
        "POST", WORKFLOW + "/pipelines", CLIENT, 201, True, {"json": {"pipeline_uuid": "<pipeline_uuid>"}}
    ),
    Endpoint("GET", WORKFLOW + "/pipelines", CLIENT, 200, False),
    Endpoint("GET", NODE, CLIENT, 200, False),
    # The world's node has a source: a node without any is a change.
    Endpoint("PUT", NODE, CLIENT, 200, True, {"json": {"pipeline_uuid": "<pipeline_uuid>"}}),
    Endpoint("DELETE", NODE, CLIENT, 204, True),
    Endpoint("POST", WORKFLOW + "/runs", CLIENT, 201, True, {"json": {"inputs": []}}),
    Endpoint("GET", WORKFLOW + "/runs", CLIENT, 200, False),
    Endpoint("GET", WORKFLOW_RUN, CLIENT, 200, False),
    # The world's workflow run is not final: the stream stays open.
    Endpoint("GET", WORKFLOW_RUN + "/events", CLIENT, 200, False),
    Endpoint("POST", WORKFLOW_RUN + "/cancel", CLIENT, 200, True),
]


def fill(value, world):
    """``value`` with every ``<placeholder>`` replaced by the world's identifiers."""
    if isinstance(value, str):
        for name, replacement in world.items():
            value = value.replace(f"<{name}>", replacement)
        return value
    if isinstance(value, dict):
        return {key: fill(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [fill(item, world) for item in value]
    return value


@pytest.fixture
def world(api, client, keys):
    """A real pipeline with a RUNNING run that has console output and an artifact."""
    pipeline = api.create_pipeline()
    run = api.create_run(pipeline["uuid"])
    assert api.set_state(pipeline["uuid"], run["uuid"], "RUNNING").status_code == 200
    response = client.post(
        api.run_path(pipeline["uuid"], run["uuid"], "/console"),
        json={"std_out": "hello"},
        headers=keys.worker,
    )
    assert response.status_code == 204
    response = api.upload(pipeline["uuid"], run["uuid"], "volts.csv", b"t,v\n0,120\n")
    assert response.status_code == 201, response.get_json()
    artifact_uuid = response.get_json()["uuid"]
    sweep = client.post(
        f"/v1/pipelines/{pipeline['uuid']}/sweeps",
        json={"inputs": [], "rows": [{"i": 1}]},
        headers=keys.client,
    ).get_json()
    input_file = client.post(
        f"/v1/pipelines/{pipeline['uuid']}/input_files",
        query_string={"name": "model.glm"},
        data=b"// glm\n",
        headers={**keys.client, "Content-Type": "application/octet-stream"},
    ).get_json()
    workflow = client.post("/v1/workflows", json={"name": "w"}, headers=keys.client).get_json()
    nodes = f"/v1/workflows/{workflow['uuid']}/pipelines"
    first = client.post(nodes, json={"pipeline_uuid": pipeline["uuid"]}, headers=keys.client).get_json()
    node = client.post(
        nodes,
        json={"pipeline_uuid": pipeline["uuid"], "source_workflow_pipelines": [first["uuid"]]},
        headers=keys.client,
    ).get_json()
    workflow_run = client.post(
        f"/v1/workflows/{workflow['uuid']}/runs", json={"inputs": []}, headers=keys.client
    ).get_json()
    return {
        "pipeline_uuid": pipeline["uuid"],
        "run_uuid": run["uuid"],
        "artifact_uuid": artifact_uuid,
        "sweep_uuid": sweep["uuid"],
        "file_uuid": input_file["uuid"],
        "workflow_uuid": workflow["uuid"],
        "node_uuid": node["uuid"],
        "workflow_run_uuid": workflow_run["uuid"],
    }


def call(client, keys, endpoint, kind, world):
    kwargs = fill(endpoint.kwargs, world)
    return client.open(
        fill(endpoint.rule, world), method=endpoint.method, headers=keys.by_kind(kind), **kwargs
    )


def test_table_covers_every_v1_endpoint(app):
    routed = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/v1/") or rule.rule == "/v1"
        for method in rule.methods - AUTOMATIC_METHODS
    }
    tabled = [(endpoint.method, endpoint.rule) for endpoint in ENDPOINTS]
    assert len(tabled) == len(set(tabled)), "an endpoint is listed twice"
    assert routed - set(tabled) == set(), "endpoints missing from the auth matrix"
    assert set(tabled) - routed == set(), "the matrix lists endpoints the app does not have"


def expected_status(endpoint, kind):
    if kind in endpoint.allowed:
        return endpoint.success
    return 401 if kind in {"none", "unknown", "revoked"} else 403


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.id)
def test_every_key_kind_gets_the_documented_status(app, client, keys, world, endpoint):
    """One row of the matrix: the five kinds of key against one endpoint.

    Refused kinds go first and must leave the database as it was, so the same
    real pipeline, run and artifact then serve the allowed kinds.
    """
    kinds = sorted(KINDS, key=lambda kind: kind in endpoint.allowed)
    wrong = []
    for kind in kinds:
        before = table_snapshot(app)
        response = call(client, keys, endpoint, kind, world)
        after = table_snapshot(app)
        expected = expected_status(endpoint, kind)
        if response.status_code != expected:
            wrong.append(
                f"{kind}: {response.status_code} (expected {expected}) {response.get_data(as_text=True)}"
            )
            continue
        if kind in endpoint.allowed:
            # The success case is real: a write changed the database, a read did not.
            if (before != after) != endpoint.mutates:
                wrong.append(f"{kind}: database {'unchanged' if endpoint.mutates else 'changed'}")
            continue
        body = response.get_json(silent=True)
        if not (
            response.is_json
            and isinstance(body, dict)
            and isinstance(body.get("message"), str)
            and body["message"].strip()
        ):
            wrong.append(f"{kind}: {expected} without a JSON message: {response.get_data(as_text=True)!r}")
        if before != after:
            wrong.append(f"{kind}: the refused request changed the database")
    assert wrong == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.id)
def test_keys_are_checked_before_anything_is_looked_up(client, keys, endpoint):
    """Without the right key an unknown pipeline is a 401/403, never a 404 that tells it apart."""
    missing = {
        name: "0" * 32
        for name in (
            "pipeline_uuid",
            "run_uuid",
            "artifact_uuid",
            "sweep_uuid",
            "file_uuid",
            "workflow_uuid",
            "node_uuid",
            "workflow_run_uuid",
        )
    }
    for kind in KINDS:
        if kind in endpoint.allowed:
            continue
        response = call(client, keys, endpoint, kind, missing)
        assert_error(response, 401 if kind in {"none", "unknown", "revoked"} else 403)
