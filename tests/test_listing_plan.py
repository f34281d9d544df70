"""How PostgreSQL reads a page of runs once the run table is large: through
the (pipeline_id, sequence) index, not a (parallel) scan of every run
(docs/adr/0013-no-parallel-query-for-the-api.md). Plans, not timings."""

import re

import pytest

from app.extensions import db
from app.pipelines.models import Pipeline
from app.runs import listing
from app.runs.final_json import host_part
from app.runs.output import url_parts

pytestmark = pytest.mark.parametrize("session_app", ["postgresql"], indirect=True)

OTHER_RUNS = 12_000
OWN_RUNS = 1_000
# About what a finished run's stored JSON weighs: the table grows past
# min_parallel_table_scan_size (8 MB), where parallel scans are considered.
JSON_CHARS = 1_400
SCAN_OF_EVERY_RUN = re.compile(r"Seq Scan on run\s")
# Either index that starts with pipeline_id reads the pipeline's runs alone.
PIPELINE_INDEX = re.compile(r"Index Scan (using|on) (run_pipeline_id_sequence_key|ix_run_pipeline_state)")


def add_runs(pipeline_id, count):
    db.session.execute(
        db.text(
            "INSERT INTO run (uuid, pipeline_id, sequence, state, inputs, created_at, final_json) "
            "SELECT md5(:pipeline || '-' || n), :pipeline, n, 'COMPLETED', '[]', now(), repeat('x', :chars) "
            "FROM generate_series(1, :count) AS n"
        ),
        {"pipeline": pipeline_id, "count": count, "chars": JSON_CHARS},
    )


def listing_plan(connection, pipeline):
    """EXPLAIN of the listing statement the API runs for ``pipeline``."""
    head, middle, tail = url_parts(pipeline.uuid)
    statement = listing._STATEMENTS[False, False, False].params(
        pipeline_id=pipeline.id,
        pipeline_uuid=pipeline.uuid,
        offset=0,
        url_head=head,
        url_middle=middle,
        url_tail=tail,
        host_part=host_part(pipeline.uuid),
    )
    sql = str(statement.compile(dialect=connection.dialect, compile_kwargs={"literal_binds": True}))
    return "\n".join(row[0] for row in connection.exec_driver_sql("EXPLAIN " + sql.replace("%", "%%")))


def test_a_page_of_runs_is_read_through_the_pipeline_index_however_large_the_table(app, api):
    own, other = api.create_pipeline()["uuid"], api.create_pipeline()["uuid"]
    with app.test_request_context():
        pipelines = {
            p.uuid: p
            for p in db.session.execute(db.select(Pipeline).where(Pipeline.uuid.in_([own, other]))).scalars()
        }
        add_runs(pipelines[other].id, OTHER_RUNS)
        add_runs(pipelines[own].id, OWN_RUNS)
        db.session.commit()
        connection = db.session.connection()
        connection.exec_driver_sql("ANALYZE run")
        assert connection.exec_driver_sql("SHOW max_parallel_workers_per_gather").scalar_one() == "0"

        plan = listing_plan(connection, pipelines[own])
        assert "Gather" not in plan, plan
        assert not SCAN_OF_EVERY_RUN.search(plan), plan
        assert PIPELINE_INDEX.search(plan), plan

        # The premise: with PostgreSQL's default the same statement would
        # scan every run of every pipeline, in parallel.
        connection.exec_driver_sql("SET max_parallel_workers_per_gather = 2")
        default_plan = listing_plan(connection, pipelines[own])
        connection.exec_driver_sql("RESET max_parallel_workers_per_gather")
        db.session.rollback()
    assert "Gather" in default_plan and SCAN_OF_EVERY_RUN.search(default_plan), default_plan
