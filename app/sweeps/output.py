"""The JSON of a sweep, and the text of its results.csv."""

import csv
import io

from ..runs.output import iso


def sweep_output(sweep, summary):
    """A sweep with its ``summary`` (``queries.sweep_summary``)."""
    return {
        "uuid": sweep.uuid,
        "pipeline_uuid": sweep.pipeline.uuid,
        "created_at": iso(sweep.created_at),
        "completed_at": iso(summary["completed_at"]),
        "run_count": sweep.run_count,
        "counts": summary["counts"],
        "state": summary["state"],
        "parameters": sweep.parameters,
        "rows": sweep.rows,
        "inputs": [{"name": item.get("name"), "url": item.get("url")} for item in sweep.inputs],
        "callback_url": sweep.callback_url,
    }


def parameter_names(sweep):
    """The sweep's parameter names: those of ``parameters`` in order, or
    those of the rows in the order they first appear."""
    if sweep.parameters is not None:
        return list(sweep.parameters)
    names = {}
    for row in sweep.rows or ():
        names.update(dict.fromkeys(row))
    return list(names)


def csv_lines(sweep, artifact_names, rows, artifact_url):
    """results.csv a line at a time: the header, then one line per run
    from ``rows`` (``queries.result_rows``)."""
    names = parameter_names(sweep)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")

    def line(values):
        writer.writerow(values)
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield line(["sequence", "run_uuid", "state", *names, "started_at", "completed_at", *artifact_names])
    for run, artifacts in rows:
        urls = {}
        for artifact_uuid, name in artifacts:
            urls[name] = artifact_url(run.uuid, artifact_uuid)  # the newest of a name wins
        parameters = run.parameters or {}
        yield line(
            [
                run.sequence,
                run.uuid,
                run.state,
                *(parameters.get(name, "") for name in names),
                iso(run.started_at) or "",
                iso(run.completed_at) or "",
                *(urls.get(name, "") for name in artifact_names),
            ]
        )
