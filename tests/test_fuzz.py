"""No 500 for anything a client sends.

Three property-based tests, each request sent to the API on PostgreSQL and
to the API on SQLite (drawing a request costs more than sending it twice):

- schemathesis generates requests (valid and invalid) for every operation of
  the app's own OpenAPI document and sends them over WSGI with a key that
  gets past authentication; path parameters sometimes name a real pipeline,
  run and artifact, so that the code behind the 404s is reached too. The
  answers must also match the document (status, content type, schema);
- bodies that are not a JSON object (random bytes, truncated JSON, JSON of
  another type, deep nesting, bad UTF-8) sent to every JSON endpoint get a
  400, and so does a JSON body with another Content-Type;
- odd strings (NUL, lone surrogates as raw ``\\ud800`` escapes, ``../``,
  URL-ish fragments, unicode, 100,000 characters) in every string field and
  key of the bodies, in path parameters and in the artifact name never get
  a 5xx.

Every error answer must be JSON with a ``message``.
"""

import copy
import json
import os
import warnings
from urllib.parse import quote

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import update

from app.extensions import db
from app.pipelines.models import Pipeline
from app.runs.models import Run
from app.workflows.models import Workflow, WorkflowPipeline

from .conftest import DATABASES, Api, Keys, empty_tables

CLIENT = "PIPELINES_CLIENT"
HTTP_METHODS = {"get", "put", "post", "delete", "patch"}

# About 15 s a database for all of them. FUZZ_SCALE=10 fuzzes ten times
# harder (locally, or in a nightly job).
SCALE = float(os.environ.get("FUZZ_SCALE", "1"))
EXAMPLES_PER_OPERATION = int(20 * SCALE)
MALFORMED_BODY_EXAMPLES = int(150 * SCALE)
ODD_BODY_STRING_EXAMPLES = int(400 * SCALE)
ODD_URL_STRING_EXAMPLES = int(150 * SCALE)

FUZZ_SETTINGS = settings(
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)

SCHEMATHESIS_CONFIG = {
    # The test gives the key; schemathesis would otherwise also send cases
    # without one, which never get past the 401.
    "generation": {"allow-x00": True, "with-security-parameters": False},
}

# The answers must match what the document says about them.
DOCUMENT_CHECKS = [
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def assert_no_server_error(status, content_type, body, what):
    """Below 500, and an error answer is JSON with a message."""
    assert status < 500, f"{what}: {status} {body[:500]!r}"
    if status >= 400:
        assert content_type.startswith("application/json"), f"{what}: {status} {content_type}"
        answer = json.loads(body)
        assert isinstance(answer, dict) and isinstance(answer.get("message"), str), f"{what}: {answer}"


def assert_json_error(response, status, what):
    assert_no_server_error(response.status_code, response.content_type, response.data, what)
    assert response.status_code == status, f"{what}: {response.status_code} {response.data[:500]!r}"


# --- real objects for the requests to reach past the 404s -------------------


class Targets:
    """A pipeline with a NOT_STARTED, a RUNNING (with an artifact) and a
    COMPLETED run. ``reset()`` puts them back as they were: the requests
    delete, cancel and complete them along the way. ``sent()`` tells it what a
    request got, so that it writes only after a request that may have changed
    them: one the API accepted with a method other than GET or HEAD (a
    refused request changes nothing, tests/test_json_errors.py and
    tests/test_hostile_input.py check that)."""

    def __init__(self, app, api):
        self.app = app
        self.changed = True
        self.pipeline_uuid = api.create_pipeline(name="fuzz target")["uuid"]
        self.run_states = {}
        for state in ("NOT_STARTED", "RUNNING", "COMPLETED"):
            run_uuid = api.create_run(self.pipeline_uuid)["uuid"]
            if state != "NOT_STARTED":
                assert api.set_state(self.pipeline_uuid, run_uuid, "RUNNING").status_code == 200
            if state == "RUNNING":
                self.running_run = run_uuid
                upload = api.upload(self.pipeline_uuid, run_uuid, "volts.csv", b"t,v\n0,1\n")
                assert upload.status_code == 201
                self.artifact_uuid = upload.get_json()["uuid"]
            if state == "COMPLETED":
                assert api.set_state(self.pipeline_uuid, run_uuid, state).status_code == 200
            self.run_states[run_uuid] = state
        # A workflow of two nodes (one after the other) with a run.
        client, keys = api.client, api.keys
        self.workflow_uuid = client.post(
            "/v1/workflows", json={"name": "fuzz"}, headers=keys.client
        ).get_json()["uuid"]
        nodes = f"/v1/workflows/{self.workflow_uuid}/pipelines"
        first = client.post(nodes, json={"pipeline_uuid": self.pipeline_uuid}, headers=keys.client).get_json()
        self.node_uuid = client.post(
            nodes,
            json={"pipeline_uuid": self.pipeline_uuid, "source_workflow_pipelines": [first["uuid"]]},
            headers=keys.client,
        ).get_json()["uuid"]
        self.workflow_run_uuid = client.post(
            f"/v1/workflows/{self.workflow_uuid}/runs", json={"inputs": []}, headers=keys.client
        ).get_json()["uuid"]
        # A sweep of two runs, and an input file.
        self.sweep_uuid = client.post(
            f"/v1/pipelines/{self.pipeline_uuid}/sweeps",
            json={"inputs": [], "parameters": {"load_w": [1, 2]}},
            headers=keys.client,
        ).get_json()["uuid"]
        self.file_uuid = client.post(
            f"/v1/pipelines/{self.pipeline_uuid}/input_files",
            query_string={"name": "model.glm"},
            data=b"// glm\n",
            headers={**keys.client, "Content-Type": "application/octet-stream"},
        ).get_json()["uuid"]
        # The sweep and the workflow run are final (cancelled), and streams
        # follow the COMPLETED run, so that every event stream the requests
        # open ends (tests/test_group_events.py follows live ones).
        client.post(
            f"/v1/pipelines/{self.pipeline_uuid}/sweeps/{self.sweep_uuid}/cancel", headers=keys.client
        )
        client.post(
            f"/v1/workflows/{self.workflow_uuid}/runs/{self.workflow_run_uuid}/cancel", headers=keys.client
        )
        self.completed_run = next(uuid for uuid, state in self.run_states.items() if state == "COMPLETED")

    def path_parameters(self, run_uuid=None, path=""):
        if path.endswith("/events"):
            run_uuid = self.completed_run
        return {
            "pipeline_uuid": self.pipeline_uuid,
            "run_uuid": run_uuid or self.running_run,
            "artifact_uuid": self.artifact_uuid,
            "workflow_uuid": self.workflow_uuid,
            "node_uuid": self.node_uuid,
            "workflow_run_uuid": self.workflow_run_uuid,
            "sweep_uuid": self.sweep_uuid,
            "file_uuid": self.file_uuid,
        }

    def sent(self, method, status):
        if method.upper() not in {"GET", "HEAD"} and status < 400:
            self.changed = True

    def reset(self):
        if not self.changed:
            return
        self.changed = False
        with self.app.app_context():
            db.session.execute(
                update(Pipeline).where(Pipeline.uuid == self.pipeline_uuid).values(deleted_at=None)
            )
            for run_uuid, state in self.run_states.items():
                db.session.execute(update(Run).where(Run.uuid == run_uuid).values(state=state))
            db.session.execute(
                update(Workflow).where(Workflow.uuid == self.workflow_uuid).values(deleted_at=None)
            )
            db.session.execute(
                update(WorkflowPipeline)
                .where(WorkflowPipeline.uuid == self.node_uuid)
                .values(deleted_at=None)
            )
            db.session.commit()


class Engine:
    """The app on one database engine, its keys and its real objects."""

    def __init__(self, kind, app):
        empty_tables(app)
        self.kind = kind
        self.app = app
        self.client = app.test_client()
        self.keys = Keys(app)
        self.targets = Targets(app, Api(self.client, self.keys))

    def __repr__(self):
        return self.kind


@pytest.fixture
def engines(app_on):
    """The API on each engine. One that is not there (PostgreSQL, when
    REQUIRE_SERVICES does not make its absence a failure) is left out with
    a warning; the test skips only if neither is."""
    found, missing = [], []
    for kind in DATABASES:
        try:
            found.append(Engine(kind, app_on(kind)))
        except pytest.skip.Exception as reason:
            missing.append(f"{kind}: {reason}")
    if not found:
        pytest.skip("; ".join(missing))
    for absent in missing:
        warnings.warn(f"fuzzed without {absent}", stacklevel=1)
    return found


@pytest.fixture
def document(engines):
    return engines[0].client.get("/apispec.json").get_json()


def headers_for(keys, operation):
    """Headers with a key holding a permission the operation lets in."""
    permissions = operation.get("x-permissions", [])
    return keys.client if not permissions or CLIENT in permissions else keys.worker


def operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method.upper(), operation


class JsonEndpoint:
    """An operation with a JSON body; ``send`` fills its path in with an
    engine's real objects."""

    def __init__(self, document, path, method, operation):
        self.method = method
        self.path = path
        self.operation = operation
        ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        self.example = document["components"]["schemas"][ref.rsplit("/", 1)[1]]["example"]
        self.label = f"{method} {path}"

    def send(self, engine, body, content_type):
        """The answer of ``engine``'s API to ``body``, its objects put back first."""
        engine.targets.reset()
        response = engine.client.open(
            self.path.format(**engine.targets.path_parameters()),
            method=self.method,
            data=body,
            content_type=content_type,
            headers=headers_for(engine.keys, self.operation),
        )
        engine.targets.sent(self.method, response.status_code)
        return response

    def __repr__(self):
        return self.label


def json_endpoints(document):
    found = [
        JsonEndpoint(document, path, method, operation)
        for path, method, operation in operations(document)
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]
    assert len(found) >= 7
    return found


# --- 1. schemathesis over the app's own document ----------------------------
#
# schemathesis.pytest.from_fixture() fails under pytest 9 (it sets
# ``node._nodeid``), so each operation's strategy is drawn from in a plain
# Hypothesis test, one subtest per operation.


def generated_cases(operation):
    """Valid and invalid requests for ``operation``."""
    return st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )


def real_path_parameters(data, case, run_count):
    """The names of the generated path parameters to point at real objects
    (none: keep them all), and the index of the run to use (or None)."""
    if not case.path_parameters:
        return [], None
    how = data.draw(st.sampled_from(["real", "some real", "generated"]), label="path parameters")
    if how == "generated":
        return [], None
    run_index = None
    if "artifact_uuid" not in case.path_parameters:
        run_index = data.draw(st.integers(0, run_count - 1), label="run")
    names = [
        name
        for name in case.path_parameters
        if how == "real" or data.draw(st.booleans(), label=f"real {name}")
    ]
    return names, run_index


def for_engine(case, engine, names, run_index):
    """``case`` with the parameters ``names`` pointing at ``engine``'s objects."""
    case = case.derive()
    run_uuid = None if run_index is None else list(engine.targets.run_states)[run_index]
    real = engine.targets.path_parameters(run_uuid, case.path)
    for name in names:
        case.path_parameters[name] = real[name]
    return case


def generated_requests_test(operation, engines):
    """A Hypothesis test sending ``operation``'s generated requests to every engine."""
    cases = generated_cases(operation)
    run_count = len(engines[0].targets.run_states)

    @settings(FUZZ_SETTINGS, max_examples=EXAMPLES_PER_OPERATION)
    @given(data=st.data())
    def check(data):
        generated = data.draw(cases, label="case")
        names, run_index = real_path_parameters(data, generated, run_count)
        for engine in engines:
            case = for_engine(generated, engine, names, run_index)
            headers = headers_for(engine.keys, operation.definition.raw)
            engine.targets.reset()
            response = case.call(headers=headers, app=engine.app)
            engine.targets.sent(case.method, response.status_code)
            assert_no_server_error(
                response.status_code,
                response.headers.get("content-type", [""])[0],
                response.content,
                f"{engine.kind}: {case.method} {case.formatted_path}",
            )
            case.validate_response(response, checks=DOCUMENT_CHECKS, headers=headers)

    return check


# Every operation in one test: the workflow routes made them some 40, which
# takes longer than the suite's 300 s default on a loaded machine.
@pytest.mark.timeout(900)
def test_no_server_error_for_generated_requests(engines, subtests):
    config = schemathesis.Config.from_dict(SCHEMATHESIS_CONFIG)
    schema = schemathesis.openapi.from_wsgi("/apispec.json", engines[0].app, config=config)
    api_operations = [result.ok() for result in schema.get_all_operations()]
    assert len(api_operations) == len(list(operations(schema.raw_schema)))
    for operation in api_operations:
        check = generated_requests_test(operation, engines)
        with subtests.test(msg=operation.label):
            check()


# --- 2. bodies that are not a JSON object -----------------------------------


def is_json_object(raw):
    try:
        return isinstance(json.loads(raw), dict)
    except (ValueError, RecursionError):
        return False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=10,
)


def truncated(example):
    """A JSON object cut short: never valid JSON."""
    return st.fixed_dictionaries(
        {}, optional={k: json_values | st.just(v) for k, v in example.items()}
    ).flatmap(
        lambda body: st.integers(0, len(json.dumps(body)) - 1).map(
            lambda cut: json.dumps(body)[:cut].encode()
        )
    )


def not_a_json_object(example):
    return st.one_of(
        st.binary(max_size=300).filter(lambda raw: not is_json_object(raw)),
        truncated(example),
        json_values.filter(lambda value: not isinstance(value, dict)).map(lambda v: json.dumps(v).encode()),
        st.just(json.dumps([example]).encode()),
        # Nesting deep enough to break a recursive parser.
        st.sampled_from([b"[", b'{"a":', b'[{"b":']).flatmap(
            lambda opener: st.integers(1_000, 200_000).map(lambda depth: opener * depth)
        ),
        # Bad UTF-8 (also a lone surrogate in UTF-8's form) inside an object.
        st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80abc"]).map(
            lambda bad: b'{"' + next(iter(example)).encode() + b'": "' + bad + b'"}'
        ),
    )


def test_malformed_json_bodies_are_400(engines, document):
    endpoints = json_endpoints(document)

    @settings(FUZZ_SETTINGS, max_examples=MALFORMED_BODY_EXAMPLES)
    @given(data=st.data())
    def check(data):
        endpoint = data.draw(st.sampled_from(endpoints), label="endpoint")
        body = data.draw(not_a_json_object(endpoint.example), label="body")
        content_type = data.draw(
            st.sampled_from(
                ["application/json", "application/json; charset=utf-8", "application/problem+json"]
            ),
            label="content type",
        )
        for engine in engines:
            response = endpoint.send(engine, body, content_type)
            assert_json_error(response, 400, f"{engine.kind}: {endpoint.label}")

    check()


def test_json_body_with_another_content_type_is_400(engines, document):
    for endpoint in json_endpoints(document):
        body = json.dumps(endpoint.example)
        for content_type in (
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/octet-stream",
            None,
        ):
            for engine in engines:
                response = endpoint.send(engine, body, content_type)
                assert_json_error(response, 400, f"{engine.kind}: {endpoint.label} as {content_type}")


# --- 3. odd strings everywhere a client can put one -------------------------

# fmt: off
FRAGMENTS = [
    "../", "..", ".", "/", "\\", "\x00", "\ud800", "\udfff", "\udc80", "%00", "%2e%2e%2f", "~",
    "ssh://", "https://", "http://", "file://", "git://", "git@host:", "ftp://", "javascript:",
    "[", "]", "::1", ":", "@", "#", "?", "&", "=", "%", "-", "C:", "\uff03", "\u2100", "\ufe6b",
    " ", "\n", "\r", "\t", "é", "日本語", "\U0001f600", "\u202e", "\ufeff", "\u0301", "\x7f",
    "NOT_STARTED", "RUNNING", "model.glm", "0123456789abcdef0123456789abcdef",
]
# fmt: on

URL_STARTS = ["ssh://", "https://", "http://", "git://", "file://", "file:", "git@", "user@host:"]
URL_FRAGMENTS = ["host", "[", "]", "[::1]", ":", ":99999", ":-1", "@", "\uff03", "\u2100", "é", "%41"]

odd_strings = st.one_of(
    st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=8).map("".join),
    # Any code point, lone surrogates and NUL included.
    st.text(st.characters(codec=None, exclude_categories=()), max_size=40),
    st.tuples(
        st.sampled_from(["a", "é", "\x00", "../", "\U0001f600", "\ud800"]), st.integers(250, 100_000)
    ).map(lambda piece: piece[0] * (piece[1] // len(piece[0]))),
)


# Strings that look like URLs, to get past the first checks of URL fields.
url_like_strings = st.tuples(
    st.sampled_from(URL_STARTS), st.lists(st.sampled_from(URL_FRAGMENTS), max_size=5).map("".join)
).map("".join)


def odd_strings_for(slot):
    """Mostly URL-like strings for URL fields, odd strings of any kind elsewhere."""
    if slot[-1] is not None and "url" in str(slot[-1]):
        return st.integers(0, 3).flatmap(lambda pick: odd_strings if pick == 0 else url_like_strings)
    return odd_strings


def has_lone_surrogate(text):
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def string_slots(value, path=()):
    """Paths to every string in ``value``, and to every key of its objects."""
    if isinstance(value, str):
        yield path
    elif isinstance(value, dict):
        yield (*path, None)  # a new key in this object
        for key, inner in value.items():
            yield from string_slots(inner, (*path, key))
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from string_slots(inner, (*path, index))


def with_odd_string(example, slot, odd):
    body = copy.deepcopy(example)
    container = body
    for step in slot[:-1]:
        container = container[step]
    if slot[-1] is None:
        container[odd] = "x"
    else:
        container[slot[-1]] = odd
    return body


def raw_json(body):
    """JSON text in which lone surrogates appear as \\udXXX escapes."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


def url_part(text, safe):
    return quote(text.encode("utf-8", "surrogatepass"), safe=safe)


def test_odd_strings_in_bodies_never_500(engines, document):
    slots = [
        (endpoint, slot) for endpoint in json_endpoints(document) for slot in string_slots(endpoint.example)
    ]

    @settings(FUZZ_SETTINGS, max_examples=ODD_BODY_STRING_EXAMPLES)
    @given(data=st.data())
    def check(data):
        endpoint, slot = data.draw(st.sampled_from(slots), label="endpoint and slot")
        odd = data.draw(odd_strings_for(slot), label="odd string")
        body = raw_json(with_odd_string(endpoint.example, slot, odd))
        received = json.loads(raw_json(odd))  # as the API reads it: escaped surrogate pairs join up
        for engine in engines:
            response = endpoint.send(engine, body, "application/json")
            what = f"{engine.kind}: {endpoint.label}"
            assert_no_server_error(response.status_code, response.content_type, response.data, what)
            if "\x00" in received or has_lone_surrogate(received):
                # No database can store these: the API must say so, not fail.
                assert response.status_code == 400, (what, slot, response.get_json())

    check()


def test_odd_strings_in_urls_never_500(engines, document):
    requests = [
        (path, method, operation)
        for path, method, operation in operations(document)
        if "{" in path or method == "GET"
    ]

    @settings(FUZZ_SETTINGS, max_examples=ODD_URL_STRING_EXAMPLES)
    @given(data=st.data())
    def check(data):
        path, method, operation = data.draw(st.sampled_from(requests), label="operation")
        odd = data.draw(odd_strings, label="odd string")
        safe = data.draw(st.sampled_from(["", "/", "/.:@"]), label="unescaped")
        names = [name for name in engines[0].targets.path_parameters(path=path) if "{" + name + "}" in path]
        if names:
            odd_name = data.draw(st.sampled_from(names + ["query"]), label="odd parameter")
        else:
            odd_name = "query"
        query_name = data.draw(st.sampled_from(["name", "limit", "offset", "state"]), label="query parameter")
        value = odd if odd_name == "query" else "volts.csv"
        query = f"?{query_name}={url_part(value, '')}"
        body, content_type = None, None
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            ref = content["application/json"]["schema"]["$ref"]
            body = json.dumps(document["components"]["schemas"][ref.rsplit("/", 1)[1]]["example"])
            content_type = "application/json"
        elif content:
            body, content_type = b"bytes", "application/octet-stream"
        for engine in engines:
            real = engine.targets.path_parameters(path=path)
            url = path.format(
                **{name: url_part(odd, safe) if name == odd_name else real[name] for name in names}
            )
            url += query
            engine.targets.reset()
            response = engine.client.open(
                url,
                method=method,
                data=body,
                content_type=content_type,
                headers=headers_for(engine.keys, operation),
            )
            engine.targets.sent(method, response.status_code)
            assert_no_server_error(
                response.status_code,
                response.content_type,
                response.data,
                f"{engine.kind}: {method} {url[:200]}",
            )

    check()
