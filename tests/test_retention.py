"""Artifact retention (ARTIFACT_RETENTION_DAYS): exactly the artifacts of runs
finished longer ago than the retention lose their bytes, on either backend.

The clock is the test's: ``expire_artifacts(now=...)`` and the runs'
``completed_at`` are set, nothing sleeps.
"""

from datetime import UTC, datetime, timedelta

import pytest

from app.artifacts.models import Artifact
from app.artifacts.services import expire_artifacts
from app.artifacts.storage import StorageUnavailable, get_storage, init_storage
from app.extensions import db
from app.runs.models import Run

from .conftest import make_app
from .helpers import assert_error, run_in_state
from .migrated import migrated_database
from .processes import command_env, executable, run_command

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
DAYS = 7


def finished_run(api, pipeline, state, completed_at, names=("a.csv", "b.csv")):
    """A run with artifacts, brought to ``state`` and made to have finished at ``completed_at``."""
    run = run_in_state(api, pipeline, "RUNNING")
    artifacts = [
        api.upload(pipeline, run["uuid"], name, f"{name} of {state}".encode()).get_json() for name in names
    ]
    if state != "RUNNING":
        assert api.set_state(pipeline, run["uuid"], state).status_code == 200
        set_completed_at(api.client.application, run["uuid"], completed_at)
    return run["uuid"], [artifact["uuid"] for artifact in artifacts]


def set_completed_at(app, run_uuid, moment):
    with app.app_context():
        db.session.execute(db.update(Run).where(Run.uuid == run_uuid).values(completed_at=moment))
        db.session.commit()


def expire(app, now=NOW, days=DAYS):
    with app.app_context():
        return expire_artifacts(now=now, retention_days=days)


def keys_of(pipeline, run_uuid, artifact_uuids):
    return {f"{pipeline}/{run_uuid}/{uuid}" for uuid in artifact_uuids}


def expired_at(app):
    with app.app_context():
        return {row.uuid: row.expired_at for row in db.session.query(Artifact)}


@pytest.fixture
def runs(api, backend):
    """Runs that finished at known times around the retention boundary, and a RUNNING one."""
    pipeline = api.create_pipeline()["uuid"]
    cutoff = NOW - timedelta(days=DAYS)
    made = {
        "completed long ago": finished_run(api, pipeline, "COMPLETED", cutoff - timedelta(days=30)),
        "failed just past the cutoff": finished_run(api, pipeline, "FAILED", cutoff - timedelta(seconds=1)),
        "cancelled at the cutoff": finished_run(api, pipeline, "CANCELLED", cutoff),
        "completed just inside": finished_run(api, pipeline, "COMPLETED", cutoff + timedelta(seconds=1)),
        "failed yesterday": finished_run(api, pipeline, "FAILED", NOW - timedelta(days=1)),
        "running": finished_run(api, pipeline, "RUNNING", None),
    }
    keys = {label: keys_of(pipeline, *made[label]) for label in made}
    return pipeline, made, keys


DUE = {"completed long ago", "failed just past the cutoff", "cancelled at the cutoff"}


def test_exactly_the_expired_artifacts_go(app, api, backend, runs):
    pipeline, made, keys = runs
    every_key = set().union(*keys.values())
    assert every_key <= backend.keys()

    report = expire(app)

    assert (report.expired, report.failed) == (6, 0)
    assert report.cutoff == NOW - timedelta(days=DAYS)
    due_keys = set().union(*(keys[label] for label in DUE))
    kept_keys = every_key - due_keys
    assert backend.keys() & every_key == kept_keys, "exactly the due artifacts' bytes are gone"
    marks = expired_at(app)
    for label, (_, artifact_uuids) in made.items():
        for uuid in artifact_uuids:
            if label in DUE:
                assert marks[uuid] is not None and marks[uuid].replace(tzinfo=UTC) == NOW, label
            else:
                assert marks[uuid] is None, label

    # The run JSON says so, and the download is a 410; kept artifacts still download.
    run_uuid, (first, _) = made["completed long ago"]
    run = api.client.get(api.run_path(pipeline, run_uuid), headers=api.keys.client).get_json()
    assert [a["expired_at"] for a in run["artifacts"]] == [NOW.isoformat()] * 2
    gone = api.client.get(api.run_path(pipeline, run_uuid, f"/artifacts/{first}"), headers=api.keys.client)
    assert "expired" in assert_error(gone, 410)["message"]
    kept_run, (kept, _) = made["completed just inside"]
    response = api.client.get(api.run_path(pipeline, kept_run, f"/artifacts/{kept}"), headers=api.keys.client)
    assert response.status_code == 200 and response.data == b"a.csv of COMPLETED"
    kept_json = api.client.get(api.run_path(pipeline, kept_run), headers=api.keys.client).get_json()
    assert [a["expired_at"] for a in kept_json["artifacts"]] == [None, None]

    # A second pass at the same time has nothing left to do; a later one takes the next.
    assert expire(app).expired == 0
    later = expire(app, now=NOW + timedelta(days=1, seconds=1))
    assert later.expired == 2
    assert not keys["completed just inside"] & backend.keys()
    assert keys["failed yesterday"] | keys["running"] <= backend.keys()


def test_without_a_retention_nothing_expires(app, api, backend, runs):
    _, _, keys = runs
    app.config["ARTIFACT_RETENTION_DAYS"] = None
    with app.app_context():
        report = expire_artifacts(now=NOW + timedelta(days=3650))
    assert report.retention_days is None and report.expired == 0
    assert set().union(*keys.values()) <= backend.keys()
    assert all(mark is None for mark in expired_at(app).values())


class FailsToDelete:
    """The app's storage, except that deleting ``key`` fails as an unreachable server would."""

    def __init__(self, storage, key):
        self.storage = storage
        self.key = key

    def __getattr__(self, name):
        return getattr(self.storage, name)

    def delete(self, key):
        if key == self.key:
            raise StorageUnavailable("The blob server cannot be reached (test).")
        return self.storage.delete(key)


def test_an_artifact_whose_bytes_cannot_be_deleted_stays_and_is_tried_again(app, api, backend, runs):
    _, made, keys = runs
    run_uuid, (stuck, _) = made["completed long ago"]
    pipeline = next(iter(keys["completed long ago"])).split("/")[0]
    stuck_key = f"{pipeline}/{run_uuid}/{stuck}"
    with app.app_context():
        real = get_storage()
    app.extensions["workflow_storage"] = FailsToDelete(real, stuck_key)

    report = expire(app)

    assert (report.expired, report.failed) == (5, 1)
    assert stuck_key in backend.keys()
    assert expired_at(app)[stuck] is None
    app.extensions["workflow_storage"] = real
    assert (expire(app).expired, stuck_key in backend.keys()) == (1, False)


@pytest.mark.parametrize("backend", ["blob"], indirect=True)
def test_a_blob_server_answering_errors_expires_nothing(app, api, backend, runs, blob_server):
    _, _, keys = runs
    app.config["BLOB_API_SERVER"] = blob_server.failing_url
    init_storage(app)
    report = expire(app)
    assert (report.expired, report.failed) == (0, 6)
    assert set().union(*keys.values()) <= backend.keys()
    assert all(mark is None for mark in expired_at(app).values())


def test_the_endpoint_expires_with_the_configured_retention(app, api, backend):
    pipeline = api.create_pipeline()["uuid"]
    now = datetime.now(UTC)
    old_run, old = finished_run(api, pipeline, "COMPLETED", now - timedelta(days=DAYS + 1))
    new_run, new = finished_run(api, pipeline, "COMPLETED", now - timedelta(days=DAYS - 1))
    app.config["ARTIFACT_RETENTION_DAYS"] = DAYS
    try:
        response = api.client.post("/v1/artifacts/expire", headers=api.keys.worker)
    finally:
        app.config["ARTIFACT_RETENTION_DAYS"] = None
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert (body["expired"], body["failed"], body["retention_days"]) == (2, 0, DAYS)
    cutoff = datetime.fromisoformat(body["cutoff"])
    assert abs(cutoff - (now - timedelta(days=DAYS))) < timedelta(minutes=1)
    assert not keys_of(pipeline, old_run, old) & backend.keys()
    assert keys_of(pipeline, new_run, new) <= backend.keys()


def test_the_endpoint_without_a_retention_reports_it(api):
    response = api.client.post("/v1/artifacts/expire", headers=api.keys.worker)
    assert response.status_code == 200
    assert response.get_json() == {"retention_days": None, "cutoff": None, "expired": 0, "failed": 0}


def test_the_invoke_task_expires_artifacts(tmp_path):
    """``invoke expire-artifacts`` as an operator runs it, on a migrated SQLite file."""
    url = migrated_database("sqlite", tmp_path / "retention.sqlite3")
    env = command_env(tmp_path, SQLALCHEMY_DATABASE_URI=url, ARTIFACT_RETENTION_DAYS=DAYS)
    app = make_app(url, env["UPLOAD_FOLDER"])
    from .conftest import Api, Keys

    api = Api(app.test_client(), Keys(app))
    pipeline = api.create_pipeline()["uuid"]
    old_run, old = finished_run(api, pipeline, "FAILED", datetime.now(UTC) - timedelta(days=DAYS + 1))
    new_run, new = finished_run(api, pipeline, "COMPLETED", datetime.now(UTC))
    with app.app_context():
        db.engine.dispose()
    uploads = tmp_path / "uploads"
    assert (uploads / pipeline / old_run / old[0]).exists()

    result = run_command([executable("invoke"), "expire-artifacts"], env)

    assert result.stdout.startswith("expired 2 artifacts"), result.stdout
    assert not (uploads / pipeline / old_run / old[0]).exists()
    assert all((uploads / pipeline / new_run / uuid).exists() for uuid in new)
    unset = {key: value for key, value in env.items() if key != "ARTIFACT_RETENTION_DAYS"}
    assert "not set" in run_command([executable("invoke"), "expire-artifacts"], unset).stdout
