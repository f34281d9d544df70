"""``flask db``: Flask-Migrate, set up when a ``flask db`` command runs.

Flask-Migrate imports alembic, about 0.1 CPU-s, and every process that
builds the app (each gunicorn worker, each invoke task) paid it, though only
``flask db`` and the quick start's upgrade use it.
"""

import logging

import click
from flask.cli import ScriptInfo

from .extensions import db


def enable_migrations(app):
    """Flask-Migrate on ``app``: what ``flask db`` and ``flask_migrate.upgrade`` need."""
    if "migrate" not in app.extensions:
        # alembic logs a line per plugin as it is imported, now after the app
        # has set logging up (create_app): not news for whoever runs `flask db`.
        logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
        from flask_migrate import Migrate

        Migrate(app, db, render_as_batch=True)


class MigrationCommands(click.Command):
    """Stands in for Flask-Migrate's ``db`` group in ``flask --help``; run,
    it hands over to that group (its options, commands and help)."""

    def make_context(self, info_name, args, parent=None, **extra):
        enable_migrations(parent.ensure_object(ScriptInfo).load_app())
        from flask_migrate.cli import db as commands

        return commands.make_context(info_name, args, parent=parent, **extra)


def init_migrations(app):
    app.cli.add_command(MigrationCommands("db", help="Perform database migrations."))
