"""The Celery tasks: ``execute_pipeline`` and ``deliver_callback``, which the API
sends by name, and ``expire_artifacts`` and ``recover_runs``, which
``celery -A worker beat`` sends."""

import logging
import os
import threading
import time

from . import callbacks, metrics
from .api_client import ApiClient
from .celery_app import app
from .pipeline import RunSpec, execute_run
from .reports import ApiRunReport

log = logging.getLogger(__name__)

_clients = {}


def api_client():
    """One ``ApiClient`` per worker process (per thread, for a thread pool)
    and setting, so that its keep-alive connection to the API serves run
    after run instead of a new connection each."""
    key = (threading.get_ident(), os.environ.get("WORKER_API_SERVER"), os.environ.get("WORKER_API_TOKEN"))
    if key not in _clients:
        _clients[key] = ApiClient.from_environment()
    return _clients[key]


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
    network=False,
    parameters=None,
):
    """Run one pipeline run and report it to the API; returns the final state."""
    report = ApiRunReport(api_client().run(pipeline_uuid, run_uuid))
    spec = RunSpec(
        inputs=inputs or [],
        repository_ssh_url=repository_ssh_url,
        repository_branch=repository_branch,
        model=model or "model.glm",
        arguments=arguments or [],
        timeout=timeout,
        network=bool(network),
        parameters=parameters or {},
    )
    started = time.monotonic()
    try:
        state = execute_run(report, spec)
    except BaseException:
        metrics.run_finished("error", time.monotonic() - started)
        raise
    metrics.run_finished(state or "not_run", time.monotonic() - started)
    return state


@app.task(
    name="deliver_callback",
    bind=True,
    autoretry_for=(callbacks.CallbackNotDelivered,),
    max_retries=callbacks.max_retries(),
    retry_backoff=callbacks.retry_backoff(),
    retry_backoff_max=callbacks.RETRY_BACKOFF_MAX,
    retry_jitter=True,
)
def deliver_callback(self, url, pipeline_run_uuid, state):
    """POST ``{"pipeline_run_uuid", "state"}``, signed, to a run's callback
    URL (worker/callbacks.py); the task id is the delivery id, the same on
    every retry."""
    return callbacks.deliver(
        url,
        pipeline_run_uuid,
        state,
        delivery_id=self.request.id,
        secret=callbacks.signing_secret(),
        timeout=callbacks.timeout(),
    )


@app.task(name="expire_artifacts", ignore_result=True)
def expire_artifacts():
    """Have the API expire artifacts past ARTIFACT_RETENTION_DAYS (the worker
    never opens the database); returns the API's report. A failure is left
    to the next beat."""
    report = ApiClient.from_environment().expire_artifacts()
    log.info("artifact expiry: %s", report)
    return report


@app.task(name="recover_runs", ignore_result=True)
def recover_runs():
    """Have the API settle the RUNNING runs whose worker went silent (queued
    again or FAILED: docs/adr/0010-worker-loss-recovery.md); returns the
    API's report. A failure is left to the next beat."""
    report = ApiClient.from_environment().recover_runs()
    log.info("run recovery: %s", report)
    return report
