"""HTTP endpoints of artifacts: upload (worker), download (client), expiry (worker).

The OpenAPI description of each endpoint is the YAML after ``---`` in its
docstring; the shared pieces it refers to are in ``app/openapi.py``.
"""

from datetime import UTC

from flask import Blueprint, request

from ..errors import ApiError
from ..permissions import client_or_worker, is_client, worker_only
from ..runs.attempts import check_attempt, named_attempt
from ..runs.output import artifact_json, artifact_urls
from ..runs.views import find_run, find_worker_run
from . import queries, services
from .body import upload_body
from .download import artifact_response
from .names import artifact_name

blueprint = Blueprint(
    "artifacts", __name__, url_prefix="/v1/pipelines/<pipeline_uuid>/runs/<run_uuid>/artifacts"
)
retention_blueprint = Blueprint("artifact_retention", __name__, url_prefix="/v1/artifacts")


def _iso(moment):
    """ISO 8601 in UTC, as the JSON bodies give times; SQLite's are naive UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


@blueprint.route("", methods=["POST"])
@worker_only
def upload_artifact(pipeline_uuid, run_uuid):
    """Upload a file a run produced (worker); 409 unless the run is RUNNING
    (or when the attempt named in Workflow-Run-Attempt is over).

    The body is the file's raw bytes (whatever its Content-Type), streamed to
    storage (local disk, or the blob server when BLOB_API_SERVER is set). When
    the blob server fails: 502 (it answered an error, e.g. a wrong token) or
    503 (unreachable or timed out), and no artifact is recorded.
    ---
    tags: [artifacts]
    parameters: [PipelineUuid, RunUuid, ArtifactName, RunAttempt]
    requestBody:
      required: true
      content:
        application/octet-stream:
          schema:
            type: string
            format: binary
    responses:
      201: The stored artifact. => Artifact
    errors: [409, 502]
    """
    attempt = named_attempt()
    run = find_worker_run(pipeline_uuid, run_uuid)
    check_attempt(run.state, run.attempt, attempt)
    name = artifact_name(request.args.get("name"))
    # A long upload is a sign of life too, once it has arrived: recorded
    # with the artifact's row.
    artifact = services.store_artifact(run, name, upload_body())
    return artifact_json(artifact, artifact_urls(pipeline_uuid)(run_uuid, artifact.uuid)), 201


@blueprint.route("/<artifact_uuid>", methods=["GET"])
@client_or_worker
def download_artifact(pipeline_uuid, run_uuid, artifact_uuid):
    """Download an artifact's bytes, whole or one byte range.

    A client key reads every artifact. A worker key (not in x-permissions:
    its access depends on the artifact) reads only the artifacts that are
    inputs of a run that is RUNNING (a workflow's node reading its sources'
    artifacts), also when their pipeline was deleted since; for any other
    uuid, known or not, it gets a 403.

    The content type is guessed from the name; `Content-Disposition: attachment`.
    The ETag is the artifact's sha256: `If-None-Match` with it gives a 304.
    `Range: bytes=START-END` (one range) gives a 206 with `Content-Range`, so
    an interrupted download can be resumed (`If-Range` with the ETag makes
    that safe); an unsatisfiable range is a 416. An expired artifact (see
    `POST /v1/artifacts/expire`) is a 410.
    ---
    tags: [artifacts]
    x-permissions: [PIPELINES_CLIENT]
    parameters:
    - PipelineUuid
    - RunUuid
    - ArtifactUuid
    - name: Range
      in: header
      required: false
      description: One byte range, e.g. `bytes=0-1023`, `bytes=1024-` or `bytes=-100`.
      schema:
        type: string
    - name: If-Range
      in: header
      required: false
      description: Honour Range only if the artifact still has this ETag.
      schema:
        type: string
    - name: If-None-Match
      in: header
      required: false
      description: The ETag a client holds; 304 when it is still the artifact's.
      schema:
        type: string
    responses:
      200:
        description: The artifact's bytes.
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
        headers:
          Content-Range:
            description: '`bytes START-END/SIZE`.'
            schema:
              type: string
          Content-Disposition:
            $ref: '#/components/headers/ContentDisposition'
          ETag:
            $ref: '#/components/headers/ETag'
        content:
          '*/*':
            schema:
              type: string
              format: binary
      304: Not modified (If-None-Match matched the ETag).
    errors: [410, 416, 502]
    """
    client = is_client()
    if not client and not queries.is_input_of_a_running_run(artifact_uuid):
        raise ApiError(403, "A worker key may download only the inputs of a RUNNING run.")
    run = find_run(pipeline_uuid, run_uuid, include_deleted=not client)
    artifact = queries.get_artifact(run, artifact_uuid)
    if artifact.expired_at is not None:
        raise ApiError(410, f"The artifact expired at {_iso(artifact.expired_at)}; its bytes were deleted.")
    return artifact_response(artifact)


@retention_blueprint.route("/expire", methods=["POST"])
@worker_only
def expire_artifacts():
    """Delete the artifacts kept longer than ARTIFACT_RETENTION_DAYS (worker).

    Artifacts of runs that finished (COMPLETED, FAILED, CANCELLED) more than
    ARTIFACT_RETENTION_DAYS ago lose their bytes, from whichever storage
    holds them, and get `expired_at`; their downloads give 410. With the
    setting unset nothing expires. The workers' Celery beat calls this
    periodically; calling it again is harmless. No request body.
    ---
    tags: [artifacts]
    responses:
      200: What this pass did. => ExpiryReport
    """
    report = services.expire_artifacts()
    return {
        "retention_days": report.retention_days,
        "cutoff": _iso(report.cutoff),
        "expired": report.expired,
        "failed": report.failed,
    }
