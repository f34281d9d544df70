"""Run JSON is made by plain functions (app/runs/output.py) for speed; the
declared shape stays RunSchema's and ArtifactSchema's. These check that the
two agree, for one run and for a listing, on both databases."""

import json
from datetime import timedelta

import pytest

from app.artifacts.models import Artifact
from app.artifacts.schemas import artifact_output
from app.extensions import db
from app.pipelines.models import Pipeline
from app.runs.listing import runs_page_json
from app.runs.models import Run, RunStateChange
from app.runs.output import artifact_json, artifact_urls, run_output
from app.runs.queries import list_runs
from app.runs.schemas import RunSchema
from roles.models import utcnow


def make_runs(app):
    """A pipeline with a finished run (states, artifacts, one expired) and a new one."""
    with app.app_context():
        pipeline = Pipeline(name="output", model="model.glm", arguments=[], last_run_sequence=2)
        db.session.add(pipeline)
        db.session.flush()
        now = utcnow()
        finished = Run(
            pipeline_id=pipeline.id,
            sequence=1,
            state="COMPLETED",
            inputs=[{"name": "model.glm", "url": "https://example.com/model.glm"}],
            callback_url="https://hook.test/done",
            progress={
                "clock": "2020-07-02T00:00:00-04:00",
                "start": "2020-07-01T00:00:00-04:00",
                "stop": "2020-07-02T00:00:00-04:00",
                "fraction": 1.0,
            },
            started_at=now,
            completed_at=now + timedelta(seconds=2),
            states=[
                RunStateChange(state=state, created_at=now + timedelta(seconds=offset))
                for offset, state in enumerate(("NOT_STARTED", "RUNNING", "COMPLETED"))
            ],
            artifacts=[
                Artifact(name="volts.csv", storage_key="k/1", size=10, sha256="a" * 64),
                Artifact(
                    name='odd "namé" \\ \u2603.csv',
                    storage_key="k/2",
                    size=0,
                    sha256="b" * 64,
                    created_at=now.replace(microsecond=0),  # Python writes no fraction then
                ),
            ],
        )
        fresh = Run(
            pipeline_id=pipeline.id, sequence=2, inputs=[], states=[RunStateChange(state="NOT_STARTED")]
        )
        db.session.add_all([finished, fresh])
        db.session.flush()
        if hasattr(Artifact, "expired_at"):
            finished.artifacts[1].expired_at = now + timedelta(days=30)
        db.session.commit()
        return pipeline.uuid


def declared(runs):
    return RunSchema(many=True).dump(runs)


def test_one_run_is_what_run_schema_makes(app):
    pipeline_uuid = make_runs(app)
    with app.test_request_context():
        pipeline = db.session.execute(db.select(Pipeline).where(Pipeline.uuid == pipeline_uuid)).scalar_one()
        runs = db.session.execute(db.select(Run).where(Run.pipeline_id == pipeline.id).order_by(Run.sequence))
        runs = runs.scalars().all()
        assert [run_output(run) for run in runs] == declared(runs)
        assert run_output(runs[0])["artifacts"][1]["name"] == 'odd "namé" \\ \u2603.csv'


def test_a_listing_is_what_run_schema_makes(app):
    pipeline_uuid = make_runs(app)
    with app.test_request_context():
        pipeline = db.session.execute(db.select(Pipeline).where(Pipeline.uuid == pipeline_uuid)).scalar_one()
        runs = db.session.execute(db.select(Run).where(Run.pipeline_id == pipeline.id).order_by(Run.sequence))
        expected = declared(runs.scalars().all())
        assert list_runs(pipeline) == expected
        assert list_runs(pipeline, state="COMPLETED") == expected[:1]
        assert list_runs(pipeline, limit=1, offset=1) == expected[1:]
        assert list_runs(pipeline, offset=5) == []


@pytest.mark.parametrize("session_app", ["postgresql"], indirect=True)
def test_a_page_made_by_the_database_is_what_run_schema_makes(app):
    """PostgreSQL makes the JSON of a listing itself (app/runs/listing.py)."""
    pipeline_uuid = make_runs(app)
    with app.test_request_context():
        pipeline = db.session.execute(db.select(Pipeline).where(Pipeline.uuid == pipeline_uuid)).scalar_one()
        runs = db.session.execute(db.select(Run).where(Run.pipeline_id == pipeline.id).order_by(Run.sequence))
        expected = declared(runs.scalars().all())
        connection = db.session.connection()

        def page(**query):
            return json.loads(runs_page_json(connection, pipeline, **query))

        assert page() == expected
        assert page(state="COMPLETED") == expected[:1]
        assert page(state="RUNNING") == []
        assert page(limit=1, offset=1) == expected[1:]
        assert page(limit=1) == expected[:1]
        assert page(offset=5) == []
        # Times as Python writes them, to the character: no fraction on a whole second.
        assert "." not in page()[0]["artifacts"][1]["created_at"]


def test_an_artifact_is_what_artifact_schema_makes(app):
    pipeline_uuid = make_runs(app)
    with app.test_request_context():
        artifacts = db.session.execute(db.select(Artifact).order_by(Artifact.id)).scalars().all()
        url = artifact_urls(pipeline_uuid)
        for artifact in artifacts:
            made = artifact_json(artifact, url(artifact.run.uuid, artifact.uuid))
            assert made == artifact_output.dump(artifact)
