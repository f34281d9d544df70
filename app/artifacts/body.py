"""The body of an artifact upload, held to MAX_CONTENT_LENGTH."""

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
    """The request body as a stream; 413 (on reading) past MAX_CONTENT_LENGTH.

    With a Content-Length, Werkzeug's ``request.stream`` checks it up front.
    A streamed (chunked) body has none, and Werkzeug's limit then rejects a
    body of exactly MAX_CONTENT_LENGTH bytes, because at the limit it cannot
    tell the end of the body from more to come; so read up to one byte past
    the limit and count.
    """
    limit = request.max_content_length
    if limit is None or request.content_length is not None:
        return request.stream
    return AtMost(get_input_stream(request.environ, max_content_length=limit + 1), limit)
