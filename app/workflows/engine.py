"""The step from a node's new state to the rest of its workflow run.

Called in the transaction of the state change itself (``runs.services.
change_state``, the recovery sweep, a cancel), never by a client:
docs/adr/0020-the-workflow-engine.md. ``lock`` comes first, before the
node's run row is touched, so that the changes of one workflow run's nodes
happen one after the other: the second of two sources that complete at the
same moment then sees the first one COMPLETED and queues their destination.
What must wait for the commit (sending tasks, callbacks) is handed back as
a ``Followup``.
"""

import logging
from dataclasses import dataclass, field

from roles.models import db

from ..artifacts.models import Artifact
from ..broker import EXECUTE_PIPELINE, broker
from ..errors import ServiceUnavailable
from ..runs.final_json import store_final_json
from ..runs.models import ConsoleChunk, RunStateChange
from ..runs.output import artifact_urls
from ..runs.queries import std_err_at_line_start
from ..runs.services import notify_callback, task_arguments
from ..runs.states import FINAL_STATES, RunState
from .models import RunInputArtifact, WorkflowPipelineRun, WorkflowRun, WorkflowRunStateChange
from .states import FINAL_WORKFLOW_STATES, WorkflowRunState

log = logging.getLogger(__name__)

_WORKFLOW_RUNS = WorkflowRun.__table__
_LOCK = (
    db.update(_WORKFLOW_RUNS)
    .where(_WORKFLOW_RUNS.c.id == db.bindparam("workflow_run_id"))
    .values(state=_WORKFLOW_RUNS.c.state)
    .returning(_WORKFLOW_RUNS.c.state)
)


def lock(workflow_run_id):
    """Hold the workflow run's row until the transaction ends; its state."""
    return db.session.connection().execute(_LOCK, {"workflow_run_id": workflow_run_id}).scalar_one()


@dataclass
class Followup:
    """What a step leaves for after the commit: tasks to send, callbacks."""

    tasks: list = field(default_factory=list)
    callbacks: list = field(default_factory=list)

    def send(self):
        """A task the broker refuses stays NOT_STARTED: the recovery sweep
        sends it again after RUN_QUEUE_TIMEOUT (docs/adr/0010-worker-loss-recovery.md)."""
        for run in self.tasks:
            try:
                broker.send(EXECUTE_PIPELINE, **task_arguments(run.pipeline, run))
            except ServiceUnavailable:
                log.warning("task of run %s not sent; the recovery sweep will send it", run.uuid)
        for run in self.callbacks:
            notify_callback(run)


@dataclass
class _Node:
    link: WorkflowPipelineRun

    @property
    def run(self):
        return self.link.run

    @property
    def state(self):
        return self.link.run.state

    def name(self):
        return f"node {self.link.node.uuid} (pipeline {self.run.pipeline.name!r})"


def _nodes(workflow_run_id):
    links = (
        db.session.execute(
            db.select(WorkflowPipelineRun)
            .where(WorkflowPipelineRun.workflow_run_id == workflow_run_id)
            .order_by(WorkflowPipelineRun.id)
            .execution_options(populate_existing=True)
        )
        .scalars()
        .all()
    )
    return [_Node(link) for link in links]


def step(workflow_run_id, now):
    """Bring the workflow run in line with its nodes' states as they are in
    this transaction (``lock`` held): queue the nodes whose sources have all
    COMPLETED, end the workflow run when a node failed or was cancelled (and
    cancel the rest), or when every node COMPLETED. Idempotent."""
    db.session.flush()
    workflow_run = db.session.execute(
        db.select(WorkflowRun)
        .where(WorkflowRun.id == workflow_run_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    followup = Followup()
    if WorkflowRunState(workflow_run.state) in FINAL_WORKFLOW_STATES:
        return followup
    nodes = _nodes(workflow_run_id)
    if not _first_ended(nodes):
        _queue_ready(nodes, now, followup)
    ended = _first_ended(nodes)
    if ended is not None:
        _end(workflow_run, nodes, ended, now, followup)
    elif all(node.state == RunState.COMPLETED.value for node in nodes):
        _set_state(workflow_run, WorkflowRunState.COMPLETED, now)
    elif workflow_run.state == WorkflowRunState.NOT_STARTED.value and any(
        node.state in (RunState.RUNNING.value, RunState.COMPLETED.value) for node in nodes
    ):
        _set_state(workflow_run, WorkflowRunState.RUNNING, now)
    db.session.flush()
    return followup


def cancel(workflow_run, now):
    """CANCELLED, and every node not final with it (``lock`` held)."""
    nodes = _nodes(workflow_run.id)
    followup = Followup()
    _end_nodes(nodes, "[service] cancelled: the workflow run was cancelled", now, followup)
    _set_state(workflow_run, WorkflowRunState.CANCELLED, now)
    db.session.flush()
    return followup


def _first_ended(nodes):
    """The first node that FAILED, else the first CANCELLED one, else None."""
    for state in (RunState.FAILED.value, RunState.CANCELLED.value):
        for node in nodes:
            if node.state == state:
                return node
    return None


def _end(workflow_run, nodes, ended, now, followup):
    state = WorkflowRunState(ended.state)
    reason = f"[service] cancelled: {ended.name()} of workflow run {workflow_run.uuid} is {ended.state}"
    _end_nodes(nodes, reason, now, followup)
    _set_state(workflow_run, state, now)


def _set_state(workflow_run, state, now):
    workflow_run.state = state.value
    if state != WorkflowRunState.NOT_STARTED and workflow_run.started_at is None:
        workflow_run.started_at = now
    if state in FINAL_WORKFLOW_STATES:
        workflow_run.completed_at = now
    db.session.add(WorkflowRunStateChange(workflow_run_id=workflow_run.id, state=state.value, created_at=now))


def _end_nodes(nodes, reason, now, followup):
    """Every node not final: CANCELLED, with ``reason`` as the last line of its std_err."""
    ended = []
    for node in nodes:
        if RunState(node.state) in FINAL_STATES:
            continue
        _settle_run(node.run, RunState.CANCELLED, reason, now)
        ended.append(node.run)
    if ended:
        db.session.flush()
        store_final_json([run.id for run in ended])
        followup.callbacks += ended


def _settle_run(run, state, line, now):
    """End ``run`` in ``state`` with ``line`` appended to its std_err."""
    text = ("" if std_err_at_line_start(run.id) else "\n") + line + "\n"
    run.state = state.value
    run.completed_at = now
    db.session.add(RunStateChange(run_id=run.id, state=state.value, created_at=now))
    db.session.add(ConsoleChunk(run_id=run.id, stream="std_err", text=text, created_at=now))


def _queue_ready(nodes, now, followup):
    """QUEUED nodes whose sources have all COMPLETED: NOT_STARTED with their
    sources' artifacts added to their inputs, or FAILED when two inputs
    would have the same name."""
    by_run_id = {node.run.id: node for node in nodes}
    for node in nodes:
        if node.state != RunState.QUEUED.value:
            continue
        sources = [by_run_id[run_id] for run_id in node.link.source_run_ids if run_id in by_run_id]
        if any(source.state != RunState.COMPLETED.value for source in sources):
            continue
        inputs, artifacts, clash = _inputs_with_artifacts(node, sources)
        if clash is not None:
            _settle_run(node.run, RunState.FAILED, clash, now)
            db.session.flush()
            store_final_json([node.run.id])
            followup.callbacks.append(node.run)
            continue
        run = node.run
        run.inputs = inputs
        run.state = RunState.NOT_STARTED.value
        # When its task was sent: the recovery sweep's RUN_QUEUE_TIMEOUT counts from here.
        run.heartbeat_at = now
        db.session.add(RunStateChange(run_id=run.id, state=RunState.NOT_STARTED.value, created_at=now))
        for artifact in artifacts:
            db.session.add(RunInputArtifact(run_id=run.id, artifact_id=artifact.id))
        followup.tasks.append(run)
        followup.callbacks.append(run)


def _inputs_with_artifacts(node, sources):
    """``(inputs, artifacts, clash)``: the node's inputs extended by one per
    artifact of its sources' runs, those artifacts, and a message naming
    both inputs if two have the same name (else None)."""
    inputs = list(node.run.inputs)
    origin = {item["name"]: f"the workflow run's input {item['name']!r} ({item['url']})" for item in inputs}
    artifacts = []
    for source in sources:
        url = artifact_urls(source.run.pipeline.uuid)
        for artifact in db.session.execute(
            db.select(Artifact).where(Artifact.run_id == source.run.id).order_by(Artifact.id)
        ).scalars():
            here = f"the artifact {artifact.name!r} of {source.name()}"
            if artifact.name in origin:
                return (
                    None,
                    None,
                    f"[service] failed: two inputs of {node.name()} are named {artifact.name!r}: "
                    f"{origin[artifact.name]} and {here}",
                )
            origin[artifact.name] = here
            inputs.append({"name": artifact.name, "url": url(source.run.uuid, artifact.uuid)})
            artifacts.append(artifact)
    return inputs, artifacts, None
