"""The JSON of finished runs, written once so that listings only copy it.

A run in a final state no longer changes, but for its artifacts expiring:
its JSON is made when it ends (and again when an artifact of it expires)
and kept in ``run.final_json``. A listing on PostgreSQL then joins stored
text for the finished runs of a page and builds only the others, instead of
building some 6,000 JSON objects for a page of 1,000 runs on every request.

The artifact URLs in the stored text cannot hold the host a request came
to: each starts with ``HOST_MARK`` in place of the scheme, host and script
root, which the listing puts back. JSON text never holds a raw control
character (the encoder escapes them), so the mark cannot be mistaken for
anything in the data; it is written in place of a random placeholder after
encoding, which the encoder would have escaped too.
"""

import json
import uuid

from flask import current_app

from roles.models import db

from ..artifacts.models import Artifact
from ..pipelines.models import Pipeline
from .models import Run, RunStateChange
from .output import ARTIFACT_ATTRIBUTES, runs_output, url_parts
from .states import FINAL_STATES

HOST_MARK = "\x01"
# Stands for HOST_MARK until the JSON is encoded: nobody can guess it.
_PLACEHOLDER = uuid.uuid4().hex
_FINAL_STATE_NAMES = [state.value for state in FINAL_STATES]
_RUN_MARK, _ARTIFACT_MARK = "--run-uuid--", "--artifact-uuid--"


def _route_parts(pipeline_uuid):
    """``url_parts`` without the scheme, host and script root, made from
    the URL map alone: no request is needed (the expiry runs from the CLI)."""
    path = current_app.url_map.bind("localhost").build(
        "artifacts.download_artifact",
        {"pipeline_uuid": pipeline_uuid, "run_uuid": _RUN_MARK, "artifact_uuid": _ARTIFACT_MARK},
    )
    head, rest = path.split(_RUN_MARK)
    middle, tail = rest.split(_ARTIFACT_MARK)
    return head, middle, tail


def _placeholder_url_parts(pipeline_uuid):
    """``url_parts`` with ``_PLACEHOLDER`` for the host part."""
    head, middle, tail = _route_parts(pipeline_uuid)
    return _PLACEHOLDER + head, middle, tail


def host_part(pipeline_uuid):
    """What ``HOST_MARK`` stands for in this request: the part of an
    artifact URL before its route (``https://host/script-root``)."""
    external_head = url_parts(pipeline_uuid)[0]
    route_head = _route_parts(pipeline_uuid)[0]
    return external_head[: len(external_head) - len(route_head)]


def with_host(text, pipeline_uuid):
    """Stored JSON text with this request's host in place of ``HOST_MARK``."""
    return text.replace(HOST_MARK, host_part(pipeline_uuid))


def _encode(run):
    return json.dumps(run, separators=(",", ":")).replace(_PLACEHOLDER, HOST_MARK)


def store_final_json(run_ids):
    """Write ``final_json`` for those of ``run_ids`` that are final, in the
    session's transaction (the caller commits). Three reads and one
    executemany, however many runs. Returns the texts written, by run id."""
    run_ids = list(run_ids)
    if not run_ids:
        return {}
    connection = db.session.connection()
    runs = connection.execute(
        db.select(
            Pipeline.uuid,
            Run.id,
            Run.uuid,
            Run.sequence,
            Run.state,
            Run.created_at,
            Run.started_at,
            Run.completed_at,
            Run.inputs,
            Run.callback_url,
            Run.parameters,
            Run.sweep_uuid,
            Run.progress,
        )
        .join(Pipeline, Pipeline.id == Run.pipeline_id)
        .where(Run.id.in_(run_ids), Run.state.in_(_FINAL_STATE_NAMES))
        .order_by(Run.id)
    ).all()
    if not runs:
        return {}
    chosen = [run[1] for run in runs]
    states = connection.execute(
        db.select(RunStateChange.run_id, RunStateChange.state, RunStateChange.created_at)
        .where(RunStateChange.run_id.in_(chosen))
        .order_by(RunStateChange.id)
    ).all()
    artifacts = connection.execute(
        db.select(Artifact.run_id, *(getattr(Artifact, name) for name in ARTIFACT_ATTRIBUTES))
        .where(Artifact.run_id.in_(chosen))
        .order_by(Artifact.id)
    ).all()
    by_pipeline = {}
    for pipeline_uuid, *run in runs:
        by_pipeline.setdefault(pipeline_uuid, []).append(run)
    values = []
    for pipeline_uuid, pipeline_runs in by_pipeline.items():
        ids = {run[0] for run in pipeline_runs}
        outputs = runs_output(
            pipeline_uuid,
            pipeline_runs,
            [state for state in states if state[0] in ids],
            [artifact for artifact in artifacts if artifact[0] in ids],
            _placeholder_url_parts(pipeline_uuid),
        )
        values += [
            {"run_id": run[0], "text": _encode(output)}
            for run, output in zip(pipeline_runs, outputs, strict=True)
        ]
    connection.execute(
        db.update(Run.__table__)
        .where(Run.__table__.c.id == db.bindparam("run_id"))
        .values(final_json=db.bindparam("text")),
        values,
    )
    return {value["run_id"]: value["text"] for value in values}
