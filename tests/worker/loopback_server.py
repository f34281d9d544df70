"""A threaded HTTP server on loopback, served while a ``with`` block runs."""

import threading
from http.server import ThreadingHTTPServer


class LoopbackServer:
    """Subclasses call ``serve(handler_class, port)`` in ``__init__``; ``host``
    may be another loopback address, such as 127.0.0.2."""

    def serve(self, handler_class, port=0, host="127.0.0.1"):
        self.server = ThreadingHTTPServer((host, port), handler_class)
        return f"http://{host}:{self.server.server_port}"

    def __enter__(self):
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
