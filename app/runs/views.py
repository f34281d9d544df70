"""HTTP endpoints of runs: /v1/pipelines/<uuid>/runs.

The OpenAPI description of each endpoint is the YAML after ``---`` in its
docstring; the shared pieces it refers to are in ``app/openapi.py``.
"""

import dataclasses
import json

from flask import Blueprint, current_app, request

from ..errors import ApiError, Conflict, NotFound
from ..fields import json_body, query_int
from ..permissions import client_only, client_or_worker, is_worker, worker_only
from ..pipelines.queries import get_pipeline
from . import queries, recovery, services
from .attempts import check_attempt, named_attempt
from .events import RunEvents
from .final_json import with_host
from .output import run_output
from .schemas import console_append, console_replace, empty_body, run_create, state_input
from .states import STATE_NAMES, RunState
from .streaming import event_stream

blueprint = Blueprint("runs", __name__, url_prefix="/v1/pipelines/<pipeline_uuid>/runs")
recovery_blueprint = Blueprint("run_recovery", __name__, url_prefix="/v1/runs")


def find_run(pipeline_uuid, run_uuid, include_deleted=False, with_history=False):
    """The run, or 404. ``include_deleted`` also finds the runs of a deleted
    pipeline (``find_worker_run``). ``with_history``
    loads its states and artifacts too, for answers that hold the run."""
    return queries.find_run(pipeline_uuid, run_uuid, include_deleted, with_history)


def find_worker_run(pipeline_uuid, run_uuid):
    """The run a worker calls about, also of a deleted pipeline: a run
    queued or running then was cancelled by the delete, and the worker
    learns it with a 409; any other run of a deleted pipeline is a 404.
    Either way nothing more is stored for it."""
    run = find_run(pipeline_uuid, run_uuid, include_deleted=True)
    refuse_runs_of_deleted_pipelines(run.state, run.pipeline.deleted_at)
    return run


def refuse_runs_of_deleted_pipelines(state, pipeline_deleted_at):
    if pipeline_deleted_at is not None:
        if state == RunState.CANCELLED.value:
            raise Conflict("The run was cancelled: its pipeline was deleted.")
        raise NotFound("Run")


@blueprint.route("", methods=["POST"])
@client_only
def create_run(pipeline_uuid):
    """Start a run of a pipeline.

    `inputs` is required (`[]` for none). Input names are plain file names,
    unique within the run; URLs are http or https (file:// only where the
    API's ALLOW_FILE_URLS allows it). `parameters` (optional) are passed to
    gridlabd as `-D name=value` before the pipeline's arguments. If the task
    queue cannot take the run: 503, and no run is kept.
    ---
    tags: [runs]
    parameters: [PipelineUuid]
    body: RunCreate
    responses:
      201: The new run, NOT_STARTED and queued. => Run
    """
    pipeline = get_pipeline(pipeline_uuid)
    fields = run_create.load(json_body())
    run = services.create_run(
        pipeline, fields.get("inputs", []), fields.get("callback_url"), fields.get("parameters")
    )
    return run_output(run), 201


@blueprint.route("", methods=["GET"])
@client_only
def list_runs(pipeline_uuid):
    """List a pipeline's runs, ordered by sequence, oldest first.
    ---
    tags: [runs]
    parameters: [PipelineUuid, StateFilter, Limit, Offset]
    responses:
      200: A page of runs. => [Run]
    """
    pipeline = get_pipeline(pipeline_uuid)
    state = request.args.get("state")
    if state is not None and state not in STATE_NAMES:
        raise ApiError(400, f"Query parameter 'state' must be one of: {', '.join(STATE_NAMES)}.")
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    page = queries.runs_page(pipeline, state, limit, offset)
    if isinstance(page, str):  # JSON already
        return current_app.response_class(page + "\n", mimetype=current_app.json.mimetype)
    return page


@blueprint.route("/<run_uuid>", methods=["GET"])
@client_only
def get_run(pipeline_uuid, run_uuid):
    """Read a run.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid]
    responses:
      200: The run. => Run
    """
    stored = queries.stored_run_json(pipeline_uuid, run_uuid)  # a finished run's, as it ended
    if stored is not None:
        return current_app.response_class(stored + "\n", mimetype=current_app.json.mimetype)
    return run_output(find_run(pipeline_uuid, run_uuid, with_history=True))


@blueprint.route("/<run_uuid>/events", methods=["GET"])
@client_only
def run_events(pipeline_uuid, run_uuid):
    """Follow a run: its states, console and progress as Server-Sent Events.

    Opens with the run as it is (a `state` event per state so far, the
    console so far as one `console` event, the latest `progress`), then
    sends each new event: `console` (`{"std_out", "std_err"}`, each piece
    of output once, in order), `state` (`{"state", "created_at"}`),
    `progress` (a Progress). Every event has an `id`; a client that
    reconnects with `Last-Event-ID` gets only what came after it. A
    comment line at least every 15 s; the stream ends after the final
    state.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid, LastEventId]
    responses:
      200:
        description: The run's events, until its final state.
        content:
          text/event-stream:
            schema: {$ref: '#/components/schemas/RunEventStream'}
    """
    return event_stream(RunEvents(find_run(pipeline_uuid, run_uuid).id))


@blueprint.route("/<run_uuid>/state", methods=["GET"])
@client_or_worker
def get_state(pipeline_uuid, run_uuid):
    """Read a run's state (client or worker: a worker notices a cancel this way).

    On a deleted pipeline a worker gets 409 for a run the delete cancelled,
    404 for any other. A call naming an
    attempt that is over (Workflow-Run-Attempt) is a 409.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid, RunAttempt]
    responses:
      200: The run's newest state. => State
    errors: [409]
    """
    attempt = named_attempt()
    run = find_worker_run(pipeline_uuid, run_uuid) if is_worker() else find_run(pipeline_uuid, run_uuid)
    check_attempt(run.state, run.attempt, attempt)
    return {"state": run.state}


def changed_run_output(pipeline_uuid, change):
    """The run's JSON after ``change``: the text stored when it ended, which
    is what reading it will give from now on, else built."""
    if change.final_json is not None:
        return json.loads(with_host(change.final_json, pipeline_uuid))
    return run_output(change.run)


@blueprint.route("/<run_uuid>/state", methods=["PUT"])
@worker_only
def change_state(pipeline_uuid, run_uuid):
    """Report a run's new state (worker).

    RUNNING starts the run's next attempt: the answer's `attempt` is the
    number the worker then names in Workflow-Run-Attempt on its later calls.
    A worker's report is also a sign of life for the recovery sweep.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid, RunAttempt]
    body: State
    responses:
      200:
        description: The run in its new state, with its attempt.
        content:
          application/json:
            schema:
              allOf:
              - $ref: '#/components/schemas/Run'
              - type: object
                required:
                - attempt
                properties:
                  attempt:
                    type: integer
                    minimum: 0
                    description: How many times a worker has set the run RUNNING (0 before the first); after
                      a change to RUNNING, the attempt that has the run.
    errors: [409]
    """
    attempt = named_attempt()
    run = find_worker_run(pipeline_uuid, run_uuid)
    new_state = state_input.load(json_body())["state"]
    change = services.change_state(run, new_state, attempt)
    return {**changed_run_output(pipeline_uuid, change), "attempt": change.attempt}


@blueprint.route("/<run_uuid>/cancel", methods=["POST"])
@client_only
def cancel_run(pipeline_uuid, run_uuid):
    """Cancel a run; 409 if it already ended.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid]
    responses:
      200: The run, CANCELLED. => Run
    errors: [409]
    """
    run = find_run(pipeline_uuid, run_uuid)
    change = services.change_state(run, RunState.CANCELLED.value, from_worker=False)
    return changed_run_output(pipeline_uuid, change)


@blueprint.route("/<run_uuid>/console", methods=["GET"])
@client_only
def get_console(pipeline_uuid, run_uuid):
    """Read a run's console output.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid]
    responses:
      200: Standard output and standard error so far. => Console
    """
    return queries.read_console(find_run(pipeline_uuid, run_uuid))


@blueprint.route("/<run_uuid>/console", methods=["PUT"])
@worker_only
def replace_console(pipeline_uuid, run_uuid):
    """Replace a run's console output (worker); 409 once the run has ended
    (or the attempt named is over). Both `std_out` and `std_err` are
    required; `POST` appends.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid, RunAttempt]
    body: ConsoleReplace
    responses:
      200: The console as it is now. => Console
    errors: [409]
    """
    attempt = named_attempt()
    run = queries.run_state_of(pipeline_uuid, run_uuid)
    refuse_runs_of_deleted_pipelines(run.state, run.pipeline_deleted_at)
    console = console_replace.load(json_body())
    services.replace_console(run, console, attempt)
    # What this request stored is the whole console now: no need to read it back.
    return {"std_out": console["std_out"], "std_err": console["std_err"]}


@blueprint.route("/<run_uuid>/console", methods=["POST"])
@worker_only
def append_console(pipeline_uuid, run_uuid):
    """Append to a run's console output (worker); 409 once the run has ended
    (or the attempt named is over).
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid, RunAttempt]
    body: ConsoleAppend
    responses:
      204: Appended.
    errors: [409]
    """
    attempt = named_attempt()
    run = find_worker_run(pipeline_uuid, run_uuid)
    services.append_console(run, console_append.load(json_body()), attempt)
    return "", 204


@blueprint.route("/<run_uuid>/heartbeat", methods=["PUT"])
@worker_only
def heartbeat(pipeline_uuid, run_uuid):
    """Tell the API that the worker running this run is alive (worker).

    Workers send it every WORKER_HEARTBEAT_INTERVAL seconds while they have
    a run; every other report of theirs counts as one too. Recorded only
    while the run is RUNNING: otherwise nothing changes and the answer's
    state tells the worker to stop. No request body; an empty JSON object
    (`{}` with a JSON Content-Type) is accepted too, anything else is a 400.
    ---
    tags: [runs]
    parameters: [PipelineUuid, RunUuid, RunAttempt]
    responses:
      200: The run's state and attempt. => Heartbeat
    errors: [409, 413]
    """
    attempt = named_attempt()
    run = find_worker_run(pipeline_uuid, run_uuid)
    # No body at all, or one that says what it is and holds `{}`.
    if request.content_length or request.headers.get("Transfer-Encoding") or request.mimetype:
        empty_body.load(json_body())
    state, current = services.heartbeat(run, attempt)
    return {"state": state, "attempt": current}


@recovery_blueprint.route("/recover", methods=["POST"])
@worker_only
def recover_runs():
    """Settle the RUNNING runs whose worker has gone silent (worker).

    A run RUNNING with no sign of life from its worker (a report or a
    heartbeat) for RUN_HEARTBEAT_TIMEOUT seconds is queued again, as
    NOT_STARTED, if it has had fewer than RUN_MAX_ATTEMPTS attempts, and
    FAILED otherwise, with the reason as the last line of its std_err. A
    run NOT_STARTED whose task was sent RUN_QUEUE_TIMEOUT seconds ago has
    it sent again (`resent`), in case the task queue lost it; a copy that
    finds its run taken is dropped. A run whose task could not be sent (the
    task queue is down) is left as it was for the next pass: `postponed`.
    The workers' Celery beat calls this every WORKER_RECOVERY_INTERVAL
    seconds; calling it again, or twice at once, is harmless. No request
    body.
    ---
    tags: [runs]
    responses:
      200: What this pass did. => RecoveryReport
    """
    return dataclasses.asdict(recovery.recover_runs())
