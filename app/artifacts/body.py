"""Request bodies held to MAX_CONTENT_LENGTH: exactly that many bytes are
accepted, one more is a 413, with a Content-Length or without (chunked).

Werkzeug's own limit cannot do both. gunicorn marks its input as
terminated (``wsgi.input_terminated``), and Werkzeug then reads any body
through a stream capped at MAX_CONTENT_LENGTH that raises 413 on a read at
the cap, because there it cannot tell the end of the body from more to
come: a body of exactly MAX_CONTENT_LENGTH bytes was refused. So the cap
here is one byte past the limit, and the bytes are counted.
"""

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream


class AtMost:
    """Reads ``stream`` and raises 413 once more than ``limit`` bytes arrived."""

    def __init__(self, stream, limit):
        self._stream = stream
        self._limit = limit
        self._read = 0

    def read(self, size=-1):
        chunk = self._stream.read(size)
        self._read += len(chunk)
        if self._read > self._limit:
            raise RequestEntityTooLarge()
        return chunk


def upload_body():
    """The request body as a stream; 413 past MAX_CONTENT_LENGTH (up front
    for a Content-Length over it, else on reading)."""
    limit = request.max_content_length
    if limit is None:
        return request.stream
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge()
    return AtMost(get_input_stream(request.environ, max_content_length=limit + 1), limit)


def body_bytes():
    """The whole request body, held to MAX_CONTENT_LENGTH as ``upload_body``."""
    if request.max_content_length is None:
        return request.get_data(cache=False)
    return upload_body().read()
