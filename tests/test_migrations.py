"""`FLASK_APP=run.py flask db upgrade` builds exactly the schema the models declare."""

import sys

import pytest
import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db

from .processes import command_env, executable, flask_db, run_command
from .services import create_postgres_database, drop_postgres_database

APP_TABLES = {
    "application",
    "system_permission",
    "application_system_permission",
    "pipeline",
    "run",
    "run_state",
    "console_chunk",
    "artifact",
    "sweep",
    "input_file",
    "workflow",
    "workflow_pipeline",
    "workflow_pipeline_edge",
    "workflow_run",
    "workflow_run_state",
    "workflow_pipeline_run",
    "run_input_artifact",
}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request, tmp_path):
    """A URL of a database with no tables at all."""
    if request.param == "postgresql":
        url = create_postgres_database()
        yield url
        drop_postgres_database(url)
    else:
        yield "sqlite:///" + str(tmp_path / "migrated.sqlite3")


def schema_differences(url):
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return compare_metadata(context, db.metadata)
    finally:
        engine.dispose()


def table_names(url):
    engine = sqlalchemy.create_engine(url)
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_builds_exactly_the_declared_schema(empty_database, tmp_path):
    env = command_env(tmp_path, SQLALCHEMY_DATABASE_URI=empty_database)
    assert table_names(empty_database) == set()

    flask_db(env, "upgrade")

    assert table_names(empty_database) == APP_TABLES | {"alembic_version"}
    assert schema_differences(empty_database) == []


def test_the_comparison_notices_a_missing_index(empty_database):
    """The check above can fail: the models' tables less one index differ."""
    engine = sqlalchemy.create_engine(empty_database)
    db.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP INDEX ix_run_pipeline_state"))
    engine.dispose()

    differences = schema_differences(empty_database)
    assert [d[0] for d in differences] == ["add_index"]
    assert differences[0][1].name == "ix_run_pipeline_state"


def test_downgrade_to_base_then_upgrade_again(empty_database, tmp_path):
    env = command_env(tmp_path, SQLALCHEMY_DATABASE_URI=empty_database)
    flask_db(env, "upgrade")

    flask_db(env, "downgrade", "base")
    assert table_names(empty_database) <= {"alembic_version"}

    flask_db(env, "upgrade")
    assert table_names(empty_database) == APP_TABLES | {"alembic_version"}
    assert schema_differences(empty_database) == []


def test_the_comparison_notices_a_missing_unique_constraint():
    """Unique constraints are compared too (PostgreSQL can drop one in place)."""
    url = create_postgres_database()
    engine = sqlalchemy.create_engine(url)
    try:
        db.metadata.create_all(engine)
        (constraint,) = [
            c
            for c in sqlalchemy.inspect(engine).get_unique_constraints("run")
            if c["column_names"] == ["pipeline_id", "sequence"]
        ]
        with engine.begin() as connection:
            connection.execute(sqlalchemy.text(f'ALTER TABLE run DROP CONSTRAINT "{constraint["name"]}"'))
        differences = schema_differences(url)
        assert [d[0] for d in differences] == ["add_constraint"]
        assert [c.name for c in differences[0][1].columns] == ["pipeline_id", "sequence"]
    finally:
        engine.dispose()
        drop_postgres_database(url)


def test_only_flask_db_loads_flask_migrate_and_alembic(tmp_path):
    """Building the app (each gunicorn worker, each invoke task) leaves them
    out; `flask db` loads them and lists its commands."""
    env = command_env(tmp_path, SQLALCHEMY_DATABASE_URI="sqlite:///" + str(tmp_path / "app.sqlite3"))
    packages = "sorted({name.split('.')[0] for name in sys.modules} & {'alembic', 'flask_migrate'})"
    loaded = run_command([sys.executable, "-c", f"import sys, run; print({packages})"], env)
    assert loaded.stdout.strip() == "[]"
    assert "Perform database migrations." in run_command([executable("flask"), "--help"], env).stdout
    commands = flask_db(env, "--help").stdout
    assert "upgrade" in commands and "downgrade" in commands and "--directory" in commands
