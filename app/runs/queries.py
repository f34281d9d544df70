"""Reads of runs and their console."""

from sqlalchemy.orm import selectinload

from roles.models import db

from ..errors import NotFound
from ..ids import is_uuid
from .models import ConsoleChunk, Run


def get_run(pipeline, run_uuid):
    """The run ``run_uuid`` of ``pipeline``, or a 404 (also for another pipeline's run)."""
    if is_uuid(run_uuid):
        run = db.session.execute(
            db.select(Run)
            .where(Run.uuid == run_uuid, Run.pipeline_id == pipeline.id)
            .options(selectinload(Run.states), selectinload(Run.artifacts))
        ).scalar_one_or_none()
        if run is not None:
            return run
    raise NotFound("Run")


def list_runs(pipeline, state=None, limit=None, offset=0):
    """A page of the pipeline's runs, oldest first, in a fixed number of queries."""
    query = (
        db.select(Run)
        .where(Run.pipeline_id == pipeline.id)
        .order_by(Run.sequence)
        .offset(offset)
        .options(selectinload(Run.states), selectinload(Run.artifacts))
    )
    if state is not None:
        query = query.where(Run.state == state)
    if limit is not None:
        query = query.limit(limit)
    return db.session.execute(query).scalars().all()


def current_state(run_id):
    """The state as the database has it now, not as this session saw it."""
    return db.session.execute(db.select(Run.state).where(Run.id == run_id)).scalar_one()


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
