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
    operationId: create_pipeline
    tags: [pipelines]
    x-permissions: [PIPELINES_CLIENT]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/PipelineInput'}
    responses:
      201:
        description: The new pipeline.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pipeline'}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      413: {$ref: '#/components/responses/PayloadTooLarge'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    pipeline = services.create_pipeline(pipeline_input.load(json_body()))
    return pipeline_output.dump(pipeline), 201


@blueprint.route("", methods=["GET"])
@client_only
def list_pipelines():
    """List the pipelines, oldest first.
    ---
    operationId: list_pipelines
    tags: [pipelines]
    x-permissions: [PIPELINES_CLIENT]
    parameters:
      - $ref: '#/components/parameters/Limit'
      - $ref: '#/components/parameters/Offset'
    responses:
      200:
        description: A page of pipelines.
        content:
          application/json:
            schema:
              type: array
              items: {$ref: '#/components/schemas/Pipeline'}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
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
    operationId: search_pipelines
    tags: [pipelines]
    x-permissions: [PIPELINES_CLIENT]
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/PipelineSearch'}
    responses:
      200:
        description: The pipelines among those uuids that exist, oldest first.
        content:
          application/json:
            schema:
              type: array
              items: {$ref: '#/components/schemas/Pipeline'}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      413: {$ref: '#/components/responses/PayloadTooLarge'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    uuids = pipeline_search.load(json_body())["uuids"]
    return pipelines_output.dump(queries.find_pipelines(uuids))


@blueprint.route("/<pipeline_uuid>", methods=["GET"])
@client_only
def get_pipeline(pipeline_uuid):
    """Read a pipeline.
    ---
    operationId: get_pipeline
    tags: [pipelines]
    x-permissions: [PIPELINES_CLIENT]
    parameters:
      - $ref: '#/components/parameters/PipelineUuid'
    responses:
      200:
        description: The pipeline.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pipeline'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    return queries.read_pipeline(pipeline_uuid)


@blueprint.route("/<pipeline_uuid>", methods=["PUT"])
@client_only
def replace_pipeline(pipeline_uuid):
    """Replace a pipeline (a full update).

    Fields left out go back to their defaults; `name` is required.
    ---
    operationId: replace_pipeline
    tags: [pipelines]
    x-permissions: [PIPELINES_CLIENT]
    parameters:
      - $ref: '#/components/parameters/PipelineUuid'
    requestBody:
      required: true
      content:
        application/json:
          schema: {$ref: '#/components/schemas/PipelineInput'}
    responses:
      200:
        description: The pipeline as it is now.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Pipeline'}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      413: {$ref: '#/components/responses/PayloadTooLarge'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    pipeline = queries.get_pipeline(pipeline_uuid)
    fields = pipeline_input.load(json_body())
    return pipeline_output.dump(services.replace_pipeline(pipeline, fields))


@blueprint.route("/<pipeline_uuid>", methods=["DELETE"])
@client_only
def delete_pipeline(pipeline_uuid):
    """Delete a pipeline (soft delete: later reads of it and its runs are 404s).
    ---
    operationId: delete_pipeline
    tags: [pipelines]
    x-permissions: [PIPELINES_CLIENT]
    parameters:
      - $ref: '#/components/parameters/PipelineUuid'
    responses:
      204:
        description: Deleted.
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    services.delete_pipeline(queries.get_pipeline(pipeline_uuid))
    return "", 204
