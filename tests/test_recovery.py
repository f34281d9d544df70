"""Worker loss, the API's side (docs/adr/0010-worker-loss-recovery.md): signs
of life, attempts and the Workflow-Run-Attempt header, and the recovery
sweep that queues silent runs again or fails them.

The sweep's clock is the test's: ``recover_runs(now=...)`` and the runs'
``heartbeat_at`` are set, nothing sleeps. Tasks the sweep sends are read
back from a real Redis (tests/test_broker.py's fixtures).
"""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.runs import recovery
from app.runs.models import Run
from app.runs.queries import silent_runs

from . import test_broker
from .conftest import Api, Keys, make_app
from .helpers import assert_error, run_in_state, table_snapshot
from .migrated import migrated_database
from .processes import command_env, executable, free_port, run_command

# tests/test_broker.py's fixtures: apps publishing to a private part of the test Redis.
apps, redis_app, redis_queue = test_broker.apps, test_broker.redis_app, test_broker.redis_queue

NOW = datetime(2030, 1, 15, 12, 0, tzinfo=UTC)
TIMEOUT = 120
ATTEMPT = "Workflow-Run-Attempt"


def run_row(app, run_uuid):
    with app.app_context():
        row = db.session.execute(
            db.select(Run.state, Run.attempt, Run.heartbeat_at, Run.started_at, Run.completed_at).where(
                Run.uuid == run_uuid
            )
        ).one()
        db.session.rollback()
        return row


def as_utc(moment):
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def set_times(app, run_uuid, **moments):
    """Give the run ``heartbeat_at`` / ``started_at`` of the test's clock."""
    with app.app_context():
        db.session.execute(db.update(Run).where(Run.uuid == run_uuid).values(**moments))
        db.session.commit()


def sent_tasks(redis_queue):
    """What was sent since the last look: runs first, then callbacks (their own queue)."""
    return redis_queue.take() + redis_queue.take("callbacks")


def sweep(app, now=NOW, timeout=TIMEOUT, max_attempts=2, queue_timeout=0):
    """One pass at the test's clock; by default only the RUNNING runs
    (the tests' NOT_STARTED runs were all created long before NOW)."""
    with app.app_context():
        return recovery.recover_runs(
            now=now, timeout=timeout, max_attempts=max_attempts, queue_timeout=queue_timeout
        )


def counts(report):
    return report.requeued, report.failed, report.postponed


def silent_run(api, pipeline, silence=TIMEOUT + 1, **run_body):
    """A RUNNING run whose last sign of life was ``silence`` seconds before NOW."""
    run = run_in_state(api, pipeline, "RUNNING", **run_body)
    set_times(api.client.application, run["uuid"], heartbeat_at=NOW - timedelta(seconds=silence))
    return run


def states(api, pipeline, run):
    body = api.client.get(api.run_path(pipeline, run["uuid"]), headers=api.keys.client).get_json()
    return [entry["state"] for entry in body["states"]]


def console(api, pipeline, run):
    return api.client.get(api.run_path(pipeline, run["uuid"], "/console"), headers=api.keys.client).get_json()


@pytest.fixture
def pipeline(api):
    return api.create_pipeline()["uuid"]


# --- signs of life and attempts ------------------------------------------------


def test_every_worker_report_is_a_sign_of_life(app, api, client, keys, pipeline):
    run = api.create_run(pipeline)
    assert run_row(app, run["uuid"]).heartbeat_at is None
    reports = [
        ("PUT", "/state", {"json": {"state": "RUNNING"}}),
        ("POST", "/console", {"json": {"std_out": "more"}}),
        ("PUT", "/console", {"json": {"std_out": "all", "std_err": ""}}),
        (
            "POST",
            "/artifacts",
            {"query_string": {"name": "v.csv"}, "data": b"1\n", "content_type": "application/octet-stream"},
        ),
        ("PUT", "/heartbeat", {}),
        ("PUT", "/state", {"json": {"state": "COMPLETED"}}),
    ]
    seen = []
    for method, tail, kwargs in reports:
        before = datetime.now(UTC)
        response = client.open(
            api.run_path(pipeline, run["uuid"], tail), method=method, headers=keys.worker, **kwargs
        )
        assert response.status_code < 300, (tail, response.get_json())
        heartbeat_at = as_utc(run_row(app, run["uuid"]).heartbeat_at)
        assert heartbeat_at >= before - timedelta(milliseconds=1), (method, tail)
        seen.append(heartbeat_at)
    assert seen == sorted(seen)


def test_running_starts_the_next_attempt_and_the_answers_say_which(app, api, client, keys, pipeline):
    run = api.create_run(pipeline)
    assert run_row(app, run["uuid"]).attempt == 0
    response = api.set_state(pipeline, run["uuid"], "RUNNING")
    assert response.status_code == 200
    assert response.get_json()["attempt"] == 1
    heartbeat = client.put(api.run_path(pipeline, run["uuid"], "/heartbeat"), headers=keys.worker)
    assert heartbeat.status_code == 200
    assert heartbeat.get_json() == {"state": "RUNNING", "attempt": 1}

    set_times(app, run["uuid"], heartbeat_at=NOW - timedelta(seconds=TIMEOUT + 1))
    assert counts(sweep(app)) == (1, 0, 0)
    response = api.set_state(pipeline, run["uuid"], "RUNNING")
    assert response.get_json()["attempt"] == 2
    finished = api.set_state(pipeline, run["uuid"], "COMPLETED")
    assert finished.get_json()["attempt"] == 2
    # The client's run JSON does not change shape.
    assert "attempt" not in client.get(api.run_path(pipeline, run["uuid"]), headers=keys.client).get_json()


@pytest.mark.parametrize("state", ["NOT_STARTED", "COMPLETED", "FAILED", "CANCELLED"])
def test_a_heartbeat_for_a_run_not_running_changes_nothing_and_tells_the_state(
    app, api, client, keys, pipeline, state
):
    run = run_in_state(api, pipeline, state)
    before = table_snapshot(app)
    response = client.put(api.run_path(pipeline, run["uuid"], "/heartbeat"), headers=keys.worker)
    assert response.status_code == 200
    assert response.get_json()["state"] == state
    assert table_snapshot(app) == before


def test_a_heartbeat_takes_no_body_or_an_empty_object(api, client, keys, pipeline):
    run = run_in_state(api, pipeline, "RUNNING")
    path = api.run_path(pipeline, run["uuid"], "/heartbeat")
    assert client.put(path, headers=keys.worker).status_code == 200
    assert client.put(path, json={}, headers=keys.worker).status_code == 200
    for body in ({"state": "RUNNING"}, [], "x"):
        assert_error(client.put(path, json=body, headers=keys.worker), 400)
    assert_error(client.put(path, data=b"not json", content_type="text/plain", headers=keys.worker), 400)
    assert_error(client.put(api.run_path(pipeline, "0" * 32, "/heartbeat"), headers=keys.worker), 404)


# --- the attempt header ----------------------------------------------------------

WORKER_CALLS = {
    "GET state": ("GET", "/state", {}),
    "PUT state": ("PUT", "/state", {"json": {"state": "COMPLETED"}}),
    "PUT console": ("PUT", "/console", {"json": {"std_out": "x", "std_err": ""}}),
    "POST console": ("POST", "/console", {"json": {"std_out": "x"}}),
    "POST artifacts": (
        "POST",
        "/artifacts",
        {"query_string": {"name": "v.csv"}, "data": b"1\n", "content_type": "application/octet-stream"},
    ),
    "PUT heartbeat": ("PUT", "/heartbeat", {}),
}


def call(client, keys, api, pipeline, run, name, attempt):
    method, tail, kwargs = WORKER_CALLS[name]
    headers = {**keys.worker, **({} if attempt is None else {ATTEMPT: attempt})}
    return client.open(api.run_path(pipeline, run["uuid"], tail), method=method, headers=headers, **kwargs)


@pytest.mark.parametrize("name", WORKER_CALLS)
def test_a_call_naming_another_attempt_is_409_and_changes_nothing(app, api, client, keys, pipeline, name):
    run = run_in_state(api, pipeline, "RUNNING")  # attempt 1
    for stale in ("0", "2"):
        before = table_snapshot(app)
        body = assert_error(call(client, keys, api, pipeline, run, name, stale), 409)
        assert "another attempt" in body["message"]
        assert table_snapshot(app) == before
    assert call(client, keys, api, pipeline, run, name, "1").status_code < 300


@pytest.mark.parametrize("name", WORKER_CALLS)
def test_once_the_run_went_back_to_the_queue_its_lost_attempt_is_refused(
    app, api, client, keys, pipeline, name
):
    run = silent_run(api, pipeline)
    assert counts(sweep(app)) == (1, 0, 0)  # NOT_STARTED, still attempt 1 until a worker starts it
    before = table_snapshot(app)
    assert_error(call(client, keys, api, pipeline, run, name, "1"), 409)
    assert table_snapshot(app) == before


@pytest.mark.parametrize("name", WORKER_CALLS)
def test_calls_without_the_header_are_not_checked(api, client, keys, pipeline, name):
    run = run_in_state(api, pipeline, "RUNNING")
    assert call(client, keys, api, pipeline, run, name, None).status_code < 300


@pytest.mark.parametrize("value", ["", " ", "one", "-1", "+1", "1.0", "0x1", "1 2", "٣", "99999999999"])
def test_a_malformed_attempt_header_is_400(app, api, client, keys, pipeline, value):
    run = run_in_state(api, pipeline, "RUNNING")
    before = table_snapshot(app)
    for name in WORKER_CALLS:
        body = assert_error(call(client, keys, api, pipeline, run, name, value), 400)
        assert ATTEMPT in body["message"], name
    assert table_snapshot(app) == before


# --- the sweep ---------------------------------------------------------------------


def test_a_silent_run_is_queued_again_with_its_task_and_a_note(app, api, tmp_path, redis_app, redis_queue):
    publishing = redis_app(app, tmp_path)
    client = publishing.test_client()
    api = Api(client, api.keys)
    pipeline = api.create_pipeline(model="feeder.glm", arguments=["-D", "x=1"], timeout=600)["uuid"]
    inputs = [{"name": "feeder.glm", "url": "https://example.com/feeder.glm"}]
    run = run_in_state(api, pipeline, "RUNNING", inputs=inputs, callback_url="https://hook.test/x")
    client.post(
        api.run_path(pipeline, run["uuid"], "/console"),
        json={"std_err": "half a line"},
        headers=api.keys.worker,
    )
    set_times(publishing, run["uuid"], heartbeat_at=NOW - timedelta(seconds=TIMEOUT + 7))
    (created,) = [message for message in sent_tasks(redis_queue) if message["task"] == "execute_pipeline"]

    report = sweep(publishing)

    assert counts(report) == (1, 0, 0)
    row = run_row(app, run["uuid"])
    assert (row.state, row.attempt) == ("NOT_STARTED", 1)
    assert states(api, pipeline, run) == ["NOT_STARTED", "RUNNING", "NOT_STARTED"]
    assert console(api, pipeline, run)["std_err"] == (
        "half a line\n[service] worker lost: no sign of life for 127 s; run queued again (attempt 2 of 2)\n"
    )
    assert sent_tasks(redis_queue) == [
        created,  # the same task, with the same arguments
        {
            "task": "deliver_callback",
            "args": [],
            "kwargs": {
                "url": "https://hook.test/x",
                "pipeline_run_uuid": run["uuid"],
                "state": "NOT_STARTED",
            },
        },
    ]
    assert created["kwargs"]["run_uuid"] == run["uuid"] and created["kwargs"]["inputs"] == inputs
    # A second pass finds nothing more to do.
    assert counts(sweep(publishing)) == (0, 0, 0)
    assert sent_tasks(redis_queue) == []


def test_runs_that_gave_a_sign_of_life_in_time_are_left_alone(app, api, pipeline):
    fresh = silent_run(api, pipeline, silence=TIMEOUT - 1)
    started_recently = run_in_state(api, pipeline, "RUNNING")
    set_times(
        app, started_recently["uuid"], heartbeat_at=None, started_at=NOW - timedelta(seconds=TIMEOUT - 1)
    )
    waiting = api.create_run(pipeline)  # NOT_STARTED for ever so long: it waits in the queue
    finished = [run_in_state(api, pipeline, state) for state in ("COMPLETED", "FAILED", "CANCELLED")]
    for run in (waiting, *finished):
        set_times(app, run["uuid"], heartbeat_at=NOW - timedelta(days=1))
    before = table_snapshot(app)

    assert counts(sweep(app)) == (0, 0, 0)

    assert table_snapshot(app) == before
    assert run_row(app, fresh["uuid"]).state == "RUNNING"


def test_a_run_started_before_heartbeats_is_judged_by_its_start(app, api, pipeline):
    run = run_in_state(api, pipeline, "RUNNING")
    set_times(app, run["uuid"], heartbeat_at=None, started_at=NOW - timedelta(seconds=TIMEOUT + 1))
    assert counts(sweep(app)) == (1, 0, 0)
    assert run_row(app, run["uuid"]).state == "NOT_STARTED"


def test_a_run_out_of_attempts_fails_with_the_reason_as_the_last_line(app, api, client, keys, pipeline):
    run = silent_run(api, pipeline)
    assert counts(sweep(app)) == (1, 0, 0)
    assert api.set_state(pipeline, run["uuid"], "RUNNING").get_json()["attempt"] == 2
    client.post(
        api.run_path(pipeline, run["uuid"], "/console"), json={"std_err": "no newline"}, headers=keys.worker
    )
    set_times(app, run["uuid"], heartbeat_at=NOW - timedelta(seconds=130))

    assert counts(sweep(app)) == (0, 1, 0)

    row = run_row(app, run["uuid"])
    assert (row.state, row.attempt, as_utc(row.completed_at)) == ("FAILED", 2, NOW)
    assert states(api, pipeline, run) == ["NOT_STARTED", "RUNNING", "NOT_STARTED", "RUNNING", "FAILED"]
    std_err = console(api, pipeline, run)["std_err"]
    assert std_err.endswith(
        "no newline\nworker lost: no sign of life from its worker for 130 seconds after 2 attempts\n"
    )
    # Final: nothing more is taken, and the listing shows it as the run does.
    assert_error(api.set_state(pipeline, run["uuid"], "COMPLETED"), 409)
    listed = client.get(f"/v1/pipelines/{pipeline}/runs", headers=keys.client).get_json()
    assert listed == [client.get(api.run_path(pipeline, run["uuid"]), headers=keys.client).get_json()]


def test_runs_max_attempts_of_one_fails_at_the_first_loss(app, api, pipeline):
    run = silent_run(api, pipeline)
    assert counts(sweep(app, max_attempts=1)) == (0, 1, 0)
    assert console(api, pipeline, run)["std_err"].endswith("for 121 seconds after 1 attempt\n")


def test_a_broker_failure_leaves_the_run_running_for_the_next_pass(
    app,
    api,
    apps,
    tmp_path,
    redis_app,
    redis_queue,
):
    pipeline = api.create_pipeline()["uuid"]
    first, second = silent_run(api, pipeline), silent_run(api, pipeline)
    down = apps(app, tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/13")
    before = table_snapshot(app)

    assert counts(sweep(down)) == (0, 0, 2)

    assert table_snapshot(app) == before
    assert run_row(app, first["uuid"]).state == "RUNNING"
    up = redis_app(app, tmp_path)
    assert counts(sweep(up)) == (2, 0, 0)
    assert [m["kwargs"]["run_uuid"] for m in redis_queue.take()] == [first["uuid"], second["uuid"]]


def test_a_sign_of_life_that_lands_after_the_sweeps_read_keeps_the_run(app, api, client, keys, pipeline):
    now = datetime.now(UTC)  # the heartbeat below lands at the real time
    cutoff = now - timedelta(seconds=TIMEOUT)
    run = run_in_state(api, pipeline, "RUNNING")
    set_times(app, run["uuid"], heartbeat_at=cutoff - timedelta(seconds=1))
    with app.app_context():
        (seen,) = silent_runs(cutoff)
        recovery._detach([seen])
        db.session.rollback()
        # The worker was only slow: its heartbeat arrives now.
        heartbeat = client.put(api.run_path(pipeline, run["uuid"], "/heartbeat"), headers=keys.worker)
        assert heartbeat.status_code == 200
        assert recovery._requeue(seen, cutoff, now, 2) == 0
        assert recovery._fail(seen, cutoff, now, 2) == 0
    assert run_row(app, run["uuid"]).state == "RUNNING"
    assert states(api, pipeline, run) == ["NOT_STARTED", "RUNNING"]
    assert "worker lost" not in console(api, pipeline, run)["std_err"]


def test_a_worker_given_the_task_before_the_sweep_commits_waits_and_gets_the_run(
    app, api, client, keys, pipeline
):
    """The sweep sends the task before it commits: a worker that asks for the
    run meanwhile (PUT RUNNING) waits for the commit, then starts it."""
    run = silent_run(api, pipeline)
    answers = []
    with app.app_context():
        (seen,) = silent_runs(NOW - timedelta(seconds=TIMEOUT))
        recovery._detach([seen])
        db.session.rollback()
        assert recovery._settle(seen, NOW - timedelta(seconds=TIMEOUT), NOW, "NOT_STARTED", "note")
        worker = threading.Thread(
            target=lambda: answers.append(api.set_state(pipeline, run["uuid"], "RUNNING"))
        )
        worker.start()
        time.sleep(1)
        assert answers == [], "the worker's PUT waits for the sweep's transaction"
        db.session.commit()
    worker.join(10)
    assert answers[0].status_code == 200, answers[0].get_json()
    assert answers[0].get_json()["attempt"] == 2
    assert states(api, pipeline, run) == ["NOT_STARTED", "RUNNING", "NOT_STARTED", "RUNNING"]


def test_two_sweeps_at_once_settle_each_run_once(app, api, pipeline):
    runs = [silent_run(api, pipeline) for _ in range(4)]
    reports = []
    threads = [threading.Thread(target=lambda: reports.append(sweep(app))) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sum(report.requeued for report in reports) == 4
    for run in runs:
        assert states(api, pipeline, run) == ["NOT_STARTED", "RUNNING", "NOT_STARTED"]


# --- runs whose task may be lost ------------------------------------------------

QUEUE_TIMEOUT = 900


def created_at(app, run_uuid):
    with app.app_context():
        moment = db.session.execute(db.select(Run.created_at).where(Run.uuid == run_uuid)).scalar_one()
        db.session.rollback()
        return as_utc(moment)


def test_a_run_waiting_past_the_queue_timeout_has_its_task_sent_again(
    app, api, tmp_path, redis_app, redis_queue
):
    publishing = redis_app(app, tmp_path)
    api = Api(publishing.test_client(), api.keys)
    pipeline = api.create_pipeline()["uuid"]
    run = api.create_run(pipeline, callback_url="https://hook.test/x")
    (created,) = redis_queue.take()
    due = created_at(app, run["uuid"]) + timedelta(seconds=QUEUE_TIMEOUT + 1)

    early = sweep(publishing, now=due - timedelta(seconds=2), queue_timeout=QUEUE_TIMEOUT)
    assert (early.resent, redis_queue.take()) == (0, [])

    report = sweep(publishing, now=due, queue_timeout=QUEUE_TIMEOUT)

    assert (report.resent, counts(report)) == (1, (0, 0, 0))
    assert redis_queue.take() == [created]  # the same task, the same arguments
    assert redis_queue.take("callbacks") == [], "the run's state did not change"
    assert run_row(app, run["uuid"]).state == "NOT_STARTED"
    assert states(api, pipeline, run) == ["NOT_STARTED"]
    assert console(api, pipeline, run) == {"std_out": "", "std_err": ""}
    # The send is recorded: the next one is a whole timeout later.
    for delay, resent in ((QUEUE_TIMEOUT - 1, 0), (QUEUE_TIMEOUT + 1, 1)):
        later = due + timedelta(seconds=delay)
        assert sweep(publishing, now=later, queue_timeout=QUEUE_TIMEOUT).resent == resent
    assert redis_queue.take() == [created]


def test_only_waiting_runs_have_their_task_sent_again(app, api, tmp_path, redis_app, redis_queue):
    publishing = redis_app(app, tmp_path)
    api = Api(publishing.test_client(), api.keys)
    pipeline = api.create_pipeline()["uuid"]
    waiting = api.create_run(pipeline)
    for state in ("RUNNING", "COMPLETED", "CANCELLED"):
        run_in_state(api, pipeline, state)
    redis_queue.take()

    tomorrow = datetime.now(UTC) + timedelta(days=1)
    report = sweep(publishing, now=tomorrow, timeout=10**9, queue_timeout=QUEUE_TIMEOUT)

    assert report.resent == 1
    assert [message["kwargs"]["run_uuid"] for message in redis_queue.take()] == [waiting["uuid"]]


def test_a_queue_timeout_of_zero_never_sends_again(app, api, tmp_path, redis_app, redis_queue):
    publishing = redis_app(app, tmp_path)
    api = Api(publishing.test_client(), api.keys)
    api.create_run(api.create_pipeline()["uuid"])
    redis_queue.take()
    assert sweep(publishing, now=datetime.now(UTC) + timedelta(days=365), queue_timeout=0).resent == 0
    assert redis_queue.take() == []


def test_a_requeued_run_waits_a_whole_queue_timeout_before_its_task_is_sent_again(
    app, api, tmp_path, redis_app, redis_queue
):
    publishing = redis_app(app, tmp_path)
    api = Api(publishing.test_client(), api.keys)
    pipeline = api.create_pipeline()["uuid"]
    run = silent_run(api, pipeline)
    redis_queue.take()

    first = sweep(publishing, queue_timeout=QUEUE_TIMEOUT)
    assert (first.requeued, first.resent) == (1, 0)
    assert len(redis_queue.take()) == 1
    later = sweep(publishing, now=NOW + timedelta(seconds=QUEUE_TIMEOUT + 1), queue_timeout=QUEUE_TIMEOUT)
    assert (later.requeued, later.resent) == (0, 1)
    assert [message["kwargs"]["run_uuid"] for message in redis_queue.take()] == [run["uuid"]]


def test_a_broker_failure_leaves_a_waiting_run_as_it_was(app, api, apps, tmp_path):
    pipeline = api.create_pipeline()["uuid"]
    run = api.create_run(pipeline)
    down = apps(app, tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/13")
    due = created_at(app, run["uuid"]) + timedelta(seconds=QUEUE_TIMEOUT + 1)
    before = table_snapshot(app)

    report = sweep(down, now=due, queue_timeout=QUEUE_TIMEOUT)

    assert (report.resent, report.postponed) == (0, 1)
    assert table_snapshot(app) == before
    assert run_row(app, run["uuid"]).heartbeat_at is None


def test_a_copy_of_a_task_whose_run_was_taken_is_refused(app, api, pipeline):
    """What a worker that takes the second copy meets: the run is RUNNING
    under the first copy's attempt, so its start is a 409 and changes nothing."""
    run = run_in_state(api, pipeline, "RUNNING")
    before = table_snapshot(app)
    response = api.set_state(pipeline, run["uuid"], "RUNNING")
    assert_error(response, 409)
    assert table_snapshot(app) == before


def test_the_endpoint_sweeps_with_the_configured_settings(app, api, client, keys, pipeline):
    now = datetime.now(UTC)
    silent = run_in_state(api, pipeline, "RUNNING")
    set_times(app, silent["uuid"], heartbeat_at=now - timedelta(seconds=TIMEOUT + 60))
    alive = run_in_state(api, pipeline, "RUNNING")
    app.config["RUN_MAX_ATTEMPTS"] = 1
    try:
        response = client.post("/v1/runs/recover", headers=keys.worker)
    finally:
        app.config["RUN_MAX_ATTEMPTS"] = 2
    assert response.status_code == 200, response.get_json()
    assert response.get_json() == {"requeued": 0, "failed": 1, "resent": 0, "postponed": 0}
    assert run_row(app, silent["uuid"]).state == "FAILED"
    assert run_row(app, alive["uuid"]).state == "RUNNING"


def test_the_invoke_task_recovers_runs(tmp_path):
    """``invoke recover-runs`` as an operator runs it, on a migrated SQLite file."""
    url = migrated_database("sqlite", tmp_path / "recovery.sqlite3")
    env = command_env(tmp_path, SQLALCHEMY_DATABASE_URI=url, RUN_HEARTBEAT_TIMEOUT=TIMEOUT)
    app = make_app(url, env["UPLOAD_FOLDER"])
    api = Api(app.test_client(), Keys(app))
    pipeline = api.create_pipeline()["uuid"]
    silent = run_in_state(api, pipeline, "RUNNING")
    set_times(app, silent["uuid"], heartbeat_at=datetime.now(UTC) - timedelta(seconds=TIMEOUT + 60))
    alive = run_in_state(api, pipeline, "RUNNING")
    with app.app_context():
        db.engine.dispose()

    result = run_command([executable("invoke"), "recover-runs"], env)

    assert result.stdout.startswith("runs silent for over 120 s: 1 queued again, 0 failed"), result.stdout
    assert run_row(app, silent["uuid"]).state == "NOT_STARTED"
    assert run_row(app, alive["uuid"]).state == "RUNNING"
