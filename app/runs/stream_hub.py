"""Open event streams, held by one asyncio thread per API process.

A stream would hold one of gunicorn's request threads for as long as it is
open (hours, for a long run), and the API has a handful per process. So
the ``events`` view, once it has checked the key and found the run like any
other request, takes the connection from gunicorn: it keeps a duplicate of
the socket and points gunicorn's descriptor at a dead socket pair, on which
gunicorn's own answer is lost. The duplicate goes to this hub, whose event
loop writes every stream of the process; the request thread is free at once.

One poller asks the database, every ``EVENTS_POLL_INTERVAL`` seconds and in
one query for all the runs streamed here, where each run's states, console
and progress are (a source's ``positions``: ``events.RunEvents`` for a run);
a stream that is behind reads its new events (its ``following``) and
writes them. Database work runs on a
small thread pool, never on the loop. See docs/adr/0022-event-streams.md.
"""

import asyncio
import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from roles.models import db

log = logging.getLogger(__name__)

HEAD = (
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream; charset=utf-8\r\n"
    "Cache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\n"
    "Connection: close\r\n"
    "\r\n"
)
KEEPALIVE = ": keep-alive\n\n"
# A client that reads slower than its run writes is dropped (it can resume).
MAX_UNSENT_BYTES = 4 * 1024 * 1024


def take_connection(sock):
    """A duplicate of ``sock`` for the hub; gunicorn's descriptor number now
    refers to one end of a socket pair whose other end is closed, so what
    gunicorn writes there fails quietly (EPIPE) and its close is harmless."""
    kept = sock.dup()
    dead, other = socket.socketpair()
    os.dup2(dead.fileno(), sock.fileno())
    dead.close()
    other.close()
    return kept


class Stream:
    def __init__(self, source, cursor):
        self.source = source  # e.g. events.RunEvents
        self.cursor = cursor
        self.wake = asyncio.Event()


class Hub:
    def __init__(self, app):
        self.app = app
        self.poll_interval = app.config["EVENTS_POLL_INTERVAL"]
        self.keepalive = app.config["EVENTS_KEEPALIVE"]
        self.streams = set()
        self.database = ThreadPoolExecutor(max_workers=2, thread_name_prefix="event-stream-db")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="event-streams", daemon=True)
        self.thread.start()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.create_task(self._poll())
        self.loop.run_forever()

    def add(self, sock, source, opening, cursor, ended):
        """Serve ``sock`` (already taken from gunicorn): the opening text, then
        ``source``'s events after ``cursor``, unless ``ended``. Thread-safe."""
        asyncio.run_coroutine_threadsafe(self._serve(sock, source, opening, cursor, ended), self.loop)

    def _in_app(self, function, *arguments):
        with self.app.app_context():
            try:
                return function(*arguments)
            finally:
                db.session.remove()

    async def _database(self, function, *arguments):
        return await self.loop.run_in_executor(self.database, self._in_app, function, *arguments)

    async def _serve(self, sock, source, opening, cursor, ended):
        sock.setblocking(False)
        try:
            reader, writer = await asyncio.open_connection(sock=sock)
        except OSError:
            sock.close()
            return
        stream = Stream(source, cursor)
        self.streams.add(stream)
        try:
            writer.write((HEAD + opening).encode())
            await writer.drain()
            while not ended:
                try:
                    await asyncio.wait_for(stream.wake.wait(), self.keepalive)
                except TimeoutError:
                    writer.write(KEEPALIVE.encode())
                    await writer.drain()
                    continue
                stream.wake.clear()
                text, stream.cursor, ended = await self._database(source.following, stream.cursor)
                if text:
                    writer.write(text.encode())
                    if writer.transport.get_write_buffer_size() > MAX_UNSENT_BYTES:
                        break
                    await writer.drain()
        except (OSError, ConnectionError):
            pass  # the client went away
        except Exception:
            log.exception("event stream of %s failed", source)
        finally:
            self.streams.discard(stream)
            writer.close()

    async def _poll(self):
        while True:
            await asyncio.sleep(self.poll_interval)
            if not self.streams:
                continue
            by_kind = {}
            for stream in self.streams:
                by_kind.setdefault(type(stream.source), []).append(stream)
            for kind, streams in by_kind.items():
                try:
                    found = await self._database(kind.positions, {stream.source.key for stream in streams})
                except Exception:  # noqa: BLE001 - the database may be away; try again
                    log.warning("event streams: positions not read", exc_info=True)
                    continue
                for stream in streams:
                    position = found.get(stream.source.key)
                    if position is not None and kind.is_behind(stream.cursor, position):
                        stream.wake.set()


_hub = None
_hub_lock = threading.Lock()


def hub(app):
    """This process's hub, started on first use (so after gunicorn forks)."""
    global _hub
    with _hub_lock:
        if _hub is None or not _hub.thread.is_alive():
            _hub = Hub(app)
        return _hub
