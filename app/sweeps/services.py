"""Writes of sweeps: creating one (its runs and their tasks, in bulk) and
cancelling one.

Creation costs a fixed number of statements however many runs: the
pipeline's counter reserves one block of sequences (its row lock orders
concurrent creations, as for single runs), the sweep is inserted, then
every run from one JSON parameter and every first state from one
INSERT ... SELECT; after the commit one bulk publish sends the tasks
(``Broker.send_many``; enqueue after commit, docs/adr/0005).
"""

import json

from sqlalchemy import bindparam, text

from roles.models import db, utcnow

from ..broker import DELIVER_CALLBACK, EXECUTE_PIPELINE, broker
from ..errors import Conflict, ServiceUnavailable
from ..ids import new_uuid
from ..pipelines.models import Pipeline
from ..runs.final_json import store_final_json
from ..runs.models import Run, RunStateChange
from ..runs.services import kept_after_commit, task_arguments
from ..runs.states import FINAL_STATES, RunState
from .models import Sweep
from .queries import sweep_summary

_RUN_TYPES = {
    "now": Run.created_at.type,
    "inputs": Run.inputs.type,
}

# One statement for every run of the sweep: ``items`` is a JSON array of
# {"uuid", "parameters"} in order; the n-th (from 0) gets first + n.
_INSERT_RUNS = {
    "postgresql": text(
        "INSERT INTO run (uuid, pipeline_id, sequence, state, inputs, callback_url, parameters,"
        " sweep_uuid, created_at, attempt)"
        " SELECT item->>'uuid', :pipeline_id, :first_sequence + position::int - 1, 'NOT_STARTED',"
        " :inputs, :callback_url, item->'parameters', :sweep_uuid, :now, 0"
        " FROM json_array_elements(CAST(:items AS json)) WITH ORDINALITY AS t(item, position)"
    ),
    "sqlite": text(
        "INSERT INTO run (uuid, pipeline_id, sequence, state, inputs, callback_url, parameters,"
        " sweep_uuid, created_at, attempt)"
        " SELECT json_extract(value, '$.uuid'), :pipeline_id, :first_sequence + key, 'NOT_STARTED',"
        " :inputs, :callback_url, json_extract(value, '$.parameters'), :sweep_uuid, :now, 0"
        " FROM json_each(:items) ORDER BY key"
    ),
}
_INSERT_FIRST_STATES = text(
    "INSERT INTO run_state (run_id, state, created_at)"
    " SELECT id, 'NOT_STARTED', :now FROM run WHERE sweep_uuid = :sweep_uuid ORDER BY id"
)


def _typed(statement, names):
    return statement.bindparams(*(bindparam(name, type_=_RUN_TYPES[name]) for name in names))


def create_sweep(pipeline, inputs, callback_url, made_from, run_parameters):
    """Record the sweep and its runs in one transaction, then send their
    tasks in one bulk publish; with the broker down, keep nothing and 503.

    ``made_from`` is ``{"parameters": ...}`` or ``{"rows": ...}``, as
    validated; ``run_parameters`` each run's parameters, in order.
    """
    now = utcnow()
    count = len(run_parameters)
    connection = db.session.connection()
    pipelines = Pipeline.__table__
    last = connection.execute(
        db.update(pipelines)
        .where(pipelines.c.id == pipeline.id)
        .values(last_run_sequence=pipelines.c.last_run_sequence + count, updated_at=now)
        .returning(pipelines.c.last_run_sequence)
    ).scalar_one()
    first_sequence = last - count + 1
    sweep = Sweep(
        uuid=new_uuid(),
        pipeline_id=pipeline.id,
        inputs=inputs,
        callback_url=callback_url,
        parameters=made_from.get("parameters"),
        rows=made_from.get("rows"),
        run_count=count,
        first_sequence=first_sequence,
        created_at=now,
    )
    connection.execute(
        db.insert(Sweep.__table__).values(
            {column: getattr(sweep, column) for column in Sweep.__table__.columns.keys() if column != "id"}
        )
    )
    run_uuids = [new_uuid() for _ in range(count)]
    items = json.dumps(
        [
            {"uuid": run_uuid, "parameters": values}
            for run_uuid, values in zip(run_uuids, run_parameters, strict=True)
        ]
    )
    insert_runs = _typed(_INSERT_RUNS[connection.dialect.name], ("now", "inputs"))
    connection.execute(
        insert_runs,
        {
            "pipeline_id": pipeline.id,
            "first_sequence": first_sequence,
            "inputs": inputs,
            "callback_url": callback_url,
            "sweep_uuid": sweep.uuid,
            "now": now,
            "items": items,
        },
    )
    connection.execute(_typed(_INSERT_FIRST_STATES, ("now",)), {"now": now, "sweep_uuid": sweep.uuid})
    with kept_after_commit():  # the pipeline is needed below, as it was read
        db.session.commit()
    # Every run's task alike, but for its uuid and parameters.
    common = task_arguments(pipeline, Run(uuid=None, inputs=inputs, parameters=None))
    tasks = [
        {**common, "run_uuid": run_uuid, "parameters": values}
        for run_uuid, values in zip(run_uuids, run_parameters, strict=True)
    ]
    try:
        broker.send_many(EXECUTE_PIPELINE, tasks)
    except ServiceUnavailable:
        _remove(sweep.uuid)
        raise
    sweep.pipeline = pipeline
    return sweep


def _remove(sweep_uuid):
    """Undo a sweep whose tasks could not be sent."""
    runs = db.select(Run.id).where(Run.sweep_uuid == sweep_uuid).scalar_subquery()
    db.session.execute(db.delete(RunStateChange).where(RunStateChange.run_id.in_(runs)))
    db.session.execute(db.delete(Run).where(Run.sweep_uuid == sweep_uuid))
    db.session.execute(db.delete(Sweep).where(Sweep.uuid == sweep_uuid))
    db.session.commit()


_NOT_FINAL = [state.value for state in RunState if state not in FINAL_STATES]


def cancel_sweep(sweep):
    """CANCELLED for every run of the sweep that is not final; 409 when
    every run already is (the sweep is final). Runs that a worker has stop
    at its next state check, as for one cancelled run."""
    sweeps, runs = Sweep.__table__, Run.__table__
    now = utcnow()
    # The sweep's row first: two cancels at once queue here.
    db.session.execute(db.update(sweeps).where(sweeps.c.id == sweep.id).values(cancelled_at=now))
    summary = sweep_summary(sweep)
    if RunState(summary["state"]) in FINAL_STATES:
        db.session.rollback()
        raise Conflict(f"The sweep is {summary['state']}; it can no longer be cancelled.")
    cancelled = db.session.execute(
        db.update(runs)
        .where(runs.c.sweep_uuid == sweep.uuid, runs.c.state.in_(_NOT_FINAL))
        .values(state=RunState.CANCELLED.value, completed_at=now)
        .returning(runs.c.id, runs.c.uuid, runs.c.callback_url)
    ).all()
    if cancelled:
        db.session.execute(
            db.insert(RunStateChange.__table__),
            [{"run_id": run.id, "state": RunState.CANCELLED.value, "created_at": now} for run in cancelled],
        )
        store_final_json([run.id for run in cancelled])
    db.session.commit()
    callbacks = [
        {"url": run.callback_url, "pipeline_run_uuid": run.uuid, "state": RunState.CANCELLED.value}
        for run in cancelled
        if run.callback_url
    ]
    try:
        broker.send_many(DELIVER_CALLBACK, callbacks)
    except ServiceUnavailable:
        pass  # as for one run: a dead task queue never undoes a state change
    db.session.refresh(sweep)
    return sweep
