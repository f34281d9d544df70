"""The worker's HTTP client, against the stand-in API."""

import io
import socket
import threading
import time

import pytest

from worker.api_client import ApiClient, ApiError, Conflict, RunGone, retrying_session

from .api_stand_in import StandInApi

P, R = "p" * 32, "r" * 32


def client_for(api, token=None, backoff_factor=0.01):
    return ApiClient(api.url, token or api.token, session=retrying_session(backoff_factor=backoff_factor))


def test_reads_server_and_key_from_the_environment(api):
    api.add_run(P, R)

    run = ApiClient.from_environment().run(P, R)

    assert run.get_state() == "NOT_STARTED"


def test_state_changes_and_conflicts(api):
    stand_in_run = api.add_run(P, R)
    run = client_for(api).run(P, R)

    run.set_state("RUNNING")
    with pytest.raises(Conflict):
        run.set_state("NOT_STARTED")

    assert stand_in_run.states == ["NOT_STARTED", "RUNNING"]
    assert run.get_state() == "RUNNING"


def test_a_run_that_is_gone_is_a_conflict_the_worker_stops_on(api):
    """404 on a run (its pipeline was deleted): as a 409, nothing more is sent."""
    run = client_for(api).run(P, R)  # never added: the stand-in answers 404
    with pytest.raises(RunGone) as error:
        run.set_state("RUNNING")
    assert isinstance(error.value, Conflict) and error.value.status == 404


def test_console_append_and_replace(api):
    stand_in_run = api.add_run(P, R, state="RUNNING")
    run = client_for(api).run(P, R)

    run.append_console(std_out="one\n")
    run.append_console(std_err="warning\n")
    run.append_console()  # nothing to send: no call
    assert stand_in_run.console == {"std_out": "one\n", "std_err": "warning\n"}
    assert len(api.calls_to("POST", "/console")) == 2

    run.replace_console(std_out="fresh\n")
    assert stand_in_run.console == {"std_out": "fresh\n", "std_err": ""}


def test_artifact_upload_sends_the_bytes_and_the_name(api):
    stand_in_run = api.add_run(P, R, state="RUNNING")
    run = client_for(api).run(P, R)

    run.upload_artifact("out/volts.csv", io.BytesIO(b"1,2,3\n"))
    run.upload_artifact("empty.csv", io.BytesIO(b""))

    assert stand_in_run.artifacts == [("volts.csv", b"1,2,3\n"), ("empty.csv", b"")]


def test_5xx_answers_are_retried_for_every_method(api, tmp_path):
    stand_in_run = api.add_run(P, R)
    run = client_for(api).run(P, R)
    artifact = tmp_path / "a.csv"
    artifact.write_bytes(b"x" * 100_000)

    api.fail_next(2, 503)
    run.set_state("RUNNING")
    api.fail_next(3, 502)
    run.append_console(std_out="kept\n")
    api.fail_next(2, 500)
    with open(artifact, "rb") as file:
        run.upload_artifact("a.csv", file)

    assert stand_in_run.states == ["NOT_STARTED", "RUNNING"]
    assert stand_in_run.console["std_out"] == "kept\n"
    assert stand_in_run.artifacts == [("a.csv", b"x" * 100_000)]  # the body was sent again, whole


def test_connection_errors_are_retried_until_the_api_is_back():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = {}

    def start_later():
        time.sleep(0.5)
        started["api"] = StandInApi(port=port).__enter__()
        started["api"].add_run(P, R)

    starter = threading.Thread(target=start_later)
    starter.start()
    run = ApiClient(
        f"http://127.0.0.1:{port}", "worker-key", session=retrying_session(backoff_factor=0.2)
    ).run(P, R)
    try:
        assert run.get_state() == "NOT_STARTED"
    finally:
        starter.join()
        started["api"].__exit__(None, None, None)


def test_gives_up_after_the_retries_with_the_last_status(api):
    api.add_run(P, R)
    run = ApiClient(api.url, api.token, session=retrying_session(total=2, backoff_factor=0.01)).run(P, R)
    api.fail_next(3, 503)

    with pytest.raises(ApiError) as error:
        run.get_state()

    assert error.value.status == 503


def test_a_wrong_key_is_not_retried(api):
    api.add_run(P, R)
    run = client_for(api, token="wrong").run(P, R)

    with pytest.raises(ApiError) as error:
        run.get_state()

    assert error.value.status == 401
    assert len(api.calls) == 1


def test_needs_a_server():
    with pytest.raises(ValueError, match="WORKER_API_SERVER"):
        ApiClient("", "key")
