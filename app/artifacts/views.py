"""HTTP endpoints of artifacts: upload (worker) and download (client)."""

import mimetypes

from flask import Blueprint, request, send_file

from ..permissions import client_only, worker_only
from ..runs.views import find_run
from . import queries, services
from .names import artifact_name
from .schemas import artifact_output
from .storage import get_storage

blueprint = Blueprint(
    "artifacts", __name__, url_prefix="/v1/pipelines/<pipeline_uuid>/runs/<run_uuid>/artifacts"
)


@blueprint.route("", methods=["POST"])
@worker_only
def upload_artifact(pipeline_uuid, run_uuid):
    run = find_run(pipeline_uuid, run_uuid, include_deleted=True)
    name = artifact_name(request.args.get("name"))
    artifact = services.store_artifact(run, name, request.stream)
    return artifact_output.dump(artifact), 201


@blueprint.route("/<artifact_uuid>", methods=["GET"])
@client_only
def download_artifact(pipeline_uuid, run_uuid, artifact_uuid):
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
