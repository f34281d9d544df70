"""The OpenAPI 3 document and Swagger UI at /apidocs (flasgger).

The operations are described in the views' docstrings (YAML after ``---``);
what they share (schemas, parameters, error responses) lives here, in the
template's ``components``. The schemas follow the marshmallow schemas in
``app/*/schemas.py``: keep the two in step.

Each operation also names the permissions a key needs in
``x-permissions`` (a key holding any one of them is let in): OpenAPI 3.0
has no place for that on an apiKey scheme.
"""

import copy

from flasgger import NO_SANITIZER, Swagger
from flasgger.constants import OPTIONAL_FIELDS

from .pipelines.schemas import MAX_TIMEOUT_SECONDS
from .runs.schemas import MAX_CONSOLE_CHARS
from .runs.states import STATE_NAMES

UUID_PATTERN = "^[0-9a-f]{32}$"


def _ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def _schema(name):
    return _ref("schemas", name)


def _text(maximum, minimum=0, nullable=False, **extra):
    """A string as ``app.fields.Text`` takes it (no NUL, valid Unicode)."""
    schema = {"type": "string", "maxLength": maximum}
    if minimum:
        schema["minLength"] = minimum
    if nullable:
        schema["nullable"] = True
    schema.update(extra)
    return schema


def _timestamp(nullable=False):
    schema = {"type": "string", "format": "date-time", "description": "ISO 8601, UTC."}
    if nullable:
        schema["nullable"] = True
    return schema


def _error_response(description):
    return {
        "description": description,
        "content": {"application/json": {"schema": _schema("Error")}},
    }


SCHEMAS = {
    "Error": {
        "type": "object",
        "description": "Every error the API gives, whatever its status.",
        "required": ["message"],
        "properties": {
            "message": {"type": "string"},
            "errors": {
                "type": "object",
                "description": "Per-field messages from validation (marshmallow's shape).",
                "additionalProperties": True,
            },
        },
    },
    "DeepHealth": {
        "type": "object",
        "required": ["database", "broker"],
        "properties": {
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "broker": {"type": "string", "enum": ["ok", "unavailable"]},
        },
    },
    "PipelineInput": {
        "type": "object",
        "example": {
            "name": "IEEE 13",
            "description": "IEEE 13 node test feeder",
            "repository_ssh_url": "git@github.com:example/feeders.git",
            "repository_branch": "main",
            "model": "ieee13/model.glm",
            "arguments": ["-D", "starttime='2020-01-01 00:00:00'"],
            "timeout": 3600,
        },
        "description": (
            "A pipeline as a client defines it. Strings must not contain NUL. "
            "PUT is a full update: fields left out go back to their defaults."
        ),
        "required": ["name"],
        "additionalProperties": False,
        "properties": {
            "name": _text(50, minimum=1),
            "description": _text(300, nullable=True),
            "repository_ssh_url": _text(
                2048,
                nullable=True,
                description=(
                    "Git URL of the checkout that holds the model files: "
                    "ssh://, https://, http://, git://, file:// or user@host:path."
                ),
            ),
            "repository_branch": _text(
                255, minimum=1, nullable=True, description="Default: the repository's default branch."
            ),
            "model": _text(
                255,
                minimum=1,
                default="model.glm",
                description=(
                    "The .glm file to run, relative to the working directory: no absolute path, no '..'."
                ),
            ),
            "arguments": {
                "type": "array",
                "maxItems": 100,
                "items": _text(4096),
                "description": "Extra gridlabd arguments, passed as argv (never through a shell).",
            },
            "timeout": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_TIMEOUT_SECONDS,
                "nullable": True,
                "description": "Seconds a run may take before it is stopped and FAILED.",
            },
        },
    },
    "Pipeline": {
        "type": "object",
        "required": [
            "uuid",
            "name",
            "description",
            "repository_ssh_url",
            "repository_branch",
            "model",
            "arguments",
            "timeout",
            "created_at",
            "updated_at",
        ],
        "properties": {
            "uuid": {"type": "string", "pattern": UUID_PATTERN},
            "name": {"type": "string"},
            "description": {"type": "string", "nullable": True},
            "repository_ssh_url": {"type": "string", "nullable": True},
            "repository_branch": {"type": "string", "nullable": True},
            "model": {"type": "string"},
            "arguments": {"type": "array", "items": {"type": "string"}},
            "timeout": {"type": "integer", "nullable": True},
            "created_at": _timestamp(),
            "updated_at": _timestamp(),
        },
    },
    "PipelineSearch": {
        "type": "object",
        "example": {"uuids": ["0123456789abcdef0123456789abcdef"]},
        "required": ["uuids"],
        "additionalProperties": False,
        "properties": {
            "uuids": {"type": "array", "maxItems": 1000, "items": _text(64)},
        },
    },
    "RunState": {"type": "string", "enum": STATE_NAMES},
    "State": {
        "type": "object",
        "example": {"state": "RUNNING"},
        "description": (
            "A run's state. NOT_STARTED -> RUNNING -> COMPLETED | FAILED, and "
            "CANCELLED from NOT_STARTED or RUNNING; any other change is a 409."
        ),
        "required": ["state"],
        "additionalProperties": False,
        "properties": {"state": _schema("RunState")},
    },
    "StateChange": {
        "type": "object",
        "required": ["state", "created_at"],
        "properties": {"state": _schema("RunState"), "created_at": _timestamp()},
    },
    "RunInput": {
        "type": "object",
        "example": {"name": "model.glm", "url": "https://example.com/ieee13/model.glm"},
        "description": "A file the worker downloads into the run's working directory.",
        "required": ["name", "url"],
        "additionalProperties": False,
        "properties": {
            "name": _text(
                255,
                minimum=1,
                pattern=r"^[^/\\]+$",
                description="A plain file name: no '/', '\\', NUL, '.' or '..'. Unique within a run.",
            ),
            "url": _text(2048, minimum=1, description="An http, https or file URL."),
        },
    },
    "RunCreate": {
        "type": "object",
        "example": {
            "inputs": [{"name": "model.glm", "url": "https://example.com/ieee13/model.glm"}],
            "callback_url": "https://example.com/callbacks/runs",
        },
        "additionalProperties": False,
        "properties": {
            "inputs": {"type": "array", "maxItems": 100, "items": _schema("RunInput")},
            "callback_url": _text(
                2048,
                minimum=1,
                nullable=True,
                description=(
                    "http or https URL that gets "
                    '{"pipeline_run_uuid": ..., "state": ...} POSTed on every state change.'
                ),
            ),
        },
    },
    "Run": {
        "type": "object",
        "required": [
            "uuid",
            "pipeline_uuid",
            "sequence",
            "state",
            "created_at",
            "started_at",
            "completed_at",
            "inputs",
            "callback_url",
            "states",
            "artifacts",
        ],
        "properties": {
            "uuid": {"type": "string", "pattern": UUID_PATTERN},
            "pipeline_uuid": {"type": "string", "pattern": UUID_PATTERN},
            "sequence": {"type": "integer", "minimum": 1, "description": "1, 2, ... per pipeline."},
            "state": _schema("RunState"),
            "created_at": _timestamp(),
            "started_at": _timestamp(nullable=True),
            "completed_at": _timestamp(nullable=True),
            "inputs": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "url"],
                    "properties": {"name": {"type": "string"}, "url": {"type": "string"}},
                },
            },
            "callback_url": {"type": "string", "nullable": True},
            "states": {
                "type": "array",
                "description": "Oldest first.",
                "items": _schema("StateChange"),
            },
            "artifacts": {"type": "array", "items": _schema("Artifact")},
        },
    },
    "Console": {
        "type": "object",
        "required": ["std_out", "std_err"],
        "properties": {"std_out": {"type": "string"}, "std_err": {"type": "string"}},
    },
    "ConsoleReplace": {
        "type": "object",
        "example": {"std_out": "Core profile: ...\n", "std_err": ""},
        "description": "Replaces both streams; a field left out becomes empty.",
        "additionalProperties": False,
        "properties": {
            "std_out": _text(MAX_CONSOLE_CHARS),
            "std_err": _text(MAX_CONSOLE_CHARS),
        },
    },
    "ConsoleAppend": {
        "type": "object",
        "example": {"std_out": "more output\n"},
        "description": "Appended to either stream or both; at least one field.",
        "minProperties": 1,
        "additionalProperties": False,
        "properties": {
            "std_out": _text(MAX_CONSOLE_CHARS),
            "std_err": _text(MAX_CONSOLE_CHARS),
        },
    },
    "Artifact": {
        "type": "object",
        "required": ["uuid", "name", "url", "size", "sha256", "created_at", "expired_at"],
        "properties": {
            "uuid": {"type": "string", "pattern": UUID_PATTERN},
            "name": {"type": "string", "maxLength": 255},
            "url": {
                "type": "string",
                "format": "uri",
                "description": "Downloads the artifact with a client key.",
            },
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "created_at": _timestamp(),
            "expired_at": {
                **_timestamp(nullable=True),
                "description": (
                    "When retention deleted the bytes (ISO 8601, UTC); the download is then a 410. "
                    "Null while the artifact is kept."
                ),
            },
        },
    },
    "Heartbeat": {
        "type": "object",
        "required": ["state", "attempt"],
        "properties": {
            "state": _schema("RunState"),
            "attempt": {"type": "integer", "minimum": 0, "description": "The attempt that has the run."},
        },
    },
    "RecoveryReport": {
        "type": "object",
        "required": ["requeued", "failed", "resent", "postponed"],
        "properties": {
            "requeued": {
                "type": "integer",
                "minimum": 0,
                "description": "Silent runs queued again (NOT_STARTED, their task sent).",
            },
            "failed": {
                "type": "integer",
                "minimum": 0,
                "description": "Silent runs FAILED, having had RUN_MAX_ATTEMPTS attempts.",
            },
            "resent": {
                "type": "integer",
                "minimum": 0,
                "description": "Runs NOT_STARTED for RUN_QUEUE_TIMEOUT seconds whose task was sent again.",
            },
            "postponed": {
                "type": "integer",
                "minimum": 0,
                "description": "Runs left as they were: the task queue was down; tried again next time.",
            },
        },
    },
    "ExpiryReport": {
        "type": "object",
        "required": ["retention_days", "cutoff", "expired", "failed"],
        "properties": {
            "retention_days": {
                "type": "number",
                "nullable": True,
                "description": "ARTIFACT_RETENTION_DAYS; null when unset (nothing expires).",
            },
            "cutoff": {
                **_timestamp(nullable=True),
                "description": "Artifacts of runs finished at or before this time were expired.",
            },
            "expired": {"type": "integer", "minimum": 0, "description": "Artifacts expired by this call."},
            "failed": {
                "type": "integer",
                "minimum": 0,
                "description": "Due artifacts whose bytes storage could not delete; tried again next time.",
            },
        },
    },
}

PARAMETERS = {
    "PipelineUuid": {
        "name": "pipeline_uuid",
        "in": "path",
        "required": True,
        "description": "The pipeline's uuid; an unknown or deleted pipeline is a 404.",
        "schema": {"type": "string", "pattern": UUID_PATTERN},
    },
    "RunUuid": {
        "name": "run_uuid",
        "in": "path",
        "required": True,
        "description": "The run's uuid; a run of another pipeline is a 404.",
        "schema": {"type": "string", "pattern": UUID_PATTERN},
    },
    "ArtifactUuid": {
        "name": "artifact_uuid",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": UUID_PATTERN},
    },
    "Limit": {
        "name": "limit",
        "in": "query",
        "required": False,
        "description": "At most this many items (default: all).",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
    },
    "Offset": {
        "name": "offset",
        "in": "query",
        "required": False,
        "description": "Skip this many items first.",
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
    },
    "StateFilter": {
        "name": "state",
        "in": "query",
        "required": False,
        "description": "Only runs whose newest state is this one.",
        "schema": _schema("RunState"),
    },
    "RunAttempt": {
        "name": "Workflow-Run-Attempt",
        "in": "header",
        "required": False,
        "description": (
            "Workers: the attempt their PUT .../state RUNNING answered. A 409 once that attempt "
            "is over (the run went back to the queue, or another attempt has it); not checked "
            "when absent; malformed: 400."
        ),
        "schema": {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
    },
    "ArtifactName": {
        "name": "name",
        "in": "query",
        "required": True,
        "description": (
            "The artifact's file name. A name with folders keeps only its last part "
            "(out/volts.csv is stored as volts.csv); no NUL."
        ),
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    },
}

RESPONSES = {
    "BadRequest": _error_response(
        "The body or a parameter is not valid (unknown or missing fields, wrong types, "
        "bad URLs, a body that is not JSON or a wrong Content-Type)."
    ),
    "Unauthorized": _error_response("The Workflow-API-Key header is missing, unknown or revoked."),
    "Forbidden": _error_response("The key lacks the permission this endpoint needs."),
    "NotFound": _error_response(
        "No such pipeline, run or artifact (or it was deleted, or belongs to another pipeline)."
    ),
    "Conflict": _error_response(
        "The run's state does not allow this, or the attempt the call names (Workflow-Run-Attempt) is over."
    ),
    "PayloadTooLarge": _error_response("The body is over MAX_CONTENT_LENGTH."),
    "ServiceUnavailable": _error_response(
        "The database, the task queue or the blob server cannot be reached (or timed out)."
    ),
    "BadGateway": _error_response(
        "The blob server answered with an error (for example 401 or 403 for a wrong "
        "BLOB_API_TOKEN, or a 5xx)."
    ),
    "Gone": _error_response("The artifact expired: retention deleted its bytes."),
    "RangeNotSatisfiable": {
        **_error_response("The byte range is outside the artifact (or malformed)."),
        "headers": {
            "Content-Range": {"description": "`bytes */SIZE`.", "schema": {"type": "string"}},
        },
    },
    "UriTooLong": _error_response(
        "The request line (method, path and query) is over 4,094 bytes: gunicorn refuses it "
        "before the API sees it (limit_request_line)."
    ),
    "HeaderFieldsTooLarge": _error_response(
        "A header is over 8,190 bytes, or there are over 100 headers: gunicorn refuses the "
        "request before the API sees it (limit_request_field_size, limit_request_fields)."
    ),
}

# gunicorn answers these itself, whatever the path (gunicorn.conf.py makes
# them JSON errors): every operation lists them.
SERVER_RESPONSES = {"414": _ref("responses", "UriTooLong"), "431": _ref("responses", "HeaderFieldsTooLarge")}

HEADERS = {
    "ContentDisposition": {
        "description": "`attachment` with the artifact's name.",
        "schema": {"type": "string"},
    },
    "ETag": {"description": "The artifact's sha256, quoted.", "schema": {"type": "string"}},
    "AcceptRanges": {"description": "`bytes`.", "schema": {"type": "string"}},
}

TEMPLATE = {
    "openapi": "3.0.3",
    "info": {
        "title": "Workflow Service",
        "description": (
            "Run GridLAB-D simulations as a service. Every /v1 endpoint needs a "
            "Workflow-API-Key header; x-permissions on an operation names the "
            "permissions of which the key must hold one."
        ),
        "version": "1.0.0",
    },
    "tags": [
        {"name": "health", "description": "Is the service up?"},
        {"name": "pipelines", "description": "GridLAB-D job definitions."},
        {"name": "runs", "description": "Executions of a pipeline, their state and console."},
        {"name": "artifacts", "description": "Files a run produced."},
    ],
    "components": {
        "securitySchemes": {"WorkflowApiKey": {"type": "apiKey", "in": "header", "name": "Workflow-API-Key"}},
        "schemas": SCHEMAS,
        "parameters": PARAMETERS,
        "responses": RESPONSES,
        "headers": HEADERS,
    },
    "security": [{"WorkflowApiKey": []}],
}

CONFIG = {
    "openapi": "3.0.3",
    "headers": [],
    "specs": [
        {
            "endpoint": "apispec",
            "route": "/apispec.json",
            # The web console's page and assets are not API operations.
            "rule_filter": lambda rule: not rule.endpoint.startswith("web_console."),
            "model_filter": lambda tag: True,
        }
    ],
    # flasgger copies only these keys of a docstring into the operation.
    "optional_fields": [*OPTIONAL_FIELDS, "x-permissions"],
    "static_url_path": "/flasgger_static",
    "swagger_ui": True,
    "specs_route": "/apidocs/",
}


class _Swagger(Swagger):
    """flasgger's document, with the answers gunicorn gives for any operation."""

    def get_apispecs(self, endpoint="apispec_1"):
        specs = super().get_apispecs(endpoint)
        for item in specs.get("paths", {}).values():
            for operation in item.values():
                if isinstance(operation, dict) and "responses" in operation:
                    for status, response in SERVER_RESPONSES.items():
                        operation["responses"].setdefault(status, response)
        return specs


def init_swagger(app):
    app.config.setdefault("SWAGGER", {"title": "Workflow Service", "openapi": "3.0.3", "uiversion": 3})
    # flasgger adds to the template it is given: give each app its own copy.
    _Swagger(app, template=copy.deepcopy(TEMPLATE), config=CONFIG, sanitizer=NO_SANITIZER)
