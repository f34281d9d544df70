"""The answer to an artifact download: the bytes, one byte range, or "not modified".

One implementation for every storage backend: the artifact's row knows its
size and sha256, so the conditional and range logic (RFC 9110) is decided
here and the backend is only asked for the bytes to send
(``open(key, start, length)``; the blob backend turns that into a ``Range``
request to the blob server). The ETag is the sha256.

- ``If-None-Match`` matching the ETag (or ``*``), or else ``If-Modified-Since``
  not before the artifact's creation: 304 without a body.
- ``Range: bytes=...`` with one range: 206 with ``Content-Range``; an
  unsatisfiable or malformed byte range: a JSON 416 with
  ``Content-Range: bytes */<size>``. Several ranges, another unit, or an
  ``If-Range`` that does not match the ETag (or Last-Modified): the whole
  artifact, 200.
"""

import mimetypes
import unicodedata
from datetime import UTC
from urllib.parse import quote

from flask import Response, request
from werkzeug.datastructures import ContentRange

from ..errors import ApiError
from .storage import get_storage


def content_disposition(name):
    """``attachment`` with the name, as ``filename*`` too when it is not ASCII."""
    try:
        name.encode("ascii")
    except UnicodeEncodeError:
        simple = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
        simple = simple.replace("\\", "").replace('"', "")
        return f"attachment; filename=\"{simple}\"; filename*=UTF-8''{quote(name, safe='')}"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'attachment; filename="{escaped}"'


def _last_modified(artifact):
    created = artifact.created_at
    if created.tzinfo is None:  # SQLite hands back naive UTC
        created = created.replace(tzinfo=UTC)
    return created.replace(microsecond=0)


def _not_modified(etag, last_modified):
    if request.if_none_match:
        return request.if_none_match.contains_weak(etag)
    since = request.if_modified_since
    return since is not None and last_modified <= since


def _if_range_holds(etag, last_modified):
    if "If-Range" not in request.headers:
        return True
    if_range = request.if_range
    if if_range.etag is not None:
        return if_range.etag == etag
    return if_range.date is not None and if_range.date == last_modified


def _unsatisfiable(size):
    return ApiError(
        416,
        f"The requested range is not satisfiable; the artifact has {size} bytes.",
        headers={"Content-Range": f"bytes */{size}"},
    )


def wanted_range(size, etag, last_modified):
    """``(start, length)`` of the one byte range asked for, or None for the whole."""
    if "Range" not in request.headers or size == 0:
        return None
    if not _if_range_holds(etag, last_modified):
        return None
    asked = request.range
    if asked is None:
        raise _unsatisfiable(size)
    if asked.units != "bytes" or len(asked.ranges) != 1:
        return None
    bounds = asked.range_for_length(size)
    if bounds is None:
        raise _unsatisfiable(size)
    start, stop = bounds
    return start, stop - start


def artifact_response(artifact):
    """The download response of ``artifact`` (not expired), streamed from storage."""
    etag = artifact.sha256
    last_modified = _last_modified(artifact)
    response = Response(
        mimetype=mimetypes.guess_type(artifact.name)[0] or "application/octet-stream",
        direct_passthrough=True,
    )
    response.set_etag(etag)
    response.last_modified = last_modified
    response.cache_control.no_cache = True
    response.accept_ranges = "bytes"
    response.headers["Content-Disposition"] = content_disposition(artifact.name)
    if _not_modified(etag, last_modified):
        response.status_code = 304
        return response

    byte_range = wanted_range(artifact.size, etag, last_modified)
    start, length = byte_range or (0, artifact.size)
    if byte_range is not None:
        response.status_code = 206
        response.content_range = ContentRange("bytes", start, start + length, artifact.size)
    response.content_length = length
    if request.method != "HEAD" and length:
        if byte_range is None:
            response.response = get_storage().open(artifact.storage_key)
        else:
            response.response = get_storage().open(artifact.storage_key, start, length)
    return response
