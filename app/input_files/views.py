"""HTTP endpoints of input files: /v1/pipelines/<uuid>/input_files.

A client uploads a file from its disk and gets a URL that runs take as an
input; the URL answers clients and workers of this service only
(docs/adr/0018-input-files.md).
"""

from flask import Blueprint, request, url_for

from ..artifacts.body import upload_body
from ..artifacts.download import artifact_response
from ..artifacts.names import artifact_name
from ..permissions import client_only, client_or_worker, is_worker
from ..pipelines.queries import get_pipeline
from ..runs.output import iso
from . import queries, services

blueprint = Blueprint("input_files", __name__, url_prefix="/v1/pipelines/<pipeline_uuid>/input_files")


def input_file_output(pipeline, input_file):
    return {
        "uuid": input_file.uuid,
        "name": input_file.name,
        "size": input_file.size,
        "sha256": input_file.sha256,
        "url": url_for(
            "input_files.download_input_file",
            pipeline_uuid=pipeline.uuid,
            file_uuid=input_file.uuid,
            _external=True,
        ),
        "created_at": iso(input_file.created_at),
    }


@blueprint.route("", methods=["POST"])
@client_only
def upload_input_file(pipeline_uuid):
    """Upload a file for runs of the pipeline to take as an input.

    The body is the file's raw bytes, streamed to the artifact storage
    (local disk, or the blob server when BLOB_API_SERVER is set); `name` as
    for artifacts (its last path part is kept). The answer's `url` goes in
    a run's `inputs`; it can be fetched with a client or a worker key only.
    ---
    tags: [input_files]
    parameters: [PipelineUuid, ArtifactName]
    requestBody:
      required: true
      content:
        application/octet-stream:
          schema:
            type: string
            format: binary
    responses:
      201: The stored file. => InputFile
    errors: [502]
    """
    pipeline = get_pipeline(pipeline_uuid)
    name = artifact_name(request.args.get("name"))
    input_file = services.store_input_file(pipeline, name, upload_body())
    return input_file_output(pipeline, input_file), 201


@blueprint.route("/<file_uuid>", methods=["GET"])
@client_or_worker
def download_input_file(pipeline_uuid, file_uuid):
    """Download an uploaded input file (client, or a worker fetching a run's input).

    Ranges, ETag and conditional requests as for artifact downloads. A
    worker still reads the files of a deleted pipeline (its runs may be queued).
    ---
    tags: [input_files]
    parameters: [PipelineUuid, InputFileUuid]
    responses:
      200:
        description: The file's bytes.
        headers:
          Content-Disposition:
            $ref: '#/components/headers/ContentDisposition'
          ETag:
            $ref: '#/components/headers/ETag'
          Accept-Ranges:
            $ref: '#/components/headers/AcceptRanges'
        content:
          '*/*':
            schema:
              type: string
              format: binary
      206:
        description: The byte range asked for.
        content:
          '*/*':
            schema:
              type: string
              format: binary
      304: Not modified (If-None-Match matched the ETag).
    errors: [416, 502]
    """
    pipeline = get_pipeline(pipeline_uuid, include_deleted=is_worker())
    return artifact_response(queries.get_input_file(pipeline, file_uuid))
