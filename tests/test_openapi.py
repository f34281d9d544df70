"""The OpenAPI 3 document at /apispec.json and the Swagger UI at /apidocs."""

import re

import pytest
from marshmallow.fields import Integer, List, String
from marshmallow.validate import Length, OneOf, Range
from openapi_spec_validator import validate

HTTP_METHODS = {"get", "put", "post", "delete", "patch"}
PUBLIC_PATHS = {"/healthcheck", "/healthcheck/deep", "/metrics"}
# Routes of Flask, flasgger and the web console (a page, not the API).
NOT_API = ("static", "flasgger.", "web_console.")


@pytest.fixture
def document(client):
    response = client.get("/apispec.json")
    assert response.status_code == 200
    return response.get_json()


def served_operations(app):
    """{(openapi path, method)} for every route of the API the app serves."""
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith(NOT_API):
            continue
        path = re.sub(r"<(?:[^<>:]*:)?([^<>]*)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            served.add((path, method.lower()))
    return served


def documented_operations(document):
    return {
        (path, method)
        for path, item in document["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def resolve(document, node):
    while "$ref" in node:
        target = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_document_is_valid_openapi_3(document):
    assert document["openapi"].startswith("3.")
    validate(document)


def test_every_route_is_documented_and_nothing_else(app, document):
    served = served_operations(app)
    documented = documented_operations(document)
    assert served, "the app serves no routes?"
    assert served - documented == set(), "routes the document leaves out"
    assert documented - served == set(), "documented operations the app does not serve"


def test_path_parameters_match_the_routes(document):
    for path, item in document["paths"].items():
        in_path = set(re.findall(r"{([^}]*)}", path))
        for method, operation in item.items():
            parameters = [resolve(document, p) for p in operation.get("parameters", [])]
            declared = {p["name"] for p in parameters if p["in"] == "path"}
            assert declared == in_path, (method, path)
            assert all(p["required"] for p in parameters if p["in"] == "path")


def test_operations_need_the_api_key_except_the_healthchecks(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["WorkflowApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Workflow-API-Key",
    }
    for path, item in document["paths"].items():
        for method, operation in item.items():
            security = operation.get("security", document.get("security", []))
            if path in PUBLIC_PATHS:
                assert security == [], (method, path)
            else:
                assert security == [{"WorkflowApiKey": []}], (method, path)
                responses = operation["responses"]
                assert {"401", "403"} <= set(responses), (method, path)
                assert operation["x-permissions"], (method, path)


def test_error_responses_use_the_error_schema(document):
    error = {"$ref": "#/components/schemas/Error"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400 and path not in PUBLIC_PATHS:
                    schema = resolve(document, response)["content"]["application/json"]["schema"]
                    assert schema == error, (method, path, status)


def test_json_bodies_refuse_unknown_fields(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            content = resolve(document, body)["content"]
            if "application/json" in content:
                schema = resolve(document, content["application/json"]["schema"])
                assert schema["additionalProperties"] is False, (method, path)


def test_artifact_upload_takes_raw_bytes(document):
    upload = document["paths"]["/v1/pipelines/{pipeline_uuid}/runs/{run_uuid}/artifacts"]["post"]
    content = upload["requestBody"]["content"]
    assert content == {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}
    name = [resolve(document, p) for p in upload["parameters"] if resolve(document, p)["in"] == "query"]
    assert name[0]["name"] == "name" and name[0]["required"] is True


def test_swagger_ui_is_served(client):
    response = client.get("/apidocs/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "swagger-ui" in page
    assert "/apispec.json" in page
    for asset in re.findall(r'(?:src|href)="(/flasgger_static/[^"]+)"', page):
        assert client.get(asset).status_code == 200, asset
    assert client.get("/apidocs", follow_redirects=True).status_code == 200


def _length(field):
    for check in field.validators:
        if isinstance(check, Length):
            return check.min, check.max
    return None, None


def _matching_schemas():
    from app.artifacts.schemas import ArtifactSchema
    from app.pipelines.schemas import PipelineInputSchema, PipelineSchema, PipelineSearchSchema
    from app.runs.schemas import (
        ConsoleAppendSchema,
        ConsoleSchema,
        ProgressSchema,
        RunCreateSchema,
        RunInputSchema,
        RunSchema,
        StateChangeSchema,
        StateInputSchema,
    )
    from app.sweeps.schemas import SweepCreateSchema
    from app.workflows.schemas import (
        NodeInputSchema,
        WorkflowInputSchema,
        WorkflowRunCreateSchema,
        WorkflowSchema,
        WorkflowSearchSchema,
    )

    inputs = {
        "WorkflowInput": WorkflowInputSchema,
        "WorkflowSearch": WorkflowSearchSchema,
        "WorkflowPipelineInput": NodeInputSchema,
        "WorkflowRunCreate": WorkflowRunCreateSchema,
        "PipelineInput": PipelineInputSchema,
        "PipelineSearch": PipelineSearchSchema,
        "RunCreate": RunCreateSchema,
        "RunInput": RunInputSchema,
        "State": StateInputSchema,
        "ConsoleReplace": ConsoleSchema,
        "ConsoleAppend": ConsoleAppendSchema,
        "SweepCreate": SweepCreateSchema,
        "Progress": ProgressSchema,
    }
    outputs = {
        "Workflow": WorkflowSchema,
        "Pipeline": PipelineSchema,
        "Run": RunSchema,
        "StateChange": StateChangeSchema,
        "Artifact": ArtifactSchema,
    }
    return inputs, outputs


def nullable(prop):
    """Whether a property allows null: ``nullable``, or (apispec's form for a
    nested schema) an ``anyOf`` with a nullable member."""
    return bool(prop.get("nullable")) or any(part.get("nullable") for part in prop.get("anyOf", []))


def test_input_schemas_match_marshmallow(document):
    """What the document says a body may hold is what the API accepts."""
    inputs, _ = _matching_schemas()
    components = document["components"]["schemas"]
    for name, marshmallow_schema in inputs.items():
        schema = components[name]
        fields = marshmallow_schema().fields
        assert schema["additionalProperties"] is False, name
        assert set(schema["properties"]) == set(fields), name
        assert set(schema.get("required", [])) == {n for n, f in fields.items() if f.required}, name
        marshmallow_schema().load(schema["example"])  # the example is a body the API takes
        for field_name, field in fields.items():
            prop = resolve(document, schema["properties"][field_name])
            where = f"{name}.{field_name}"
            assert nullable(prop) == field.allow_none, where
            if isinstance(field, List):
                assert prop["type"] == "array", where
                assert prop.get("maxItems") == _length(field)[1], where
                field, prop = field.inner, resolve(document, prop["items"])
            if isinstance(field, String):
                assert prop["type"] == "string", where
                minimum, maximum = _length(field)
                assert prop.get("maxLength") == maximum, where
                assert prop.get("minLength", 0) == (minimum or 0), where
                for check in field.validators:
                    if isinstance(check, OneOf):
                        assert prop["enum"] == list(check.choices), where
            elif isinstance(field, Integer):
                assert prop["type"] == "integer", where
                ranges = [c for c in field.validators if isinstance(c, Range)]
                assert (prop.get("minimum"), prop.get("maximum")) == (ranges[0].min, ranges[0].max), where


def test_output_schemas_match_marshmallow(document):
    """Every field the API answers with is in the document, and required there."""
    _, outputs = _matching_schemas()
    components = document["components"]["schemas"]
    for name, marshmallow_schema in outputs.items():
        schema = components[name]
        fields = marshmallow_schema().fields
        assert set(schema["properties"]) == set(fields), name
        assert set(schema["required"]) == set(fields), name
        for field_name, field in fields.items():
            prop = resolve(document, schema["properties"][field_name])
            if field.allow_none:
                assert nullable(prop), f"{name}.{field_name}"


@pytest.mark.parametrize("kind", ["client", "worker"])
def test_x_permissions_say_which_keys_get_in(client, document, keys, kind):
    """A key gets a 403 exactly where the document says it lacks the permission."""
    permission = {"client": "PIPELINES_CLIENT", "worker": "PIPELINES_WORKER"}[kind]
    for path, item in document["paths"].items():
        if path in PUBLIC_PATHS:
            continue
        url = re.sub(r"{[^}]*}", "0" * 32, path)
        for method, operation in item.items():
            response = client.open(url, method=method.upper(), headers=keys.by_kind(kind))
            allowed = permission in operation["x-permissions"]
            assert (response.status_code != 403) == allowed, (kind, method, path, response.get_json())
