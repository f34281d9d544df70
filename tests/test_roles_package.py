"""The roles package on its own, in a tiny Flask app with its own permissions.

As the original README's "Authentication Roles" section has it: the app
brings its own IntEnum, puts the roles tables on its database, guards views
with ``make_permission_decorator`` and creates keys with the service.
"""

import subprocess
import sys
from enum import IntEnum, unique

import pytest
from flask import Flask, g

from roles.decorators import make_permission_decorator
from roles.models import Application, ApplicationSystemPermission, SystemPermission, db
from roles.queries import find_active_application
from roles.services import create_application_key, revoke_application

from .processes import REPO_ROOT

ROLES_TABLES = [Application.__table__, SystemPermission.__table__, ApplicationSystemPermission.__table__]


@unique
class ExamplePermissions(IntEnum):
    """Permissions used for Flask endpoints"""

    ROLE_1 = 1
    ROLE_2 = 2
    ROLE_3 = 3


permissions_required = make_permission_decorator(ExamplePermissions)


@pytest.fixture
def tiny_app(tmp_path):
    app = Flask("tiny")
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + str(tmp_path / "tiny.sqlite3")
    db.init_app(app)

    @app.route("/protected_route")
    @permissions_required([ExamplePermissions.ROLE_1])
    def protected_route():
        return {"info": "private info", "application": g.application.name}

    @app.route("/either")
    @permissions_required([ExamplePermissions.ROLE_1, ExamplePermissions.ROLE_2])
    def either():
        return "either"

    @app.route("/public")
    def public():
        return "public"

    with app.app_context():
        # Only the roles tables: this app has none of the Workflow API's.
        db.metadata.create_all(db.engine, tables=ROLES_TABLES)
    yield app
    with app.app_context():
        db.engine.dispose()


def make_key(app, name, permissions):
    with app.app_context():
        application, key = create_application_key(name, permissions)
        return application.id, key


def get(app, path, key=None):
    headers = {} if key is None else {"Workflow-API-Key": key}
    return app.test_client().get(path, headers=headers)


def test_the_package_imports_without_the_workflow_app():
    code = (
        "import sys\n"
        "import roles.models, roles.decorators, roles.services, roles.queries\n"
        "leaked = sorted(m for m in sys.modules if m == 'app' or m.startswith(('app.', 'worker')))\n"
        "assert not leaked, leaked\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_only_the_roles_tables_are_needed(tiny_app):
    from sqlalchemy import inspect

    with tiny_app.app_context():
        assert set(inspect(db.engine).get_table_names()) == {
            "application",
            "system_permission",
            "application_system_permission",
        }


def test_key_with_the_permission_gets_200(tiny_app):
    _, key = make_key(tiny_app, "reader", [ExamplePermissions.ROLE_1])
    response = get(tiny_app, "/protected_route", key)
    assert response.status_code == 200
    assert response.get_json() == {"info": "private info", "application": "reader"}


def test_any_listed_permission_lets_a_key_in(tiny_app):
    _, key_2 = make_key(tiny_app, "two", [ExamplePermissions.ROLE_2])
    _, key_3 = make_key(tiny_app, "three", [ExamplePermissions.ROLE_3])
    assert get(tiny_app, "/either", key_2).status_code == 200
    assert get(tiny_app, "/either", key_3).status_code == 403


def test_key_holding_several_permissions(tiny_app):
    _, key = make_key(tiny_app, "both", [ExamplePermissions.ROLE_2, ExamplePermissions.ROLE_1])
    assert get(tiny_app, "/protected_route", key).status_code == 200
    with tiny_app.app_context():
        rows = db.session.execute(db.select(SystemPermission).order_by(SystemPermission.id)).scalars()
        assert [(row.id, row.name) for row in rows] == [(1, "ROLE_1"), (2, "ROLE_2")]


def test_missing_key_is_401(tiny_app):
    response = get(tiny_app, "/protected_route")
    assert response.status_code == 401
    assert "Workflow-API-Key" in response.get_json()["message"]
    assert get(tiny_app, "/protected_route", "").status_code == 401


def test_unknown_key_is_401(tiny_app):
    _, key = make_key(tiny_app, "reader", [ExamplePermissions.ROLE_1])
    near_misses = [
        key[:-1] + ("A" if key[-1] != "A" else "B"),
        key + "x",
        key[:-1],
        key.upper() if key.upper() != key else key.lower(),
        "made-up-key",
    ]
    for wrong in near_misses:
        response = get(tiny_app, "/protected_route", wrong)
        assert response.status_code == 401, wrong
        assert response.get_json()["message"]


def test_the_stored_hash_is_not_a_key(tiny_app):
    application_id, _ = make_key(tiny_app, "reader", [ExamplePermissions.ROLE_1])
    with tiny_app.app_context():
        key_hash = db.session.get(Application, application_id).key_hash
    assert get(tiny_app, "/protected_route", key_hash).status_code == 401


def test_revoked_key_is_401(tiny_app):
    application_id, key = make_key(tiny_app, "reader", [ExamplePermissions.ROLE_1])
    assert get(tiny_app, "/protected_route", key).status_code == 200
    with tiny_app.app_context():
        assert revoke_application(application_id).revoked_at is not None
        assert find_active_application(key) is None
    response = get(tiny_app, "/protected_route", key)
    assert response.status_code == 401
    assert response.is_json


def test_revoking_an_unknown_application_gives_none(tiny_app):
    with tiny_app.app_context():
        assert revoke_application(12345) is None


def test_key_without_the_permission_is_403(tiny_app):
    _, key = make_key(tiny_app, "other", [ExamplePermissions.ROLE_2])
    response = get(tiny_app, "/protected_route", key)
    assert response.status_code == 403
    assert response.get_json()["message"]


def test_key_without_any_permission_is_403(tiny_app):
    _, key = make_key(tiny_app, "nothing", [])
    assert get(tiny_app, "/protected_route", key).status_code == 403


def test_unguarded_routes_need_no_key(tiny_app):
    assert get(tiny_app, "/public").status_code == 200


def test_keys_are_stored_only_as_a_hash(tiny_app):
    _, key = make_key(tiny_app, "reader", [ExamplePermissions.ROLE_1])
    with tiny_app.app_context():
        dumped = []
        for table in ROLES_TABLES:
            for row in db.session.execute(table.select()).all():
                dumped.extend(str(value) for value in row)
    assert dumped
    assert not [value for value in dumped if key in value]
    # nor any long piece of it (the short display prefix aside)
    assert not [value for value in dumped if key[8:] in value or key[-16:] in value]


def test_every_key_is_different_and_long(tiny_app):
    made = [make_key(tiny_app, f"app {i}", [ExamplePermissions.ROLE_1])[1] for i in range(20)]
    assert len(set(made)) == len(made)
    assert all(len(key) >= 32 for key in made)
    for key in made:
        assert get(tiny_app, "/protected_route", key).status_code == 200


def test_a_guarded_view_keeps_its_name(tiny_app):
    """``functools.wraps``: Flask endpoints stay distinct for each guarded view."""
    assert {"protected_route", "either"} <= set(tiny_app.view_functions)
