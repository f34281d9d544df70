"""Reads of the roles tables, and the per-process cache of checked keys.

Every guarded request checks its key. A key found active is remembered by
this process for ``CACHE_SECONDS`` (keyed by its hash, per app), so that
the requests of a busy client cost no query for it; a revocation therefore
takes effect within that time in every process (at once in the process
that revokes), and never later: an entry's age is counted from before the
query that found the key active. Unknown and revoked keys are not
remembered, so a new key works at once. docs/adr/0017-key-cache.md.
"""

import hmac
from time import monotonic
from typing import NamedTuple

from flask import current_app
from sqlalchemy import bindparam

from .keys import hash_key
from .models import Application, ApplicationSystemPermission, SystemPermission, db

# A revocation reaches every process within this; the promise is 1 s.
CACHE_SECONDS = 0.5
# Past this many keys the cache starts again empty: a bound, not an LRU.
CACHE_SIZE = 10_000
_CACHE = "roles.key_cache"


class Permission(NamedTuple):
    id: int
    name: str


class ActiveApplication(NamedTuple):
    """What a request knows of its key's application (``flask.g.application``):
    a snapshot, not an ORM object, as it outlives the session that read it."""

    id: int
    name: str
    key_prefix: str
    created_at: object
    permissions: tuple
    permission_ids: frozenset


_granted = ApplicationSystemPermission.__table__
_permission = SystemPermission.__table__
_application = Application.__table__
# The application and its permissions in one query, built once.
_ACTIVE_BY_HASH = (
    db.select(
        _application.c.id,
        _application.c.name,
        _application.c.key_prefix,
        _application.c.created_at,
        _application.c.key_hash,
        _permission.c.id,
        _permission.c.name,
    )
    .select_from(_application)
    .outerjoin(_granted, _granted.c.application_id == _application.c.id)
    .outerjoin(_permission, _permission.c.id == _granted.c.system_permission_id)
    .where(_application.c.key_hash == bindparam("key_hash"), _application.c.revoked_at.is_(None))
    .order_by(_permission.c.id)
)


def _load(key_hash):
    rows = db.session.execute(_ACTIVE_BY_HASH, {"key_hash": key_hash}).all()
    if not rows or not hmac.compare_digest(rows[0][4], key_hash):
        return None
    permissions = tuple(Permission(row[5], row[6]) for row in rows if row[5] is not None)
    first = rows[0]
    return ActiveApplication(
        first[0], first[1], first[2], first[3], permissions, frozenset(p.id for p in permissions)
    )


def _cache():
    cache = current_app.extensions.get(_CACHE)
    if cache is None:
        cache = current_app.extensions[_CACHE] = {}
    return cache


def find_active_application(key):
    """The unrevoked application holding ``key`` (an ``ActiveApplication``), or None."""
    if not key:
        return None
    key_hash = hash_key(key)
    cache = _cache()
    now = monotonic()
    entry = cache.get(key_hash)
    if entry is not None and entry[0] > now:
        return entry[1]
    application = _load(key_hash)
    if application is None:
        cache.pop(key_hash, None)
        return None
    if len(cache) >= CACHE_SIZE:
        cache.clear()
    cache[key_hash] = (now + CACHE_SECONDS, application)
    return application


def forget_keys():
    """Empty this process's cache of the current app (after a revocation)."""
    _cache().clear()


def list_applications():
    return db.session.execute(db.select(Application).order_by(Application.id)).scalars().all()
