"""The OpenAPI 3 document at /apispec.json and Swagger UI at /apidocs.

apispec builds the document and flasgger serves it. Its schemas are
generated from the marshmallow schemas in ``app/*/schemas.py`` (apispec's
MarshmallowPlugin), the ones that validate the bodies and shape the
answers: a field's description, pattern or example is its ``metadata``
there. Only answers that have no marshmallow schema are written here
(``SCHEMAS``), with the parameters and error responses operations share.

How a route is documented: its docstring's first line is the summary, the
text up to ``---`` the description, and the YAML after ``---`` names what
the operation takes and answers, by component name::

    @blueprint.route("/<run_uuid>/state", methods=["PUT"])
    @worker_only
    def change_state(pipeline_uuid, run_uuid):
        \"""Report a run's new state (worker).

        The description, as many lines as it takes.
        ---
        tags: [runs]
        parameters: [PipelineUuid, RunUuid, RunAttempt]  # components/parameters, or whole objects
        body: State                   # a JSON body: a components/schemas name (or a whole requestBody:)
        responses:
          200: The run. => Run        # description => schema (=> [Run]: an array of them);
          204: Changed.               # a description alone: no body; or a whole response object
        errors: [409]                 # the error responses not added by themselves (below)
        \"""

Added to every operation, so not written: ``operationId`` (the view's
name); ``x-permissions`` (the permissions the view's guard from
``app.permissions`` names, unless the YAML names fewer), with 401, 403 and 503; ``security: []`` for
views without a guard; 404 with path parameters; 400 with a body, query
parameters or a header parameter of ``PARAMETERS`` (RunAttempt); 413 with
a body; 414 and 431 (gunicorn's, on every path).

A route documented the old way (the whole operation in YAML) converts
mechanically: ``.venv/bin/python bin/shorten-openapi app/<domain>/views.py``
rewrites its docstrings (drops operationId, x-permissions and the errors
added by themselves, writes ``$ref``s as names, a JSON requestBody as
``body: Name``, a response as ``description => Name``) and names any error
it now documents that the old YAML did not. A schema the old way wrote
here goes on its marshmallow schema instead: its fields' descriptions,
patterns and such as ``metadata``, the schema's own description as its
docstring, its example in ``EXAMPLES``, then its name in ``INPUTS`` or
``OUTPUTS``.

OpenAPI 3.0 has no place on an apiKey scheme for the permissions a key
needs: ``x-permissions`` names them (a key holding any one is let in).
"""

import inspect
import re

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flasgger import NO_SANITIZER, Swagger
from flasgger.utils import apispec_to_template

from .artifacts.schemas import ArtifactSchema
from .fields import UtcDateTime
from .ids import UUID_PATTERN
from .pipelines.schemas import PipelineInputSchema, PipelineSchema, PipelineSearchSchema
from .runs.schemas import (
    ConsoleAppendSchema,
    ConsoleSchema,
    InputSchema,
    ProgressSchema,
    RunCreateSchema,
    RunInputSchema,
    RunSchema,
    StateChangeSchema,
    StateInputSchema,
)
from .runs.states import STATE_NAMES
from .sweeps.schemas import SweepCreateSchema
from .workflows.schemas import (
    NodeInputSchema,
    WorkflowInputSchema,
    WorkflowRunCreateSchema,
    WorkflowSchema,
    WorkflowSearchSchema,
)
from .workflows.states import WORKFLOW_STATE_NAMES

# libyaml's safe loader where PyYAML has it: every process that builds the app
# reads the YAML of some 50 docstrings, 0.13 CPU-s with the pure-Python one.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Component name -> marshmallow schema, nested ones before those holding them.
INPUTS = {
    "PipelineInput": PipelineInputSchema,
    "PipelineSearch": PipelineSearchSchema,
    "State": StateInputSchema,
    "RunInput": RunInputSchema,
    "RunCreate": RunCreateSchema,
    "ConsoleReplace": ConsoleSchema,
    "Progress": ProgressSchema,
    "ConsoleAppend": ConsoleAppendSchema,
    "SweepCreate": SweepCreateSchema,
    "WorkflowInput": WorkflowInputSchema,
    "WorkflowSearch": WorkflowSearchSchema,
    "WorkflowPipelineInput": NodeInputSchema,
    "WorkflowRunCreate": WorkflowRunCreateSchema,
}
# Answers: every field is always there (required), and nothing else is promised.
OUTPUTS = {
    "Pipeline": PipelineSchema,
    "StateChange": StateChangeSchema,
    "Artifact": ArtifactSchema,
    "Input": InputSchema,
    "Run": RunSchema,
    "Workflow": WorkflowSchema,
}
# What the document adds to a generated schema: bodies the API takes
# (tests/test_openapi.py loads each example), and what a validator in
# Python says that JSON Schema cannot see.
EXAMPLES = {
    "PipelineInput": {
        "name": "IEEE 13",
        "description": "IEEE 13 node test feeder",
        "repository_ssh_url": "git@github.com:example/feeders.git",
        "repository_branch": "main",
        "model": "ieee13/model.glm",
        "arguments": ["-D", "starttime='2020-01-01 00:00:00'"],
        "timeout": 3600,
    },
    "PipelineSearch": {"uuids": ["0123456789abcdef0123456789abcdef"]},
    "State": {"state": "RUNNING"},
    "RunInput": {"name": "model.glm", "url": "https://example.com/ieee13/model.glm"},
    "RunCreate": {
        "inputs": [{"name": "model.glm", "url": "https://example.com/ieee13/model.glm"}],
        "callback_url": "https://example.com/callbacks/runs",
        "parameters": {"load_w": 50000, "feeder": "R1-12.47-1"},
    },
    "ConsoleReplace": {"std_out": "Core profile: ...\n", "std_err": ""},
    "Progress": {
        "clock": "2020-07-01T06:00:00-04:00",
        "start": "2020-07-01T00:00:00-04:00",
        "stop": "2020-07-02T00:00:00-04:00",
        "fraction": 0.25,
    },
    "ConsoleAppend": {"std_out": "more output\n"},
    "SweepCreate": {
        "inputs": [{"name": "ieee4.glm", "url": "https://example.com/ieee4.glm"}],
        "parameters": {"load_w": [50000, 100000, 150000], "pf": [0.9, 0.95]},
    },
    "WorkflowInput": {"name": "feeder study", "description": "Prepare the loads, then run the feeder."},
    "WorkflowSearch": {"uuids": ["0123456789abcdef0123456789abcdef"]},
    "WorkflowPipelineInput": {
        "pipeline_uuid": "0123456789abcdef0123456789abcdef",
        "source_workflow_pipelines": [],
        "destination_workflow_pipelines": [],
    },
    "WorkflowRunCreate": {
        "inputs": [{"name": "model.glm", "url": "https://example.com/ieee13/model.glm"}],
        "callback_url": "https://example.com/callbacks/runs",
    },
}
EXTRA = {"ConsoleAppend": {"minProperties": 1}}


def _ref(kind, name):
    return {"$ref": f"#/components/{kind}/{name}"}


def _count(description):
    return {"type": "integer", "minimum": 0, "description": description}


def _timestamp(nullable=False):
    return {"type": "string", "format": "date-time", "description": "ISO 8601, UTC.", "nullable": nullable}


def _object(properties):
    """An answer's object: every property required."""
    return {"type": "object", "required": list(properties), "properties": properties}


# Answers made without a marshmallow schema.
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
    "DeepHealth": _object(
        {
            "database": {"type": "string", "enum": ["ok", "unavailable"]},
            "broker": {"type": "string", "enum": ["ok", "unavailable"]},
        }
    ),
    "RunState": {"type": "string", "enum": STATE_NAMES},
    "GroupEventStream": {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "id": {"type": "string", "description": "The last state change sent."},
            "event": {"type": "string", "enum": ["run", "counts"]},
            "data": {"type": "string", "description": "The event's JSON."},
        },
        "description": (
            "Server-Sent Events of a sweep or a workflow run. Each event is `id: <state change>`, "
            "`event: <kind>`, `data: <JSON>`: `run` {run_uuid, sequence, state, created_at} for a "
            "state change of one of its runs, `counts` {counts, state} after them (and first). "
            "Lines starting with `:` are keep-alive comments. The stream ends once it is final."
        ),
    },
    "RunEventStream": {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "id": {"type": "string", "description": "state-chunk-progress."},
            "event": {"type": "string", "enum": ["state", "console", "progress"]},
            "data": {"type": "string", "description": "The event's JSON."},
        },
        "description": (
            "Server-Sent Events. Each event is `id: <state>-<chunk>-<progress>`, `event: <kind>`, "
            "`data: <JSON>`: `state` {state, created_at}, `console` {std_out, std_err} (output not "
            "sent before), `progress` (a Progress). Lines starting with `:` are keep-alive "
            "comments. The stream ends after the run's final state."
        ),
    },
    "Sweep": _object(
        {
            "uuid": {"type": "string", "pattern": UUID_PATTERN},
            "pipeline_uuid": {"type": "string", "pattern": UUID_PATTERN},
            "created_at": _timestamp(),
            "completed_at": {**_timestamp(nullable=True), "description": "When its last run ended."},
            "run_count": {"type": "integer", "minimum": 1, "maximum": 10000},
            "counts": {
                "type": "object",
                "description": "How many of its runs are in each state; every state is named, 0 included.",
                "additionalProperties": {"type": "integer", "minimum": 0},
            },
            "state": {
                **_ref("schemas", "RunState"),
                "description": (
                    "NOT_STARTED until a run starts; RUNNING while any run is not final; then "
                    "COMPLETED if every run COMPLETED, CANCELLED if the sweep was cancelled, else FAILED."
                ),
            },
            "parameters": {
                "type": "object",
                "nullable": True,
                "description": "What it was made from, values as text (null if made from rows).",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "rows": {
                "type": "array",
                "nullable": True,
                "description": "What it was made from, values as text (null if made from parameters).",
                "items": {"type": "object", "additionalProperties": {"type": "string"}},
            },
            "inputs": {"type": "array", "items": _ref("schemas", "Input")},
            "callback_url": {"type": "string", "nullable": True},
        }
    ),
    "WorkflowRunState": {"type": "string", "enum": WORKFLOW_STATE_NAMES},
    "WorkflowPipeline": _object(
        {
            "uuid": {"type": "string", "pattern": UUID_PATTERN},
            "pipeline_uuid": {"type": "string", "pattern": UUID_PATTERN},
            "source_workflow_pipelines": {"type": "array", "items": {"type": "string"}},
            "destination_workflow_pipelines": {"type": "array", "items": {"type": "string"}},
            "created_at": _timestamp(),
        }
    ),
    "WorkflowRun": _object(
        {
            "uuid": {"type": "string", "pattern": UUID_PATTERN},
            "workflow_uuid": {"type": "string", "pattern": UUID_PATTERN},
            "state": _ref("schemas", "WorkflowRunState"),
            "created_at": _timestamp(),
            "started_at": _timestamp(nullable=True),
            "completed_at": _timestamp(nullable=True),
            "states": {
                "type": "array",
                "description": "Oldest first.",
                "items": _object({"state": _ref("schemas", "WorkflowRunState"), "created_at": _timestamp()}),
            },
            "workflow_pipeline_runs": {
                "type": "array",
                "items": _object(
                    {
                        "workflow_pipeline_uuid": {"type": "string", "pattern": UUID_PATTERN},
                        "pipeline_uuid": {"type": "string", "pattern": UUID_PATTERN},
                        "pipeline_run": _ref("schemas", "Run"),
                    }
                ),
            },
        }
    ),
    "InputFile": _object(
        {
            "uuid": {"type": "string", "pattern": UUID_PATTERN},
            "name": {"type": "string", "maxLength": 255},
            "size": {"type": "integer", "minimum": 0},
            "sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$"},
            "url": {
                "type": "string",
                "format": "uri",
                "description": "A run input URL; downloads the file with a client or a worker key.",
            },
            "created_at": _timestamp(),
        }
    ),
    "Console": _object({"std_out": {"type": "string"}, "std_err": {"type": "string"}}),
    "Heartbeat": _object(
        {"state": _ref("schemas", "RunState"), "attempt": _count("The attempt that has the run.")}
    ),
    "RecoveryReport": _object(
        {
            "requeued": _count("Silent runs queued again (NOT_STARTED, their task sent)."),
            "failed": _count("Silent runs FAILED, having had RUN_MAX_ATTEMPTS attempts."),
            "resent": _count("Runs NOT_STARTED for RUN_QUEUE_TIMEOUT seconds whose task was sent again."),
            "postponed": _count("Runs left as they were: the task queue was down; tried again next time."),
        }
    ),
    "ExpiryReport": _object(
        {
            "retention_days": {
                "type": "number",
                "nullable": True,
                "description": "ARTIFACT_RETENTION_DAYS; null when unset (nothing expires).",
            },
            "cutoff": {
                "type": "string",
                "format": "date-time",
                "nullable": True,
                "description": "Artifacts of runs finished at or before this time were expired.",
            },
            "expired": _count("Artifacts expired by this call."),
            "failed": _count("Due artifacts whose bytes storage could not delete; tried again next time."),
        }
    ),
}


def _path(name, description=None):
    parameter = {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": UUID_PATTERN},
    }
    if description:
        parameter["description"] = description
    return parameter


def _query(name, description, schema, required=False, where="query"):
    return {"name": name, "in": where, "required": required, "description": description, "schema": schema}


PARAMETERS = {
    "PipelineUuid": _path("pipeline_uuid", "The pipeline's uuid; an unknown or deleted pipeline is a 404."),
    "RunUuid": _path("run_uuid", "The run's uuid; a run of another pipeline is a 404."),
    "ArtifactUuid": _path("artifact_uuid"),
    "SweepUuid": _path("sweep_uuid", "The sweep's uuid; a sweep of another pipeline is a 404."),
    "WorkflowUuid": _path("workflow_uuid", "The workflow's uuid; an unknown or deleted workflow is a 404."),
    "WorkflowPipelineUuid": _path("node_uuid", "A node's uuid; a node of another workflow is a 404."),
    "WorkflowRunUuid": _path(
        "workflow_run_uuid", "A workflow run's uuid; a run of another workflow is a 404."
    ),
    "InputFileUuid": _path("file_uuid", "The input file's uuid; a file of another pipeline is a 404."),
    "Limit": _query(
        "limit", "At most this many items (default: all).", {"type": "integer", "minimum": 1, "maximum": 1000}
    ),
    "Offset": _query(
        "offset",
        "Skip this many items first.",
        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1, "default": 0},
    ),
    "StateFilter": _query("state", "Only runs whose newest state is this one.", _ref("schemas", "RunState")),
    "RunAttempt": _query(
        "Workflow-Run-Attempt",
        "Workers: the attempt their PUT .../state RUNNING answered. A 409 once that attempt is over "
        "(the run went back to the queue, or another attempt has it); not checked when absent; "
        "malformed: 400.",
        {"type": "integer", "minimum": 0, "maximum": 2**31 - 1},
        where="header",
    ),
    "GroupLastEventId": _query(
        "Last-Event-ID",
        "The id of the last event a client got: the stream then sends only the state changes "
        "after it. Malformed: 400.",
        {"type": "string", "pattern": r"^\d{1,18}$"},
        where="header",
    ),
    "LastEventId": _query(
        "Last-Event-ID",
        "The id of the last event a client got (EventSource sends it when it reconnects): "
        "the stream then sends only what came after it. Malformed: 400.",
        {"type": "string", "pattern": r"^\d{1,18}-\d{1,18}-\d{1,18}$"},
        where="header",
    ),
    "ArtifactName": _query(
        "name",
        "The artifact's file name. A name with folders keeps only its last part "
        "(out/volts.csv is stored as volts.csv); no NUL.",
        {"type": "string", "minLength": 1, "maxLength": 255},
        required=True,
    ),
}

# Error responses by status; each is an Error.
ERRORS = {
    400: (
        "BadRequest",
        "The body or a parameter is not valid (unknown or missing fields, wrong types, "
        "bad URLs, a body that is not JSON or a wrong Content-Type).",
    ),
    401: ("Unauthorized", "The Workflow-API-Key header is missing, unknown or revoked."),
    403: ("Forbidden", "The key lacks the permission this endpoint needs."),
    404: (
        "NotFound",
        "No such pipeline, run, artifact, workflow or node (or it was deleted, or belongs to another one).",
    ),
    409: (
        "Conflict",
        "The run's state does not allow this, or the attempt the call names (Workflow-Run-Attempt) is over.",
    ),
    410: ("Gone", "The artifact expired: retention deleted its bytes."),
    413: ("PayloadTooLarge", "The body is over MAX_CONTENT_LENGTH."),
    414: (
        "UriTooLong",
        "The request line (method, path and query) is over 4,094 bytes: gunicorn refuses it "
        "before the API sees it (limit_request_line).",
    ),
    416: ("RangeNotSatisfiable", "The byte range is outside the artifact (or malformed)."),
    431: (
        "HeaderFieldsTooLarge",
        "A header is over 8,190 bytes, or there are over 100 headers: gunicorn refuses the "
        "request before the API sees it (limit_request_field_size, limit_request_fields).",
    ),
    502: (
        "BadGateway",
        "The blob server answered with an error (for example 401 or 403 for a wrong "
        "BLOB_API_TOKEN, or a 5xx).",
    ),
    503: (
        "ServiceUnavailable",
        "The database, the task queue or the blob server cannot be reached (or timed out).",
    ),
}
RESPONSES = {
    name: {"description": text, "content": {"application/json": {"schema": _ref("schemas", "Error")}}}
    for name, text in ERRORS.values()
}
RESPONSES["RangeNotSatisfiable"]["headers"] = {
    "Content-Range": {"description": "`bytes */SIZE`.", "schema": {"type": "string"}}
}
# gunicorn answers these itself, whatever the path (gunicorn.conf.py makes them JSON errors).
SERVER_ERRORS = (414, 431)

HEADERS = {
    "ContentDisposition": {
        "description": "`attachment` with the artifact's name.",
        "schema": {"type": "string"},
    },
    "ETag": {"description": "The artifact's sha256, quoted.", "schema": {"type": "string"}},
    "AcceptRanges": {"description": "`bytes`.", "schema": {"type": "string"}},
}

INFO = {
    "description": (
        "Run GridLAB-D simulations as a service. Every /v1 endpoint needs a Workflow-API-Key "
        "header; x-permissions on an operation names the permissions of which the key must hold one."
    )
}
TAGS = [
    {"name": "health", "description": "Is the service up?"},
    {"name": "pipelines", "description": "GridLAB-D job definitions."},
    {"name": "runs", "description": "Executions of a pipeline, their state and console."},
    {"name": "artifacts", "description": "Files a run produced."},
    {"name": "sweeps", "description": "Many runs of one pipeline, one per combination of parameters."},
    {"name": "workflows", "description": "DAGs of pipelines, whose artifacts feed the runs after them."},
    {"name": "input_files", "description": "Files a client uploads, to be run inputs."},
]


def _utc_times(self, field, **kwargs):
    """apispec: what ``UtcDateTime`` writes."""
    return (
        {"description": "ISO 8601, UTC."}
        if isinstance(field, UtcDateTime) and "description" not in field.metadata
        else {}
    )


def _schema(value):
    """A schema as an operation names it: a name, ``[name]`` for an array of, or a whole schema."""
    if isinstance(value, str):
        return _ref("schemas", value)
    if isinstance(value, list):
        return {"type": "array", "items": _schema(value[0])}
    return value


def _response(value):
    """``description => Schema`` (``=> [Schema]``: an array of), a description alone, or a whole response."""
    if isinstance(value, dict):
        return value
    description, arrow, schema = value.rpartition(" => ")
    if not arrow:
        return {"description": value}
    if schema.startswith("["):
        schema = [schema.strip("[]")]
    return {"description": description, "content": {"application/json": {"schema": _schema(schema)}}}


def _docstring(view):
    """``(summary, description, YAML)`` of a view's docstring."""
    doc = inspect.getdoc(view) or ""
    text, _, spec = doc.partition("\n---\n")
    summary, _, description = text.partition("\n")
    return summary.strip(), description.strip(), yaml.load(spec, Loader=YAML_LOADER) or {}


def operation(view):
    """The operation a view's docstring describes, completed as the module docstring says."""
    summary, description, spec = _docstring(view)
    op = {"operationId": view.__name__, "summary": summary}
    if description:
        op["description"] = description
    if "tags" in spec:
        op["tags"] = spec["tags"]
    parameters = spec.get("parameters", [])  # apispec makes the names $refs
    if parameters:
        op["parameters"] = parameters
    body = spec.get("requestBody")
    if "body" in spec:
        body = {"required": True, "content": {"application/json": {"schema": _schema(spec["body"])}}}
    if body:
        op["requestBody"] = body
    responses = {str(status): _response(value) for status, value in spec.get("responses", {}).items()}
    named = [PARAMETERS[p]["in"] for p in spec.get("parameters", []) if isinstance(p, str)]
    inline = [p["in"] for p in spec.get("parameters", []) if not isinstance(p, str)]
    errors = set(spec.get("errors", [])) | set(SERVER_ERRORS)
    guard = getattr(view, "required_permissions", None)
    # A view may name fewer permissions than its guard lets in, where the
    # rest depends on what is asked for (a worker reading an artifact).
    permissions = spec.get("x-permissions", guard)
    if guard:
        op["x-permissions"] = list(permissions)
        errors |= {401, 403, 503}
    else:
        op["security"] = []
    if "path" in named + inline:
        errors.add(404)
    if body or {"query", "header"} & set(named) or "query" in inline:
        errors.add(400)
    if body:
        errors.add(413)
    for status in sorted(errors):
        responses.setdefault(str(status), _ref("responses", ERRORS[status][0]))
    op["responses"] = responses
    return op


def openapi_path(rule):
    return re.sub(r"<(?:[^<>:]*:)?([^<>]*)>", r"{\1}", rule.rule)


def build_spec(app):
    plugin = MarshmallowPlugin()
    spec = APISpec(
        "Workflow Service",
        "1.0.0",
        "3.0.3",
        plugins=[plugin],
        info=INFO,
        tags=TAGS,
        security=[{"WorkflowApiKey": []}],
    )
    plugin.converter.add_attribute_function(_utc_times)
    spec.components.security_scheme(
        "WorkflowApiKey", {"type": "apiKey", "in": "header", "name": "Workflow-API-Key"}
    )
    for name, schema in SCHEMAS.items():
        spec.components.schema(name, schema)
    for name, schema in INPUTS.items():
        extra = {**EXTRA.get(name, {}), "example": EXAMPLES[name]}
        if schema.__doc__:  # the schema's docstring describes it
            extra["description"] = " ".join(inspect.cleandoc(schema.__doc__).split())
        spec.components.schema(name, extra, schema=schema)
    for name, schema in OUTPUTS.items():
        spec.components.schema(name, schema=schema)
        component = spec.components.schemas[name]
        component.pop("additionalProperties", None)
        component["required"] = list(component["properties"])
    for name, parameter in PARAMETERS.items():
        spec.components.parameter(name, parameter["in"], parameter)
    for name, response in RESPONSES.items():
        spec.components.response(name, response)
    for name, header in HEADERS.items():
        spec.components.header(name, header)
    for rule in app.url_map.iter_rules():
        # The web console's page and assets are not API operations.
        if rule.endpoint == "static" or rule.endpoint.startswith("web_console."):
            continue
        view = app.view_functions[rule.endpoint]
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        spec.path(openapi_path(rule), operations={method.lower(): operation(view) for method in methods})
    return spec


CONFIG = {
    "openapi": "3.0.3",
    "headers": [],
    # The paths come from build_spec, not from flasgger's reading of the views.
    "specs": [{"endpoint": "apispec", "route": "/apispec.json", "rule_filter": lambda rule: False}],
    "static_url_path": "/flasgger_static",
    "swagger_ui": True,
    "specs_route": "/apidocs/",
}


def init_swagger(app):
    """Serve the document of the routes registered so far (call it last)."""
    app.config.setdefault("SWAGGER", {"title": "Workflow Service", "openapi": "3.0.3", "uiversion": 3})
    template = apispec_to_template(app, build_spec(app))
    Swagger(app, template=template, config=CONFIG, sanitizer=NO_SANITIZER)
