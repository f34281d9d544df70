"""The name an uploaded artifact is listed under."""

import ntpath
import posixpath
import re

from ..errors import ApiError
from ..fields import INVISIBLE_FORMAT_CHARACTERS

MAX_NAME_CHARS = 255
# Control characters other than NUL: a file may well be called so on disk,
# but the name ends up in the download's Content-Disposition header.
CONTROL_CHARACTERS = re.compile(r"[\x01-\x1f\x7f-\x9f]")


def artifact_name(raw):
    """The last path part of ``raw``, control characters and bidirectional or
    invisible format characters (``fields.INVISIBLE_FORMAT_CHARACTERS``) made ``_``; a 400
    when nothing usable is left.

    Only the name is kept from what the client sends: the bytes are stored
    under a key the service makes, so no name reaches a file system path.
    """
    if raw is None or raw == "":
        raise ApiError(400, "Query parameter 'name' is required.")
    if len(raw) > MAX_NAME_CHARS:
        raise ApiError(400, f"Query parameter 'name' must be at most {MAX_NAME_CHARS} characters.")
    if "\x00" in raw:
        raise ApiError(400, "Query parameter 'name' must not contain NUL.")
    name = CONTROL_CHARACTERS.sub("_", posixpath.basename(ntpath.basename(raw)))
    name = INVISIBLE_FORMAT_CHARACTERS.sub("_", name)
    if name in {"", ".", ".."}:
        raise ApiError(400, "Query parameter 'name' must end with a file name.")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, "Query parameter 'name' must be valid Unicode text.") from None
    return name
