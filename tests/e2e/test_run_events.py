"""Progress and the event stream end to end: gunicorn, a Celery worker and the
real GridLAB-D engine, on PostgreSQL + Redis and on the embedded default.

The model is the example feeder solved every 2 simulated seconds, a
simulated day that takes the engine a few seconds of CPU: long enough for
several progress lines, about one a second.
"""

import json
import time
from datetime import datetime

import pytest
import requests

from .stack import Stack

MODEL = "ieee4.glm"
ARGUMENTS = ["-D", "RECORDER_INTERVAL=2"]
# The model as it is (solved every 60 s): for the tests that need a run, not
# a long one (0.16 s of CPU here, against 1.8 s).
QUICK = []
REDIS_DB = 7


@pytest.fixture(scope="module", params=["postgresql", "embedded"])
def stack(request, tmp_path_factory):
    embedded = request.param == "embedded"
    stack = Stack(tmp_path_factory.mktemp(f"events-{request.param}"), embedded=embedded, redis_db=REDIS_DB)
    yield stack
    stack.close()


def start(stack, arguments=ARGUMENTS):
    pipeline = stack.create_pipeline(model=MODEL, arguments=arguments)
    return stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])


def read_events(response, stop_after=None):
    """``[(id, kind, data)]`` from an open stream, until the server ends it
    (or after ``stop_after`` events); comment lines are counted apart."""
    found, event, comments = [], {}, 0
    for line in response.iter_lines(decode_unicode=True):
        if line.startswith(":"):
            comments += 1
        elif line == "":
            if event:
                found.append((event.get("id"), event.get("event"), json.loads(event["data"])))
                event = {}
                if stop_after and len(found) >= stop_after:
                    break
        else:
            name, _, value = line.partition(": ")
            event[name] = value
    return found


def open_stream(stack, run, last_event_id=None):
    headers = dict(stack.client)
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    response = requests.get(stack.run_url(run, "/events"), headers=headers, stream=True, timeout=60)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return response


def console_of(found):
    text = {"std_out": "", "std_err": ""}
    for _, kind, data in found:
        if kind == "console":
            for stream in text:
                text[stream] += data[stream]
    return text


def assert_progress_sound(progress):
    start, stop = datetime.fromisoformat(progress["start"]), datetime.fromisoformat(progress["stop"])
    assert start <= datetime.fromisoformat(progress["clock"]) <= stop, progress
    assert 0 <= progress["fraction"] <= 1


def test_progress_grows_while_running_and_is_one_at_the_end(stack):
    # Solved every simulated second: about 5 s of CPU, so the engine prints
    # its clock several times even when the machine is idle.
    run = start(stack, ["-D", "RECORDER_INTERVAL=1"])
    seen = []
    while True:
        current = stack.get(run)
        if current["state"] == "RUNNING" and current["progress"] is not None:
            seen.append(current["progress"])
        if current["state"] in {"COMPLETED", "FAILED", "CANCELLED"}:
            break
        time.sleep(0.2)
    assert current["state"] == "COMPLETED", stack.get(run, "/console")
    for progress in seen:
        assert_progress_sound(progress)
    fractions = [progress["fraction"] for progress in seen]
    assert fractions == sorted(fractions)
    assert len({f for f in fractions if 0 < f < 1}) >= 2, fractions  # it grew while running
    assert seen[0]["start"] == "2020-07-01T00:00:00-04:00"
    assert seen[0]["stop"] == "2020-07-02T00:00:00-04:00"
    final = current["progress"]
    assert final == {**final, "clock": final["stop"], "fraction": 1.0}
    # The listing (built by PostgreSQL on PostgreSQL) says the same.
    listing = requests.get(
        f"{stack.url}/v1/pipelines/{run['pipeline_uuid']}/runs", headers=stack.client, timeout=10
    ).json()
    assert [item["progress"] for item in listing if item["uuid"] == run["uuid"]] == [final]


def test_the_stream_sends_states_in_order_and_every_line_once(stack):
    # Every simulated second solved: about 3 s here, so that the engine
    # prints its progress line (once a second) while the stream is open.
    run = start(stack, ["-D", "RECORDER_INTERVAL=1"])
    found = read_events(open_stream(stack, run))  # returns once the server ends the stream
    assert all(event_id for event_id, _, _ in found)
    assert len({event_id for event_id, _, _ in found}) == len(found)
    states = [data["state"] for _, kind, data in found if kind == "state"]
    assert states == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    assert found[-1][1] == "state"
    console = stack.get(run, "/console")
    assert console_of(found) == console
    assert console["std_out"].count("Processing ") >= 2  # output came while the stream was open
    progress = [data for _, kind, data in found if kind == "progress"]
    assert len(progress) >= 2
    assert [p["fraction"] for p in progress] == sorted(p["fraction"] for p in progress)
    assert progress[-1]["fraction"] == 1.0


def test_a_resumed_stream_sends_only_what_came_after(stack):
    run = start(stack)
    first = open_stream(stack, run)
    before = read_events(first, stop_after=4)  # NOT_STARTED, RUNNING, then output
    first.close()
    after = read_events(open_stream(stack, run, last_event_id=before[-1][0]))
    both = before + after
    assert [data["state"] for _, kind, data in both if kind == "state"] == [
        "NOT_STARTED",
        "RUNNING",
        "COMPLETED",
    ]
    assert console_of(both) == stack.get(run, "/console")
    # Resuming from the very end sends nothing more and ends at once.
    assert read_events(open_stream(stack, run, last_event_id=after[-1][0])) == []


def test_a_finished_run_opens_with_its_whole_story_and_ends(stack):
    run = stack.wait_for(start(stack, QUICK), {"COMPLETED"})
    found = read_events(open_stream(stack, run))
    kinds = [kind for _, kind, _ in found]
    assert kinds == ["state", "state", "state", "console", "progress"]
    assert console_of(found) == stack.get(run, "/console")
    assert found[-1][2] == run["progress"]


def test_the_stream_keeps_the_key_rules(stack):
    run = start(stack, QUICK)
    url = stack.run_url(run, "/events")
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, headers=stack.worker_key, timeout=10).status_code == 403
    missing = url.replace(run["uuid"], "0" * 32)
    assert requests.get(missing, headers=stack.client, timeout=10).status_code == 404
    bad = requests.get(url, headers={**stack.client, "Last-Event-ID": "nope"}, timeout=10)
    assert bad.status_code == 400
    assert "Last-Event-ID" in bad.json()["message"]
    stack.wait_for(run, {"COMPLETED"})
