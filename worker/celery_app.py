"""The Celery app the workers run (``celery -A worker worker``), from the environment.

The API publishes tasks by name with its own Celery app; the two only have
to agree on the broker. Without ``CELERY_BROKER_URL`` both use kombu's
filesystem transport in the same folder, computed the same way as
``app/config.py`` does (the worker must not import the API's code).
"""

import os
import sys

from celery import Celery, signals
from kombu import Exchange, Queue

from . import sandbox
from .settings import (
    allow_unsigned_callbacks,
    artifact_expiry_interval,
    env_flag,
    max_run_seconds,
    recovery_interval,
    sandbox_enabled,
)

# The embedded broker's transport is in filesystem_broker/, beside this
# package. `celery -A worker` has the current folder on sys.path only while
# it imports `worker` itself, and this module comes later (worker.app is
# built on first access): the project's root is put on the path for it.
PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if PROJECT_ROOT not in sys.path:
    sys.path.append(PROJECT_ROOT)

from filesystem_broker import TRANSPORT, uses_filesystem_transport  # noqa: E402


def embedded_broker_folder():
    """``CELERY_BROKER_FOLDER``, else ``<WORKFLOW_DATA_FOLDER or var>/broker``."""
    data_folder = os.environ.get("WORKFLOW_DATA_FOLDER", "var")
    return os.path.abspath(os.environ.get("CELERY_BROKER_FOLDER", os.path.join(data_folder, "broker")))


def broker_settings():
    """Broker URL and transport options."""
    url = os.environ.get("CELERY_BROKER_URL")
    if url:
        if url.startswith(("redis://", "rediss://", "redis+socket://")):
            # Redis hands an unacknowledged task (its worker host was lost) to
            # another worker after this long. Above the longest run, so that
            # the task of a run still going is not handed out again: the
            # copy would only be refused (409) and dropped. A run whose
            # worker was lost is the API's recovery sweep's to queue again.
            return url, {"visibility_timeout": max_run_seconds() + 3600}
        return url, {}
    folder = embedded_broker_folder()
    queue = os.path.join(folder, "queue")
    processed = os.path.join(folder, "processed")
    # Where kombu keeps the worker's broadcast (remote control) exchanges;
    # left unset it would be "control/" in whatever folder the worker runs.
    control = os.path.join(folder, "control")
    for path in (queue, processed, control):
        os.makedirs(path, exist_ok=True)
    # The host means nothing to this transport; naming one keeps kombu from
    # warning "No hostname was supplied" each time it connects.
    return "filesystem://localhost/", {
        "data_folder_in": queue,
        "data_folder_out": queue,
        "processed_folder": processed,
        "store_processed": False,
        "control_folder": control,
        # Kombu looks in the folder once a second by default, which would be
        # most of a short job's latency on the embedded default.
        "polling_interval": 0.1,
    }


# Runs go to Celery's default queue, callbacks to their own (the API routes
# them there): a worker started without -Q takes both; `-Q celery` and
# `-Q callbacks` split them (docs/adr/0011-callbacks-and-outbound-requests.md).
QUEUES = tuple(Queue(name, Exchange(name), routing_key=name) for name in ("celery", "callbacks"))


def make_celery():
    broker_url, transport_options = broker_settings()
    celery = Celery(
        "workflow-worker",
        broker=broker_url,
        backend=os.environ.get("CELERY_RESULT_BACKEND") or None,
        include=["worker.tasks"],
    )
    if uses_filesystem_transport(broker_url):
        celery.conf.broker_transport = TRANSPORT  # whole messages only (filesystem_broker)
    celery.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_always_eager=env_flag("CELERY_ALWAYS_EAGER"),
        task_queues=QUEUES,
        # A task is acknowledged only once it has finished, and given back to
        # the queue if the process running it dies: one that had not set its
        # run RUNNING yet is not lost. A run that was RUNNING is the API's
        # recovery sweep's to queue again; the task given back is refused
        # (409) and dropped (docs/adr/0010-worker-loss-recovery.md).
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # A run keeps going when the connection to the broker drops: it
        # reports to the API over HTTP, not through the broker, and the
        # copy of its task the broker hands out again is refused (409).
        # Cancelling it would throw the simulation's work away.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # One run at a time per worker process: a long simulation must not
        # hold other runs back in its prefetch buffer.
        worker_prefetch_multiplier=1,
        # How long to wait for a dead pool process's result before giving
        # its task back (default 10 s).
        worker_lost_wait=3,
        worker_hijack_root_logger=False,
        beat_schedule=beat_schedule(),
    )
    return celery


def beat_schedule():
    """What ``celery -A worker beat`` sends (the API decides what is due):
    the artifact expiry every WORKER_ARTIFACT_EXPIRY_INTERVAL seconds and
    the run recovery sweep every WORKER_RECOVERY_INTERVAL seconds; an
    interval of 0 leaves its task out."""
    schedule = {}
    expiry = artifact_expiry_interval()
    if expiry > 0:
        schedule["expire-artifacts"] = {"task": "expire_artifacts", "schedule": float(expiry)}
    recovery = recovery_interval()
    if recovery > 0:
        schedule["recover-runs"] = {
            "task": "recover_runs",
            "schedule": float(recovery),
            # While no worker takes them (all busy, or none running), sweeps
            # pile up; one not started within its interval is dropped, as
            # the next one does the same.
            "options": {"expires": float(recovery)},
        }
    return schedule


class WorkerMisconfigured(Exception):
    """A worker must not start like this (the message says what to change)."""


def startup_checks():
    """What a worker checks before it takes any task: that it can build the
    sandbox (unless WORKER_SANDBOX=off) and that it can sign callbacks
    (unless CALLBACK_ALLOW_UNSIGNED=true). Raises ``WorkerMisconfigured``."""
    if sandbox_enabled():
        try:
            sandbox.check_available()
        except sandbox.SandboxUnavailable as error:
            raise WorkerMisconfigured(f"worker not started: {error}") from None
    if not os.environ.get("CALLBACK_SIGNING_SECRET") and not allow_unsigned_callbacks():
        raise WorkerMisconfigured(
            "worker not started: CALLBACK_SIGNING_SECRET is not set, so callbacks could not be "
            "signed; set it (e.g. to the output of `openssl rand -hex 32`), or set "
            "CALLBACK_ALLOW_UNSIGNED=true to send them unsigned"
        )


@signals.worker_init.connect
def refuse_to_start_misconfigured(**_kwargs):
    try:
        startup_checks()
    except WorkerMisconfigured as error:
        # Celery logs an exception from worker_init and goes on; a worker
        # that would run models unsandboxed must not.
        print(error, file=sys.stderr, flush=True)
        os._exit(78)  # EX_CONFIG


app = make_celery()
celery = app
