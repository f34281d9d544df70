"""Workflows: CRUD, nodes and edges (a DAG), on PostgreSQL and SQLite."""

import pytest

from .helpers import assert_error, table_snapshot
from .workflow_api import Workflows


@pytest.fixture
def flows(api):
    return Workflows(api)


def test_create_read_replace_search_and_delete(flows, client, keys):
    created = flows.create("study", "prepare, then run")
    assert set(created) == {"uuid", "name", "description", "created_at", "updated_at"}
    assert (created["name"], created["description"]) == ("study", "prepare, then run")
    other = flows.create("other")
    assert other["description"] is None

    assert [w["uuid"] for w in flows.get("/v1/workflows")] == [created["uuid"], other["uuid"]]
    assert [w["uuid"] for w in flows.get("/v1/workflows?limit=1&offset=1")] == [other["uuid"]]
    assert flows.get(f"/v1/workflows/{created['uuid']}") == created

    replaced = client.put(f"/v1/workflows/{created['uuid']}", json={"name": "renamed"}, headers=keys.client)
    assert replaced.status_code == 200
    assert (replaced.get_json()["name"], replaced.get_json()["description"]) == ("renamed", None)

    found = flows.post("/v1/workflows/search", {"uuids": [other["uuid"], "f" * 32]}, status=200)
    assert [w["uuid"] for w in found] == [other["uuid"]]

    assert client.delete(f"/v1/workflows/{created['uuid']}", headers=keys.client).status_code == 204
    assert_error(client.get(f"/v1/workflows/{created['uuid']}", headers=keys.client), 404)
    assert_error(client.get(f"/v1/workflows/{created['uuid']}/pipelines", headers=keys.client), 404)
    assert [w["uuid"] for w in flows.get("/v1/workflows")] == [other["uuid"]]
    assert flows.post("/v1/workflows/search", {"uuids": [created["uuid"]]}, status=200) == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"name": "ok", "description": "x" * 301}, "description"),
        ({"name": 5}, "name"),
        ({"name": "ok", "colour": "red"}, "colour"),
    ],
)
def test_name_and_description_follow_the_pipeline_rules(app, client, keys, body, field):
    before = table_snapshot(app)
    assert_error(client.post("/v1/workflows", json=body, headers=keys.client), 400, [field])
    assert table_snapshot(app) == before


def test_a_worker_key_cannot_define_workflows(client, keys):
    assert_error(client.post("/v1/workflows", json={"name": "x"}, headers=keys.worker), 403)
    assert_error(client.get("/v1/workflows", headers=keys.worker), 403)


def test_nodes_carry_their_edges_both_ways(flows, api):
    workflow = flows.create()
    prepare, feeder = api.create_pipeline(name="prepare"), api.create_pipeline(name="feeder")
    first = flows.add_node(workflow, prepare)
    assert set(first) == {
        "uuid",
        "pipeline_uuid",
        "source_workflow_pipelines",
        "destination_workflow_pipelines",
        "created_at",
    }
    second = flows.add_node(workflow, feeder, sources=[first])
    assert second["source_workflow_pipelines"] == [first["uuid"]]
    third = flows.add_node(workflow, feeder, destinations=[first])

    nodes = {node["uuid"]: node for node in flows.get(f"/v1/workflows/{workflow['uuid']}/pipelines")}
    assert list(nodes) == [first["uuid"], second["uuid"], third["uuid"]]
    assert nodes[first["uuid"]]["source_workflow_pipelines"] == [third["uuid"]]
    assert nodes[first["uuid"]]["destination_workflow_pipelines"] == [second["uuid"]]
    assert nodes[first["uuid"]]["pipeline_uuid"] == prepare["uuid"]
    path = f"/v1/workflows/{workflow['uuid']}/pipelines/{first['uuid']}"
    assert flows.get(path) == nodes[first["uuid"]]


def test_replacing_a_node_replaces_its_pipeline_and_edges(flows, api, client, keys):
    workflow = flows.create()
    pipeline, other = api.create_pipeline(), api.create_pipeline(name="other")
    a = flows.add_node(workflow, pipeline)
    b = flows.add_node(workflow, pipeline, sources=[a])
    path = f"/v1/workflows/{workflow['uuid']}/pipelines/{b['uuid']}"
    response = client.put(path, json={"pipeline_uuid": other["uuid"]}, headers=keys.client)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["pipeline_uuid"] == other["uuid"]
    assert response.get_json()["source_workflow_pipelines"] == []
    assert (
        flows.get(f"/v1/workflows/{workflow['uuid']}/pipelines/{a['uuid']}")["destination_workflow_pipelines"]
        == []
    )


def test_deleting_a_node_removes_it_and_its_edges(flows, api, client, keys):
    workflow = flows.create()
    pipeline = api.create_pipeline()
    a = flows.add_node(workflow, pipeline)
    b = flows.add_node(workflow, pipeline, sources=[a])
    path = f"/v1/workflows/{workflow['uuid']}/pipelines/{a['uuid']}"
    assert client.delete(path, headers=keys.client).status_code == 204
    assert_error(client.get(path, headers=keys.client), 404)
    assert_error(client.delete(path, headers=keys.client), 404)
    (left,) = flows.get(f"/v1/workflows/{workflow['uuid']}/pipelines")
    assert left["uuid"] == b["uuid"] and left["source_workflow_pipelines"] == []
    # A deleted node is no longer a node of the workflow.
    flows.refused_node(
        workflow, {"pipeline_uuid": pipeline["uuid"], "source_workflow_pipelines": [a["uuid"]]}
    )


def test_an_edge_that_closes_a_cycle_is_a_400_naming_the_nodes(app, flows, api, client, keys):
    workflow = flows.create()
    pipeline = api.create_pipeline()
    a = flows.add_node(workflow, pipeline)
    b = flows.add_node(workflow, pipeline, sources=[a])
    c = flows.add_node(workflow, pipeline, sources=[b])
    before = table_snapshot(app)

    # A new node after c and before a: a -> b -> c -> new -> a.
    body = flows.refused_node(
        workflow,
        {
            "pipeline_uuid": pipeline["uuid"],
            "source_workflow_pipelines": [c["uuid"]],
            "destination_workflow_pipelines": [a["uuid"]],
        },
        "source_workflow_pipelines",
    )
    (message,) = body["errors"]["source_workflow_pipelines"]
    assert "cycle" in message
    for node in (a, b, c):
        assert node["uuid"] in message, message

    # Replacing a (a full update) to come after c and still before b: a -> b -> c -> a.
    response = client.put(
        f"/v1/workflows/{workflow['uuid']}/pipelines/{a['uuid']}",
        json={
            "pipeline_uuid": pipeline["uuid"],
            "source_workflow_pipelines": [c["uuid"]],
            "destination_workflow_pipelines": [b["uuid"]],
        },
        headers=keys.client,
    )
    (message,) = assert_error(response, 400, ["source_workflow_pipelines"])["errors"][
        "source_workflow_pipelines"
    ]
    assert all(node["uuid"] in message for node in (a, b, c)), message
    assert f"{a['uuid']} -> {b['uuid']} -> {c['uuid']} -> {a['uuid']}" in message or (
        f"{c['uuid']} -> {a['uuid']} -> {b['uuid']} -> {c['uuid']}" in message
        or f"{b['uuid']} -> {c['uuid']} -> {a['uuid']} -> {b['uuid']}" in message
    ), message
    assert table_snapshot(app) == before

    # A node its own source.
    response = client.put(
        f"/v1/workflows/{workflow['uuid']}/pipelines/{b['uuid']}",
        json={"pipeline_uuid": pipeline["uuid"], "destination_workflow_pipelines": [b["uuid"]]},
        headers=keys.client,
    )
    assert (
        b["uuid"]
        in assert_error(response, 400, ["destination_workflow_pipelines"])["errors"][
            "destination_workflow_pipelines"
        ][0]
    )
    assert table_snapshot(app) == before


def test_unknown_pipelines_and_nodes_and_nodes_of_another_workflow_are_400s(app, flows, api, client, keys):
    workflow, elsewhere = flows.create(), flows.create("elsewhere")
    pipeline = api.create_pipeline()
    mine = flows.add_node(workflow, pipeline)
    theirs = flows.add_node(elsewhere, pipeline)
    deleted = api.create_pipeline(name="deleted")
    assert client.delete(f"/v1/pipelines/{deleted['uuid']}", headers=keys.client).status_code == 204
    before = table_snapshot(app)

    flows.refused_node(workflow, {"pipeline_uuid": "f" * 32}, "pipeline_uuid")
    flows.refused_node(workflow, {"pipeline_uuid": deleted["uuid"]}, "pipeline_uuid")
    flows.refused_node(workflow, {"pipeline_uuid": "not a uuid"}, "pipeline_uuid")
    flows.refused_node(workflow, {}, "pipeline_uuid")
    for field in ("source_workflow_pipelines", "destination_workflow_pipelines"):
        for uuids in (["f" * 32], [theirs["uuid"]], [mine["uuid"], "nope"], "not a list"):
            flows.refused_node(workflow, {"pipeline_uuid": pipeline["uuid"], field: uuids}, field)
    response = client.put(
        f"/v1/workflows/{workflow['uuid']}/pipelines/{theirs['uuid']}",
        json={"pipeline_uuid": pipeline["uuid"]},
        headers=keys.client,
    )
    assert_error(response, 404)  # a node of another workflow is not found under this one
    assert table_snapshot(app) == before
