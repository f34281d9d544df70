"""schemathesis against the live API, as ``invoke fuzz-api`` runs it, only smaller.

gunicorn on a fresh PostgreSQL database and a Redis database of its own,
real pipelines, runs and artifacts, and ``bench.api_fuzz.fuzz`` sending at
least 200 generated requests (every phase: the coverage phase alone sends
about 700) with the key each operation asks for. Then the other side: the
same code, pointed at a server that answers 500, must say so.

And what the live fuzz found once: requests gunicorn refuses by itself (a
request line or a header over its limits) got an HTML page with a status no
operation listed. They are now JSON errors the document lists everywhere.
"""

import http.server
import json
import threading

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error

from bench import api_fuzz

from .e2e.stack import Stack
from .test_fuzz import DOCUMENT_CHECKS

LIVE_REQUESTS = 200
LIVE_REDIS_DB = 10  # away from the benchmarks' (11, 12) and the other tests' (13, 14)
SEED = 20240605  # fixed, so that a failure here reproduces


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("live-fuzz"), worker_concurrency=0, redis_db=LIVE_REDIS_DB)
    yield stack
    stack.close()


def test_generated_requests_never_get_a_5xx_from_the_live_api(stack):
    key = api_fuzz.KEY_HEADER
    tally = api_fuzz.fuzz(
        stack.url,
        stack.client[key],
        stack.worker_key[key],
        stack.database_url,
        LIVE_REQUESTS,
        SEED,
        report=print,
    )
    api_fuzz.summary(tally, report=print)

    assert tally.requests >= LIVE_REQUESTS
    assert tally.server_errors == 0, tally.by_status
    assert tally.failures == []
    assert tally.errors == []
    assert tally.no_answer == 0
    # Every operation was sent requests, and with both kinds of key; the
    # requests got past the keys (2xx) and into the validation and lookups (4xx).
    assert len(tally.operations) >= 20
    assert [op for op in tally.operations if tally.by_operation[op] == 0] == []
    assert tally.by_key["client"] > 0 and tally.by_key["worker"] > 0
    assert tally.by_key["other"] == 0
    classes = tally.by_class()
    assert classes.get("2xx", 0) > 0 and classes.get("4xx", 0) > 0
    assert {404, 409}.issubset(tally.by_status)
    assert tally.ok


class BrokenApi(http.server.BaseHTTPRequestHandler):
    """Serves the real document at /apispec.json and a JSON 500 for the rest."""

    document = b""

    def _answer(self):
        if self.path == "/apispec.json":
            status, body = 200, self.document
        else:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            status, body = 500, json.dumps({"message": "broken on purpose"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _answer

    def log_message(self, format, *args):
        pass


def test_a_5xx_is_counted_and_reported_with_a_curl_command(stack):
    BrokenApi.document = requests.get(stack.url + "/apispec.json", timeout=10).content
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), BrokenApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        tally = api_fuzz.Tally()
        keys = api_fuzz.Keys("client-key", "worker-key")
        api_fuzz.run_round(url, SEED, 1, ("examples",), keys, None, tally)
    finally:
        server.shutdown()
        server.server_close()

    assert tally.requests > 0
    assert tally.server_errors == tally.requests
    assert not tally.ok
    server_errors = [failure for failure in tally.failures if failure.check == "not_a_server_error"]
    assert server_errors
    assert all(failure.curl.startswith("curl ") and url in failure.curl for failure in server_errors)


@pytest.mark.parametrize(
    "path, query, extra_headers, status",
    [
        ("/v1/pipelines", {"limit": "9" * 5000}, {}, 414),
        ("/v1/pipelines/{pipeline_uuid}", {}, {}, 414),
        ("/v1/pipelines", {}, {"X-Padding": "x" * 9000}, 431),
    ],
    ids=["long query", "long path", "long header"],
)
def test_gunicorns_own_refusals_are_json_errors_the_document_lists(stack, path, query, extra_headers, status):
    schema = schemathesis.openapi.from_url(stack.url + "/apispec.json")
    for item in schema.raw_schema["paths"].values():
        for operation in item.values():
            assert {"414", "431"} <= set(operation["responses"]), operation["operationId"]
    path_parameters = {"pipeline_uuid": "a" * 5000} if "{" in path else {}
    case = schema[path]["GET"].Case(path_parameters=path_parameters, query=query)
    headers = {**stack.client, **extra_headers}
    response = case.call(base_url=stack.url, headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == ["application/json"]
    assert response.json()["message"].strip()
    # Raises with what is wrong if the answer is not what the document says.
    case.validate_response(response, checks=[not_a_server_error, *DOCUMENT_CHECKS], headers=headers)
