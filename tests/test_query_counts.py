"""The number of SQL statements a request costs does not grow with the number of runs."""

from contextlib import contextmanager
from datetime import timedelta

import pytest
from sqlalchemy import event

import roles.queries
from app.artifacts.models import Artifact
from app.extensions import db
from app.pipelines.models import Pipeline
from app.runs.models import Run, RunStateChange
from roles.models import utcnow


@contextmanager
def counted_statements(app):
    """The SQL statements sent to the app's database while the block runs."""
    with app.app_context():
        engine = db.engine
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def add_finished_runs(app, pipeline_uuid, count):
    """``count`` COMPLETED runs, each with three states and two artifacts, in one transaction."""
    with app.app_context():
        pipeline = db.session.execute(db.select(Pipeline).where(Pipeline.uuid == pipeline_uuid)).scalar_one()
        start = pipeline.last_run_sequence
        now = utcnow()
        runs = []
        for number in range(start + 1, start + count + 1):
            runs.append(
                Run(
                    pipeline_id=pipeline.id,
                    sequence=number,
                    state="COMPLETED",
                    inputs=[{"name": "model.glm", "url": f"https://example.com/{number}.glm"}],
                    started_at=now,
                    completed_at=now + timedelta(seconds=1),
                    states=[
                        RunStateChange(state=state, created_at=now)
                        for state in ("NOT_STARTED", "RUNNING", "COMPLETED")
                    ],
                    artifacts=[
                        Artifact(name=name, storage_key=f"bulk/{number}/{name}", size=1, sha256="0" * 64)
                        for name in ("volts.csv", "gridlabd.log")
                    ],
                )
            )
        db.session.add_all(runs)
        pipeline.last_run_sequence = start + count
        db.session.commit()


def list_runs(client, keys, pipeline_uuid, **query):
    response = client.get(f"/v1/pipelines/{pipeline_uuid}/runs", query_string=query, headers=keys.client)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def statements_for_listing(app, client, keys, pipeline_uuid, expected_runs, **query):
    with counted_statements(app) as statements:
        runs = list_runs(client, keys, pipeline_uuid, **query)
    # The listing really holds what lazy loading would fetch run by run.
    assert len(runs) == expected_runs
    for run in runs:
        assert [entry["state"] for entry in run["states"]] == ["NOT_STARTED", "RUNNING", "COMPLETED"]
        assert [artifact["name"] for artifact in run["artifacts"]] == ["volts.csv", "gridlabd.log"]
        assert run["artifacts"][0]["url"].endswith(
            f"/runs/{run['uuid']}/artifacts/{run['artifacts'][0]['uuid']}"
        )
        assert run["pipeline_uuid"] == pipeline_uuid
    return list(statements)


@pytest.fixture(autouse=True)
def frozen_key_cache(monkeypatch):
    """The key cache's clock stands still: a key checked once stays cached
    however long a test takes (``test_a_key_is_checked_...`` moves it)."""
    clock = [1000.0]
    monkeypatch.setattr(roles.queries, "monotonic", lambda: clock[0])
    return clock


# What each request costs, whatever the pipeline's history: nothing for the
# key, which an earlier request of the test had checked (the process keeps
# it for up to roles.queries.CACHE_SECONDS), then the request's own statements.
KEY_LOOKUP = 0
# The pipeline, then the page: one query on PostgreSQL, which makes the JSON;
# elsewhere three (the runs, their states, their artifacts).
LISTING = {"postgresql": KEY_LOOKUP + 1 + 1, "sqlite": KEY_LOOKUP + 1 + 3}
# The pipeline, then its run counter, the run and its first state: one
# statement on PostgreSQL (so that the pipeline's row is locked briefly), three elsewhere.
CREATION = {"postgresql": KEY_LOOKUP + 1 + 1, "sqlite": KEY_LOOKUP + 1 + 3}


def test_listing_runs_costs_the_same_for_1_and_500_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    add_finished_runs(app, pipeline_uuid, 1)
    list_runs(client, keys, pipeline_uuid)  # warm up connections and caches

    one = statements_for_listing(app, client, keys, pipeline_uuid, 1)
    add_finished_runs(app, pipeline_uuid, 499)
    many = statements_for_listing(app, client, keys, pipeline_uuid, 500)

    assert any("run" in statement.lower() for statement in one), one
    assert len(many) == len(one) == LISTING[app.config["DATABASE_KIND"]], "\n\n".join(many)


def test_filtered_and_paged_listing_costs_the_same_for_1_and_500_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    add_finished_runs(app, pipeline_uuid, 1)
    list_runs(client, keys, pipeline_uuid, state="COMPLETED", limit=1000)

    one = statements_for_listing(app, client, keys, pipeline_uuid, 1, state="COMPLETED", limit=1000)
    add_finished_runs(app, pipeline_uuid, 499)
    many = statements_for_listing(app, client, keys, pipeline_uuid, 500, state="COMPLETED", limit=1000)
    assert len(many) == len(one) == LISTING[app.config["DATABASE_KIND"]], "\n\n".join(many)
    paged = statements_for_listing(app, client, keys, pipeline_uuid, 100, state="COMPLETED", limit=100)
    assert len(paged) == LISTING[app.config["DATABASE_KIND"]], "\n\n".join(paged)
    offset = statements_for_listing(app, client, keys, pipeline_uuid, 450, state="COMPLETED", offset=50)
    assert len(offset) == LISTING[app.config["DATABASE_KIND"]], "\n\n".join(offset)


def test_a_page_holds_the_states_and_artifacts_of_its_own_runs(app, api, client, keys):
    """The states and artifacts are selected by the page's own query: a page
    in the middle of a long history gets its runs' and no others'."""
    pipeline_uuid = api.create_pipeline()["uuid"]
    add_finished_runs(app, pipeline_uuid, 30)
    whole = list_runs(client, keys, pipeline_uuid)
    page = statements_for_listing(app, client, keys, pipeline_uuid, 7, limit=7, offset=11)
    assert len(page) == LISTING[app.config["DATABASE_KIND"]]
    assert list_runs(client, keys, pipeline_uuid, limit=7, offset=11) == whole[11:18]


def test_creating_a_run_costs_the_same_with_1_and_500_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    inputs = [{"name": "model.glm", "url": "https://example.com/model.glm"}]
    api.create_run(pipeline_uuid, inputs=inputs)  # warm up; the pipeline now has 1 run

    def statements_for_creation(expected_sequence):
        with counted_statements(app) as statements:
            run = api.create_run(pipeline_uuid, inputs=inputs, callback_url="https://hook.test/")
        assert run["sequence"] == expected_sequence
        assert [entry["state"] for entry in run["states"]] == ["NOT_STARTED"]
        assert run["artifacts"] == [] and run["pipeline_uuid"] == pipeline_uuid
        return list(statements)

    one = statements_for_creation(2)
    add_finished_runs(app, pipeline_uuid, 498)  # now 500 runs
    many = statements_for_creation(501)
    assert any("insert" in statement.lower() for statement in one), one
    # Nothing is read back after the commit: the answer is the run as written.
    assert len(many) == len(one) == CREATION[app.config["DATABASE_KIND"]], "\n\n".join(many)
    assert not any(statement.lstrip().lower().startswith("select count") for statement in many), many


def test_a_key_is_checked_with_one_query_then_cached_for_a_while(app, api, client, keys, frozen_key_cache):
    pipeline_uuid = api.create_pipeline()["uuid"]
    path = f"/v1/pipelines/{pipeline_uuid}"
    with app.app_context():
        roles.queries.forget_keys()

    def statements_for_read():
        with counted_statements(app) as statements:
            response = client.get(path, headers=keys.client)
        assert response.status_code == 200
        return statements

    # The key with its permissions in one query, then the pipeline in one.
    assert len(statements_for_read()) == 2
    assert len(statements_for_read()) == 1  # the key is cached
    frozen_key_cache[0] += roles.queries.CACHE_SECONDS - 0.01
    assert len(statements_for_read()) == 1
    frozen_key_cache[0] += 0.02
    assert len(statements_for_read()) == 2  # checked again


def test_reading_a_run_and_replacing_its_console_cost_the_same_with_1_and_500_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]

    def costs():
        run = api.create_run(pipeline_uuid)
        assert api.set_state(pipeline_uuid, run["uuid"], "RUNNING").status_code == 200
        path = api.run_path(pipeline_uuid, run["uuid"])
        with counted_statements(app) as read:
            assert client.get(path, headers=keys.client).status_code == 200
        with counted_statements(app) as replace:
            response = client.put(
                path + "/console", json={"std_out": "out\n", "std_err": ""}, headers=keys.worker
            )
        assert response.status_code == 200
        assert response.get_json() == {"std_out": "out\n", "std_err": ""}
        return list(read), list(replace)

    costs()  # warm up
    read_one, replace_one = costs()
    add_finished_runs(app, pipeline_uuid, 500)
    read_many, replace_many = costs()
    # A run not finished: no stored JSON (one query), then the run with its
    # pipeline in one, then its states and artifacts.
    assert len(read_one) == len(read_many) == KEY_LOOKUP + 1 + 3, "\n\n".join(read_many)
    assert len(replace_one) == len(replace_many) == KEY_LOOKUP + REPLACE[app.config["DATABASE_KIND"]], (
        "\n\n".join(replace_many)
    )


# The run's state and attempt, then on PostgreSQL one statement (in
# autocommit) that claims the run's row if it is still so and replaces the
# chunks; elsewhere the claim (which holds the row), the old chunks out and
# the new ones in. Nothing read back.
REPLACE = {"postgresql": 2, "sqlite": 4}


def test_reading_a_finished_run_is_one_query(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    run = api.create_run(pipeline_uuid)
    assert api.set_state(pipeline_uuid, run["uuid"], "RUNNING").status_code == 200
    completed = api.set_state(pipeline_uuid, run["uuid"], "COMPLETED")
    assert completed.status_code == 200
    built = {name: value for name, value in completed.get_json().items() if name != "attempt"}
    path = api.run_path(pipeline_uuid, run["uuid"])
    add_finished_runs(app, pipeline_uuid, 500)
    with counted_statements(app) as read:
        response = client.get(path, headers=keys.client)
    assert response.status_code == 200
    assert response.get_json() == built and built["state"] == "COMPLETED"
    assert len(read) == KEY_LOOKUP + 1, "\n\n".join(read)


def test_a_worker_reporting_an_artifact_and_the_end_costs_the_same_with_1_and_500_runs(
    app, api, client, keys
):
    pipeline_uuid = api.create_pipeline()["uuid"]

    def costs():
        run = api.create_run(pipeline_uuid)
        started = api.set_state(pipeline_uuid, run["uuid"], "RUNNING")
        assert started.status_code == 200
        path = api.run_path(pipeline_uuid, run["uuid"])
        headers = {**keys.worker, "Workflow-Run-Attempt": str(started.get_json()["attempt"])}
        with counted_statements(app) as upload:
            uploaded = client.post(
                path + "/artifacts",
                query_string={"name": "volts.csv"},
                data=b"t,v\n0,1\n",
                headers={**headers, "Content-Type": "application/octet-stream"},
            )
        assert uploaded.status_code == 201, uploaded.get_json()
        with counted_statements(app) as finish:
            completed = client.put(path + "/state", json={"state": "COMPLETED"}, headers=headers)
        assert completed.status_code == 200
        # The answers are what a client reads afterwards.
        read = client.get(path, headers=keys.client).get_json()
        assert read["artifacts"] == [uploaded.get_json()]
        assert {name: value for name, value in completed.get_json().items() if name != "attempt"} == read
        return list(upload), list(finish)

    costs()  # warm up
    upload_one, finish_one = costs()
    add_finished_runs(app, pipeline_uuid, 500)
    upload_many, finish_many = costs()
    # The run with its pipeline, the claim of its row, the artifact's row.
    assert len(upload_one) == len(upload_many) == KEY_LOOKUP + 3, "\n\n".join(upload_many)
    # The run, its claim, the new state and its history row, then the
    # stored JSON (three reads and a write); the answer is that JSON.
    assert len(finish_one) == len(finish_many) == KEY_LOOKUP + 8, "\n\n".join(finish_many)
