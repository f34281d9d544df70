"""How the API uses its database connections (app/database.py, app/config.py)."""

from datetime import UTC

import pytest

from app.database import configure_engine
from app.extensions import db


class FakeApp:
    def __init__(self, uri, options=None):
        self.config = {"SQLALCHEMY_DATABASE_URI": uri, "SQLALCHEMY_ENGINE_OPTIONS": options or {}}


def test_postgresql_sessions_run_in_utc_without_parallel_query_and_keep_other_options():
    app = FakeApp("postgresql://db/workflow", {"pool_size": 3, "connect_args": {"connect_timeout": 5}})
    configure_engine(app)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {
        "pool_size": 3,
        "connect_args": {
            "connect_timeout": 5,
            "options": "-c timezone=UTC -c max_parallel_workers_per_gather=0",
        },
    }


def test_sqlite_is_left_as_it_is():
    app = FakeApp("sqlite:///workflow.sqlite3")
    configure_engine(app)
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"] == {}


# These tests are about PostgreSQL's driver settings: they run on it alone
# (not skipped on SQLite, simply not generated for it).
postgresql_only = pytest.mark.parametrize("session_app", ["postgresql"], indirect=True)


@postgresql_only
def test_times_come_back_in_utc(app):
    with app.app_context():
        moment = db.session.execute(db.text("SELECT now()")).scalar_one()
    assert moment.tzinfo is UTC  # datetime.timezone.utc: the driver's fast path


@postgresql_only
def test_a_dropped_connection_costs_one_503_then_the_pool_is_renewed(app, api, client, keys):
    """No pre-ping on every checkout: when the database drops the API's
    connections (a restart), the request that meets a dead one is a 503,
    and the next ones work on fresh connections."""
    pipeline_uuid = api.create_pipeline()["uuid"]
    path = f"/v1/pipelines/{pipeline_uuid}"
    assert client.get(path, headers=keys.client).status_code == 200
    with app.app_context():
        name = db.engine.url.database
    from sqlalchemy import create_engine, text

    from .services import POSTGRES_ADMIN_URL

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        killed = connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
            {"name": name},
        ).all()
    admin.dispose()
    assert killed
    first = client.get(path, headers=keys.client)
    assert first.status_code in (200, 503), first.get_json()
    if first.status_code == 503:
        assert first.get_json()["message"].startswith("The database cannot be reached")
    assert client.get(path, headers=keys.client).status_code == 200
    assert client.get(path, headers=keys.client).status_code == 200
