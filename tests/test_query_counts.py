"""The number of SQL statements a request costs does not grow with the number of runs."""

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import event

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


def test_listing_runs_costs_the_same_for_1_and_200_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    add_finished_runs(app, pipeline_uuid, 1)
    list_runs(client, keys, pipeline_uuid)  # warm up connections and caches

    one = statements_for_listing(app, client, keys, pipeline_uuid, 1)
    add_finished_runs(app, pipeline_uuid, 199)
    many = statements_for_listing(app, client, keys, pipeline_uuid, 200)

    assert any("run" in statement.lower() for statement in one), one
    assert len(many) == len(one), "\n\n".join(many)


def test_filtered_and_paged_listing_costs_the_same_for_1_and_200_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    add_finished_runs(app, pipeline_uuid, 1)
    list_runs(client, keys, pipeline_uuid, state="COMPLETED", limit=1000)

    one = statements_for_listing(app, client, keys, pipeline_uuid, 1, state="COMPLETED", limit=1000)
    add_finished_runs(app, pipeline_uuid, 199)
    many = statements_for_listing(app, client, keys, pipeline_uuid, 200, state="COMPLETED", limit=1000)
    assert len(many) == len(one), "\n\n".join(many)
    paged = statements_for_listing(app, client, keys, pipeline_uuid, 150, state="COMPLETED", offset=50)
    assert len(paged) == len(one), "\n\n".join(paged)


def test_creating_a_run_costs_the_same_with_1_and_200_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    inputs = [{"name": "model.glm", "url": "https://example.com/model.glm"}]
    api.create_run(pipeline_uuid, inputs=inputs)  # warm up; the pipeline now has 1 run

    def statements_for_creation(expected_sequence):
        with counted_statements(app) as statements:
            run = api.create_run(pipeline_uuid, inputs=inputs, callback_url="https://hook.test/")
        assert run["sequence"] == expected_sequence
        return list(statements)

    one = statements_for_creation(2)
    add_finished_runs(app, pipeline_uuid, 198)  # now 200 runs
    many = statements_for_creation(201)
    assert any("insert" in statement.lower() for statement in one), one
    assert len(many) == len(one), "\n\n".join(many)
