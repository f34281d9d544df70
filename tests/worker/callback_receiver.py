"""A callback URL for tests: answers POSTs with the given statuses, keeping the bodies."""

import json
from http.server import BaseHTTPRequestHandler

from .loopback_server import LoopbackServer


class CallbackReceiver(LoopbackServer):
    def __init__(self, statuses=(200,)):
        self.statuses = list(statuses)  # the last one repeats
        self.bodies = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                receiver.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.url = self.serve(Handler) + "/hook"
