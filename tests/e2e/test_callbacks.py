"""Callbacks end to end: PostgreSQL, Redis, the API under gunicorn and real
Celery workers, calling receivers on loopback addresses.

- a receiver that takes the connection and never answers holds back no run
  (callbacks have a worker of their own, as docs/worker.md recommends);
- a receiver that answers 503 three times then 200 gets each state change
  once, signed, under one delivery id;
- a single worker started without -Q (the embedded default) delivers them too;
- a receiver in WORKER_BLOCKED_NETWORKS, by address or by name, is never
  contacted, and an input there fails its run with the reason.
"""

import hashlib
import hmac
import json
import re
import time
from collections import defaultdict

import pytest
import requests

from ..worker.callback_receiver import CallbackReceiver
from .stack import EXAMPLES, FINAL_STATES, Stack

MODEL = "ieee4.glm"
SECRET = "e2e-callback-secret"
CALLBACK_REDIS_DB = 9  # a database of its own, away from the other end-to-end tests (10 to 14)


def wait_until(condition, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def make_stack(tmp_path):
    stacks = []

    def make(**settings):
        folder = tmp_path / f"stack-{len(stacks)}"
        folder.mkdir()
        stack = Stack(folder, redis_db=CALLBACK_REDIS_DB, **settings)
        stacks.append(stack)
        return stack

    yield make
    for stack in stacks:
        stack.close()


def run_example(stack, pipeline, callback_url, inputs=None):
    inputs = inputs or [{"name": MODEL, "url": stack.input_url(MODEL)}]
    return stack.start_run(pipeline, inputs, callback_url=callback_url)


def completed(stack, run):
    run = stack.wait_for(run, FINAL_STATES)
    assert run["state"] == "COMPLETED", stack.get(run, "/console")
    return run


def test_a_callback_url_that_never_answers_holds_back_no_state_change(make_stack):
    stack = make_stack(worker_queues="celery", CALLBACK_SIGNING_SECRET=SECRET, CALLBACK_TIMEOUT=300)
    stack.start_callback_worker()
    pipeline = stack.create_pipeline(model=MODEL)
    long_pipeline = stack.create_pipeline(model=MODEL, arguments=["-D", "REALTIME_SECONDS=60"])

    with CallbackReceiver(hang=True) as receiver:
        first = completed(stack, run_example(stack, pipeline, receiver.url))
        # Its RUNNING and COMPLETED callbacks are both waiting on the receiver...
        wait_until(lambda: receiver.still_hanging() >= 2, "both callbacks to reach the receiver")

        # ...while the next run is executed and its states are reported,
        second = completed(stack, run_example(stack, pipeline, receiver.url))
        # and a client's cancel is answered at once.
        third = stack.wait_for(run_example(stack, long_pipeline, receiver.url), {"RUNNING", *FINAL_STATES})
        assert third["state"] == "RUNNING"
        cancel = requests.post(stack.run_url(third, "/cancel"), headers=stack.client, timeout=10)
        assert cancel.status_code == 200, cancel.text
        assert stack.wait_for(third, FINAL_STATES)["state"] == "CANCELLED"

        # The first attempts are still waiting for an answer (CALLBACK_TIMEOUT is 300 s):
        # nothing above waited for them.
        assert receiver.still_hanging() >= 2
        assert all(request.status is None for request in receiver.received)
        delivered = {(body["pipeline_run_uuid"], body["state"]) for body in receiver.bodies}
        assert (first["uuid"], "RUNNING") in delivered and (first["uuid"], "COMPLETED") in delivered
    assert second["uuid"] != first["uuid"]
    assert not ran_callbacks(stack.worker.output())  # runs and callbacks never share a worker
    assert ran_callbacks(stack.callback_worker.output())


def ran_callbacks(log):
    """The deliver_callback tasks a worker's log shows it received."""
    return re.findall(r"Task deliver_callback\[([0-9a-f-]+)\] received", log)


def succeeded_callbacks(log):
    return set(re.findall(r"Task deliver_callback\[([0-9a-f-]+)\] succeeded", log))


def test_a_callback_failing_three_times_is_delivered_once_per_state_signed(make_stack):
    stack = make_stack(worker_queues="celery", CALLBACK_SIGNING_SECRET=SECRET, CALLBACK_RETRY_BACKOFF=1)
    stack.start_callback_worker()
    pipeline = stack.create_pipeline(model=MODEL)

    with CallbackReceiver(statuses=[503, 503, 503, 200], per_delivery=True) as receiver:
        run = completed(stack, run_example(stack, pipeline, receiver.url))
        wait_until(
            lambda: len(succeeded_callbacks(stack.callback_worker.output())) == 2,
            "both callbacks to be delivered",
            timeout=120,
        )
        received = list(receiver.received)

    by_delivery = defaultdict(list)
    for request in received:
        by_delivery[request.headers["Workflow-Delivery"]].append(request)
    assert set(by_delivery) == succeeded_callbacks(stack.callback_worker.output())
    states = []
    for attempts in by_delivery.values():
        assert [attempt.status for attempt in attempts] == [503, 503, 503, 200]
        assert len({attempt.raw for attempt in attempts}) == 1, "every attempt sends the same bytes"
        for attempt in attempts:
            expected = "sha256=" + hmac.new(SECRET.encode(), attempt.raw, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(attempt.headers["Workflow-Signature"], expected)
        body = json.loads(attempts[0].raw)
        assert set(body) == {"pipeline_run_uuid", "state"}
        assert body["pipeline_run_uuid"] == run["uuid"]
        states.append(body["state"])
    assert sorted(states) == ["COMPLETED", "RUNNING"]  # one delivery per state change
    assert not ran_callbacks(stack.worker.output())  # retries stayed on the callbacks queue


def test_one_plain_worker_delivers_callbacks_on_the_embedded_default(make_stack):
    """``./bin/serve``'s single worker, on the filesystem queue, takes the callbacks queue too."""
    stack = make_stack(embedded=True)
    pipeline = stack.create_pipeline(model=MODEL)

    with CallbackReceiver() as receiver:
        run = completed(stack, run_example(stack, pipeline, receiver.url))
        wait_until(lambda: len(receiver.received) == 2, "both callbacks")
    assert sorted(receiver.bodies, key=lambda body: body["state"]) == [
        {"pipeline_run_uuid": run["uuid"], "state": "COMPLETED"},
        {"pipeline_run_uuid": run["uuid"], "state": "RUNNING"},
    ]


def test_callback_and_input_hosts_in_blocked_networks_are_never_contacted(make_stack):
    stack = make_stack(
        CALLBACK_SIGNING_SECRET=SECRET,
        WORKER_BLOCKED_NETWORKS="127.0.0.1/32,127.0.0.2/32",
        WORKER_ALLOW_FILE_URLS="1",  # the input server is on 127.0.0.1, blocked here
        api_settings={"ALLOW_FILE_URLS": "1"},  # and the API takes file:// inputs only so
    )
    pipeline = stack.create_pipeline(model=MODEL)
    model = [{"name": MODEL, "url": (EXAMPLES / MODEL).as_uri()}]

    with (
        CallbackReceiver(host="127.0.0.2") as by_address,
        CallbackReceiver(host="127.0.0.1") as by_name,
        CallbackReceiver(host="127.0.0.3") as allowed,
    ):
        runs = {
            "address": run_example(stack, pipeline, by_address.url, model),
            "name": run_example(stack, pipeline, by_name.url.replace("127.0.0.1", "localhost"), model),
            "allowed": run_example(stack, pipeline, allowed.url, model),
        }
        refused_input = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
        for run in runs.values():
            completed(stack, run)
        failed = stack.wait_for(refused_input, FINAL_STATES)

        wait_until(lambda: len(allowed.received) == 2, "the allowed host's callbacks")
        for kind in ("address", "name"):
            dropped = f"of run {runs[kind]['uuid']} to .* dropped: .*in the blocked network"
            wait_until(
                lambda dropped=dropped: len(re.findall(dropped, stack.worker.output())) == 2,
                f"both callbacks to the host blocked by {kind} to be dropped",
            )
    assert by_address.received == []
    assert by_name.received == []
    assert sorted(body["state"] for body in allowed.bodies) == ["COMPLETED", "RUNNING"]
    assert failed["state"] == "FAILED"
    assert stack.get(failed, "/console")["std_err"].rstrip("\n").splitlines()[-1] == (
        f"failed to download input {MODEL}: not allowed: 127.0.0.1 is in the blocked network "
        "127.0.0.1/32 (WORKER_BLOCKED_NETWORKS)"
    )
