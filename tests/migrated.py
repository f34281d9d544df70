"""Databases at the migrations' head, for tests that need one of their own.

`flask db upgrade` costs about 1.2 CPU-seconds: it runs once per test process
and engine, into a template, and each database asked for is a copy
(``CREATE DATABASE ... TEMPLATE``, or the SQLite file copied).
tests/test_migrations.py runs the migrations themselves.
"""

import atexit
import os
import shutil
import tempfile
from pathlib import Path

from .processes import command_env, flask_db
from .services import create_postgres_database, drop_postgres_database

_upgraded = {}


def upgraded_database(kind):
    """The URL of this process's template of ``kind`` ("postgresql" or
    "sqlite"), upgraded on first use; copy it, never use it."""
    if kind not in _upgraded:
        folder = tempfile.mkdtemp(prefix="workflow-test-upgraded-")
        atexit.register(shutil.rmtree, folder, True)
        if kind == "postgresql":
            url = create_postgres_database()
            atexit.register(drop_postgres_database, url)
        else:
            url = "sqlite:///" + os.path.join(folder, "workflow.sqlite3")
        flask_db(command_env(Path(folder), SQLALCHEMY_DATABASE_URI=url), "upgrade")
        _upgraded[kind] = url
    return _upgraded[kind]


def migrated_database(kind, sqlite_path=None):
    """A new database of ``kind`` at the migrations' head; its URL. A
    PostgreSQL one is the caller's to drop; a SQLite one is the file
    ``sqlite_path``."""
    if kind == "postgresql":
        return create_postgres_database(template=upgraded_database("postgresql"))
    shutil.copy(upgraded_database("sqlite").removeprefix("sqlite:///"), sqlite_path)
    return f"sqlite:///{sqlite_path}"
