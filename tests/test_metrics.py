"""GET /metrics in one process (the test client): requests by route and
status, runs by state, stale runs, the queues, the METRICS_TOKEN. The counts
of several gunicorn processes, after a real run: tests/e2e/test_metrics_e2e.py."""

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from app.extensions import db
from app.runs.models import Run
from roles.models import utcnow

from .helpers import run_in_state


def scrape(client, headers=None):
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"].startswith("text/plain")
    return samples(response.get_data(as_text=True))


def samples(text):
    """``{(sample name, sorted label items): value}`` of a scrape."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def requests_counted(found, method, endpoint, status):
    key = ("workflow_http_requests_total", (("endpoint", endpoint), ("method", method), ("status", status)))
    return found.get(key, 0)


def test_requests_are_counted_by_route_and_status(client, api):
    pipeline = api.create_pipeline()
    route = "/v1/pipelines/<pipeline_uuid>"
    before = scrape(client)
    for _ in range(3):
        assert client.get(f"/v1/pipelines/{pipeline['uuid']}", headers=api.keys.client).status_code == 200
    assert client.get(f"/v1/pipelines/{'0' * 32}", headers=api.keys.client).status_code == 404
    assert client.get(f"/v1/pipelines/{pipeline['uuid']}").status_code == 401
    after = scrape(client)

    assert requests_counted(after, "GET", route, "200") - requests_counted(before, "GET", route, "200") == 3
    assert requests_counted(after, "GET", route, "404") - requests_counted(before, "GET", route, "404") == 1
    assert requests_counted(after, "GET", route, "401") - requests_counted(before, "GET", route, "401") == 1
    # The route's pattern labels the series, never the path with its ids.
    assert not any(pipeline["uuid"] in str(labels) for _, labels in after)
    latency = ("workflow_http_request_duration_seconds_count", (("endpoint", route), ("method", "GET")))
    assert after[latency] - before.get(latency, 0) == 5


def test_runs_are_counted_by_state_and_stale_runs_apart(app, client, api):
    pipeline = api.create_pipeline()
    run_in_state(api, pipeline["uuid"], "NOT_STARTED")
    fresh = run_in_state(api, pipeline["uuid"], "RUNNING")
    stale = run_in_state(api, pipeline["uuid"], "RUNNING")
    run_in_state(api, pipeline["uuid"], "COMPLETED")
    run_in_state(api, pipeline["uuid"], "COMPLETED")
    timeout = app.config["RUN_HEARTBEAT_TIMEOUT"]
    with app.app_context():
        db.session.execute(
            db.update(Run)
            .where(Run.uuid == stale["uuid"])
            .values(heartbeat_at=utcnow() - timedelta(seconds=timeout + 5))
        )
        db.session.commit()

    found = scrape(client)

    by_state = {state: found[("workflow_runs", (("state", state),))] for state in ("NOT_STARTED", "RUNNING")}
    assert by_state == {"NOT_STARTED": 1, "RUNNING": 2}
    assert found[("workflow_runs", (("state", "COMPLETED"),))] == 2
    assert found[("workflow_runs", (("state", "FAILED"),))] == 0
    assert found[("workflow_runs_stale", ())] == 1
    assert fresh["uuid"] != stale["uuid"]


def test_the_queue_lengths_and_the_broker_are_reported(client, api):
    pipeline = api.create_pipeline()
    before = scrape(client)
    api.create_run(pipeline["uuid"])
    api.create_run(pipeline["uuid"])
    after = scrape(client)

    assert after[("workflow_broker_up", ())] == 1
    queued = ("workflow_queue_length", (("queue", "celery"),))
    assert after[queued] - before[queued] == 2
    assert ("workflow_queue_length", (("queue", "callbacks"),)) in after


def test_metrics_token_is_required_once_set(app, client):
    app.config["METRICS_TOKEN"] = "scraper-secret"
    try:
        refused = client.get("/metrics")
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert "METRICS_TOKEN" in refused.get_json()["message"]
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        found = scrape(client, headers={"Authorization": "Bearer scraper-secret"})
        assert ("workflow_broker_up", ()) in found
    finally:
        app.config["METRICS_TOKEN"] = None


def test_sweeps_and_workflow_runs_are_counted_by_state(client, api):
    from .workflow_api import Workflows

    pipeline = api.create_pipeline()
    sweeps = f"/v1/pipelines/{pipeline['uuid']}/sweeps"
    for values in ([1, 2], [3]):
        body = {"inputs": [], "parameters": {"load_w": values}}
        assert client.post(sweeps, json=body, headers=api.keys.client).status_code == 201
    cancelled = client.post(sweeps, json={"inputs": [], "rows": [{"x": 1}]}, headers=api.keys.client)
    assert (
        client.post(f"{sweeps}/{cancelled.get_json()['uuid']}/cancel", headers=api.keys.client).status_code
        == 200
    )
    workflows = Workflows(api)
    workflow = workflows.create()
    workflows.add_node(workflow, pipeline)
    workflows.start(workflow)
    workflows.cancel(workflows.start(workflow))

    found = scrape(client)

    assert found[("workflow_sweeps", (("state", "NOT_STARTED"),))] == 2
    assert found[("workflow_sweeps", (("state", "CANCELLED"),))] == 1
    assert found[("workflow_sweeps", (("state", "RUNNING"),))] == 0
    assert found[("workflow_workflow_runs", (("state", "NOT_STARTED"),))] == 1
    assert found[("workflow_workflow_runs", (("state", "CANCELLED"),))] == 1
    assert found[("workflow_workflow_runs", (("state", "COMPLETED"),))] == 0
