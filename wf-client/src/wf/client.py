"""A Python client of the Workflow Service API: what the ``wf`` command uses."""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlparse

import requests
import sseclient

FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED"}
URL_SCHEMES = ("http://", "https://", "file://")


class ApiError(Exception):
    """An answer of the API that is not a success, as one readable line."""

    def __init__(self, status, message, errors=None, method=None, path=None):
        self.status = status
        self.message = message
        self.errors = errors or {}
        self.method = method
        self.path = path
        super().__init__(str(self))

    def __str__(self):
        text = f"{self.status}: {self.message}"
        details = "; ".join(f"{field}: {_flatten(value)}" for field, value in self.errors.items())
        if details:
            text += f" ({details})"
        if self.method and self.path:
            text += f" [{self.method} {self.path}]"
        return text


def _flatten(value):
    if isinstance(value, dict):
        return ", ".join(f"{key}: {_flatten(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(_flatten(item) for item in value)
    return str(value)


@dataclass
class Event:
    """One Server-Sent Event of a run, sweep or workflow run stream."""

    kind: str
    data: dict
    id: str | None = None


@dataclass(frozen=True)
class RunRef:
    """Where a run lives: its pipeline and its own uuid."""

    pipeline: str
    run: str

    def __str__(self):
        return f"{self.pipeline}/{self.run}"


class Client:
    """The Workflow Service API with one key.

    ``server`` and ``key`` default to ``WORKFLOW_API_SERVER`` and
    ``WORKFLOW_API_KEY``. Pipelines may be named by uuid or by name.
    """

    def __init__(self, server=None, key=None, timeout=30.0, poll_interval=1.0):
        server = server or os.environ.get("WORKFLOW_API_SERVER")
        key = key or os.environ.get("WORKFLOW_API_KEY")
        if not server:
            raise ValueError("no API server: pass --server or set WORKFLOW_API_SERVER")
        if not key:
            raise ValueError("no API key: pass --key or set WORKFLOW_API_KEY")
        self.server = server.rstrip("/")
        self.timeout = timeout
        self.poll_interval = poll_interval
        self.session = requests.Session()
        self.session.headers["Workflow-API-Key"] = key

    # -- plumbing -------------------------------------------------------

    def request(self, method, path, expect_json=True, **kwargs):
        url = path if path.startswith(("http://", "https://")) else self.server + path
        kwargs.setdefault("timeout", self.timeout)
        response = self.session.request(method, url, **kwargs)
        if response.status_code >= 400:
            raise self._error(response, method, path)
        if not expect_json:
            return response
        return response.json() if response.content else None

    @staticmethod
    def _error(response, method, path):
        try:
            body = response.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        message = body.get("message") or response.reason or "request failed"
        return ApiError(response.status_code, message, body.get("errors"), method, urlparse(path).path)

    # -- pipelines ------------------------------------------------------

    def pipelines(self):
        return self.request("GET", "/v1/pipelines")

    def pipeline(self, ref):
        """A pipeline by uuid, or by name when no uuid matches."""
        if _is_uuid(ref):
            try:
                return self.request("GET", f"/v1/pipelines/{ref}")
            except ApiError as error:
                if error.status != 404:
                    raise
        matches = [pipeline for pipeline in self.pipelines() if pipeline["name"] == ref]
        if not matches:
            raise ApiError(404, f"no pipeline named or numbered {ref!r}")
        if len(matches) > 1:
            uuids = ", ".join(pipeline["uuid"] for pipeline in matches)
            raise ApiError(409, f"{len(matches)} pipelines are named {ref!r}: use a uuid ({uuids})")
        return matches[0]

    def pipeline_uuid(self, ref):
        return ref if _is_uuid(ref) else self.pipeline(ref)["uuid"]

    def create_pipeline(self, name, **fields):
        body = {"name": name, **{key: value for key, value in fields.items() if value is not None}}
        return self.request("POST", "/v1/pipelines", json=body)

    def delete_pipeline(self, ref):
        return self.request("DELETE", f"/v1/pipelines/{self.pipeline_uuid(ref)}")

    # -- inputs ---------------------------------------------------------

    def upload_input(self, pipeline, path, name=None):
        """Upload a local file as an input file; returns its JSON (with ``url``)."""
        path = Path(path)
        name = name or path.name
        with path.open("rb") as body:
            return self.request(
                "POST",
                f"/v1/pipelines/{self.pipeline_uuid(pipeline)}/input_files",
                params={"name": name},
                data=body,
                headers={"Content-Type": "application/octet-stream"},
            )

    def inputs(self, pipeline, sources):
        """Run inputs from local paths and URLs: a path is uploaded, a URL is
        taken as it is (named after its last segment, or ``NAME=URL``)."""
        inputs = []
        for source in sources:
            name, _, rest = source.partition("=")
            if rest.startswith(URL_SCHEMES) and "/" not in name:
                inputs.append({"name": name, "url": rest})
            elif source.startswith(URL_SCHEMES):
                segment = urlparse(source).path.rstrip("/").rsplit("/", 1)[-1]
                if not segment:
                    raise ValueError(f"cannot name the input {source!r}: give it as NAME={source}")
                inputs.append({"name": segment, "url": source})
            else:
                path = Path(source)
                if not path.is_file():
                    raise ValueError(f"no such file: {source}")
                uploaded = self.upload_input(pipeline, path)
                inputs.append({"name": uploaded["name"], "url": uploaded["url"]})
        return inputs

    # -- runs -----------------------------------------------------------

    def runs(self, pipeline, state=None, limit=None, offset=None):
        params = {
            key: value
            for key, value in (("state", state), ("limit", limit), ("offset", offset))
            if value is not None
        }
        return self.request("GET", f"/v1/pipelines/{self.pipeline_uuid(pipeline)}/runs", params=params)

    def start_run(self, pipeline, inputs, parameters=None, callback_url=None):
        body = {"inputs": inputs}
        if parameters:
            body["parameters"] = parameters
        if callback_url:
            body["callback_url"] = callback_url
        run = self.request("POST", f"/v1/pipelines/{self.pipeline_uuid(pipeline)}/runs", json=body)
        return RunRef(self.pipeline_uuid(pipeline), run["uuid"]), run

    def run(self, pipeline, sources, parameters=None, wait=True, on_event=None, callback_url=None):
        """Start a run of ``pipeline`` on local files and URLs; with ``wait``,
        return its final JSON (``on_event`` sees each event meanwhile)."""
        pipeline = self.pipeline_uuid(pipeline)
        ref, run = self.start_run(pipeline, self.inputs(pipeline, sources), parameters, callback_url)
        if wait:
            run = self.wait(ref, on_event)
        return ref, run

    def find_run(self, text):
        """``PIPELINE/RUN`` as ``wf run`` prints it, or a run uuid alone
        (looked for in every pipeline)."""
        if "/" in text:
            pipeline, run = text.split("/", 1)
            return RunRef(self.pipeline_uuid(pipeline), run)
        for pipeline in self.pipelines():
            offset = 0
            while True:
                page = self.runs(pipeline["uuid"], limit=500, offset=offset)
                if any(run["uuid"] == text for run in page):
                    return RunRef(pipeline["uuid"], text)
                if len(page) < 500:
                    break
                offset += 500
        raise ApiError(404, f"no run {text!r} in any pipeline")

    def get_run(self, ref):
        return self.request("GET", self._run_path(ref))

    def console(self, ref):
        return self.request("GET", self._run_path(ref, "/console"))

    def cancel(self, ref):
        return self.request("POST", self._run_path(ref, "/cancel"))

    def events(self, ref, last_event_id=None):
        """The run's events until its final state, resuming after a dropped
        connection; polling where the server has no event stream."""
        return self._events(self._run_path(ref, "/events"), lambda: self._poll_run(ref), last_event_id)

    def wait(self, ref, on_event=None):
        """Follow the run until it is final; returns its final JSON."""
        for event in self.events(ref):
            if on_event:
                on_event(event)
        return self.get_run(ref)

    def download_artifacts(self, run, folder):
        """Save every artifact of a run JSON into ``folder``; returns the paths."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for artifact in run.get("artifacts", []):
            name = Path(artifact["name"]).name
            target = folder / name
            response = self.request("GET", artifact["url"], expect_json=False, stream=True)
            with target.open("wb") as file:
                for chunk in response.iter_content(chunk_size=1 << 16):
                    file.write(chunk)
            saved.append(target)
        return saved

    # -- sweeps ---------------------------------------------------------

    def sweep(self, pipeline, sources, parameters=None, rows=None, callback_url=None):
        pipeline = self.pipeline_uuid(pipeline)
        body = {"inputs": self.inputs(pipeline, sources)}
        if parameters is not None:
            body["parameters"] = parameters
        if rows is not None:
            body["rows"] = rows
        if callback_url:
            body["callback_url"] = callback_url
        return self.request("POST", f"/v1/pipelines/{pipeline}/sweeps", json=body)

    def sweeps(self, pipeline):
        return self.request("GET", f"/v1/pipelines/{self.pipeline_uuid(pipeline)}/sweeps")

    def get_sweep(self, sweep):
        return self.request("GET", f"/v1/pipelines/{sweep['pipeline_uuid']}/sweeps/{sweep['uuid']}")

    def sweep_results(self, sweep):
        """The sweep's results.csv as text."""
        path = f"/v1/pipelines/{sweep['pipeline_uuid']}/sweeps/{sweep['uuid']}/results.csv"
        return self.request("GET", path, expect_json=False).text

    def sweep_events(self, sweep):
        path = f"/v1/pipelines/{sweep['pipeline_uuid']}/sweeps/{sweep['uuid']}/events"
        return self._events(path, lambda: self._poll_counts(lambda: self.get_sweep(sweep)))

    def cancel_sweep(self, sweep):
        return self.request("POST", f"/v1/pipelines/{sweep['pipeline_uuid']}/sweeps/{sweep['uuid']}/cancel")

    def wait_sweep(self, sweep, on_event=None):
        for event in self.sweep_events(sweep):
            if on_event:
                on_event(event)
        return self.get_sweep(sweep)

    # -- workflows ------------------------------------------------------

    def workflows(self):
        return self.request("GET", "/v1/workflows")

    def create_workflow(self, name, description=None):
        body = {"name": name} | ({"description": description} if description else {})
        return self.request("POST", "/v1/workflows", json=body)

    def workflow(self, ref):
        if _is_uuid(ref):
            try:
                return self.request("GET", f"/v1/workflows/{ref}")
            except ApiError as error:
                if error.status != 404:
                    raise
        matches = [workflow for workflow in self.workflows() if workflow["name"] == ref]
        if len(matches) != 1:
            raise ApiError(404, f"no single workflow named or numbered {ref!r}")
        return matches[0]

    def workflow_nodes(self, workflow):
        return self.request("GET", f"/v1/workflows/{self.workflow(workflow)['uuid']}/pipelines")

    def add_node(self, workflow, pipeline, after=()):
        body = {"pipeline_uuid": self.pipeline_uuid(pipeline), "source_workflow_pipelines": list(after)}
        return self.request("POST", f"/v1/workflows/{self.workflow(workflow)['uuid']}/pipelines", json=body)

    def start_workflow(self, workflow, sources):
        """Start a workflow run; local files are uploaded as input files of
        the workflow's first node's pipeline."""
        workflow = self.workflow(workflow)
        nodes = self.workflow_nodes(workflow["uuid"])
        if not nodes:
            raise ApiError(400, f"workflow {workflow['name']!r} has no pipelines yet")
        inputs = self.inputs(nodes[0]["pipeline_uuid"], sources)
        return self.request("POST", f"/v1/workflows/{workflow['uuid']}/runs", json={"inputs": inputs})

    def get_workflow_run(self, workflow_run):
        return self.request(
            "GET", f"/v1/workflows/{workflow_run['workflow_uuid']}/runs/{workflow_run['uuid']}"
        )

    def wait_workflow(self, workflow_run, on_event=None):
        path = f"/v1/workflows/{workflow_run['workflow_uuid']}/runs/{workflow_run['uuid']}/events"
        for event in self._events(
            path, lambda: self._poll_state(lambda: self.get_workflow_run(workflow_run))
        ):
            if on_event:
                on_event(event)
        return self.get_workflow_run(workflow_run)

    # -- event streams --------------------------------------------------

    def _events(self, path, poll, last_event_id=None):
        """Events from ``path`` (text/event-stream) until the final state; on
        a 404 (no stream on this server) the ``poll`` fallback instead."""
        retries = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_event_id is not None:
                headers["Last-Event-ID"] = last_event_id
            try:
                response = self.session.get(
                    self.server + path, headers=headers, stream=True, timeout=(self.timeout, 60)
                )
            except requests.ConnectionError:
                retries += 1
                if retries > 5:
                    raise
                time.sleep(min(2**retries, 10))
                continue
            if response.status_code == 404 and last_event_id is None:
                # No stream here (an older server): poll, which fails with the
                # API's own 404 if what we follow does not exist.
                response.close()
                yield from poll()
                return
            if response.status_code >= 400:
                raise self._error(response, "GET", path)
            retries = 0
            finished = False
            try:
                for message in sseclient.SSEClient(response.iter_content(chunk_size=None)).events():
                    if message.id:
                        last_event_id = message.id
                    data = json.loads(message.data) if message.data else {}
                    event = Event(message.event or "message", data, message.id)
                    yield event
                    if _is_final(event):
                        finished = True
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
                pass  # the stream broke: reconnect after the last event seen
            finally:
                response.close()
            if finished:
                return

    def _poll_run(self, ref):
        """Events made up from polling a run, for a server without streams."""
        seen_states = 0
        seen_out = seen_err = 0
        progress = None
        while True:
            run = self.get_run(ref)
            console = self.console(ref)
            out, err = console.get("std_out") or "", console.get("std_err") or ""
            if len(out) > seen_out or len(err) > seen_err:
                yield Event("console", {"std_out": out[seen_out:], "std_err": err[seen_err:]})
                seen_out, seen_err = len(out), len(err)
            if run.get("progress") and run["progress"] != progress:
                progress = run["progress"]
                yield Event("progress", progress)
            for state in run["states"][seen_states:]:
                yield Event("state", state)
            seen_states = len(run["states"])
            if run["state"] in FINAL_STATES:
                return
            time.sleep(self.poll_interval)

    def _poll_counts(self, read):
        while True:
            sweep = read()
            yield Event("counts", {"counts": sweep["counts"], "state": sweep["state"]})
            if sweep["state"] in FINAL_STATES:
                return
            time.sleep(self.poll_interval)

    def _poll_state(self, read):
        last = None
        while True:
            current = read()
            if current != last:
                yield Event("workflow_run", current)
                last = current
            if current["states"] and current["states"][-1]["state"] in FINAL_STATES:
                return
            time.sleep(self.poll_interval)

    def _run_path(self, ref, tail=""):
        return f"/v1/pipelines/{ref.pipeline}/runs/{quote(ref.run)}{tail}"


def _is_final(event):
    state = event.data.get("state") if isinstance(event.data, dict) else None
    return event.kind in {"state", "counts", "workflow_run", "sweep"} and state in FINAL_STATES


def _is_uuid(text):
    return len(text) == 32 and all(c in "0123456789abcdef" for c in text)
