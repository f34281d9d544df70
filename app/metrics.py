"""``GET /metrics``: the API's figures in Prometheus' text format.

Requests are counted, and timed, in every API process with prometheus_client.
Under gunicorn (PROMETHEUS_MULTIPROC_DIR, set up by gunicorn.conf.py) each
process writes its figures to files in that folder and a scrape, whichever
process answers it, adds up all of them. What the database and the broker
hold (runs by state, stale runs, the queues' lengths) is read at scrape time,
by the process that answers (docs/adr/0016-metrics.md).
"""

import hmac
import os
import time
from datetime import timedelta

from flask import Blueprint, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from roles.models import utcnow

from .broker import CALLBACK_QUEUE, broker
from .errors import ApiError
from .extensions import db
from .runs.models import Run
from .runs.queries import silent_since
from .runs.states import RunState
from .sweeps.queries import sweeps_by_state
from .workflows.models import WorkflowRun
from .workflows.states import WorkflowRunState

blueprint = Blueprint("metrics", __name__)

# Created once per process, whatever number of apps it builds (the tests build many).
REQUESTS = Counter(
    "workflow_http_requests",
    "HTTP requests answered, by method, route and status.",
    ["method", "endpoint", "status"],
    registry=None,
)
LATENCY = Histogram(
    "workflow_http_request_duration_seconds",
    "Seconds from a request's start to its answer, by method and route.",
    ["method", "endpoint"],
    registry=None,
)
METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

# Counts of rows by state, read at scrape time with one GROUP BY each:
# (metric name, help, the state column, every state it may hold). Another
# domain's states are one more line here.
STATE_COUNTS = [
    ("workflow_runs", "Runs by state.", Run.state, [state.value for state in RunState]),
    (
        "workflow_workflow_runs",
        "Workflow runs by state.",
        WorkflowRun.state,
        [state.value for state in WorkflowRunState],
    ),
]
# The queues the workers read: runs, and callbacks (app/broker.py).
QUEUES = ["celery", CALLBACK_QUEUE]


def init_metrics(app):
    app.before_request(_start_timer)
    app.after_request(_count_request)
    app.register_blueprint(blueprint)


def _start_timer():
    g.metrics_started = time.perf_counter()


def _count_request(response):
    started = g.pop("metrics_started", None)
    if started is None:  # a before_request hook ahead of ours answered
        return response
    # The route's pattern, never the path: one series per route, whatever the ids.
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in METHODS else "other"
    REQUESTS.labels(method, endpoint, str(response.status_code)).inc()
    LATENCY.labels(method, endpoint).observe(time.perf_counter() - started)
    return response


class DatabaseAndBrokerCollector:
    """What the database and the broker hold, read when scraped."""

    def __init__(self, config):
        self.heartbeat_timeout = config["RUN_HEARTBEAT_TIMEOUT"]

    def collect(self):
        for name, documentation, column, states in STATE_COUNTS:
            counts = dict.fromkeys(states, 0)
            rows = db.session.execute(db.select(column, db.func.count()).group_by(column))
            counts.update({state: count for state, count in rows})
            family = GaugeMetricFamily(name, documentation, labels=["state"])
            for state, count in counts.items():
                family.add_metric([state], count)
            yield family

        family = GaugeMetricFamily("workflow_sweeps", "Sweeps by state.", labels=["state"])
        for state, count in sweeps_by_state().items():
            family.add_metric([state], count)
        yield family

        yield GaugeMetricFamily(
            "workflow_runs_stale",
            "RUNNING runs with no sign of life from their worker for RUN_HEARTBEAT_TIMEOUT seconds.",
            value=self._stale_runs(),
        )
        db.session.rollback()  # end the read's transaction: nothing was written

        lengths = self._queue_lengths()
        yield GaugeMetricFamily(
            "workflow_broker_up", "Whether the broker answered this scrape.", value=int(lengths is not None)
        )
        if lengths is not None:
            family = GaugeMetricFamily(
                "workflow_queue_length", "Messages waiting in the broker, by queue.", labels=["queue"]
            )
            for queue, length in lengths.items():
                family.add_metric([queue], length)
            yield family

    def _stale_runs(self):
        cutoff = utcnow() - timedelta(seconds=self.heartbeat_timeout)
        query = db.select(db.func.count()).where(Run.state == RunState.RUNNING.value, silent_since(cutoff))
        return db.session.execute(query).scalar_one()

    @staticmethod
    def _queue_lengths():
        """``{queue: messages waiting}``, or None when the broker cannot be reached."""
        try:
            with broker.celery.connection_for_read() as connection:
                connection.ensure_connection(max_retries=0)
                with connection.channel() as channel:
                    # Declaring is how kombu asks a queue its size, on Redis
                    # (LLEN of every priority's list) and on the filesystem
                    # transport (its files) alike; it creates nothing there.
                    return {queue: channel.queue_declare(queue=queue).message_count for queue in QUEUES}
        except Exception:  # noqa: BLE001 - the broker is down: say so instead of failing the scrape
            return None


def _check_token():
    token = current_app.config["METRICS_TOKEN"]
    if not token:
        return
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        raise ApiError(
            401,
            "The metrics need the METRICS_TOKEN as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )


@blueprint.route("/metrics", methods=["GET"])
def metrics():
    """The API's metrics, in Prometheus' text format.
    ---
    operationId: metrics
    tags: [health]
    security: []
    description: >
      Requests by route and status, their latency, runs by state, stale runs,
      the queues' lengths. With the API's METRICS_TOKEN set, it needs
      `Authorization: Bearer <METRICS_TOKEN>` (401 otherwise); unset, it is open.
    responses:
      200:
        description: The metrics.
        content:
          text/plain:
            schema: {type: string}
      401:
        description: METRICS_TOKEN is set and the request did not carry it.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Error'}
    """
    _check_token()
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)  # every process's requests, this one's included
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(DatabaseAndBrokerCollector(current_app.config))
    return generate_latest(registry), 200, {"Content-Type": CONTENT_TYPE_LATEST}
