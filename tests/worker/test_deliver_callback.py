"""The deliver_callback task, run eagerly against real HTTP receivers on loopback.

Eager retries happen at once (Celery skips the countdown), so the retry
tests are quick; the waits between real retries are in tests/e2e/test_callbacks.py.
"""

import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import time

import pytest

from worker import callbacks
from worker.callbacks import CallbackNotDelivered, deliver
from worker.network_policy import blocked_networks, checked_session
from worker.tasks import deliver_callback

from .callback_receiver import CallbackReceiver
from .conftest import LOOPBACK_ALLOWED, ROOT

RUN_UUID = "d" * 32
BODY = {"pipeline_run_uuid": RUN_UUID, "state": "COMPLETED"}
SECRET = "test-signing-secret"


@pytest.fixture(autouse=True)
def worker_environment(monkeypatch):
    monkeypatch.setenv("CALLBACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("WORKER_BLOCKED_NETWORKS", LOOPBACK_ALLOWED)  # the receivers are on 127.0.0.1
    monkeypatch.delenv("CALLBACK_TIMEOUT", raising=False)


def send(url, task_id="delivery-1"):
    return deliver_callback.apply(kwargs={"url": url, **BODY}, task_id=task_id)


def expected_signature(raw):
    return "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()


def test_posts_the_run_and_its_state_signed_over_the_bytes_sent():
    with CallbackReceiver() as receiver:
        result = send(receiver.url, task_id="delivery-42")

    assert result.get() == 200
    [request] = receiver.received
    assert json.loads(request.raw) == BODY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Workflow-Signature"] == expected_signature(request.raw)
    assert request.headers["Workflow-Delivery"] == "delivery-42"


def test_without_a_secret_it_is_sent_unsigned_with_one_warning(monkeypatch, caplog):
    monkeypatch.delenv("CALLBACK_SIGNING_SECRET")
    monkeypatch.setattr(callbacks, "_warned_unsigned", False)

    with caplog.at_level(logging.WARNING, logger="worker.callbacks"):
        with CallbackReceiver() as receiver:
            assert send(receiver.url).get() == 200
            assert send(receiver.url, task_id="delivery-2").get() == 200

    assert receiver.bodies == [BODY, BODY]
    assert all("Workflow-Signature" not in request.headers for request in receiver.received)
    warnings = [r for r in caplog.records if "CALLBACK_SIGNING_SECRET" in r.getMessage()]
    assert len(warnings) == 1


def test_5xx_408_and_429_are_retried_as_the_same_delivery():
    with CallbackReceiver(statuses=[503, 429, 408, 500, 204]) as receiver:
        result = send(receiver.url, task_id="delivery-7")

    assert result.get() == 204
    assert [request.status for request in receiver.received] == [503, 429, 408, 500, 204]
    assert {request.raw for request in receiver.received} == {receiver.received[0].raw}
    assert {request.headers["Workflow-Delivery"] for request in receiver.received} == {"delivery-7"}
    for request in receiver.received:
        assert request.headers["Workflow-Signature"] == expected_signature(request.raw)


@pytest.mark.parametrize("status", [400, 401, 404, 410, 422])
def test_other_4xx_are_a_refusal_that_is_not_retried(status):
    with CallbackReceiver(statuses=[status, 200]) as receiver:
        result = send(receiver.url)

    assert result.get() == status
    assert len(receiver.received) == 1


def test_a_redirect_is_not_followed_nor_retried():
    with CallbackReceiver() as elsewhere:
        with CallbackReceiver(statuses=[307], location=elsewhere.url) as receiver:
            assert send(receiver.url).get() == 307
        assert len(receiver.received) == 1
    assert elsewhere.received == []


def test_retries_are_bounded():
    with CallbackReceiver(statuses=[502]) as receiver:
        result = send(receiver.url)

        with pytest.raises(CallbackNotDelivered):
            result.get()
    assert len(receiver.received) == deliver_callback.max_retries + 1


def test_an_unreachable_url_is_retried_then_given_up():
    result = send("http://127.0.0.1:9/hook")

    with pytest.raises(CallbackNotDelivered):
        result.get()


def test_an_unusable_url_is_given_up_at_once():
    assert send("ftp://example.com/hook").get() is None


def test_an_attempt_gives_up_on_a_receiver_that_never_answers():
    with CallbackReceiver(hang=True) as receiver:
        started = time.monotonic()
        with pytest.raises(CallbackNotDelivered, match="timed out"):
            deliver(receiver.url, RUN_UUID, "RUNNING", "delivery-9", secret=SECRET, timeout=0.5)
        waited = time.monotonic() - started
        assert len(receiver.received) == 1
    assert waited < 30  # liveness only: the attempt ended instead of waiting for the receiver


def test_the_timeout_comes_from_callback_timeout(monkeypatch):
    monkeypatch.setenv("CALLBACK_TIMEOUT", "0.5")
    with CallbackReceiver(hang=True) as receiver:
        result = deliver_callback.apply(
            kwargs={"url": receiver.url, **BODY}, task_id="delivery-10", retries=deliver_callback.max_retries
        )
        with pytest.raises(CallbackNotDelivered, match="timed out"):
            result.get()
        assert len(receiver.received) == 1


@pytest.mark.parametrize(
    "listening, host", [("127.0.0.2", "127.0.0.2"), ("127.0.0.1", "localhost")], ids=["address", "name"]
)
def test_a_host_in_a_blocked_network_is_never_contacted(monkeypatch, caplog, listening, host):
    monkeypatch.setenv("WORKER_BLOCKED_NETWORKS", "127.0.0.1/32,127.0.0.2/32")
    with CallbackReceiver(host=listening) as receiver:
        url = receiver.url.replace(listening, host)
        with caplog.at_level(logging.WARNING, logger="worker.callbacks"):
            result = send(url)

        assert result.get() is None  # dropped, not retried
    assert receiver.received == []
    assert "in the blocked network 127.0.0." in caplog.text


def test_a_blocked_network_does_not_stop_other_hosts():
    with CallbackReceiver(host="127.0.0.3") as receiver:
        status = deliver(
            receiver.url, RUN_UUID, "RUNNING", "d", session=checked_session(blocked_networks("127.0.0.2/32"))
        )
    assert status == 200
    assert len(receiver.received) == 1


def test_retry_settings_come_from_the_worker_environment():
    code = (
        "from worker.tasks import deliver_callback as t;"
        "print(t.max_retries, t.retry_backoff, t.retry_backoff_max, t.retry_jitter)"
    )
    env = {**os.environ, "CALLBACK_MAX_RETRIES": "3", "CALLBACK_RETRY_BACKOFF": "1", "PYTHONPATH": ROOT}
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["3", "1", "300", "True"]
    env = {k: v for k, v in env.items() if not k.startswith("CALLBACK_")}
    output = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert output.split() == ["8", "2", "300", "True"]


def test_a_callback_to_loopback_is_dropped_under_the_default_block_list(monkeypatch, caplog):
    monkeypatch.delenv("WORKER_BLOCKED_NETWORKS")
    with CallbackReceiver(host="127.0.0.1") as receiver:
        with caplog.at_level(logging.WARNING, logger="worker.callbacks"):
            result = send(receiver.url.replace("127.0.0.1", "localhost"))

        assert result.get() is None  # dropped, not retried
    assert receiver.received == []
    assert "in the blocked network 127.0.0.0/8 (WORKER_BLOCKED_NETWORKS)" in caplog.text
