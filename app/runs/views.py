"""HTTP endpoints of runs: /v1/pipelines/<uuid>/runs."""

from flask import Blueprint, request

from ..errors import ApiError
from ..fields import json_body, query_int
from ..permissions import client_only, client_or_worker, is_worker, worker_only
from ..pipelines.queries import get_pipeline
from . import queries, services
from .schemas import (
    console_append,
    console_replace,
    run_create,
    run_output,
    runs_output,
    state_input,
)
from .states import STATE_NAMES, RunState

blueprint = Blueprint("runs", __name__, url_prefix="/v1/pipelines/<pipeline_uuid>/runs")


def find_run(pipeline_uuid, run_uuid, include_deleted=False):
    """The run, or 404. Workers pass ``include_deleted``: a run already
    queued still reports after its pipeline was deleted."""
    return queries.get_run(get_pipeline(pipeline_uuid, include_deleted), run_uuid)


@blueprint.route("", methods=["POST"])
@client_only
def create_run(pipeline_uuid):
    pipeline = get_pipeline(pipeline_uuid)
    fields = run_create.load(json_body())
    run = services.create_run(pipeline, fields.get("inputs", []), fields.get("callback_url"))
    return run_output.dump(run), 201


@blueprint.route("", methods=["GET"])
@client_only
def list_runs(pipeline_uuid):
    pipeline = get_pipeline(pipeline_uuid)
    state = request.args.get("state")
    if state is not None and state not in STATE_NAMES:
        raise ApiError(400, f"Query parameter 'state' must be one of: {', '.join(STATE_NAMES)}.")
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    return runs_output.dump(queries.list_runs(pipeline, state, limit, offset))


@blueprint.route("/<run_uuid>", methods=["GET"])
@client_only
def get_run(pipeline_uuid, run_uuid):
    return run_output.dump(find_run(pipeline_uuid, run_uuid))


@blueprint.route("/<run_uuid>/state", methods=["GET"])
@client_or_worker
def get_state(pipeline_uuid, run_uuid):
    return {"state": find_run(pipeline_uuid, run_uuid, include_deleted=is_worker()).state}


@blueprint.route("/<run_uuid>/state", methods=["PUT"])
@worker_only
def change_state(pipeline_uuid, run_uuid):
    run = find_run(pipeline_uuid, run_uuid, include_deleted=True)
    new_state = state_input.load(json_body())["state"]
    return run_output.dump(services.change_state(run, new_state))


@blueprint.route("/<run_uuid>/cancel", methods=["POST"])
@client_only
def cancel_run(pipeline_uuid, run_uuid):
    run = find_run(pipeline_uuid, run_uuid)
    return run_output.dump(services.change_state(run, RunState.CANCELLED.value))


@blueprint.route("/<run_uuid>/console", methods=["GET"])
@client_only
def get_console(pipeline_uuid, run_uuid):
    return queries.read_console(find_run(pipeline_uuid, run_uuid))


@blueprint.route("/<run_uuid>/console", methods=["PUT"])
@worker_only
def replace_console(pipeline_uuid, run_uuid):
    run = find_run(pipeline_uuid, run_uuid, include_deleted=True)
    services.replace_console(run, console_replace.load(json_body()))
    return queries.read_console(run)


@blueprint.route("/<run_uuid>/console", methods=["POST"])
@worker_only
def append_console(pipeline_uuid, run_uuid):
    run = find_run(pipeline_uuid, run_uuid, include_deleted=True)
    services.append_console(run, console_append.load(json_body()))
    return "", 204
