"""``wf``: the Workflow Service from a terminal.

Exit status: 0 when the command did what it said (for ``--wait``, only a
COMPLETED run, sweep or workflow run), 1 when what it waited for ended
otherwise, 2 for a command-line mistake, 3 for an error of the API or the
connection, shown as one line.
"""

import csv
import io
import json
import sys
from datetime import datetime

import click
import requests
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from .client import FINAL_STATES, ApiError, Client

EXIT_NOT_COMPLETED = 1
EXIT_API_ERROR = 3

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class WfGroup(click.Group):
    """Turns API and connection errors into one line and exit status 3."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except ApiError as error:
            err.print(f"wf: error: {error}", markup=False)
            ctx.exit(EXIT_API_ERROR)
        except requests.RequestException as error:
            err.print(f"wf: cannot reach the API: {_reason(error)}", markup=False)
            ctx.exit(EXIT_API_ERROR)
        except ValueError as error:
            err.print(f"wf: error: {error}", markup=False)
            ctx.exit(click.UsageError.exit_code)


def _reason(error):
    text = str(error)
    return text.split("Caused by ")[-1].strip("()") if "Caused by" in text else text


@click.group(cls=WfGroup)
@click.option("--server", envvar="WORKFLOW_API_SERVER", help="API base URL [WORKFLOW_API_SERVER]")
@click.option("--key", envvar="WORKFLOW_API_KEY", help="a PIPELINES_CLIENT key [WORKFLOW_API_KEY]")
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON instead of tables")
@click.pass_context
def main(ctx, server, key, as_json):
    """A client of the Workflow Service: pipelines, runs, sweeps, workflows."""
    ctx.ensure_object(dict)
    ctx.obj["json"] = as_json
    ctx.obj["factory"] = lambda: Client(server, key)


def _client(ctx):
    if "client" not in ctx.obj:
        ctx.obj["client"] = ctx.obj["factory"]()
    return ctx.obj["client"]


def _print_json(value):
    out.print_json(json.dumps(value))


def _parse_params(pairs, split_values=False):
    parameters = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{pair!r} is not name=value", param_hint="--param")
        if split_values:
            parameters.setdefault(name, []).extend(value.split(","))
        else:
            parameters[name] = value
    return parameters


# -- pipelines -------------------------------------------------------------


@main.command("pipelines")
@click.pass_context
def list_pipelines(ctx):
    """List the pipelines."""
    pipelines = _client(ctx).pipelines()
    if ctx.obj["json"]:
        return _print_json(pipelines)
    table = Table("uuid", "name", "model", "created")
    for pipeline in pipelines:
        table.add_row(
            pipeline["uuid"], pipeline["name"], pipeline.get("model") or "", _when(pipeline["created_at"])
        )
    out.print(table)


@main.group("pipeline")
def pipeline_group():
    """Create, show or delete a pipeline."""


@pipeline_group.command("create")
@click.argument("name")
@click.option("--model", default=None, help="the .glm file to run (default model.glm)")
@click.option("--description", default=None)
@click.option("--arg", "arguments", multiple=True, help="an extra gridlabd argument (repeat for more)")
@click.option("--timeout", type=int, default=None, help="seconds a run may take")
@click.option("--repository", default=None, help="git URL holding the model files")
@click.option("--branch", default=None, help="git branch of --repository")
@click.pass_context
def create_pipeline(ctx, name, model, description, arguments, timeout, repository, branch):
    """Create a pipeline named NAME; prints its uuid."""
    pipeline = _client(ctx).create_pipeline(
        name,
        model=model,
        description=description,
        arguments=list(arguments) or None,
        timeout=timeout,
        repository_ssh_url=repository,
        repository_branch=branch,
    )
    if ctx.obj["json"]:
        return _print_json(pipeline)
    out.print(pipeline["uuid"])


@pipeline_group.command("show")
@click.argument("pipeline")
@click.pass_context
def show_pipeline(ctx, pipeline):
    """Show a pipeline (uuid or name)."""
    _print_json(_client(ctx).pipeline(pipeline))


@pipeline_group.command("delete")
@click.argument("pipeline")
@click.pass_context
def delete_pipeline(ctx, pipeline):
    """Delete a pipeline; its runs that are not final are cancelled."""
    _client(ctx).delete_pipeline(pipeline)
    err.print(f"deleted {pipeline}")


# -- runs ------------------------------------------------------------------


@main.command("runs")
@click.argument("pipeline")
@click.option("--state", default=None, help="only runs in this state")
@click.option("--limit", type=int, default=None)
@click.option("--offset", type=int, default=None)
@click.pass_context
def list_runs(ctx, pipeline, state, limit, offset):
    """List a pipeline's runs, oldest first."""
    client = _client(ctx)
    uuid = client.pipeline_uuid(pipeline)
    runs = client.runs(uuid, state=state, limit=limit, offset=offset)
    if ctx.obj["json"]:
        return _print_json(runs)
    table = Table("#", "run", "state", "progress", "started", "completed")
    for run in runs:
        table.add_row(
            str(run["sequence"]),
            f"{uuid}/{run['uuid']}",
            run["state"],
            _fraction(run.get("progress")),
            _when(run.get("started_at")),
            _when(run.get("completed_at")),
        )
    out.print(table)


@main.command("run")
@click.argument("pipeline")
@click.argument("sources", nargs=-1, required=True, metavar="FILE_OR_URL...")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="a run parameter, read by the model as ${NAME}",
)
@click.option("--wait", is_flag=True, help="wait for the end, with a progress bar of the simulated clock")
@click.option("--follow", is_flag=True, help="print the console as it comes (implies --wait)")
@click.option(
    "--download",
    "download_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="save every artifact here (implies --wait)",
)
@click.option("--callback-url", default=None)
@click.pass_context
def start_run(ctx, pipeline, sources, params, wait, follow, download_dir, callback_url):
    """Run PIPELINE on local files (uploaded) and URLs (NAME=URL to rename).

    Prints the run as PIPELINE/RUN, which `wf logs` and `wf cancel` take.
    """
    client = _client(ctx)
    parameters = _parse_params(params)
    ref, run = client.run(pipeline, sources, parameters, wait=False, callback_url=callback_url)
    err.print(f"run {run['sequence']}: {ref}", markup=False)
    if not (wait or follow or download_dir):
        out.print(str(ref), markup=False)
        return
    run = _follow_run(client, ref, follow)
    _report_run(run, client.console(ref) if run["state"] != "COMPLETED" else None)
    if download_dir:
        for path in client.download_artifacts(run, download_dir):
            err.print(f"saved {path}", markup=False)
    if ctx.obj["json"]:
        _print_json(run)
    ctx.exit(0 if run["state"] == "COMPLETED" else EXIT_NOT_COMPLETED)


def _follow_run(client, ref, follow):
    """Wait for the run's end, showing a progress bar on a terminal and,
    with ``follow``, its console as it comes."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[clock]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("NOT_STARTED", total=1.0, clock="")

        def on_event(event):
            if event.kind == "state":
                bar.update(task, description=event.data["state"])
            elif event.kind == "progress" and event.data:
                fraction = event.data.get("fraction")
                bar.update(
                    task,
                    completed=fraction or 0,
                    total=1.0 if fraction is not None else None,
                    clock=event.data.get("clock") or "",
                )
            elif event.kind == "console" and follow:
                if event.data.get("std_out"):
                    sys.stdout.write(event.data["std_out"])
                    sys.stdout.flush()
                if event.data.get("std_err"):
                    sys.stderr.write(event.data["std_err"])
                    sys.stderr.flush()

        return client.wait(ref, on_event)


def _report_run(run, console):
    line = f"{run['state']}"
    if run.get("started_at") and run.get("completed_at"):
        seconds = (_parse(run["completed_at"]) - _parse(run["started_at"])).total_seconds()
        line += f" in {seconds:.1f} s"
    line += f", {len(run.get('artifacts', []))} artifacts"
    err.print(line, markup=False)
    if console is not None:
        reason = [text for text in (console.get("std_err") or "").splitlines() if text.strip()]
        if reason:
            err.print(f"reason: {reason[-1]}", markup=False)


@main.command("logs")
@click.argument("run")
@click.option("--follow", is_flag=True, help="keep printing until the run ends")
@click.pass_context
def logs(ctx, run, follow):
    """Print a run's console (RUN as PIPELINE/RUN, or a run uuid)."""
    client = _client(ctx)
    ref = client.find_run(run)
    if not follow:
        console = client.console(ref)
        sys.stdout.write(console.get("std_out") or "")
        sys.stderr.write(console.get("std_err") or "")
        return
    for event in client.events(ref):
        if event.kind == "console":
            sys.stdout.write(event.data.get("std_out") or "")
            sys.stdout.flush()
            sys.stderr.write(event.data.get("std_err") or "")
            sys.stderr.flush()
    final = client.get_run(ref)
    ctx.exit(0 if final["state"] == "COMPLETED" else EXIT_NOT_COMPLETED)


@main.command("cancel")
@click.argument("run")
@click.pass_context
def cancel(ctx, run):
    """Cancel a run (PIPELINE/RUN, or a run uuid)."""
    client = _client(ctx)
    ref = client.find_run(run)
    result = client.cancel(ref)
    err.print(f"{ref}: {result['state'] if result else 'CANCELLED'}", markup=False)


@main.command("status")
@click.argument("run")
@click.pass_context
def status(ctx, run):
    """Show a run's JSON (PIPELINE/RUN, or a run uuid)."""
    client = _client(ctx)
    _print_json(client.get_run(client.find_run(run)))


# -- sweeps ----------------------------------------------------------------


@main.command("sweep")
@click.argument("pipeline")
@click.argument("sources", nargs=-1, required=True, metavar="FILE_OR_URL...")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="NAME=V1,V2,...",
    help="values of one parameter; runs cover every combination",
)
@click.option(
    "--wait", is_flag=True, help="wait for every run, with a progress bar, then print a table of results"
)
@click.pass_context
def sweep(ctx, pipeline, sources, params, wait):
    """Run PIPELINE once per combination of the --param values."""
    if not params:
        raise click.UsageError("give at least one --param NAME=V1,V2,...")
    client = _client(ctx)
    created = client.sweep(pipeline, sources, parameters=_parse_params(params, split_values=True))
    err.print(f"sweep {created['uuid']}: {created['run_count']} runs", markup=False)
    if not wait:
        out.print(created["uuid"], markup=False)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} runs"),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task("sweep", total=created["run_count"], detail="")

        def on_event(event):
            counts = event.data.get("counts") if isinstance(event.data, dict) else None
            if counts:
                done = sum(counts.get(state, 0) for state in FINAL_STATES)
                detail = ", ".join(f"{state} {count}" for state, count in counts.items() if count)
                bar.update(task, completed=done, detail=detail, description=event.data.get("state", "sweep"))

        final = client.wait_sweep(created, on_event)
    _results_table(client.sweep_results(final), sorted(_parse_params(params, split_values=True)))
    err.print(
        f"sweep {final['state']}: " + ", ".join(f"{k} {v}" for k, v in final["counts"].items() if v),
        markup=False,
    )
    ctx.exit(0 if final["state"] == "COMPLETED" else EXIT_NOT_COMPLETED)


def _results_table(text, parameter_names):
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        return
    fixed = {"sequence", "run_uuid", "state", "started_at", "completed_at"}
    parameters = [name for name in rows[0] if name in parameter_names]
    artifacts = [name for name in rows[0] if name not in fixed and name not in parameters]
    table = Table("#", "state", *parameters, "seconds", "artifacts")
    for row in rows:
        seconds = ""
        if row.get("started_at") and row.get("completed_at"):
            seconds = f"{(_parse(row['completed_at']) - _parse(row['started_at'])).total_seconds():.1f}"
        stored = sum(1 for name in artifacts if row.get(name))
        table.add_row(
            row["sequence"], row["state"], *(row[name] for name in parameters), seconds, str(stored)
        )
    out.print(table)


# -- workflows -------------------------------------------------------------


@main.group("workflow")
def workflow_group():
    """Workflows: DAGs of pipelines whose artifacts feed the next ones."""


@workflow_group.command("list")
@click.pass_context
def list_workflows(ctx):
    """List the workflows."""
    workflows = _client(ctx).workflows()
    if ctx.obj["json"]:
        return _print_json(workflows)
    table = Table("uuid", "name", "description")
    for workflow in workflows:
        table.add_row(workflow["uuid"], workflow["name"], workflow.get("description") or "")
    out.print(table)


@workflow_group.command("create")
@click.argument("name")
@click.option("--description", default=None)
@click.pass_context
def create_workflow(ctx, name, description):
    """Create a workflow; prints its uuid."""
    out.print(_client(ctx).create_workflow(name, description)["uuid"], markup=False)


@workflow_group.command("add")
@click.argument("workflow")
@click.argument("pipeline")
@click.option(
    "--after", multiple=True, metavar="NODE", help="a node whose artifacts this one takes (repeat for more)"
)
@click.pass_context
def add_node(ctx, workflow, pipeline, after):
    """Add PIPELINE to WORKFLOW as a node; prints the node's uuid."""
    out.print(_client(ctx).add_node(workflow, pipeline, after)["uuid"], markup=False)


@workflow_group.command("show")
@click.argument("workflow")
@click.pass_context
def show_workflow(ctx, workflow):
    """Show a workflow's nodes and their edges."""
    client = _client(ctx)
    nodes = client.workflow_nodes(workflow)
    if ctx.obj["json"]:
        return _print_json(nodes)
    table = Table("node", "pipeline", "after", "before")
    for node in nodes:
        table.add_row(
            node["uuid"],
            node["pipeline_uuid"],
            ", ".join(node.get("source_workflow_pipelines") or []),
            ", ".join(node.get("destination_workflow_pipelines") or []),
        )
    out.print(table)


@workflow_group.command("run")
@click.argument("workflow")
@click.argument("sources", nargs=-1, metavar="FILE_OR_URL...")
@click.option("--wait", is_flag=True, help="wait for the end and print each node's state")
@click.pass_context
def run_workflow(ctx, workflow, sources, wait):
    """Run WORKFLOW on local files (uploaded) and URLs."""
    client = _client(ctx)
    workflow_run = client.start_workflow(workflow, sources)
    err.print(f"workflow run {workflow_run['uuid']}", markup=False)
    if not wait:
        out.print(workflow_run["uuid"], markup=False)
        return

    def on_event(event):
        state = event.data.get("state") if isinstance(event.data, dict) else None
        if state and event.kind != "console":
            err.print(f"{event.kind}: {state}", markup=False)

    final = client.wait_workflow(workflow_run, on_event)
    table = Table("node", "pipeline", "run", "state")
    for node in final["workflow_pipeline_runs"]:
        run = node["pipeline_run"]
        table.add_row(node["workflow_pipeline_uuid"], node["pipeline_uuid"], run["uuid"], run["state"])
    out.print(table)
    state = final["states"][-1]["state"] if final["states"] else "NOT_STARTED"
    err.print(f"workflow run {state}", markup=False)
    ctx.exit(0 if state == "COMPLETED" else EXIT_NOT_COMPLETED)


# -- formatting ------------------------------------------------------------


def _parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _when(text):
    return _parse(text).strftime("%Y-%m-%d %H:%M:%S") if text else ""


def _fraction(progress):
    if not progress or progress.get("fraction") is None:
        return ""
    return f"{progress['fraction']:.0%}"
