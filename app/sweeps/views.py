"""HTTP endpoints of sweeps: /v1/pipelines/<uuid>/sweeps.

The OpenAPI description of each endpoint is the YAML after ``---`` in its
docstring; the shared pieces it refers to are in ``app/openapi.py``.
"""

from flask import Blueprint, Response, current_app, request, stream_with_context

from ..errors import ApiError
from ..fields import json_body, query_int
from ..permissions import client_only
from ..pipelines.queries import get_pipeline
from ..runs.output import artifact_urls
from ..runs.queries import runs_page
from ..runs.states import STATE_NAMES
from ..runs.streaming import event_stream
from . import queries, services
from .events import SweepEvents
from .output import csv_lines, sweep_output
from .schemas import run_parameters, sweep_create

blueprint = Blueprint("sweeps", __name__, url_prefix="/v1/pipelines/<pipeline_uuid>/sweeps")


def _found(pipeline_uuid, sweep_uuid):
    pipeline = get_pipeline(pipeline_uuid)
    return pipeline, queries.find_sweep(pipeline, sweep_uuid)


@blueprint.route("", methods=["POST"])
@client_only
def create_sweep(pipeline_uuid):
    """Start a sweep: one run of the pipeline per combination of
    `parameters` (the cartesian product, the last name varying fastest) or
    per item of `rows`.

    Exactly one of the two; 1 to 10,000 runs. Every run gets the `inputs`
    and `callback_url`, and its parameters as `-D name=value`. The runs are
    ordinary runs of the pipeline, numbered one after another. If the task
    queue cannot take them: 503, and nothing is kept.
    ---
    tags: [sweeps]
    parameters: [PipelineUuid]
    body: SweepCreate
    responses:
      201: The new sweep, its runs NOT_STARTED and queued. => Sweep
    """
    pipeline = get_pipeline(pipeline_uuid)
    fields = sweep_create.load(json_body())
    made_from = {name: fields[name] for name in ("parameters", "rows") if name in fields}
    sweep = services.create_sweep(
        pipeline, fields.get("inputs", []), fields.get("callback_url"), made_from, run_parameters(fields)
    )
    return sweep_output(sweep, queries.fresh_summary(sweep)), 201


@blueprint.route("", methods=["GET"])
@client_only
def list_sweeps(pipeline_uuid):
    """List a pipeline's sweeps, oldest first.
    ---
    tags: [sweeps]
    parameters: [PipelineUuid, Limit, Offset]
    responses:
      200: A page of sweeps. => [Sweep]
    """
    pipeline = get_pipeline(pipeline_uuid)
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    return [sweep_output(sweep, summary) for sweep, summary in queries.list_sweeps(pipeline, limit, offset)]


@blueprint.route("/<sweep_uuid>", methods=["GET"])
@client_only
def get_sweep(pipeline_uuid, sweep_uuid):
    """Read a sweep, with its runs' counts per state and its state.
    ---
    tags: [sweeps]
    parameters: [PipelineUuid, SweepUuid]
    responses:
      200: The sweep. => Sweep
    """
    _, sweep = _found(pipeline_uuid, sweep_uuid)
    return sweep_output(sweep, queries.sweep_summary(sweep))


@blueprint.route("/<sweep_uuid>/events", methods=["GET"])
@client_only
def sweep_events(pipeline_uuid, sweep_uuid):
    """Follow a sweep: its runs' state changes and its counts, as Server-Sent Events.

    Opens with a `counts` event (`{"counts", "state"}`), then sends each
    state change of one of its runs as a `run` event (`{"run_uuid",
    "sequence", "state", "created_at"}`) followed by the counts as they
    are. Every event's `id` is the last state change sent; `Last-Event-ID`
    resumes after it. A comment line at least every 15 s; the stream ends
    once the sweep is final.
    ---
    tags: [sweeps]
    parameters: [PipelineUuid, SweepUuid, GroupLastEventId]
    responses:
      200:
        description: The sweep's events, until it is final.
        content:
          text/event-stream:
            schema: {$ref: '#/components/schemas/GroupEventStream'}
    """
    _, sweep = _found(pipeline_uuid, sweep_uuid)
    return event_stream(SweepEvents(sweep.uuid))


@blueprint.route("/<sweep_uuid>/runs", methods=["GET"])
@client_only
def list_sweep_runs(pipeline_uuid, sweep_uuid):
    """List a sweep's runs in order (by sequence), as runs are listed.
    ---
    tags: [sweeps]
    parameters: [PipelineUuid, SweepUuid, StateFilter, Limit, Offset]
    responses:
      200: A page of the sweep's runs. => [Run]
    """
    pipeline, sweep = _found(pipeline_uuid, sweep_uuid)
    state = request.args.get("state")
    if state is not None and state not in STATE_NAMES:
        raise ApiError(400, f"Query parameter 'state' must be one of: {', '.join(STATE_NAMES)}.")
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    page = runs_page(pipeline, state, limit, offset, sweep=sweep)
    if isinstance(page, str):  # JSON already
        return current_app.response_class(page + "\n", mimetype=current_app.json.mimetype)
    return page


@blueprint.route("/<sweep_uuid>/cancel", methods=["POST"])
@client_only
def cancel_sweep(pipeline_uuid, sweep_uuid):
    """Cancel every run of the sweep that is not final; 409 if the sweep is final already.
    ---
    tags: [sweeps]
    parameters: [PipelineUuid, SweepUuid]
    responses:
      200: The sweep, CANCELLED. => Sweep
    errors: [409]
    """
    _, sweep = _found(pipeline_uuid, sweep_uuid)
    sweep = services.cancel_sweep(sweep)
    return sweep_output(sweep, queries.sweep_summary(sweep))


@blueprint.route("/<sweep_uuid>/results.csv", methods=["GET"])
@client_only
def sweep_results(pipeline_uuid, sweep_uuid):
    """The sweep's results as CSV, streamed: one row per run, in order.

    Columns: `sequence`, `run_uuid`, `state`, one per parameter, `started_at`,
    `completed_at`, then one per artifact name (sorted) holding the download
    URL of the run's artifact of that name (empty if it has none).
    ---
    tags: [sweeps]
    parameters: [PipelineUuid, SweepUuid]
    responses:
      200:
        description: The CSV text.
        content:
          text/csv:
            schema:
              type: string
    """
    pipeline, sweep = _found(pipeline_uuid, sweep_uuid)
    names = queries.artifact_names(sweep)
    url = artifact_urls(pipeline.uuid)
    lines = csv_lines(sweep, names, queries.result_rows(sweep), url)
    return Response(
        stream_with_context(lines),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="sweep-{sweep.uuid}.csv"'},
    )
