"""HTTP endpoints of pipelines: /v1/pipelines.

The OpenAPI description of each endpoint is the YAML after ``---`` in its
docstring; the shared pieces it refers to are in ``app/openapi.py``.
"""

from flask import Blueprint

from ..fields import json_body, query_int
from ..permissions import client_only
from . import queries, services
from .schemas import pipeline_input, pipeline_output, pipeline_search, pipelines_output

blueprint = Blueprint("pipelines", __name__, url_prefix="/v1/pipelines")


@blueprint.route("", methods=["POST"])
@client_only
def create_pipeline():
    """Define a pipeline.
    ---
    tags: [pipelines]
    body: PipelineInput
    responses:
      201: The new pipeline. => Pipeline
    """
    pipeline = services.create_pipeline(pipeline_input.load(json_body()))
    return pipeline_output.dump(pipeline), 201


@blueprint.route("", methods=["GET"])
@client_only
def list_pipelines():
    """List the pipelines, oldest first.
    ---
    tags: [pipelines]
    parameters: [Limit, Offset]
    responses:
      200: A page of pipelines. => [Pipeline]
    """
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    return pipelines_output.dump(queries.list_pipelines(limit, offset))


@blueprint.route("/search", methods=["POST"])
@client_only
def search_pipelines():
    """Find pipelines by uuid.

    Unknown and deleted pipelines are left out; at most 1,000 uuids a call.
    ---
    tags: [pipelines]
    body: PipelineSearch
    responses:
      200: The pipelines among those uuids that exist, oldest first. => [Pipeline]
    """
    uuids = pipeline_search.load(json_body())["uuids"]
    return pipelines_output.dump(queries.find_pipelines(uuids))


@blueprint.route("/<pipeline_uuid>", methods=["GET"])
@client_only
def get_pipeline(pipeline_uuid):
    """Read a pipeline.
    ---
    tags: [pipelines]
    parameters: [PipelineUuid]
    responses:
      200: The pipeline. => Pipeline
    """
    return queries.read_pipeline(pipeline_uuid)


@blueprint.route("/<pipeline_uuid>", methods=["PUT"])
@client_only
def replace_pipeline(pipeline_uuid):
    """Replace a pipeline (a full update).

    Fields left out go back to their defaults; `name` is required.
    ---
    tags: [pipelines]
    parameters: [PipelineUuid]
    body: PipelineInput
    responses:
      200: The pipeline as it is now. => Pipeline
    """
    pipeline = queries.get_pipeline(pipeline_uuid)
    fields = pipeline_input.load(json_body())
    return pipeline_output.dump(services.replace_pipeline(pipeline, fields))


@blueprint.route("/<pipeline_uuid>", methods=["DELETE"])
@client_only
def delete_pipeline(pipeline_uuid):
    """Delete a pipeline (soft delete: later reads of it and its runs are 404s).
    ---
    tags: [pipelines]
    parameters: [PipelineUuid]
    responses:
      204: Deleted.
    """
    services.delete_pipeline(queries.get_pipeline(pipeline_uuid))
    return "", 204
