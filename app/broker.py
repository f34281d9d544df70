"""Sending tasks to the workers by name: the API never imports worker code."""

import base64
import json
import logging
import uuid

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

    def send_many(self, task_name, kwargs_list):
        """Publish one ``task_name`` message per item of ``kwargs_list``, all
        over one connection, or raise 503 (docs/adr/0019-bulk-sweeps.md).

        Celery's ``send_task`` costs about a millisecond a message here, most
        of it making the message: ten seconds for a sweep of 10,000 runs. The
        messages are made here instead, in Celery's message protocol 2 (the
        same headers and body ``send_task`` writes), and on Redis pushed by
        one pipelined transaction: one round trip to the broker, whatever
        their number. Other transports (the embedded filesystem broker, the
        tests' in-memory one) are local: each message is published there.
        """
        if not kwargs_list:
            return
        celery = self.celery
        queue = celery.amqp.router.route({}, task_name)["queue"].name
        messages = [_task_message(task_name, kwargs) for kwargs in kwargs_list]
        try:
            with celery.connection_for_write() as connection:
                connection.ensure_connection(max_retries=0, timeout=celery.conf.broker_connection_timeout)
                if connection.transport.driver_type == "redis":
                    _push_to_redis(connection.default_channel, queue, messages)
                else:
                    producer = connection.Producer()
                    for headers, body in messages:
                        producer.publish(
                            body,
                            exchange="",
                            routing_key=queue,
                            headers=headers,
                            content_type="application/json",
                            content_encoding="utf-8",
                            correlation_id=headers["id"],
                            delivery_mode=2,
                            retry=False,
                        )
        except (OperationalError, KombuError, OSError) as error:
            log.warning("broker unavailable for %d %s tasks: %s", len(messages), task_name, error)
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


# Messages per LPUSH in ``_push_to_redis``: keeps each command's size sane.
REDIS_PUSH_CHUNK = 1000


def _task_message(task_name, kwargs):
    """``(headers, body)`` of a Celery protocol 2 message calling
    ``task_name(**kwargs)``, as ``send_task`` makes them."""
    task_id = str(uuid.uuid4())
    headers = {
        "lang": "py",
        "task": task_name,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        "argsrepr": "()",
        "kwargsrepr": repr({key: kwargs[key] for key in ("run_uuid",) if key in kwargs}),
        "origin": "workflow-api",
        "ignore_result": False,
    }
    body = json.dumps([[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    return headers, body


def _push_to_redis(channel, queue, messages):
    """The messages in kombu's Redis envelope, LPUSHed onto ``queue`` in
    one MULTI/EXEC: all of them or none, in one round trip."""
    payloads = []
    for headers, body in messages:
        payloads.append(
            json.dumps(
                {
                    "body": base64.b64encode(body.encode("utf-8")).decode("ascii"),
                    "content-encoding": "utf-8",
                    "content-type": "application/json",
                    "headers": headers,
                    "properties": {
                        "correlation_id": headers["id"],
                        "delivery_mode": 2,
                        "delivery_info": {"exchange": "", "routing_key": queue},
                        "priority": 0,
                        "body_encoding": "base64",
                        "delivery_tag": str(uuid.uuid4()),
                    },
                }
            )
        )
    with channel.client.pipeline(transaction=True) as pipeline:
        for start in range(0, len(payloads), REDIS_PUSH_CHUNK):
            pipeline.lpush(queue, *payloads[start : start + REDIS_PUSH_CHUNK])
        pipeline.execute()


broker = Broker()
