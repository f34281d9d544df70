"""JSON shape of artifacts."""

from flask import url_for
from marshmallow import Schema, fields

from ..fields import UtcDateTime


class ArtifactSchema(Schema):
    uuid = fields.String()
    name = fields.String()
    url = fields.Method("download_url")
    size = fields.Integer()
    sha256 = fields.String()
    created_at = UtcDateTime()
    expired_at = UtcDateTime(allow_none=True)

    def download_url(self, artifact):
        run = artifact.run
        return url_for(
            "artifacts.download_artifact",
            pipeline_uuid=run.pipeline.uuid,
            run_uuid=run.uuid,
            artifact_uuid=artifact.uuid,
            _external=True,
        )


artifact_output = ArtifactSchema()
