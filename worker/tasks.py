"""The Celery tasks: ``execute_pipeline`` and ``deliver_callback``, which the API
sends by name, and ``expire_artifacts``, which ``celery -A worker beat`` sends."""

import logging

import requests

from .api_client import ApiClient
from .celery_app import app
from .pipeline import RunSpec, execute_run
from .reports import ApiRunReport

log = logging.getLogger(__name__)

CALLBACK_TIMEOUT = 10
CALLBACK_RETRIES = 8  # with the backoff below: at most about 10 minutes in all


@app.task(name="execute_pipeline")
def execute_pipeline(
    pipeline_uuid,
    run_uuid,
    inputs=None,
    repository_ssh_url=None,
    repository_branch=None,
    model="model.glm",
    arguments=None,
    timeout=None,
):
    """Run one pipeline run and report it to the API; returns the final state."""
    report = ApiRunReport(ApiClient.from_environment().run(pipeline_uuid, run_uuid))
    spec = RunSpec(
        inputs=inputs or [],
        repository_ssh_url=repository_ssh_url,
        repository_branch=repository_branch,
        model=model or "model.glm",
        arguments=arguments or [],
        timeout=timeout,
    )
    return execute_run(report, spec)


class CallbackNotDelivered(Exception):
    """The callback URL could not be reached or answered 5xx/429: try again later."""


@app.task(
    name="deliver_callback",
    autoretry_for=(CallbackNotDelivered,),
    max_retries=CALLBACK_RETRIES,
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
)
def deliver_callback(url, pipeline_run_uuid, state):
    """POST ``{"pipeline_run_uuid", "state"}`` to a run's callback URL."""
    body = {"pipeline_run_uuid": pipeline_run_uuid, "state": state}
    try:
        response = requests.post(url, json=body, timeout=CALLBACK_TIMEOUT)
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
    ):
        log.warning("callback URL %r of run %s cannot be used", url, pipeline_run_uuid)
        return None
    except requests.RequestException as error:
        raise CallbackNotDelivered(f"{url}: {error}") from None
    if response.status_code >= 500 or response.status_code == 429:
        raise CallbackNotDelivered(f"{url}: {response.status_code}")
    if response.status_code >= 400:
        # The receiver refused it; sending it again would not change that.
        log.warning(
            "callback %s refused %s for run %s: %s", url, state, pipeline_run_uuid, response.status_code
        )
    return response.status_code


@app.task(name="expire_artifacts", ignore_result=True)
def expire_artifacts():
    """Have the API expire artifacts past ARTIFACT_RETENTION_DAYS (the worker
    never opens the database); returns the API's report. A failure is left
    to the next beat."""
    report = ApiClient.from_environment().expire_artifacts()
    log.info("artifact expiry: %s", report)
    return report
