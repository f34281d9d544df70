"""HTTP endpoints of artifacts: upload (worker) and download (client).

The OpenAPI description of each endpoint is the YAML after ``---`` in its
docstring; the shared pieces it refers to are in ``app/openapi.py``.
"""

import mimetypes

from flask import Blueprint, request, send_file

from ..permissions import client_only, worker_only
from ..runs.views import find_run
from . import queries, services
from .body import upload_body
from .names import artifact_name
from .schemas import artifact_output
from .storage import get_storage

blueprint = Blueprint(
    "artifacts", __name__, url_prefix="/v1/pipelines/<pipeline_uuid>/runs/<run_uuid>/artifacts"
)


@blueprint.route("", methods=["POST"])
@worker_only
def upload_artifact(pipeline_uuid, run_uuid):
    """Upload a file a run produced (worker); 409 unless the run is RUNNING.

    The body is the file's raw bytes (whatever its Content-Type), streamed to storage.
    ---
    operationId: upload_artifact
    tags: [artifacts]
    x-permissions: [PIPELINES_WORKER]
    parameters:
      - $ref: '#/components/parameters/PipelineUuid'
      - $ref: '#/components/parameters/RunUuid'
      - $ref: '#/components/parameters/ArtifactName'
    requestBody:
      required: true
      content:
        application/octet-stream:
          schema: {type: string, format: binary}
    responses:
      201:
        description: The stored artifact.
        content:
          application/json:
            schema: {$ref: '#/components/schemas/Artifact'}
      400: {$ref: '#/components/responses/BadRequest'}
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      409: {$ref: '#/components/responses/Conflict'}
      413: {$ref: '#/components/responses/PayloadTooLarge'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    run = find_run(pipeline_uuid, run_uuid, include_deleted=True)
    name = artifact_name(request.args.get("name"))
    artifact = services.store_artifact(run, name, upload_body())
    return artifact_output.dump(artifact), 201


@blueprint.route("/<artifact_uuid>", methods=["GET"])
@client_only
def download_artifact(pipeline_uuid, run_uuid, artifact_uuid):
    """Download an artifact's bytes.

    The content type is guessed from the name; `Content-Disposition: attachment`.
    A conditional request (`If-None-Match` with the ETag) can get a 304.
    ---
    operationId: download_artifact
    tags: [artifacts]
    x-permissions: [PIPELINES_CLIENT]
    parameters:
      - $ref: '#/components/parameters/PipelineUuid'
      - $ref: '#/components/parameters/RunUuid'
      - $ref: '#/components/parameters/ArtifactUuid'
    responses:
      200:
        description: The artifact's bytes.
        headers:
          Content-Disposition:
            schema: {type: string}
          ETag:
            description: The artifact's sha256.
            schema: {type: string}
        content:
          '*/*':
            schema: {type: string, format: binary}
      304:
        description: Not modified (If-None-Match matched the ETag).
      401: {$ref: '#/components/responses/Unauthorized'}
      403: {$ref: '#/components/responses/Forbidden'}
      404: {$ref: '#/components/responses/NotFound'}
      503: {$ref: '#/components/responses/ServiceUnavailable'}
    """
    artifact = queries.get_artifact(find_run(pipeline_uuid, run_uuid), artifact_uuid)
    content_type = mimetypes.guess_type(artifact.name)[0] or "application/octet-stream"
    return send_file(
        get_storage().open(artifact.storage_key),
        mimetype=content_type,
        as_attachment=True,
        download_name=artifact.name,
        etag=artifact.sha256,
        conditional=True,
        max_age=None,
    )
