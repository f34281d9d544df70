"""Reads of the roles tables."""

from sqlalchemy import bindparam
from sqlalchemy.orm import joinedload

from .keys import hash_key, key_matches
from .models import Application, db

# Every guarded request runs this: the application and its permissions in
# one query (a join), built once, so that SQLAlchemy finds it in its cache
# without building and hashing the statement again.
_ACTIVE_BY_HASH = (
    db.select(Application)
    .where(Application.key_hash == bindparam("key_hash"))
    .options(joinedload(Application.permissions))
)


def find_active_application(key):
    """The unrevoked application holding ``key``, or None."""
    if not key:
        return None
    application = (
        db.session.execute(_ACTIVE_BY_HASH, {"key_hash": hash_key(key)}).unique().scalar_one_or_none()
    )
    if application is None or application.revoked_at is not None:
        return None
    if not key_matches(key, application.key_hash):
        return None
    return application


def list_applications():
    return db.session.execute(db.select(Application).order_by(Application.id)).scalars().all()
