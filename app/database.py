"""The API's database: engine settings, and reads without a transaction."""

from flask import request

from .extensions import db

READ_METHODS = frozenset({"GET", "HEAD"})
SESSION_OPTIONS = "-c timezone=UTC -c max_parallel_workers_per_gather=0"


def configure_engine(app):
    """Complete ``SQLALCHEMY_ENGINE_OPTIONS`` for the configured database.

    PostgreSQL: sessions in UTC. The driver then hands back times with
    ``datetime.timezone.utc`` instead of a ``zoneinfo`` zone for the
    server's own setting, which makes reading them about twice as fast (a
    listing of 1,000 runs reads 6,000 of them). The instants are the same.

    And no parallel query (docs/adr/0013-no-parallel-query-for-the-api.md):
    once the run table is a few MB, the planner would list a pipeline's
    runs with a parallel scan of every run of every pipeline, a cost that
    grows with the whole history and takes a second core from the other
    requests, where the (pipeline_id, sequence) index reads only the page.
    """
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault("options", SESSION_OPTIONS)
        options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def reads_without_transaction():
    """GET and HEAD requests of the API run their queries in autocommit.

    They only read, and at READ COMMITTED each statement sees the database
    as of its own start inside a transaction too, so nothing changes for
    them but the cost: no BEGIN before the first query and no ROLLBACK
    when the connection goes back to the pool, two round trips of the four
    that reading a pipeline took. PostgreSQL's driver also forgets its
    prepared statements at each ROLLBACK; without them it keeps them.
    """
    if request.method in READ_METHODS and request.path.startswith("/v1/"):
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def statement_connection():
    """The session's connection, in autocommit on PostgreSQL when the
    session has no transaction yet: each statement is then a transaction
    of its own, with no BEGIN and COMMIT round trips. For a write that is
    one statement (``runs.services.replace_console``'s); ``db.session.close()``
    before anything that needs a transaction."""
    if db.engine.dialect.name == "postgresql" and not db.session().in_transaction():
        return db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
    return db.session.connection()


def init_database(app):
    configure_engine(app)
    db.init_app(app)
    app.before_request(reads_without_transaction)
