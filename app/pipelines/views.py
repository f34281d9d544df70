"""HTTP endpoints of pipelines: /v1/pipelines."""

from flask import Blueprint

from ..fields import json_body, query_int
from ..permissions import client_only
from . import queries, services
from .schemas import pipeline_input, pipeline_output, pipeline_search, pipelines_output

blueprint = Blueprint("pipelines", __name__, url_prefix="/v1/pipelines")


@blueprint.route("", methods=["POST"])
@client_only
def create_pipeline():
    pipeline = services.create_pipeline(pipeline_input.load(json_body()))
    return pipeline_output.dump(pipeline), 201


@blueprint.route("", methods=["GET"])
@client_only
def list_pipelines():
    limit = query_int("limit", 1, 1000)
    offset = query_int("offset", 0, 2**31 - 1, default=0)
    return pipelines_output.dump(queries.list_pipelines(limit, offset))


@blueprint.route("/search", methods=["POST"])
@client_only
def search_pipelines():
    uuids = pipeline_search.load(json_body())["uuids"]
    return pipelines_output.dump(queries.find_pipelines(uuids))


@blueprint.route("/<pipeline_uuid>", methods=["GET"])
@client_only
def get_pipeline(pipeline_uuid):
    return pipeline_output.dump(queries.get_pipeline(pipeline_uuid))


@blueprint.route("/<pipeline_uuid>", methods=["PUT"])
@client_only
def replace_pipeline(pipeline_uuid):
    pipeline = queries.get_pipeline(pipeline_uuid)
    fields = pipeline_input.load(json_body())
    return pipeline_output.dump(services.replace_pipeline(pipeline, fields))


@blueprint.route("/<pipeline_uuid>", methods=["DELETE"])
@client_only
def delete_pipeline(pipeline_uuid):
    services.delete_pipeline(queries.get_pipeline(pipeline_uuid))
    return "", 204
