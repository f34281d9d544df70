"""Health checks: /healthcheck for load balancers, /healthcheck/deep for people."""

from flask import Blueprint
from sqlalchemy import text

from roles.models import db

from .broker import broker

blueprint = Blueprint("health", __name__)


@blueprint.route("/healthcheck", methods=["GET"])
def healthcheck():
    """Whether the API can serve (for load balancers).
    ---
    tags: [health]
    responses:
      200:
        description: The API is up.
        content:
          text/plain:
            schema:
              type: string
              enum:
              - OK
    """
    return "OK", 200, {"Content-Type": "text/plain; charset=utf-8"}


@blueprint.route("/healthcheck/deep", methods=["GET"])
def deep_healthcheck():
    """Whether the database and the broker can be reached.
    ---
    tags: [health]
    responses:
      200: Both can be reached. => DeepHealth
      503: The database or the broker cannot be reached; the body says which. => DeepHealth
    """
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # noqa: BLE001 - any failure means "unavailable" here
        database = "unavailable"
    finally:
        db.session.rollback()
    broker_state = "ok" if broker.ping() else "unavailable"
    status = 200 if database == broker_state == "ok" else 503
    return {"database": database, "broker": broker_state}, status
