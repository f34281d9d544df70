"""The JSON of runs, made by plain functions.

``RunSchema`` (and ``ArtifactSchema`` for a run's artifacts) declare the
shape; this module makes the same dictionaries without marshmallow's
per-field machinery, which cost more than everything else in a request: a
listing of 1,000 runs holds some 6,000 objects. ``tests/test_run_output.py``
checks that the two agree.

The functions read attributes, so they take ORM objects as well as rows
with the same names; an artifact's ``url`` comes from ``artifact_urls``,
which asks Flask's router once per request, not once per artifact.
"""

from datetime import UTC, datetime
from operator import attrgetter

from flask import url_for
from marshmallow import fields

from ..artifacts.schemas import artifact_output

URL = "url"


def iso(moment):
    """``UtcDateTime``'s form: ISO 8601, naive times (SQLite's) taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat()


# ArtifactSchema's fields in its order; each but ``url`` is read from the
# attribute (or row column) of the same name.
ARTIFACT_FIELDS = tuple(artifact_output.fields)
ARTIFACT_ATTRIBUTES = tuple(name for name in ARTIFACT_FIELDS if name != URL)
_URL_POSITION = ARTIFACT_FIELDS.index(URL)
_DATE_POSITIONS = tuple(
    position
    for position, name in enumerate(ARTIFACT_ATTRIBUTES)
    if isinstance(artifact_output.fields[name], fields.DateTime)
)
ARTIFACT_DATE_FIELDS = frozenset(ARTIFACT_ATTRIBUTES[position] for position in _DATE_POSITIONS)
_UUID_POSITION = ARTIFACT_ATTRIBUTES.index("uuid")
_artifact_values = attrgetter(*ARTIFACT_ATTRIBUTES)

_RUN_MARK, _ARTIFACT_MARK = "--run-uuid--", "--artifact-uuid--"


def url_parts(pipeline_uuid):
    """``(head, middle, tail)``: an artifact's download URL is
    ``head + run_uuid + middle + artifact_uuid + tail``."""
    template = url_for(
        "artifacts.download_artifact",
        pipeline_uuid=pipeline_uuid,
        run_uuid=_RUN_MARK,
        artifact_uuid=_ARTIFACT_MARK,
        _external=True,
    )
    head, rest = template.split(_RUN_MARK)
    middle, tail = rest.split(_ARTIFACT_MARK)
    return head, middle, tail


def artifact_urls(pipeline_uuid, parts=None):
    """``url(run_uuid, artifact_uuid)``: download URLs of one pipeline's
    artifacts, from ``parts`` (default ``url_parts``)."""
    head, middle, tail = parts or url_parts(pipeline_uuid)
    return lambda run_uuid, artifact_uuid: f"{head}{run_uuid}{middle}{artifact_uuid}{tail}"


def _times(sample):
    """The fastest correct ``iso`` for times like ``sample``, None excepted:
    PostgreSQL's carry their zone, so ``datetime.isoformat`` itself will do
    (no Python call per time); SQLite's are naive."""
    if sample is not None and sample.tzinfo is not None:
        return datetime.isoformat
    return iso


def _artifact(values, url, times):
    """``values``: ``ARTIFACT_ATTRIBUTES``' in order."""
    values = list(values)
    for position in _DATE_POSITIONS:
        moment = values[position]
        values[position] = moment and times(moment)
    values.insert(_URL_POSITION, url)
    return dict(zip(ARTIFACT_FIELDS, values, strict=True))


def artifact_json(artifact, url):
    """One artifact (an ORM object or a row) as ArtifactSchema makes it."""
    return _artifact(_artifact_values(artifact), url, iso)


def _run(values, pipeline_uuid, states, artifacts, times):
    (
        run_uuid,
        sequence,
        state,
        created_at,
        started_at,
        completed_at,
        inputs,
        callback_url,
        parameters,
        sweep_uuid,
        progress,
    ) = values
    return {
        "uuid": run_uuid,
        "pipeline_uuid": pipeline_uuid,
        "sequence": sequence,
        "state": state,
        "created_at": times(created_at),
        "started_at": started_at and times(started_at),
        "completed_at": completed_at and times(completed_at),
        "progress": progress,
        "inputs": [{"name": item.get("name"), "url": item.get("url")} for item in inputs],
        "callback_url": callback_url,
        "parameters": parameters or {},
        "sweep_uuid": sweep_uuid,
        "states": states,
        "artifacts": artifacts,
    }


def run_output(run):
    """The JSON of a ``Run`` whose pipeline, states and artifacts are loaded (or loadable)."""
    pipeline_uuid = run.pipeline.uuid
    url = artifact_urls(pipeline_uuid)
    values = (
        run.uuid,
        run.sequence,
        run.state,
        run.created_at,
        run.started_at,
        run.completed_at,
        run.inputs,
        run.callback_url,
        run.parameters,
        run.sweep_uuid,
        run.progress,
    )
    states = [{"state": change.state, "created_at": iso(change.created_at)} for change in run.states]
    artifacts = [artifact_json(artifact, url(run.uuid, artifact.uuid)) for artifact in run.artifacts]
    return _run(values, pipeline_uuid, states, artifacts, iso)


def runs_output(pipeline_uuid, runs, states, artifacts, parts=None):
    """A listing from rows, in one pass over each; ``parts`` as
    ``artifact_urls`` takes them.

    ``runs``: (id, uuid, sequence, state, created_at, started_at,
    completed_at, inputs, callback_url, parameters, sweep_uuid, progress); ``states``: (run_id, state,
    created_at); ``artifacts``: (run_id, *ARTIFACT_ATTRIBUTES); the last two
    oldest first.
    """
    if not runs:
        return []
    times = _times(runs[0][4])
    states_of = {}
    for run_id, state, created_at in states:
        item = {"state": state, "created_at": times(created_at)}
        found = states_of.get(run_id)
        if found is None:
            states_of[run_id] = [item]
        else:
            found.append(item)
    uuids = {run[0]: run[1] for run in runs}
    url = artifact_urls(pipeline_uuid, parts)
    artifacts_of = {}
    for artifact in artifacts:
        run_id = artifact[0]
        values = artifact[1:]
        item = _artifact(values, url(uuids[run_id], values[_UUID_POSITION]), times)
        found = artifacts_of.get(run_id)
        if found is None:
            artifacts_of[run_id] = [item]
        else:
            found.append(item)
    return [
        _run(run[1:], pipeline_uuid, states_of.get(run[0], []), artifacts_of.get(run[0], []), times)
        for run in runs
    ]
