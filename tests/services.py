"""Finding the real services the tests use, and what to do when one is absent.

Locally a test that needs PostgreSQL or Redis is skipped with the reason
when the service is not there; with REQUIRE_SERVICES=1 (as CI sets it) the
same test fails instead, so a missing service can never pass as green.

Under pytest each test process (each pytest-xdist worker) has a Redis of its
own: a private ``redis-server`` on a free port, started when a test first
asks for Redis (``use_private_redis``, called by tests/conftest.py). The
database numbers the tests pick (13 here, 14 for the end-to-end stacks, ...)
are then numbers on that server, so no two test processes, and no benchmark
or other checkout's suite on the machine, ever share one. With
TEST_REDIS_URL set, that server is used instead, as it is (one test process
only). Outside pytest (the benchmarks) Redis is the machine's, on 6379.
"""

import os
import socket
import tempfile
import uuid

import pytest

POSTGRES_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
TESTS_REDIS_DB = 13
_private_redis = {"wanted": False, "server": None, "error": None}


def worker_id():
    """This test process's pytest-xdist name (``gw0``, ``gw1``, ...), or ``main``."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


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


def create_postgres_database(template=None):
    """A fresh database, empty or a copy of the database at URL ``template``
    (which nobody may be connected to); returns its URL. Needs a reachable server."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"workflow_test_{worker_id()}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template.rsplit("/", 1)[1]}"' if template else ""
    try:
        with engine.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{name}"{copy}'))
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


def use_private_redis():
    """From now on this process's tests use a redis-server of their own,
    started on first use and stopped when the process exits."""
    _private_redis["wanted"] = True


def _start_private_redis():
    import atexit
    import shutil

    from .processes import RedisServer

    folder = tempfile.mkdtemp(prefix=f"workflow-test-redis-{worker_id()}-")
    atexit.register(shutil.rmtree, folder, True)  # after the server's stop (atexit runs them in reverse)
    try:
        server = RedisServer(folder)
    except (FileNotFoundError, AssertionError) as error:
        _private_redis["error"] = f"a private redis-server could not be started: {error}"
        return
    atexit.register(server.stop)
    _private_redis["server"] = server


def redis_url(db=TESTS_REDIS_DB):
    """The URL of database ``db`` on the tests' Redis, without checking it answers."""
    server = _private_redis["server"]
    base = server.url if server is not None else REDIS_URL
    return base.rsplit("/", 1)[0] + f"/{db}"


def require_redis(db=TESTS_REDIS_DB):
    """The URL of database ``db`` on the tests' Redis, after checking the server answers."""
    import redis

    if _private_redis["wanted"] and _private_redis["server"] is None and _private_redis["error"] is None:
        _start_private_redis()
    if _private_redis["error"]:
        unavailable(f"{_private_redis['error']} (install redis-server, or set TEST_REDIS_URL)")
    url = redis_url(db)
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError as error:
        unavailable(f"Redis is not reachable at {url}: {error}")
    return url
