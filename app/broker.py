"""Sending tasks to the workers by name: the API never imports worker code."""

import base64
import json
import logging
import uuid

from celery import Celery
from flask import current_app
from kombu.exceptions import KombuError, OperationalError

from filesystem_broker import TRANSPORT, uses_filesystem_transport

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
        if uses_filesystem_transport(app.config["CELERY_BROKER_URL"]):
            celery.conf.broker_transport = TRANSPORT  # whole messages only (filesystem_broker)
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
                    _push_to_redis(connection.default_channel, queue, task_name, messages)
                else:
                    producer = connection.Producer()
                    for task_id, kwargsrepr, body in messages:
                        producer.publish(
                            body,
                            exchange="",
                            routing_key=queue,
                            headers=_headers(task_name, task_id, kwargsrepr),
                            content_type="application/json",
                            content_encoding="utf-8",
                            correlation_id=task_id,
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


_EMBED = ', {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'


def _task_message(task_name, kwargs):
    """``(task_id, kwargsrepr, body)`` of a Celery protocol 2 message
    calling ``task_name(**kwargs)`` (``kwargsrepr`` names the run only)."""
    kwargsrepr = repr({key: kwargs[key] for key in ("run_uuid",) if key in kwargs})
    return str(uuid.uuid4()), kwargsrepr, "[[], " + json.dumps(kwargs) + _EMBED


def _headers(task_name, task_id, kwargsrepr):
    """The headers ``send_task`` gives a protocol 2 message."""
    return {
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
        "kwargsrepr": kwargsrepr,
        "origin": "workflow-api",
        "ignore_result": False,
    }


def _push_to_redis(channel, queue, task_name, messages):
    """The messages in kombu's Redis envelope, LPUSHed onto ``queue`` in
    one MULTI/EXEC: all of them or none, in one round trip. The envelope is
    encoded once, with marks where each message's own values go (its
    delivery tag is its task id)."""
    marks = {"id": "\x00ID\x00", "repr": "\x00REPR\x00", "body": "\x00BODY\x00"}
    envelope = json.dumps(
        {
            "body": marks["body"],
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": _headers(task_name, marks["id"], marks["repr"]),
            "properties": {
                "correlation_id": marks["id"],
                "delivery_mode": 2,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": marks["id"],
            },
        }
    )
    # json.dumps writes the marks' NULs as \u0000: split on those.
    encoded = {name: json.dumps(mark)[1:-1] for name, mark in marks.items()}
    head, rest = envelope.split(encoded["body"])
    payloads = []
    for task_id, kwargsrepr, body in messages:
        tail = rest.replace(encoded["id"], task_id).replace(encoded["repr"], json.dumps(kwargsrepr)[1:-1])
        payloads.append(head + base64.b64encode(body.encode("utf-8")).decode("ascii") + tail)
    with channel.client.pipeline(transaction=True) as pipeline:
        for start in range(0, len(payloads), REDIS_PUSH_CHUNK):
            pipeline.lpush(queue, *payloads[start : start + REDIS_PUSH_CHUNK])
        pipeline.execute()


broker = Broker()
