"""A finished run's JSON is stored when it ends (app/runs/final_json.py) and
listings on PostgreSQL copy it: what they answer must stay what reading the
run answers, for any host, and after its artifacts expire."""

import json
from datetime import UTC, datetime

import pytest

from app.artifacts.services import expire_artifacts
from app.extensions import db
from app.runs.final_json import HOST_MARK
from app.runs.models import Run

from .helpers import run_in_state

# Where the tests' requests go (SERVER_NAME in tests/conftest.py).
HOST = "http://workflow.test"
ON_POSTGRESQL = pytest.mark.parametrize("session_app", ["postgresql"], indirect=True)


def stored_json(app, run_uuid):
    with app.app_context():
        return db.session.execute(db.select(Run.final_json).where(Run.uuid == run_uuid)).scalar_one()


def read(api, pipeline, run_uuid, **kwargs):
    response = api.client.get(api.run_path(pipeline, run_uuid), headers=api.keys.client, **kwargs)
    assert response.status_code == 200
    return response.get_json()


def listing(api, pipeline, **kwargs):
    response = api.client.get(f"/v1/pipelines/{pipeline}/runs", headers=api.keys.client, **kwargs)
    assert response.status_code == 200
    return response.get_json()


def ended_run(api, pipeline, state, artifacts=("volts.csv", "power.csv")):
    run = run_in_state(api, pipeline, "RUNNING")
    for name in artifacts:
        assert api.upload(pipeline, run["uuid"], name, f"{name} data".encode()).status_code == 201
    assert api.set_state(pipeline, run["uuid"], state).status_code == 200
    return run["uuid"]


@pytest.mark.parametrize("state", ["COMPLETED", "FAILED", "CANCELLED"])
def test_a_run_stores_its_json_when_it_ends(app, api, state):
    pipeline = api.create_pipeline()["uuid"]
    run_uuid = ended_run(api, pipeline, state)
    stored = stored_json(app, run_uuid)
    assert stored is not None
    assert HOST + "/v1/" not in stored  # no host of any one request
    assert json.loads(stored.replace(HOST_MARK, HOST)) == read(api, pipeline, run_uuid)


def test_a_run_that_has_not_ended_stores_nothing(app, api):
    pipeline = api.create_pipeline()["uuid"]
    waiting = api.create_run(pipeline)["uuid"]
    running = run_in_state(api, pipeline, "RUNNING")["uuid"]
    assert stored_json(app, waiting) is None
    assert stored_json(app, running) is None


@ON_POSTGRESQL
def test_a_listing_copies_the_stored_json_of_finished_runs(app, api):
    pipeline = api.create_pipeline()["uuid"]
    finished = ended_run(api, pipeline, "COMPLETED")
    running = run_in_state(api, pipeline, "RUNNING")["uuid"]
    assert listing(api, pipeline) == [read(api, pipeline, finished), read(api, pipeline, running)]

    # Proof that the text is copied, not made again: change it behind the API's back.
    with app.app_context():
        db.session.execute(
            db.update(Run)
            .where(Run.uuid == finished)
            .values(final_json=db.func.replace(Run.final_json, '"COMPLETED"', '"EDITED"'))
        )
        db.session.commit()
    listed = listing(api, pipeline)
    assert listed[0]["state"] == "EDITED"
    assert listed[1] == read(api, pipeline, running)


@ON_POSTGRESQL
def test_stored_artifact_urls_name_the_host_of_each_request(api):
    pipeline = api.create_pipeline()["uuid"]
    finished = ended_run(api, pipeline, "COMPLETED")
    for base_url in (HOST, "https://workflow.test/behind/a/proxy"):
        listed = listing(api, pipeline, base_url=base_url)
        assert listed == [read(api, pipeline, finished, base_url=base_url)]
        for artifact in listed[0]["artifacts"]:
            assert artifact["url"].startswith(
                f"{base_url}/v1/pipelines/{pipeline}/runs/{finished}/artifacts/"
            )
    for artifact in listing(api, pipeline)[0]["artifacts"]:
        assert api.client.get(artifact["url"], headers=api.keys.client).status_code == 200


def test_expired_artifacts_show_in_the_listing(app, api):
    pipeline = api.create_pipeline()["uuid"]
    finished = ended_run(api, pipeline, "COMPLETED")
    with app.app_context():
        report = expire_artifacts(now=datetime(2100, 1, 1, tzinfo=UTC), retention_days=1)
    assert report.expired == 2
    run = read(api, pipeline, finished)
    assert all(artifact["expired_at"] for artifact in run["artifacts"])
    assert listing(api, pipeline) == [run]
    assert json.loads(stored_json(app, finished).replace(HOST_MARK, HOST)) == run
