"""A stand-in for the Workflow API's worker endpoints, for the worker's tests.

It is NOT the API: a small real HTTP server (on loopback) that keeps runs
in memory, applies the run state machine, the attempt header and the
console and artifact rules of docs/api.md, and records every call, so the worker can be tested over
real HTTP without the database. The end-to-end tests against the real API
live elsewhere.
"""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .loopback_server import LoopbackServer

ALLOWED = {
    "NOT_STARTED": {"RUNNING", "CANCELLED"},
    "RUNNING": {"COMPLETED", "FAILED", "CANCELLED"},
}
RUN_PATH = re.compile(r"^/v1/pipelines/(\w+)/runs/(\w+)/(state|console|artifacts|heartbeat)$")
ATTEMPT_HEADER = "Workflow-Run-Attempt"


class StandInRun:
    def __init__(self, state, attempt=0):
        self.states = [state]
        self.attempt = attempt  # one more at each change to RUNNING
        self.std_out = []
        self.std_err = []
        self.artifacts = []  # (name, bytes)
        self.heartbeats = []  # times of the heartbeats recorded

    @property
    def state(self):
        return self.states[-1]

    @property
    def console(self):
        return {"std_out": "".join(self.std_out), "std_err": "".join(self.std_err)}


class StandInApi(LoopbackServer):
    """``with StandInApi(token) as api:`` serves on ``api.url``."""

    def __init__(self, token="worker-key", port=0):
        self.token = token
        self.runs = {}
        self.calls = []  # (time, method, path, status, Workflow-Run-Attempt header or None)
        self.failures = []  # statuses to answer the next requests with
        self.lock = threading.Lock()
        self.url = self.serve(self.handler_class(), port)

    def add_run(self, pipeline_uuid, run_uuid, state="NOT_STARTED", attempt=0):
        self.runs[(pipeline_uuid, run_uuid)] = StandInRun(state, attempt)
        return self.runs[(pipeline_uuid, run_uuid)]

    def cancel(self, pipeline_uuid, run_uuid):
        """What a client's POST .../cancel does."""
        with self.lock:
            self.runs[(pipeline_uuid, run_uuid)].states.append("CANCELLED")

    def requeue(self, pipeline_uuid, run_uuid):
        """What the API's recovery sweep does to a run whose worker went silent."""
        with self.lock:
            self.runs[(pipeline_uuid, run_uuid)].states.append("NOT_STARTED")

    def fail_next(self, count, status=503):
        with self.lock:
            self.failures.extend([status] * count)

    def calls_to(self, method, suffix):
        return [call for call in self.calls if call[1] == method and call[2].endswith(suffix)]

    def handler_class(self):
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def body(self):
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    data = b""
                    while True:
                        size = int(self.rfile.readline().strip(), 16)
                        if size == 0:
                            self.rfile.readline()
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def reply(self, status, payload=None):
                # Recorded before the answer goes out: a test that has its
                # answer must find the call in ``calls``.
                path = urlsplit(self.path).path
                attempt = self.headers.get(ATTEMPT_HEADER)
                stand_in.calls.append((time.monotonic(), self.command, path, status, attempt))
                data = json.dumps(payload if payload is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def handle_any(self):
                body = self.body()
                with stand_in.lock:
                    if stand_in.failures:
                        return self.reply(stand_in.failures.pop(0), {"message": "stand-in failure"})
                    if self.headers.get("Workflow-API-Key") != stand_in.token:
                        return self.reply(401, {"message": "bad key"})
                    url = urlsplit(self.path)
                    match = RUN_PATH.match(url.path)
                    run = match and stand_in.runs.get((match[1], match[2]))
                    if not run:
                        return self.reply(404, {"message": "no such run"})
                    return self.route(match[3], run, body, parse_qs(url.query))

            def route(self, endpoint, run, body, query):
                named = self.headers.get(ATTEMPT_HEADER)
                if named is not None and (int(named) != run.attempt or run.state == "NOT_STARTED"):
                    return self.reply(409, {"message": "the run was handed to another attempt"})
                if endpoint == "state" and self.command == "GET":
                    return self.reply(200, {"state": run.state})
                if endpoint == "state" and self.command == "PUT":
                    wanted = json.loads(body)["state"]
                    if wanted not in ALLOWED.get(run.state, ()):
                        return self.reply(409, {"message": f"{run.state} -> {wanted}"})
                    run.states.append(wanted)
                    if wanted == "RUNNING":
                        run.attempt += 1
                    return self.reply(200, {"state": wanted, "attempt": run.attempt})
                if endpoint == "heartbeat" and self.command == "PUT":
                    if run.state == "RUNNING":
                        run.heartbeats.append(time.monotonic())
                    return self.reply(200, {"state": run.state, "attempt": run.attempt})
                if endpoint == "console" and self.command == "GET":
                    return self.reply(200, run.console)
                if endpoint == "console" and self.command in ("PUT", "POST"):
                    if run.state not in ("NOT_STARTED", "RUNNING"):
                        return self.reply(409, {"message": "run has ended"})
                    fields = json.loads(body)
                    if self.command == "PUT":
                        run.std_out, run.std_err = [], []
                    run.std_out.append(fields.get("std_out", ""))
                    run.std_err.append(fields.get("std_err", ""))
                    return self.reply(200, run.console)
                if endpoint == "artifacts" and self.command == "POST":
                    name = query.get("name", [""])[0]
                    if not name or len(name) > 255:
                        return self.reply(400, {"message": "bad name"})
                    if run.state != "RUNNING":
                        return self.reply(409, {"message": "run is not RUNNING"})
                    run.artifacts.append((name.rsplit("/", 1)[-1], body))
                    return self.reply(201, {"name": name, "size": len(body)})
                return self.reply(405, {"message": "not here"})

            do_GET = do_PUT = do_POST = handle_any

        return Handler
