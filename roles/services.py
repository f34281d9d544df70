"""Writes of the roles tables: creating and revoking application keys."""

from .keys import hash_key, new_key
from .models import Application, SystemPermission, db, utcnow
from .queries import forget_keys


def ensure_permission(permission):
    """The SystemPermission row for an IntEnum member, created if missing."""
    row = db.session.get(SystemPermission, int(permission))
    if row is None:
        row = SystemPermission(id=int(permission), name=permission.name)
        db.session.add(row)
    return row


def create_application_key(name, permissions):
    """Create an application holding ``permissions`` (IntEnum members).

    Returns ``(application, key)``. The key is shown only here: the database
    keeps its hash.
    """
    key = new_key()
    application = Application(
        name=name,
        key_hash=hash_key(key),
        key_prefix=key[:8],
        permissions=[ensure_permission(p) for p in permissions],
    )
    db.session.add(application)
    db.session.commit()
    return application, key


def revoke_application(application_id):
    """Revoke an application's key; returns the application or None."""
    application = db.session.get(Application, application_id)
    if application is None:
        return None
    if application.revoked_at is None:
        application.revoked_at = utcnow()
        db.session.commit()
    # Other processes see it within CACHE_SECONDS (queries.py); this one at once.
    forget_keys()
    return application
