"""The deliver_callback task, run eagerly against a real HTTP receiver."""

import pytest

from worker.tasks import CALLBACK_RETRIES, CallbackNotDelivered, deliver_callback

from .callback_receiver import CallbackReceiver

BODY = {"pipeline_run_uuid": "d" * 32, "state": "COMPLETED"}


def deliver(url):
    return deliver_callback.apply(kwargs={"url": url, **BODY})


def test_posts_the_run_and_its_state():
    with CallbackReceiver() as receiver:
        result = deliver(receiver.url)

    assert result.get() == 200
    assert receiver.bodies == [BODY]


def test_5xx_and_429_are_retried_until_delivered():
    with CallbackReceiver(statuses=[503, 429, 500, 204]) as receiver:
        result = deliver(receiver.url)

    assert result.get() == 204
    assert receiver.bodies == [BODY] * 4


def test_a_refusal_is_not_retried():
    with CallbackReceiver(statuses=[404]) as receiver:
        result = deliver(receiver.url)

    assert result.get() == 404
    assert len(receiver.bodies) == 1


def test_retries_are_bounded():
    with CallbackReceiver(statuses=[502]) as receiver:
        result = deliver(receiver.url)

        with pytest.raises(CallbackNotDelivered):
            result.get()
    assert len(receiver.bodies) == CALLBACK_RETRIES + 1


def test_an_unreachable_url_is_retried_then_given_up():
    result = deliver("http://127.0.0.1:9/hook")

    with pytest.raises(CallbackNotDelivered):
        result.get()


def test_an_unusable_url_is_given_up_at_once():
    assert deliver("ftp://example.com/hook").get() is None
