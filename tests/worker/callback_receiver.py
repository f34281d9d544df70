"""A callback URL for tests: answers POSTs with the given statuses (or never),
keeping each request's raw body and headers."""

import json
import socket
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from .loopback_server import LoopbackServer


@dataclass
class Received:
    raw: bytes
    headers: dict
    status: int | None  # None: never answered


class CallbackReceiver(LoopbackServer):
    """``statuses`` are answered in turn, the last one repeating; with
    ``per_delivery`` each ``Workflow-Delivery`` id goes through them anew.
    ``hang=True`` reads each request and never answers, holding the
    connection open until the receiver stops. ``location`` goes in a
    Location header (for redirects)."""

    def __init__(self, statuses=(200,), host="127.0.0.1", per_delivery=False, hang=False, location=None):
        self.statuses = list(statuses)
        self.location = location
        self.per_delivery = per_delivery
        self.hang = hang
        self.received = []
        self.hanging = []  # the connections left unanswered
        self._answered = {}  # delivery id (or None) -> requests answered so far
        self._lock = threading.Lock()
        self._release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                if receiver.hang:
                    with receiver._lock:
                        receiver.received.append(Received(raw, headers, None))
                        receiver.hanging.append(self.connection)
                    receiver._release.wait()
                    self.close_connection = True
                    return
                status = receiver._next_status(headers.get("Workflow-Delivery"))
                with receiver._lock:
                    receiver.received.append(Received(raw, headers, status))
                self.send_response(status)
                if receiver.location:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.url = self.serve(Handler, host=host) + "/hook"

    def _next_status(self, delivery):
        with self._lock:
            key = delivery if self.per_delivery else None
            answered = self._answered.get(key, 0)
            self._answered[key] = answered + 1
        return self.statuses[min(answered, len(self.statuses) - 1)]

    @property
    def bodies(self):
        return [json.loads(request.raw) for request in self.received]

    def still_hanging(self):
        """How many unanswered connections the caller still holds open."""
        open_count = 0
        for connection in list(self.hanging):
            try:
                if connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT):
                    open_count += 1  # sent more: still there
            except BlockingIOError:
                open_count += 1  # nothing to read and not closed
            except OSError:
                pass
        return open_count

    def __exit__(self, *exc):
        self._release.set()
        super().__exit__(*exc)
