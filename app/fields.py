"""Marshmallow fields and helpers shared by the domains' schemas."""

import ipaddress
import json
import re
import socket
from datetime import UTC
from urllib.parse import urlsplit

from flask import current_app, has_request_context, request
from marshmallow import ValidationError, fields
from marshmallow import validate as validators

from .artifacts.body import body_bytes
from .errors import ApiError

# Characters that change how a name displays without showing themselves:
# bidirectional embeddings, overrides and isolates (U+202E shows "gnp.exe"
# as "exe.png"), marks, zero-width characters, the word joiner family and
# the BOM.
INVISIBLE_FORMAT_CHARACTERS = re.compile(
    "[\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]"
)


class Text(fields.String):
    """A string the databases can store: no NUL, valid UTF-8."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("Must not contain NUL characters.")
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as error:
            raise ValidationError("Must be valid Unicode text.") from error
        return text


class StrictBoolean(fields.Boolean):
    """JSON ``true`` or ``false`` only: not 1, "true" or "yes"."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise ValidationError("Must be true or false.")
        return value


class UtcDateTime(fields.DateTime):
    """ISO 8601 in UTC; SQLite hands back naive datetimes, which are UTC here."""

    def _serialize(self, value, attr, obj, **kwargs):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return super()._serialize(value, attr, obj, **kwargs)


def plain_file_name(value):
    """A file name without folders: what a run's input may be called."""
    if value in {".", ".."} or "/" in value or "\\" in value:
        raise ValidationError("Must be a plain file name: no folders, '.' or '..'.")
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in value):
        raise ValidationError("Must not contain control characters.")
    if INVISIBLE_FORMAT_CHARACTERS.search(value):
        raise ValidationError(
            "Must not contain bidirectional or invisible format characters (U+202E and the like)."
        )


def relative_path(value):
    """A path inside the working directory: not absolute, no '..'."""
    parts = value.replace("\\", "/").split("/")
    if value.startswith(("/", "\\")) or (len(value) > 1 and value[1] == ":"):
        raise ValidationError("Must be a relative path.")
    if ".." in parts or any(part == "" for part in parts):
        raise ValidationError("Must not contain '..' or empty path parts.")


def ip_literal(host):
    """The address ``host`` spells, also in the old numeric forms a resolver
    still takes (``2852039166``, ``0xa9.0xfe.0xa9.0xfe``); None for a name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def embedded_ipv4(ip):
    """The IPv4 address an IPv6 address reaches or spells, else None:
    IPv4-mapped ``::ffff:a.b.c.d``, IPv4-compatible ``::a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d`` and 6to4 ``2002:AABB:CCDD::``."""
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    value = int(ip)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d, but not :: or ::1
        return ipaddress.IPv4Address(value)
    if ip in _NAT64:
        return ipaddress.IPv4Address(value & 0xFFFFFFFF)
    return None


_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def check_host_allowed(host):
    """400 for a host that is an address in BLOCKED_NETWORKS.

    Names are not resolved here: the worker resolves them, and checks what
    they resolve to, when it connects (docs/adr/0011-callbacks-and-outbound-requests.md).
    """
    address = ip_literal(host.rstrip(".").split("%")[0]) if host else None
    if address is None:
        return
    candidates = [address, embedded_ipv4(address)]
    for network in current_app.config.get("BLOCKED_NETWORKS", ()):
        for candidate in filter(None, candidates):
            if candidate.version == network.version and candidate in network:
                raise ValidationError(f"URL host {host} is in a blocked network ({network}).")


def is_own_url(parts):
    """Whether the URL is one of this API's own (an input file or an
    artifact, as it hands them out): the request's scheme and host, a path
    under /v1/. Such a URL is not held to BLOCKED_NETWORKS, which is for
    other hosts; the API often listens on an address the list blocks."""
    if not has_request_context():
        return False
    own = urlsplit(request.host_url)
    return (parts.scheme, parts.netloc.lower()) == (own.scheme, own.netloc.lower()) and parts.path.startswith(
        "/v1/"
    )


def url_with_scheme(schemes, own_urls=False):
    """A validator of URLs with one of ``schemes``; ``own_urls`` lets this
    API's own URLs through the BLOCKED_NETWORKS check (run inputs)."""

    def check(value):
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError as error:
            raise ValidationError("Not a valid URL.") from error
        if parts.scheme not in schemes:
            raise ValidationError(f"URL scheme must be one of: {', '.join(sorted(schemes))}.")
        if parts.scheme in {"http", "https"} and not parts.hostname:
            raise ValidationError("URL must name a host.")
        if parts.scheme == "file" and not parts.path:
            raise ValidationError("file URL must name a path.")
        if any(ch.isspace() for ch in value):
            raise ValidationError("URL must not contain white space.")
        if parts.scheme in {"http", "https"} and not (own_urls and is_own_url(parts)):
            check_host_allowed(parts.hostname)

    return check


def git_url(value):
    """ssh (scp-like or ssh://), https, http, git or file URLs."""
    if any(ch.isspace() for ch in value):
        raise ValidationError("Repository URL must not contain white space.")
    if value.startswith("-"):
        raise ValidationError("Repository URL must not start with '-'.")
    try:
        scheme = urlsplit(value).scheme if "://" in value else ""
    except ValueError as error:  # a bad [IPv6] host, or characters NFKC turns into separators
        raise ValidationError("Not a valid URL.") from error
    if scheme:
        if scheme not in {"ssh", "https", "http", "git", "file"}:
            raise ValidationError("Repository URL scheme must be ssh, https, http, git or file.")
        if scheme != "file":
            check_host_allowed(urlsplit(value).hostname)
        return
    user_host, sep, path = value.partition(":")
    if not sep or not user_host or not path:
        raise ValidationError("Not a git URL (ssh://, https://, file:// or user@host:path).")
    check_host_allowed(user_host.rsplit("@", 1)[-1].strip("[]"))


def query_int(name, minimum, maximum, default=None):
    """An integer query parameter, or a 400 naming it."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, f"Query parameter '{name}' must be an integer.") from None
    if not minimum <= value <= maximum:
        raise ApiError(400, f"Query parameter '{name}' must be between {minimum} and {maximum}.")
    return value


def json_body():
    """The request's JSON body, or a 400 that says what is wrong with it (413 if too large)."""
    if not request.is_json:
        raise ApiError(400, "The body must be JSON with Content-Type: application/json.")
    try:
        body = current_app.json.loads(body_bytes())
    except json.JSONDecodeError as error:
        raise ApiError(
            400, f"The body is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        ) from None
    except (ValueError, RecursionError):  # not UTF-8, or nested too deep for the parser
        body = None
    if body is None:
        raise ApiError(400, "The body is not valid JSON.")
    return body


def bounded_text(maximum, minimum=0, validate=None, **kwargs):
    checks = [length_between(minimum, maximum)]
    if validate is not None:
        checks.append(validate)
    return Text(validate=checks, **kwargs)


def length_between(minimum, maximum):
    return validators.Length(min=minimum, max=maximum)
