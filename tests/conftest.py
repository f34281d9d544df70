import os
import tempfile
from pathlib import Path

import pytest

# Keep the embedded defaults (SQLite file, broker folder) out of the work tree.
os.environ.setdefault("WORKFLOW_DATA_FOLDER", tempfile.mkdtemp(prefix="workflow-test-data-"))

from app import create_app  # noqa: E402
from app.artifacts.storage import init_storage  # noqa: E402
from app.extensions import db  # noqa: E402
from app.permissions import WorkflowPermissions  # noqa: E402
from roles.services import create_application_key, revoke_application  # noqa: E402

from .blob import StoredFiles, blob_settings, start_blob_server  # noqa: E402
from .services import create_postgres_database, drop_postgres_database, use_private_redis  # noqa: E402

DATABASES = ["postgresql", "sqlite"]


def pytest_configure(config):
    """Each test process gets a Redis of its own (tests/services.py), unless
    TEST_REDIS_URL names one: then it is shared, so one test process only."""
    if not os.environ.get("TEST_REDIS_URL"):
        use_private_redis()
    elif (getattr(config.option, "numprocesses", None) or 0) not in (0, 1):
        raise pytest.UsageError(
            "TEST_REDIS_URL is set: its Redis would be shared by the parallel test processes."
            " Unset it (each process then starts a redis-server of its own), or run without -n."
        )


# Tests that mostly wait: on real stacks, runs paced by the wall clock, browsers.
WAITING = ("tests/e2e/", "tests/browser/", "tests/worker/")
FAULT_TESTS = "tests/e2e/"


def pytest_deselected(items):
    """`invoke test` looks for the fault tests in FAULT_TESTS only: the run of
    the others (-m "not faults") refuses one found elsewhere."""
    astray = [
        item.nodeid
        for item in items
        if item.get_closest_marker("faults") and not item.nodeid.startswith(FAULT_TESTS)
    ]
    if astray:
        raise pytest.UsageError(f"fault tests belong in {FAULT_TESTS} (invoke test): {astray}")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist, order the tests so that the shares of all test
    processes but the last (worksteal gives each a contiguous part of this
    list) start with their part of the tests that mostly wait, and the last
    starts with in-process ones: their waits then overlap with its CPU work.
    In collection order, the waiting tests were left for the last minutes,
    with the cores partly idle; given to every process first, the cores were
    still partly idle for a minute or more while all of them waited at once.
    What a process steals comes from the end of another's share."""
    count = getattr(config, "workerinput", {}).get("workercount", 1)
    if count < 2:
        return
    waiting, others = {}, []
    for item in items:
        if item.nodeid.startswith(WAITING):
            waiting.setdefault(item.nodeid.split("::")[0], []).append(item)
        else:
            others.append(item)
    shares = [[] for _ in range(count)]
    for number, module_items in enumerate(waiting.values()):
        shares[number % (count - 1)].extend(module_items)
    ordered, left = [], len(items)
    for number, share in enumerate(shares):
        size = left // (count - number)  # as worksteal sizes the shares
        left -= size
        taken = max(0, size - len(share)) if number < count - 1 else len(others)
        ordered += share + others[:taken]
        del others[:taken]
    items[:] = ordered


@pytest.fixture(scope="session")
def database_urls(tmp_path_factory):
    """One fresh database per engine, created when first asked for."""
    made = {}

    def url_for(kind):
        if kind not in made:
            if kind == "postgresql":
                made[kind] = create_postgres_database()
            else:
                made[kind] = "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")
        return made[kind]

    yield url_for
    if "postgresql" in made:
        drop_postgres_database(made["postgresql"])


def make_app(database_url, upload_folder, **overrides):
    return create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "CELERY_BROKER_URL": "memory://",
            "CELERY_BROKER_TRANSPORT_OPTIONS": {},
            "UPLOAD_FOLDER": str(upload_folder),
            "SERVER_NAME": "workflow.test",
            # Local disk and no retention unless a test asks, whatever the environment says.
            "BLOB_API_SERVER": None,
            "ARTIFACT_RETENTION_DAYS": None,
            **overrides,
        }
    )


@pytest.fixture(scope="session")
def app_on(database_urls, tmp_path_factory):
    """app_on(kind): this test process's app on the database engine ``kind``,
    made when first asked for."""
    made = {}

    def app_for(kind):
        if kind not in made:
            app = make_app(database_urls(kind), tmp_path_factory.mktemp("uploads"))
            app.config["DATABASE_KIND"] = kind
            with app.app_context():
                db.create_all()
            made[kind] = app
        return made[kind]

    yield app_for
    for app in made.values():
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session", params=DATABASES)
def session_app(request, app_on):
    """The app on each database engine; every API test runs on both."""
    return app_on(request.param)


def empty_tables(app):
    # DELETE, children first, rather than PostgreSQL's TRUNCATE: the tables
    # hold a few rows between tests, and TRUNCATE makes new files for every
    # table and index (about 90 ms a test here, against 4 ms).
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()


@pytest.fixture(scope="session")
def blob_server():
    """nginx with WebDAV on loopback, shared by the tests that store artifacts on it."""
    server = start_blob_server()
    yield server
    server.remove()


@pytest.fixture
def app(session_app):
    empty_tables(session_app)
    max_content = session_app.config["MAX_CONTENT_LENGTH"]
    yield session_app
    session_app.config["MAX_CONTENT_LENGTH"] = max_content


@pytest.fixture(params=["local", "blob"])
def backend(request, app):
    """The app's artifact storage set to local disk, then to the blob server;
    what it holds, as StoredFiles."""
    saved = dict(app.config)
    if request.param == "blob":
        server = request.getfixturevalue("blob_server")
        app.config.update(blob_settings(server))
        stored = StoredFiles("blob", server.data)
    else:
        stored = StoredFiles("local", Path(app.config["UPLOAD_FOLDER"]))
    init_storage(app)
    yield stored
    app.config.clear()
    app.config.update(saved)
    init_storage(app)


@pytest.fixture
def client(app):
    return app.test_client()


class Keys:
    """Headers for every kind of key the contract distinguishes."""

    def __init__(self, app):
        with app.app_context():
            _, self.client_key = create_application_key("client", [WorkflowPermissions.PIPELINES_CLIENT])
            _, self.worker_key = create_application_key("worker", [WorkflowPermissions.PIPELINES_WORKER])
            revoked, self.revoked_key = create_application_key(
                "revoked", [WorkflowPermissions.PIPELINES_CLIENT, WorkflowPermissions.PIPELINES_WORKER]
            )
            revoke_application(revoked.id)
        self.unknown_key = "not-a-key-anyone-was-given"

    @staticmethod
    def header(key):
        return {"Workflow-API-Key": key} if key is not None else {}

    @property
    def client(self):
        return self.header(self.client_key)

    @property
    def worker(self):
        return self.header(self.worker_key)

    def by_kind(self, kind):
        return self.header(
            {
                "none": None,
                "unknown": self.unknown_key,
                "revoked": self.revoked_key,
                "client": self.client_key,
                "worker": self.worker_key,
            }[kind]
        )


@pytest.fixture
def keys(app):
    return Keys(app)


@pytest.fixture
def api(client, keys):
    """Shortcuts for the calls most tests make."""
    return Api(client, keys)


class Api:
    def __init__(self, client, keys):
        self.client = client
        self.keys = keys

    def create_pipeline(self, **fields):
        body = {"name": "feeder", **fields}
        response = self.client.post("/v1/pipelines", json=body, headers=self.keys.client)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def create_run(self, pipeline_uuid, **body):
        response = self.client.post(
            f"/v1/pipelines/{pipeline_uuid}/runs", json={"inputs": [], **body}, headers=self.keys.client
        )
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def run_path(self, pipeline_uuid, run_uuid, tail=""):
        return f"/v1/pipelines/{pipeline_uuid}/runs/{run_uuid}{tail}"

    def set_state(self, pipeline_uuid, run_uuid, state):
        return self.client.put(
            self.run_path(pipeline_uuid, run_uuid, "/state"),
            json={"state": state},
            headers=self.keys.worker,
        )

    def upload(self, pipeline_uuid, run_uuid, name, data):
        return self.client.post(
            self.run_path(pipeline_uuid, run_uuid, "/artifacts"),
            query_string={"name": name},
            data=data,
            headers={**self.keys.worker, "Content-Type": "application/octet-stream"},
        )
