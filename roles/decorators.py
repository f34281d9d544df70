"""Guarding Flask views with permissions."""

from functools import wraps

from flask import g, jsonify, request

from .queries import find_active_application

API_KEY_HEADER = "Workflow-API-Key"


def _error(status, message):
    response = jsonify({"message": message})
    response.status_code = status
    return response


def make_permission_decorator(permission_enum):
    """Make ``permissions_required(list_of_members)`` for ``permission_enum``.

    A request passes when its ``Workflow-API-Key`` belongs to an unrevoked
    application holding any of the listed permissions. The application is
    then ``flask.g.application``.
    """

    def permissions_required(permissions):
        required = {permission_enum(p).value for p in permissions}

        def decorator(view):
            @wraps(view)
            def guarded(*args, **kwargs):
                key = request.headers.get(API_KEY_HEADER)
                if not key:
                    return _error(401, f"Missing {API_KEY_HEADER} header.")
                application = find_active_application(key)
                if application is None:
                    return _error(401, f"Unknown or revoked {API_KEY_HEADER}.")
                if not application.permission_ids & required:
                    return _error(403, "This key lacks the permission for this endpoint.")
                g.application = application
                return view(*args, **kwargs)

            # Which permissions let a key in, for the API's documentation.
            guarded.required_permissions = tuple(permission_enum(p).name for p in permissions)
            return guarded

        return decorator

    return permissions_required
