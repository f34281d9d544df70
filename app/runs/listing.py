"""A page of runs as JSON text made by PostgreSQL, in one query.

A listing's cost per run is what decides how it grows: in Python, reading
each run with its three states and two artifacts as rows and turning them
into JSON (``queries.list_runs`` with ``output.runs_output``) took about
60 microseconds a run; PostgreSQL builds the same text in about half that,
in C, and the API only passes it on. The JSON is the same as
``RunSchema`` and ``ArtifactSchema`` make, times included (ISO 8601 as
Python writes them), which ``tests/test_run_output.py`` checks. Other
databases (SQLite, the embedded default) take the Python path.

Finished runs are not built at all: their JSON was stored when they ended
(``final_json.py``) and is copied, which makes a page of 1,000 finished
runs about three times cheaper (docs/adr/0012-stored-json-of-finished-runs.md).
"""

from sqlalchemy import Integer, String, Text, bindparam, cast, func, literal_column, select
from sqlalchemy.dialects.postgresql import aggregate_order_by

from ..artifacts.models import Artifact
from .final_json import HOST_MARK, host_part
from .models import Run, RunStateChange
from .output import ARTIFACT_DATE_FIELDS, ARTIFACT_FIELDS, URL, url_parts

EMPTY = literal_column("'[]'::json")


def _key(name):
    return _text(name)


def _text(value):
    """A constant written into the SQL, not sent as a parameter."""
    return literal_column("'" + value.replace("'", "''") + "'", String)


def _iso(column):
    """``datetime.isoformat()`` of a time in UTC: six digits of fraction,
    none when they are all zero. NULL stays NULL."""
    utc = func.timezone(_text("UTC"), column)
    written = func.to_char(utc, _text('YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'))
    return func.replace(written, _text(".000000+"), _text("+"))


def _object(*pairs):
    return func.json_build_object(*(part for name, value in pairs for part in (_key(name), value)))


def _array(objects, order, where):
    return (
        select(func.coalesce(func.json_agg(aggregate_order_by(objects, order)), EMPTY))
        .where(where)
        .scalar_subquery()
    )


def _statement(filtered, limited, by_sweep=False):
    run, state, artifact = Run.__table__, RunStateChange.__table__, Artifact.__table__
    if by_sweep:  # a sweep's runs: from a sequence on, found by ix_run_sweep_sequence
        page = select(run).where(
            run.c.sweep_uuid == bindparam("sweep_uuid"), run.c.sequence >= bindparam("from_sequence")
        )
    else:
        page = select(run).where(run.c.pipeline_id == bindparam("pipeline_id"))
    if filtered:
        page = page.where(run.c.state == bindparam("state"))
    page = page.order_by(run.c.sequence).offset(bindparam("offset", type_=Integer))
    if limited:
        page = page.limit(bindparam("limit", type_=Integer))
    page = page.subquery("page")

    def artifact_value(name):
        if name == URL:
            return (
                bindparam("url_head", type_=String)
                + page.c.uuid
                + bindparam("url_middle", type_=String)
                + artifact.c.uuid
                + bindparam("url_tail", type_=String)
            )
        column = artifact.c[name]
        return _iso(column) if name in ARTIFACT_DATE_FIELDS else column

    states = _array(
        _object(("state", state.c.state), ("created_at", _iso(state.c.created_at))),
        state.c.id,
        state.c.run_id == page.c.id,
    )
    artifacts = _array(
        _object(*((name, artifact_value(name)) for name in ARTIFACT_FIELDS)),
        artifact.c.id,
        artifact.c.run_id == page.c.id,
    )
    runs = _object(
        ("uuid", page.c.uuid),
        ("pipeline_uuid", bindparam("pipeline_uuid", type_=String)),
        ("sequence", page.c.sequence),
        ("state", page.c.state),
        ("created_at", _iso(page.c.created_at)),
        ("started_at", _iso(page.c.started_at)),
        ("completed_at", _iso(page.c.completed_at)),
        # Stored as the worker reported it, validated (ProgressSchema).
        ("progress", page.c.progress),
        # Stored as validated on creation: a list of {"name", "url"}.
        ("inputs", page.c.inputs),
        ("callback_url", page.c.callback_url),
        # Stored as validated: an object of text values, or NULL for none.
        ("parameters", func.coalesce(page.c.parameters, literal_column("'{}'::json"))),
        ("sweep_uuid", page.c.sweep_uuid),
        ("states", states),
        ("artifacts", artifacts),
    )
    # Finished runs' JSON is stored (final_json.py): COALESCE evaluates
    # ``runs``, and its subqueries, only for the runs still going.
    items = func.string_agg(
        func.coalesce(page.c.final_json, cast(runs, Text)), aggregate_order_by(_text(","), page.c.sequence)
    )
    listing = _text("[") + func.coalesce(items, _text("")) + _text("]")
    return select(
        func.replace(
            listing, func.chr(literal_column(str(ord(HOST_MARK)))), bindparam("host_part", type_=String)
        )
    )


# Built once per shape: with or without a state, with or without a limit,
# of a pipeline or of a sweep.
_STATEMENTS = {
    (filtered, limited, by_sweep): _statement(filtered, limited, by_sweep)
    for filtered in (0, 1)
    for limited in (0, 1)
    for by_sweep in (0, 1)
}


def sweep_page_start(sweep, state, offset):
    """``(from_sequence, offset)`` for a page of a sweep's runs: its runs
    have the sequences from ``first_sequence`` on, one after another, so an
    unfiltered page starts at a sequence and skips nothing."""
    if state is None:
        return sweep.first_sequence + offset, 0
    return sweep.first_sequence, offset


def runs_page_json(connection, pipeline, state=None, limit=None, offset=0, sweep=None):
    """The page's JSON text, as ``queries.list_runs`` would make it; of
    ``sweep``'s runs alone if given."""
    head, middle, tail = url_parts(pipeline.uuid)
    parameters = {
        "pipeline_id": pipeline.id,
        "pipeline_uuid": pipeline.uuid,
        "offset": offset,
        "url_head": head,
        "url_middle": middle,
        "url_tail": tail,
        "host_part": host_part(pipeline.uuid),
    }
    if state is not None:
        parameters["state"] = state
    if limit is not None:
        parameters["limit"] = limit
    if sweep is not None:
        parameters["sweep_uuid"] = sweep.uuid
        parameters["from_sequence"], parameters["offset"] = sweep_page_start(sweep, state, offset)
    statement = _STATEMENTS[state is not None, limit is not None, sweep is not None]
    return connection.execute(statement, parameters).scalar_one()
