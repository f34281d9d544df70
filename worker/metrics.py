"""The worker's own metrics, for Prometheus: runs executed, their durations
and outcomes, and runs killed at a limit (docs/adr/0016-metrics.md).

Runs execute in Celery's pool processes, so the figures are kept in
prometheus_client's multiprocess mode: every process writes its own to files
in PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder when unset), and the
worker's main process, with WORKER_METRICS_PORT set, serves the sum of all of
them at ``http://WORKER_METRICS_ADDRESS:WORKER_METRICS_PORT/metrics``.
Celery's own view (workers online, tasks and their run times) is Flower's
``/metrics``, from the same worker's events.
"""

import contextlib
import glob
import logging
import os
import tempfile

from celery import signals

from .settings import metrics_address, metrics_port

if metrics_port() is not None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Before prometheus_client is imported, and before the pool forks: each
    # worker's processes share one folder of their own.
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="workflow-worker-metrics-")

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # prometheus_client writes each process's figures there, and a folder
    # that is not there fails every count.
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server  # noqa: E402
from prometheus_client.multiprocess import MultiProcessCollector  # noqa: E402

log = logging.getLogger(__name__)

RUNS = Counter(
    "workflow_worker_runs",
    "Runs this worker executed, by outcome: the final state it reported"
    " (COMPLETED, FAILED, CANCELLED), not_run (refused: cancelled before it"
    " started, or already run elsewhere) or error (the task raised).",
    ["outcome"],
)
RUN_DURATION = Histogram(
    "workflow_worker_run_duration_seconds",
    "Seconds a run took on this worker, inputs and uploads included, by outcome.",
    ["outcome"],
    buckets=(1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600),
)
LIMIT_KILLS = Counter(
    "workflow_worker_limit_kills",
    "Runs whose simulation was killed at a limit, by limit (time: the"
    " pipeline's timeout or WORKER_MAX_RUN_SECONDS).",
    ["limit"],
)


def run_finished(outcome, seconds):
    with _never_failing():
        RUNS.labels(outcome).inc()
        RUN_DURATION.labels(outcome).observe(seconds)


def limit_killed(limit):
    with _never_failing():
        LIMIT_KILLS.labels(limit).inc()


@contextlib.contextmanager
def _never_failing():
    """A count that cannot be kept (its folder removed, the disk full) is
    logged, and never fails the run it counts."""
    try:
        yield
    except OSError:
        log.warning("worker metrics: a count was lost", exc_info=True)


@signals.worker_init.connect
def start_exporter(**_):
    """In the worker's main process, before its pool starts."""
    port = metrics_port()
    if port is None:
        return
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):  # an earlier worker's figures
        os.remove(stale)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    start_http_server(port, addr=metrics_address(), registry=registry)
    log.info("metrics at http://%s:%s/metrics", metrics_address(), port)
