"""Finding the real services the tests use, and what to do when one is absent.

Locally a test that needs PostgreSQL or Redis is skipped with the reason
when the service is not there; with REQUIRE_SERVICES=1 (as CI sets it) the
same test fails instead, so a missing service can never pass as green.
"""

import os
import socket
import uuid

import pytest

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


def services_required():
    return os.environ.get("REQUIRE_SERVICES", "").strip().lower() in {"1", "true", "yes"}


def unavailable(reason):
    """Skip, or fail under REQUIRE_SERVICES."""
    if services_required():
        pytest.fail(f"{reason} (REQUIRE_SERVICES is set, so this fails instead of skipping)")
    pytest.skip(reason)


def port_open(host, port, timeout=1.0):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def create_postgres_database():
    """A fresh, empty database; returns its URL. Needs a reachable server."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"workflow_test_{uuid.uuid4().hex[:12]}"
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"'))
    except sqlalchemy.exc.OperationalError as error:
        engine.dispose()
        unavailable(f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {error.orig}")
    engine.dispose()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_postgres_database(url):
    import sqlalchemy

    name = url.rsplit("/", 1)[1]
    engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(sqlalchemy.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def require_redis():
    """The test Redis URL, after checking the server answers."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as error:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {error}")
    return REDIS_URL
