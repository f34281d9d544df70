"""Sending tasks to the workers by name: the API never imports worker code."""

import logging

from celery import Celery
from flask import current_app
from kombu.exceptions import KombuError, OperationalError

from .errors import ServiceUnavailable

log = logging.getLogger(__name__)

EXECUTE_PIPELINE = "execute_pipeline"
DELIVER_CALLBACK = "deliver_callback"
# Callbacks have a queue of their own, so that workers can be given to them
# alone and a slow callback URL never holds a run back (worker/celery_app.py
# names the same queue; docs/adr/0011-callbacks-and-outbound-requests.md).
CALLBACK_QUEUE = "callbacks"


class Broker:
    """A Celery app used only to publish, configured from the Flask config.

    Each Flask app gets its own Celery app (kept in ``app.extensions``), so
    two apps in one process never publish to each other's broker.
    """

    def __init__(self, app=None):
        if app is not None:
            self.init_app(app)

    @property
    def celery(self):
        return current_app.extensions["workflow_broker"]

    def init_app(self, app):
        timeout = app.config["BROKER_CONNECT_TIMEOUT"]
        transport_options = dict(app.config["CELERY_BROKER_TRANSPORT_OPTIONS"])
        # Fail fast when the broker is down: the client gets a 503 in seconds
        # instead of a request that hangs while kombu keeps reconnecting.
        transport_options.setdefault("max_retries", 0)
        transport_options.setdefault("socket_connect_timeout", timeout)
        transport_options.setdefault("socket_timeout", timeout)
        celery = Celery(
            "workflow-api",
            broker=app.config["CELERY_BROKER_URL"],
            backend=app.config["CELERY_RESULT_BACKEND"],
            set_as_current=False,
        )
        celery.conf.update(
            broker_transport_options=transport_options,
            broker_connection_timeout=timeout,
            broker_connection_retry=False,
            broker_connection_max_retries=0,
            task_serializer="json",
            accept_content=["json"],
            task_always_eager=app.config["CELERY_ALWAYS_EAGER"],
            task_routes={DELIVER_CALLBACK: {"queue": CALLBACK_QUEUE}},
        )
        app.extensions["workflow_broker"] = celery

    def send(self, task_name, **kwargs):
        """Publish ``task_name`` with JSON keyword arguments or raise 503."""
        try:
            self.celery.send_task(task_name, kwargs=kwargs, retry=False)
        except (OperationalError, KombuError, OSError) as error:
            log.warning("broker unavailable for %s: %s", task_name, error)
            raise ServiceUnavailable(
                "The task queue cannot be reached; nothing was started. Try again later."
            ) from error

    def ping(self):
        """True when a connection to the broker can be made now."""
        try:
            with self.celery.connection_for_write() as connection:
                connection.ensure_connection(
                    max_retries=0, timeout=self.celery.conf.broker_connection_timeout
                )
            return True
        except (OperationalError, KombuError, OSError):
            return False


broker = Broker()
