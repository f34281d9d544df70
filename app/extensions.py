"""Extension objects shared by the blueprints."""

from roles.models import db

from .broker import broker

__all__ = ["db", "broker"]
