"""Settings gunicorn reads by itself from the folder it starts in: the
``gunicorn run:app`` of the README, the Dockerfile and the compose file,
``./bin/serve`` and the benchmarks all start in the checkout.

``reuse_port``: each worker process listens on a socket of its own
(SO_REUSEPORT) and the kernel spreads new connections over them. Without
it the worker that wakes first accepts a whole burst of connections: with a
few long-lived keep-alive clients (a proxy's connection pool, the
benchmark's clients) one process served them all while the others idled,
and the API's throughput was that of one process.

``PROMETHEUS_MULTIPROC_DIR``: the folder where every worker process writes
its metrics, so that ``/metrics``, whichever process answers it, counts the
requests of all (app/metrics.py, docs/adr/0016-metrics.md). Unset, a fresh
temporary folder is made here, before the workers start, and removed when
gunicorn exits; set, the folder is made if missing and emptied of an earlier
run's figures at start. A worker that exits is marked dead, so that its
gauges leave the figures (its counts stay).
"""

import glob
import json
import os
import shutil
import tempfile

from gunicorn import util

reuse_port = True

_made_metrics_folder = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
if _made_metrics_folder:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="workflow-api-metrics-")


def on_starting(server):
    folder = os.environ["PROMETHEUS_MULTIPROC_DIR"]
    os.makedirs(folder, exist_ok=True)
    for stale in glob.glob(os.path.join(folder, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_folder:
        shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def _json_error(sock, status_int, reason, mesg):
    """gunicorn's own answers (a request line over ``limit_request_line``:
    414, headers over their limits: 431, a malformed request: 400) as the
    API's JSON errors instead of an HTML page: every error a client gets is
    JSON with a message, as docs/api.md and /apispec.json say."""
    body = json.dumps({"message": f"{reason}: {mesg}"}).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    util.write_nonblock(sock, head.encode("latin-1") + body)


util.write_error = _json_error
