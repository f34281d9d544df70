"""JSON errors for everything a client can get wrong."""

import logging

from flask import jsonify
from marshmallow import ValidationError
from sqlalchemy.exc import OperationalError as DatabaseUnavailable
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error with a status and a message meant for the client."""

    def __init__(self, status, message, errors=None, headers=None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}


class NotFound(ApiError):
    def __init__(self, what):
        super().__init__(404, f"{what} not found.")


class Conflict(ApiError):
    def __init__(self, message):
        super().__init__(409, message)


class ServiceUnavailable(ApiError):
    def __init__(self, message):
        super().__init__(503, message)


def error_response(status, message, errors=None):
    body = {"message": message}
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    return response


def register_error_handlers(app):
    @app.errorhandler(ApiError)
    def api_error(error):
        response = error_response(error.status, error.message, error.errors)
        response.headers.update(error.headers)
        return response

    @app.errorhandler(ValidationError)
    def validation_error(error):
        messages = error.messages
        if not isinstance(messages, dict):
            messages = {"_schema": messages}
        return error_response(400, "The request is not valid.", messages)

    @app.errorhandler(HTTPException)
    def http_error(error):
        return error_response(error.code or 500, error.description or error.name)

    @app.errorhandler(DatabaseUnavailable)
    def database_unavailable(error):
        log.exception("database unavailable")
        return error_response(503, "The database cannot be reached; try again later.")

    @app.errorhandler(Exception)
    def unexpected(error):
        log.exception("unexpected error")
        return error_response(500, "Internal server error.")
