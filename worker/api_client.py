"""The worker's HTTP client for the Workflow API (its only way to report).

Every call retries connection errors and 5xx answers with exponential
backoff (about two and a half minutes in all by default), PUT and POST
included, so a briefly unavailable API loses nothing. A retried console
append whose first attempt did reach the API may be stored twice; losing
output would be worse.
"""

import os

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

API_KEY_HEADER = "Workflow-API-Key"
ATTEMPT_HEADER = "Workflow-Run-Attempt"
RETRIED_STATUSES = (500, 502, 503, 504)
TIMEOUT = (10, 120)  # seconds to connect, seconds of silence while reading


class ApiError(Exception):
    """The API answered with an error status (after any retries)."""

    def __init__(self, response):
        self.response = response
        self.status = response.status_code
        try:
            detail = response.json().get("message", "")
        except (ValueError, AttributeError):
            detail = response.text[:200]
        super().__init__(f"{response.request.method} {response.url}: {self.status} {detail}".rstrip())


class Conflict(ApiError):
    """409: the run's state forbids the call, e.g. it was cancelled."""


class RunGone(Conflict):
    """404 on a run's endpoint: the run is not there to report on any more
    (its pipeline was deleted after it ended). Handled as a 409: the
    worker sends nothing more about it."""


def retrying_session(total=10, backoff_factor=0.5, backoff_max=30):
    retry = Retry(
        total=total,
        connect=total,
        read=total,
        status=total,
        status_forcelist=RETRIED_STATUSES,
        allowed_methods=None,  # every method, PUT and POST included
        backoff_factor=backoff_factor,
        backoff_max=backoff_max,
        raise_on_status=False,  # hand back the last answer, reported as ApiError
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class ApiClient:
    """Calls on one run: ``ApiClient(server, token).run(pipeline_uuid, run_uuid)``."""

    def __init__(self, server, token, session=None, timeout=TIMEOUT):
        if not server:
            raise ValueError("WORKER_API_SERVER is not set")
        self.server = server.rstrip("/")
        self.session = session or retrying_session()
        self.session.headers[API_KEY_HEADER] = token or ""
        self.timeout = timeout

    @classmethod
    def from_environment(cls, **kwargs):
        return cls(os.environ.get("WORKER_API_SERVER"), os.environ.get("WORKER_API_TOKEN"), **kwargs)

    def run(self, pipeline_uuid, run_uuid):
        return RunApi(self, pipeline_uuid, run_uuid)

    def with_own_session(self):
        """The same client on a session of its own, for another thread."""
        token = self.session.headers.get(API_KEY_HEADER)
        return ApiClient(self.server, token, timeout=self.timeout)

    def expire_artifacts(self):
        """Ask the API to expire the artifacts kept past their retention;
        returns its report (``expired``, ``failed``, ...)."""
        return self.request("POST", "/v1/artifacts/expire")

    def recover_runs(self):
        """Ask the API to settle the RUNNING runs whose worker went silent;
        returns its report (``requeued``, ``failed``, ``resent``, ``postponed``)."""
        return self.request("POST", "/v1/runs/recover")

    def request(self, method, path, **kwargs):
        response = self.session.request(method, self.server + path, timeout=self.timeout, **kwargs)
        if response.status_code == 409:
            raise Conflict(response)
        if response.status_code >= 400:
            raise ApiError(response)
        return response.json() if response.content else None


class RunApi:
    """The worker endpoints of one run.

    Once ``attempt`` is set (from the answer to ``set_state(RUNNING)``),
    every call names it, so that the API refuses (409) the calls of an
    attempt it has given up for lost.
    """

    def __init__(self, client, pipeline_uuid, run_uuid, attempt=None):
        self.client = client
        self.pipeline_uuid, self.run_uuid = pipeline_uuid, run_uuid
        self.path = f"/v1/pipelines/{pipeline_uuid}/runs/{run_uuid}"
        self.attempt = attempt

    def on_own_session(self):
        """The same run's endpoints, and attempt, on a session of its own."""
        return RunApi(self.client.with_own_session(), self.pipeline_uuid, self.run_uuid, self.attempt)

    def _request(self, method, tail, headers=None, **kwargs):
        headers = dict(headers or {})
        if self.attempt is not None:
            headers[ATTEMPT_HEADER] = str(self.attempt)
        try:
            return self.client.request(method, self.path + tail, headers=headers, **kwargs)
        except ApiError as error:
            if error.status == 404:
                raise RunGone(error.response) from None
            raise

    def set_state(self, state):
        """The run in its new state, with the ``attempt`` that has it."""
        return self._request("PUT", "/state", json={"state": state})

    def get_state(self):
        return self._request("GET", "/state")["state"]

    def heartbeat(self):
        """Tell the API this worker is alive; returns the run's state."""
        return self._request("PUT", "/heartbeat")["state"]

    def replace_console(self, std_out="", std_err=""):
        return self._request("PUT", "/console", json={"std_out": std_out, "std_err": std_err})

    def append_console(self, std_out="", std_err="", progress=None):
        body = {key: text for key, text in (("std_out", std_out), ("std_err", std_err)) if text}
        if progress is not None:
            body["progress"] = progress
        if body:
            self._request("POST", "/console", json=body)

    def upload_artifact(self, name, file):
        """Send ``file`` (an open binary file) as the artifact ``name``,
        streamed; the API keeps the last part of a name with folders."""
        return self._request(
            "POST",
            "/artifacts",
            params={"name": name},
            data=file,
            headers={"Content-Type": "application/octet-stream"},
        )
