"""Pipelines: /v1/pipelines (create, read, list, full update, soft delete, search, validation)."""

import re

import pytest

from .helpers import assert_error, failed_cases, parse_time

PIPELINE_FIELDS = {
    "uuid",
    "name",
    "description",
    "repository_ssh_url",
    "repository_branch",
    "model",
    "arguments",
    "timeout",
    "network",
    "created_at",
    "updated_at",
}
DEFAULTS = {
    "description": None,
    "repository_ssh_url": None,
    "repository_branch": None,
    "model": "model.glm",
    "arguments": [],
    "timeout": None,
    "network": False,
}
FULL = {
    "name": "ieee4",
    "description": "IEEE 4 node feeder",
    "repository_ssh_url": "git@github.com:example/feeders.git",
    "repository_branch": "main",
    "model": "ieee4/model.glm",
    "arguments": ["-D", "starttime='2020-01-01 00:00:00'"],
    "timeout": 600,
    "network": True,
}


def path(uuid=""):
    return f"/v1/pipelines/{uuid}" if uuid else "/v1/pipelines"


# --- create and read ---------------------------------------------------------


def test_create_returns_every_field_and_defaults(client, keys):
    response = client.post(path(), json={"name": "feeder"}, headers=keys.client)
    assert response.status_code == 201
    pipeline = response.get_json()
    assert set(pipeline) == PIPELINE_FIELDS
    assert re.fullmatch(r"[0-9a-f]{32}", pipeline["uuid"])
    assert pipeline["name"] == "feeder"
    assert {name: pipeline[name] for name in DEFAULTS} == DEFAULTS
    assert parse_time(pipeline["created_at"]) <= parse_time(pipeline["updated_at"])


def test_create_with_every_field_and_read_it_back(client, keys):
    created = client.post(path(), json=FULL, headers=keys.client).get_json()
    assert {name: created[name] for name in FULL} == FULL
    response = client.get(path(created["uuid"]), headers=keys.client)
    assert response.status_code == 200
    assert response.get_json() == created


def test_each_pipeline_gets_its_own_uuid(api):
    assert api.create_pipeline()["uuid"] != api.create_pipeline()["uuid"]


@pytest.mark.parametrize("uuid", ["0" * 32, "not-a-uuid", "A" * 32])
def test_unknown_pipeline_is_404(client, keys, uuid):
    assert_error(client.get(path(uuid), headers=keys.client), 404)
    assert_error(client.put(path(uuid), json={"name": "x"}, headers=keys.client), 404)
    assert_error(client.delete(path(uuid), headers=keys.client), 404)


# --- list ------------------------------------------------------------------


def test_list_is_oldest_first_with_limit_and_offset(api, client, keys):
    uuids = [api.create_pipeline(name=f"p{i}")["uuid"] for i in range(5)]

    def listed(**query):
        response = client.get(path(), query_string=query, headers=keys.client)
        assert response.status_code == 200
        return [pipeline["uuid"] for pipeline in response.get_json()]

    assert listed() == uuids
    assert listed(limit=2) == uuids[:2]
    assert listed(offset=3) == uuids[3:]
    assert listed(limit=2, offset=1) == uuids[1:3]
    assert listed(offset=5) == []
    assert listed(limit=1000) == uuids


def test_list_of_nothing_is_an_empty_array(client, keys):
    response = client.get(path(), headers=keys.client)
    assert response.status_code == 200
    assert response.get_json() == []


BAD_PAGES = [
    {"limit": 0},
    {"limit": 1001},
    {"limit": -1},
    {"limit": "ten"},
    {"limit": "1.5"},
    {"limit": ""},
    {"offset": -1},
    {"offset": "x"},
]


def test_bad_limit_or_offset_is_400_naming_the_parameter(client, keys):
    def check(query):
        body = assert_error(client.get(path(), query_string=query, headers=keys.client), 400)
        assert next(iter(query)) in body["message"], body

    assert failed_cases(BAD_PAGES, check) == []


# --- full update -------------------------------------------------------------


def test_put_replaces_every_field_and_resets_omitted_ones(client, keys):
    created = client.post(path(), json=FULL, headers=keys.client).get_json()
    response = client.put(path(created["uuid"]), json={"name": "renamed"}, headers=keys.client)
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["name"] == "renamed"
    assert {name: updated[name] for name in DEFAULTS} == DEFAULTS
    assert updated["uuid"] == created["uuid"]
    assert updated["created_at"] == created["created_at"]
    assert parse_time(updated["updated_at"]) > parse_time(created["updated_at"])
    assert client.get(path(created["uuid"]), headers=keys.client).get_json() == updated


def test_put_sets_every_given_field(api, client, keys):
    uuid = api.create_pipeline()["uuid"]
    updated = client.put(path(uuid), json=FULL, headers=keys.client).get_json()
    assert {name: updated[name] for name in FULL} == FULL


def test_put_without_name_is_400_and_changes_nothing(api, client, keys):
    created = api.create_pipeline(**FULL)
    assert_error(
        client.put(path(created["uuid"]), json={"description": "x"}, headers=keys.client), 400, ["name"]
    )
    assert client.get(path(created["uuid"]), headers=keys.client).get_json() == created


def test_put_validates_like_create(api, client, keys):
    uuid = api.create_pipeline()["uuid"]
    assert_error(
        client.put(path(uuid), json={"name": "x", "model": "../x.glm"}, headers=keys.client), 400, ["model"]
    )
    assert_error(client.put(path(uuid), json={"name": "x", "bogus": 1}, headers=keys.client), 400, ["bogus"])
    assert_error(client.put(path(uuid), data="{}", content_type="text/plain", headers=keys.client), 400)


# --- soft delete -------------------------------------------------------------


def test_delete_is_soft_and_hides_the_pipeline_everywhere(api, client, keys):
    kept = api.create_pipeline(name="kept")
    gone = api.create_pipeline(name="gone")
    run = api.create_run(gone["uuid"])

    response = client.delete(path(gone["uuid"]), headers=keys.client)
    assert response.status_code == 204
    assert response.get_data() == b""

    assert_error(client.get(path(gone["uuid"]), headers=keys.client), 404)
    assert_error(client.put(path(gone["uuid"]), json={"name": "back"}, headers=keys.client), 404)
    assert_error(client.delete(path(gone["uuid"]), headers=keys.client), 404)
    assert_error(client.get(path(gone["uuid"]) + "/runs", headers=keys.client), 404)
    assert_error(client.post(path(gone["uuid"]) + "/runs", json={"inputs": []}, headers=keys.client), 404)
    assert_error(client.get(api.run_path(gone["uuid"], run["uuid"]), headers=keys.client), 404)

    listed = client.get(path(), headers=keys.client).get_json()
    assert [pipeline["uuid"] for pipeline in listed] == [kept["uuid"]]
    found = client.post(
        path() + "/search", json={"uuids": [kept["uuid"], gone["uuid"]]}, headers=keys.client
    ).get_json()
    assert [pipeline["uuid"] for pipeline in found] == [kept["uuid"]]


def test_delete_keeps_the_row(app, api, client, keys):
    from app.extensions import db
    from app.pipelines.models import Pipeline

    uuid = api.create_pipeline()["uuid"]
    assert client.delete(path(uuid), headers=keys.client).status_code == 204
    with app.app_context():
        row = db.session.execute(db.select(Pipeline).where(Pipeline.uuid == uuid)).scalar_one()
        assert row.deleted_at is not None


# --- search ------------------------------------------------------------------


def test_search_returns_the_existing_ones_among_the_uuids(api, client, keys):
    uuids = [api.create_pipeline(name=f"p{i}")["uuid"] for i in range(3)]
    response = client.post(
        path() + "/search", json={"uuids": [uuids[2], "0" * 32, uuids[0], "junk"]}, headers=keys.client
    )
    assert response.status_code == 200
    found = response.get_json()
    assert sorted(pipeline["uuid"] for pipeline in found) == sorted([uuids[0], uuids[2]])
    assert all(set(pipeline) == PIPELINE_FIELDS for pipeline in found)
    empty = client.post(path() + "/search", json={"uuids": []}, headers=keys.client)
    assert empty.status_code == 200 and empty.get_json() == []


BAD_SEARCHES = [
    ({}, "uuids"),
    ({"uuids": "abc"}, "uuids"),
    ({"uuids": [1]}, "uuids"),
    ({"uuids": ["0" * 32] * 1001}, "uuids"),
    ({"uuids": [], "name": "x"}, "name"),
    ({"uuids": ["a\x00b"]}, "uuids"),
]


def test_bad_search_body_is_400(client, keys):
    def check(case):
        body, field = case
        assert_error(client.post(path() + "/search", json=body, headers=keys.client), 400, [field])

    assert failed_cases(BAD_SEARCHES, check) == []


def test_search_needs_a_json_body(client, keys):
    assert_error(client.post(path() + "/search", data="uuids=1", headers=keys.client), 400)


# --- validation --------------------------------------------------------------


def test_name_and_description_limits_are_inclusive(api):
    assert api.create_pipeline(name="n")["name"] == "n"
    assert api.create_pipeline(name="n" * 50)["name"] == "n" * 50
    assert api.create_pipeline(description="d" * 300)["description"] == "d" * 300
    assert api.create_pipeline(description="")["description"] == ""


@pytest.mark.parametrize("model", ["model.glm", "sub/dir/model.glm", "my model.glm"])
def test_relative_models_are_accepted(api, model):
    assert api.create_pipeline(model=model)["model"] == model


def test_arguments_and_timeout_are_accepted(api):
    pipeline = api.create_pipeline(arguments=["-D", "x=1", ""], timeout=1)
    assert pipeline["arguments"] == ["-D", "x=1", ""]
    assert pipeline["timeout"] == 1


INVALID = [
    ({"name": ""}, "name"),
    ({"name": "n" * 51}, "name"),
    ({"name": None}, "name"),
    ({"name": 5}, "name"),
    ({"name": "a\x00b"}, "name"),
    ({"name": "lone \ud800 surrogate"}, "name"),
    ({"description": "d" * 301}, "description"),
    ({"description": 3}, "description"),
    ({"model": "/etc/model.glm"}, "model"),
    ({"model": "../model.glm"}, "model"),
    ({"model": "sub/../../model.glm"}, "model"),
    ({"model": ".."}, "model"),
    ({"model": "\\\\server\\share\\model.glm"}, "model"),
    ({"model": "C:\\models\\model.glm"}, "model"),
    ({"model": ""}, "model"),
    ({"arguments": "-D x=1"}, "arguments"),
    ({"arguments": [1, 2]}, "arguments"),
    ({"arguments": [None]}, "arguments"),
    ({"arguments": {"-D": "x"}}, "arguments"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": -5}, "timeout"),
    ({"timeout": 1.5}, "timeout"),
    ({"timeout": "60"}, "timeout"),
    ({"timeout": True}, "timeout"),
    ({"timeout": 10**20}, "timeout"),
    ({"network": "true"}, "network"),
    ({"network": 1}, "network"),
    ({"network": None}, "network"),
    ({"repository_ssh_url": "ftp://example.com/repo.git"}, "repository_ssh_url"),
    ({"repository_ssh_url": "--upload-pack=touch /tmp/x"}, "repository_ssh_url"),
    ({"unknown": "field"}, "unknown"),
    ({"uuid": "0" * 32}, "uuid"),
    ({"created_at": "2020-01-01T00:00:00Z"}, "created_at"),
]


def test_invalid_fields_are_400_naming_the_field(client, keys):
    def check(case):
        fields, error_field = case
        response = client.post(path(), json={"name": "feeder", **fields}, headers=keys.client)
        assert_error(response, 400, [error_field])

    assert failed_cases(INVALID, check) == []
    assert client.get(path(), headers=keys.client).get_json() == []


def test_missing_name_is_400(client, keys):
    assert_error(client.post(path(), json={"description": "x"}, headers=keys.client), 400, ["name"])


def test_every_bad_field_is_reported_at_once(client, keys):
    body = assert_error(
        client.post(path(), json={"name": "", "timeout": 0, "model": "/x"}, headers=keys.client), 400
    )
    assert {"name", "timeout", "model"} <= set(body["errors"])


NOT_JSON_OBJECTS = [
    {"data": '{"name": "feeder"}', "content_type": "text/plain"},
    {"data": "name=feeder", "content_type": "application/x-www-form-urlencoded"},
    {"data": '{"name": "feeder"}'},  # no Content-Type at all
    {"data": '{"name": ', "content_type": "application/json"},
    {"data": "", "content_type": "application/json"},
    {"data": "null", "content_type": "application/json"},
    {"data": b'{"name": "\xff"}', "content_type": "application/json"},
    {"json": [{"name": "feeder"}]},
    {"json": "feeder"},
    {"json": 42},
]


def test_body_that_is_not_a_json_object_is_400(client, keys):
    def check(kwargs):
        assert_error(client.post(path(), headers=keys.client, **kwargs), 400)

    assert failed_cases(NOT_JSON_OBJECTS, check) == []
    assert client.get(path(), headers=keys.client).get_json() == []


def test_json_with_charset_is_accepted(client, keys):
    response = client.post(
        path(), data='{"name": "feeder"}', content_type="application/json; charset=utf-8", headers=keys.client
    )
    assert response.status_code == 201


def test_unicode_text_round_trips(api, client, keys):
    pipeline = api.create_pipeline(name="Überland 🌩", description="ケーブル")
    read = client.get(path(pipeline["uuid"]), headers=keys.client).get_json()
    assert (read["name"], read["description"]) == ("Überland 🌩", "ケーブル")
