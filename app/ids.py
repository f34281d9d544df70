"""Public identifiers: 32 hex characters."""

import re
import uuid

UUID_HEX = re.compile(r"[0-9a-f]{32}")
UUID_PATTERN = f"^{UUID_HEX.pattern}$"  # as OpenAPI writes it


def new_uuid():
    return uuid.uuid4().hex


def is_uuid(value):
    return bool(UUID_HEX.fullmatch(value or ""))
