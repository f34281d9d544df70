"""JSON shape of artifacts."""

from flask import url_for
from marshmallow import Schema, fields

from ..fields import UtcDateTime
from ..ids import UUID_PATTERN


class ArtifactSchema(Schema):
    uuid = fields.String(metadata={"pattern": UUID_PATTERN})
    name = fields.String(metadata={"maxLength": 255})
    url = fields.Method(
        "download_url",
        metadata={
            "type": "string",
            "format": "uri",
            "description": "Downloads the artifact with a client key.",
        },
    )
    size = fields.Integer(metadata={"minimum": 0})
    sha256 = fields.String(metadata={"pattern": "^[0-9a-f]{64}$"})
    created_at = UtcDateTime()
    expired_at = UtcDateTime(
        allow_none=True,
        metadata={
            "description": "When retention deleted the bytes (ISO 8601, UTC); the download is then a 410. "
            "Null while the artifact is kept."
        },
    )

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
