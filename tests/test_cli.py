"""The invoke tasks of tasks.py, run as a user runs them, on a migrated SQLite file."""

import json
import re
import shlex
import time

import pytest

from app.extensions import db
from app.permissions import WorkflowPermissions
from roles.models import Application
from roles.services import create_application_key

from .conftest import make_app
from .migrated import migrated_database
from .processes import command_env, executable, run_command

KEY_LINE = re.compile(r"^API_TOKEN=([A-Za-z0-9_\-]{32,})$")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """A SQLite file at the migrations' head (tests/migrated.py), the env to reach it, and an app on it."""
    folder = tmp_path_factory.mktemp("cli")
    url = migrated_database("sqlite", folder / "cli.sqlite3")
    env = command_env(folder, SQLALCHEMY_DATABASE_URI=url)
    app = make_app(url, folder / "uploads")
    yield env, app
    with app.app_context():
        db.engine.dispose()


def invoke(env, *args, check=True):
    return run_command([executable("invoke"), *args], env, check=check)


@pytest.fixture(scope="module")
def client_key(deployment):
    """Headers with a PIPELINES_CLIENT key, made in-process (the CLI is not under test here)."""
    _, app = deployment
    with app.app_context():
        _, key = create_application_key("test client", [WorkflowPermissions.PIPELINES_CLIENT])
    return {"Workflow-API-Key": key}


@pytest.fixture(scope="module")
def worker_key(deployment):
    env, _ = deployment
    result = invoke(env, "create-application-key", "-n", "local worker", "-p", "PIPELINES_WORKER")
    return result.stdout


def test_create_application_key_prints_exactly_one_line(worker_key):
    lines = worker_key.splitlines()
    assert len(lines) == 1, worker_key
    assert worker_key.endswith("\n")
    assert KEY_LINE.match(lines[0]), lines[0]


def test_the_readme_pipe_through_sed_makes_the_worker_env(deployment, tmp_path):
    env, app = deployment
    worker_env = tmp_path / ".worker-env"
    command = (
        f'{shlex.quote(executable("invoke"))} create-application-key -n "local worker" '
        f"-p PIPELINES_WORKER | sed 's/^/WORKER_/' > {shlex.quote(str(worker_env))}"
    )
    run_command(["bash", "-o", "pipefail", "-c", command], env)

    content = worker_env.read_text()
    assert len(content.splitlines()) == 1
    match = re.fullmatch(r"WORKER_API_TOKEN=(\S+)\n", content)
    assert match, content
    client = app.test_client()
    headers = {"Workflow-API-Key": match.group(1)}
    assert client.get("/v1/pipelines", headers=headers).status_code == 403  # a worker key


def test_the_printed_key_works_with_the_worker_permission(deployment, worker_key, client_key):
    env, app = deployment
    key = KEY_LINE.match(worker_key.strip()).group(1)
    client = app.test_client()
    headers = {"Workflow-API-Key": key}
    pipeline = client.post("/v1/pipelines", json={"name": "cli"}, headers=client_key).get_json()
    run = client.post(
        f"/v1/pipelines/{pipeline['uuid']}/runs", json={"inputs": []}, headers=client_key
    ).get_json()
    run_path = f"/v1/pipelines/{pipeline['uuid']}/runs/{run['uuid']}"

    # worker endpoints: yes; client endpoints: 403
    response = client.put(run_path + "/state", json={"state": "RUNNING"}, headers=headers)
    assert response.status_code == 200, response.get_json()
    assert client.get("/v1/pipelines", headers=headers).status_code == 403
    assert client.get(run_path, headers=headers).status_code == 403


def listed(env):
    """``invoke list-application-keys`` as rows of its tab-separated columns."""
    output = invoke(env, "list-application-keys").stdout
    return [line.split("\t") for line in output.splitlines() if line.strip()]


def applications(app):
    with app.app_context():
        return {a.name: a.id for a in db.session.execute(db.select(Application)).scalars()}


@pytest.mark.parametrize("permission", ["PIPELINES_ADMIN", "pipelines_worker"])
def test_unknown_permission_exits_non_zero(deployment, permission):
    env, app = deployment
    before = applications(app)
    result = invoke(env, "create-application-key", "-n", "bad", "-p", permission, check=False)
    assert result.returncode != 0
    assert "API_TOKEN" not in result.stdout
    assert "PIPELINES_CLIENT" in result.stderr  # says which would do
    assert applications(app) == before


def test_list_application_keys_lists_them(deployment, worker_key):
    env, _ = deployment
    key = KEY_LINE.match(worker_key.strip()).group(1)
    rows = listed(env)
    (row,) = [row for row in rows if row[1] == "local worker" and key.startswith(row[2].rstrip("…"))]
    assert row[0].isdigit()
    assert "PIPELINES_WORKER" in row[3]
    assert row[4] == "active"
    output = "\n".join("\t".join(row) for row in rows)
    assert key not in output  # the key is shown once, at creation


def test_revoke_application_key_makes_it_401(deployment):
    env, app = deployment
    key = KEY_LINE.match(
        invoke(env, "create-application-key", "-n", "to revoke", "-p", "PIPELINES_CLIENT").stdout.strip()
    ).group(1)
    client = app.test_client()
    headers = {"Workflow-API-Key": key}
    assert client.get("/v1/pipelines", headers=headers).status_code == 200
    application_id = applications(app)["to revoke"]

    invoke(env, "revoke-application-key", str(application_id))

    # This process may have the key cached for up to roles.queries.CACHE_SECONDS
    # more: the promise is within 1 s of the revocation.
    deadline = time.monotonic() + 1.0
    while client.get("/v1/pipelines", headers=headers).status_code != 401:
        assert time.monotonic() < deadline, "the revoked key still works 1 s after its revocation"
        time.sleep(0.05)
    (row,) = [row for row in listed(env) if row[1] == "to revoke"]
    assert row[4].startswith("revoked")


def test_revoking_an_unknown_id_exits_non_zero(deployment):
    env, _ = deployment
    result = invoke(env, "revoke-application-key", "999999", check=False)
    assert result.returncode != 0
    assert "999999" in result.stderr


def test_create_pipeline(deployment, client_key):
    env, app = deployment
    result = invoke(env, "create-pipeline", "-n", "x")
    pipeline = json.loads(result.stdout)
    assert pipeline["name"] == "x"
    assert pipeline["model"] == "model.glm"
    response = app.test_client().get(f"/v1/pipelines/{pipeline['uuid']}", headers=client_key)
    assert response.status_code == 200
    assert response.get_json()["name"] == "x"
