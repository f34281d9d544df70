"""The name an uploaded artifact is listed under."""

import ntpath
import posixpath

from ..errors import ApiError

MAX_NAME_CHARS = 255


def artifact_name(raw):
    """The last path part of ``raw``, or a 400 when nothing usable is left."""
    if raw is None or raw == "":
        raise ApiError(400, "Query parameter 'name' is required.")
    if len(raw) > MAX_NAME_CHARS:
        raise ApiError(400, f"Query parameter 'name' must be at most {MAX_NAME_CHARS} characters.")
    if "\x00" in raw:
        raise ApiError(400, "Query parameter 'name' must not contain NUL.")
    name = posixpath.basename(ntpath.basename(raw))
    if name in {"", ".", ".."}:
        raise ApiError(400, "Query parameter 'name' must end with a file name.")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "Query parameter 'name' must be valid Unicode text.") from None
    return name
