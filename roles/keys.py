"""Making and checking application keys."""

import hashlib
import hmac
import secrets

KEY_BYTES = 32


def new_key():
    return secrets.token_urlsafe(KEY_BYTES)


def hash_key(key):
    # Keys carry 256 random bits, so a fast hash is enough: there is no
    # dictionary to guess from, unlike with passwords.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_matches(key, key_hash):
    return hmac.compare_digest(hash_key(key), key_hash)
