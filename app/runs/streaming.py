"""The answer of an ``events`` route (a run's, a sweep's, a workflow
run's: an event source of ``events.py`` or ``group_events.py``): its opening read in the
request, the rest written by this process's hub (``stream_hub.py``) under
gunicorn, or by the request's own thread under any other server (the
development server, Flask's test client)."""

import time

from flask import Response, current_app, request, stream_with_context

from roles.models import db

from .stream_hub import KEEPALIVE, hub, take_connection

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_stream(source):
    cursor = source.parse_cursor(request.headers.get("Last-Event-ID"))
    opening, cursor, ended = source.opening(cursor)
    db.session.remove()  # the connection goes back to the pool now, not when the stream ends
    sock = request.environ.get("gunicorn.socket")
    # Only a connection that carries this request alone (HTTP/1.x, not an
    # HTTP/2 connection's stream) can be handed over.
    if sock is not None and request.environ.get("SERVER_PROTOCOL", "").startswith("HTTP/1"):
        app = current_app._get_current_object()
        hub(app).add(take_connection(sock), source, opening, cursor, ended)
        # Written to the dead socket pair that gunicorn now holds: lost.
        return Response(status=200, headers={"Connection": "close"})
    return Response(
        stream_with_context(_in_this_thread(source, opening, cursor, ended)),
        mimetype="text/event-stream",
        headers=SSE_HEADERS,
    )


def _in_this_thread(source, opening, cursor, ended):
    config = current_app.config
    yield opening
    quiet_since = time.monotonic()
    while not ended:
        time.sleep(config["EVENTS_POLL_INTERVAL"])
        position = source.positions([source.key]).get(source.key)
        if position is not None and source.is_behind(cursor, position):
            text, cursor, ended = source.following(cursor)
            db.session.remove()
            if text:
                quiet_since = time.monotonic()
                yield text
                continue
        db.session.remove()
        if time.monotonic() - quiet_since >= config["EVENTS_KEEPALIVE"]:
            quiet_since = time.monotonic()
            yield KEEPALIVE
