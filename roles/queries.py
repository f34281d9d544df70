"""Reads of the roles tables."""

from .keys import hash_key, key_matches
from .models import Application, db


def find_active_application(key):
    """The unrevoked application holding ``key``, or None."""
    if not key:
        return None
    application = db.session.execute(
        db.select(Application).where(Application.key_hash == hash_key(key))
    ).scalar_one_or_none()
    if application is None or application.revoked_at is not None:
        return None
    if not key_matches(key, application.key_hash):
        return None
    return application


def list_applications():
    return db.session.execute(db.select(Application).order_by(Application.id)).scalars().all()
