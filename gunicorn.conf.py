"""Settings gunicorn reads by itself from the folder it starts in: the
``gunicorn run:app`` of the README, the Dockerfile and the compose file,
``./bin/serve`` and the benchmarks all start in the checkout.

``reuse_port``: each worker process listens on a socket of its own
(SO_REUSEPORT) and the kernel spreads new connections over them. Without
it the worker that wakes first accepts a whole burst of connections: with a
few long-lived keep-alive clients (a proxy's connection pool, the
benchmark's clients) one process served them all while the others idled,
and the API's throughput was that of one process.
"""

import json

from gunicorn import util

reuse_port = True


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
