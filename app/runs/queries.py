"""Reads of runs and their console."""

from sqlalchemy import bindparam
from sqlalchemy.orm import contains_eager, selectinload

from roles.models import db

from ..artifacts.models import Artifact
from ..database import statement_connection
from ..errors import NotFound
from ..ids import is_uuid
from ..pipelines.models import Pipeline
from ..pipelines.queries import get_pipeline
from .final_json import with_host
from .listing import runs_page_json, sweep_page_start
from .models import ConsoleChunk, Run, RunStateChange
from .output import ARTIFACT_ATTRIBUTES, runs_output
from .states import RunState


def _find_run_query(include_deleted, with_history):
    query = (
        db.select(Run)
        .join(Run.pipeline)
        .options(contains_eager(Run.pipeline))
        .where(Run.uuid == bindparam("run_uuid"), Pipeline.uuid == bindparam("pipeline_uuid"))
    )
    if not include_deleted:
        query = query.where(Pipeline.deleted_at.is_(None))
    if with_history:
        query = query.options(selectinload(Run.states), selectinload(Run.artifacts))
    return query


# Built once: most requests of runs start here.
_FIND_RUN = {
    (deleted, history): _find_run_query(deleted, history) for deleted in (0, 1) for history in (0, 1)
}


def find_run(pipeline_uuid, run_uuid, include_deleted=False, with_history=False):
    """The run ``run_uuid`` of the pipeline ``pipeline_uuid``, with its
    pipeline, in one query; or a 404 for whichever of the two is missing
    (a run of another pipeline is missing too).

    ``include_deleted`` also finds the runs of a deleted pipeline;
    ``with_history`` loads the run's states and artifacts as well (two
    more queries), for answers that hold the whole run.
    """
    if is_uuid(pipeline_uuid) and is_uuid(run_uuid):
        query = _FIND_RUN[bool(include_deleted), bool(with_history)]
        run = db.session.execute(query, {"run_uuid": run_uuid, "pipeline_uuid": pipeline_uuid})
        run = run.scalar_one_or_none()
        if run is not None:
            return run
    get_pipeline(pipeline_uuid, include_deleted)  # a 404 that names the pipeline if it is what is missing
    raise NotFound("Run")


_RUNS, _PIPELINES = Run.__table__, Pipeline.__table__
_STATE_OF = (
    db.select(
        _RUNS.c.id, _RUNS.c.state, _RUNS.c.attempt, _PIPELINES.c.deleted_at.label("pipeline_deleted_at")
    )
    .join(_PIPELINES, _PIPELINES.c.id == _RUNS.c.pipeline_id)
    .where(_RUNS.c.uuid == bindparam("run_uuid"), _PIPELINES.c.uuid == bindparam("pipeline_uuid"))
)


def run_state_of(pipeline_uuid, run_uuid):
    """``(id, state, attempt, pipeline_deleted_at)`` of the run, its pipeline deleted or not (as
    workers see runs), in one query without the ORM; or a 404 as ``find_run``'s.
    On PostgreSQL outside a transaction (``statement_connection``)."""
    if is_uuid(pipeline_uuid) and is_uuid(run_uuid):
        row = statement_connection().execute(
            _STATE_OF, {"run_uuid": run_uuid, "pipeline_uuid": pipeline_uuid}
        )
        row = row.first()
        if row is not None:
            return row
    return find_run(pipeline_uuid, run_uuid, include_deleted=True)


_STORED_JSON = (
    db.select(Run.__table__.c.final_json)
    .join(Pipeline.__table__, Pipeline.__table__.c.id == Run.__table__.c.pipeline_id)
    .where(
        Run.__table__.c.uuid == bindparam("run_uuid"),
        Pipeline.__table__.c.uuid == bindparam("pipeline_uuid"),
        Pipeline.__table__.c.deleted_at.is_(None),
    )
)


def stored_run_json(pipeline_uuid, run_uuid):
    """A finished run's JSON text, as stored when it ended (``final_json.py``)
    with this request's host put in; one query, no ORM. None when there is
    none (the run is not finished, or not found): ``find_run`` then answers."""
    if not (is_uuid(pipeline_uuid) and is_uuid(run_uuid)):
        return None
    connection = db.session.connection()
    text = connection.execute(_STORED_JSON, {"run_uuid": run_uuid, "pipeline_uuid": pipeline_uuid}).scalar()
    if text is None:
        return None
    return with_host(text, pipeline_uuid)


RUN_COLUMNS = (
    Run.id,
    Run.uuid,
    Run.sequence,
    Run.state,
    Run.created_at,
    Run.started_at,
    Run.completed_at,
    Run.inputs,
    Run.callback_url,
    Run.parameters,
    Run.sweep_uuid,
    Run.progress,
)


def runs_page(pipeline, state=None, limit=None, offset=0, sweep=None):
    """A page of the pipeline's runs (of ``sweep``'s alone if given),
    oldest first: JSON text made by the database on PostgreSQL
    (``listing.py``), else ``list_runs``' list."""
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        return runs_page_json(connection, pipeline, state, limit, offset, sweep)
    return list_runs(pipeline, state, limit, offset, sweep)


def list_runs(pipeline, state=None, limit=None, offset=0, sweep=None):
    """A page of the pipeline's runs as JSON, oldest first.

    Three queries however long the page or the pipeline's history: the
    runs, then the states and the artifacts of the runs of that same page,
    selected by the page's query as a subquery. Plain rows, not ORM objects:
    a page of 1,000 runs holds 6,000 of them.
    """
    chosen = db.select(Run.id).where(Run.pipeline_id == pipeline.id)
    if sweep is not None:
        from_sequence, offset = sweep_page_start(sweep, state, offset)
        chosen = chosen.where(Run.sweep_uuid == sweep.uuid, Run.sequence >= from_sequence)
    if state is not None:
        chosen = chosen.where(Run.state == state)
    page = chosen.order_by(Run.sequence).offset(offset)
    if limit is not None:
        page = page.limit(limit)
    connection = db.session.connection()
    runs = connection.execute(page.with_only_columns(*RUN_COLUMNS)).all()
    if not runs:
        return []
    # The whole history needs no ordering to say which runs it holds.
    page_ids = (page if limit is not None or offset else chosen).scalar_subquery()
    states = connection.execute(
        db.select(RunStateChange.run_id, RunStateChange.state, RunStateChange.created_at)
        .where(RunStateChange.run_id.in_(page_ids))
        .order_by(RunStateChange.id)
    ).all()
    artifacts = connection.execute(
        db.select(Artifact.run_id, *(getattr(Artifact, name) for name in ARTIFACT_ATTRIBUTES))
        .where(Artifact.run_id.in_(page_ids))
        .order_by(Artifact.id)
    ).all()
    return runs_output(pipeline.uuid, runs, states, artifacts)


def current_state(run_id, lock=False):
    """The state as the database has it now, not as this session saw it.

    ``lock`` holds the run's row until the transaction ends, so that its
    state cannot change meanwhile (a state change updates that row).
    """
    query = db.select(Run.state).where(Run.id == run_id)
    if lock:
        query = query.with_for_update()
    return db.session.execute(query).scalar_one()


def silent_since(cutoff):
    """The condition "no sign of life from the run's worker since ``cutoff``":
    its last report, or its start for a run that has none (started before
    heartbeats were recorded). Written so that ``ix_run_state_heartbeat``
    serves it."""
    return db.or_(
        Run.heartbeat_at < cutoff,
        db.and_(Run.heartbeat_at.is_(None), Run.started_at < cutoff),
    )


def silent_runs(cutoff, after_id=0, limit=100):
    """RUNNING runs silent since ``cutoff``, by id, the first ``limit`` after
    ``after_id``; each with its pipeline (deleted or not: its runs still run)."""
    return _runs_by_id(RunState.RUNNING, silent_since(cutoff), after_id, limit)


def _runs_by_id(state, condition, after_id, limit):
    """The sweep's batches: runs in ``state`` meeting ``condition``, by id,
    the first ``limit`` after ``after_id``."""
    return (
        db.session.execute(
            db.select(Run)
            .where(Run.state == state.value, condition, Run.id > after_id)
            .order_by(Run.id)
            .limit(limit)
        )
        .scalars()
        .all()
    )


def waiting_since(cutoff):
    """The condition "NOT_STARTED runs' task last sent before ``cutoff``":
    ``heartbeat_at`` once the sweep has sent it again, else its creation."""
    return db.or_(
        Run.heartbeat_at < cutoff,
        db.and_(Run.heartbeat_at.is_(None), Run.created_at < cutoff),
    )


def waiting_runs(cutoff, after_id=0, limit=100):
    """NOT_STARTED runs whose task was last sent before ``cutoff``, by id,
    the first ``limit`` after ``after_id``; each with its pipeline."""
    return _runs_by_id(RunState.NOT_STARTED, waiting_since(cutoff), after_id, limit)


def std_err_at_line_start(run_id):
    """Whether the run's std_err is empty or ends a line: where a line of
    the service's own can be appended."""
    last = db.session.execute(
        db.select(ConsoleChunk.text)
        .where(ConsoleChunk.run_id == run_id, ConsoleChunk.stream == "std_err")
        .order_by(ConsoleChunk.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    return last is None or last.endswith("\n")


def read_console(run):
    """``{"std_out": ..., "std_err": ...}`` joined from the run's chunks."""
    rows = db.session.execute(
        db.select(ConsoleChunk.stream, ConsoleChunk.text)
        .where(ConsoleChunk.run_id == run.id)
        .order_by(ConsoleChunk.id)
    ).all()
    console = {"std_out": [], "std_err": []}
    for stream, text in rows:
        console[stream].append(text)
    return {stream: "".join(parts) for stream, parts in console.items()}
