"""The JSON of nodes and workflow runs, from loaded objects."""

from ..runs.output import iso, run_output


def node_output(node, sources, destinations):
    """``sources``/``destinations``: the uuids of the nodes before and after it."""
    return {
        "uuid": node.uuid,
        "pipeline_uuid": node.pipeline.uuid,
        "source_workflow_pipelines": sources,
        "destination_workflow_pipelines": destinations,
        "created_at": iso(node.created_at),
    }


def workflow_run_output(workflow_run, workflow_uuid):
    """A workflow run with each node's run as the run JSON; a node's
    pipeline is the one its run was made of, whatever the node became since."""
    return {
        "uuid": workflow_run.uuid,
        "workflow_uuid": workflow_uuid,
        "state": workflow_run.state,
        "created_at": iso(workflow_run.created_at),
        "started_at": iso(workflow_run.started_at),
        "completed_at": iso(workflow_run.completed_at),
        "states": [
            {"state": change.state, "created_at": iso(change.created_at)} for change in workflow_run.states
        ],
        "workflow_pipeline_runs": [
            {
                "workflow_pipeline_uuid": link.node.uuid,
                "pipeline_uuid": link.run.pipeline.uuid,
                "pipeline_run": run_output(link.run),
            }
            for link in workflow_run.node_runs
        ],
    }
