"""Extension objects shared by the blueprints."""

from flask_migrate import Migrate

from roles.models import db

from .broker import broker

migrate = Migrate()

__all__ = ["db", "migrate", "broker"]
