"""One attempt at telling a run's callback URL about a state change.

The body, ``{"pipeline_run_uuid": ..., "state": ...}``, is serialised once
and those exact bytes are what is signed and sent:
``Workflow-Signature: sha256=<hex HMAC-SHA256 of the body>`` keyed with
``CALLBACK_SIGNING_SECRET``. ``Workflow-Delivery`` names the delivery and
stays the same on every attempt, so a receiver can drop repeats.

Retrying is left to the Celery task (``tasks.deliver_callback``): this
module says whether an attempt is worth repeating by raising
``CallbackNotDelivered``. See docs/adr/0011-callbacks-and-outbound-requests.md.
"""

import hashlib
import hmac
import json
import logging
import os
import urllib.parse

import requests

from .inputs import shown
from .network_policy import BlockedAddress, checked_session
from .settings import env_int

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Workflow-Signature"
DELIVERY_HEADER = "Workflow-Delivery"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_RETRIES = 8
DEFAULT_RETRY_BACKOFF = 2
RETRY_BACKOFF_MAX = 300
# Worth another try: the receiver timed out, asked us to slow down, or failed.
RETRIED_CLIENT_ERRORS = (408, 429)


def signing_secret():
    """``CALLBACK_SIGNING_SECRET``, or None when unset or empty."""
    return os.environ.get("CALLBACK_SIGNING_SECRET") or None


def timeout():
    """``CALLBACK_TIMEOUT``: seconds to connect, and to wait for the answer."""
    value = os.environ.get("CALLBACK_TIMEOUT", "").strip()
    return float(value) if value else DEFAULT_TIMEOUT


def max_retries():
    """``CALLBACK_MAX_RETRIES``: attempts after the first."""
    return env_int("CALLBACK_MAX_RETRIES", DEFAULT_MAX_RETRIES)


def retry_backoff():
    """``CALLBACK_RETRY_BACKOFF``: the first retry's longest wait, in whole
    seconds (Celery's ``retry_backoff``, which takes at least 1); it doubles
    with each retry, up to ``RETRY_BACKOFF_MAX``."""
    return max(1, env_int("CALLBACK_RETRY_BACKOFF", DEFAULT_RETRY_BACKOFF))


class CallbackNotDelivered(Exception):
    """Not delivered this time (unreachable, timed out, 408, 429 or 5xx): try again later."""


def callback_body(pipeline_run_uuid, state):
    return json.dumps(
        {"pipeline_run_uuid": pipeline_run_uuid, "state": state}, separators=(",", ":")
    ).encode()


def signature(secret, body):
    """The ``Workflow-Signature`` value of ``body`` under ``secret``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


_warned_unsigned = False


def _warn_unsigned():
    global _warned_unsigned
    if not _warned_unsigned:
        _warned_unsigned = True
        log.warning("CALLBACK_SIGNING_SECRET is not set: callbacks are sent without Workflow-Signature")


def deliver(url, pipeline_run_uuid, state, delivery_id, secret=None, timeout=DEFAULT_TIMEOUT, session=None):
    """POST the state change to ``url``; returns the answer's status, or None
    when the callback is dropped without asking (an unusable URL, or a host
    in ``WORKER_BLOCKED_NETWORKS``).

    Raises ``CallbackNotDelivered`` when another attempt may succeed. Other
    answers are final: 2xx delivered, any other 4xx refused, 3xx not
    followed (a redirect could lead anywhere, and POST bodies do not
    survive most of them).
    """
    try:
        what = f"callback {state} of run {pipeline_run_uuid} to {shown(url)}"
        scheme = urllib.parse.urlsplit(url).scheme.lower()
    except ValueError:  # the API checks URLs; this one came some other way
        log.warning("callback %s of run %s dropped: its URL cannot be parsed", state, pipeline_run_uuid)
        return None
    if scheme not in ("http", "https"):
        log.warning("%s dropped: only http and https URLs are called", what)
        return None
    body = callback_body(pipeline_run_uuid, state)
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id}
    if secret:
        headers[SIGNATURE_HEADER] = signature(secret, body)
    else:
        _warn_unsigned()
    own_session = session is None
    session = checked_session() if own_session else session
    try:
        # stream: the answer's body is never read, so it cannot hold the worker.
        with session.post(
            url, data=body, headers=headers, timeout=timeout, allow_redirects=False, stream=True
        ) as response:
            status = response.status_code
    except BlockedAddress as error:
        log.warning("%s dropped: %s", what, error)
        return None
    except (
        requests.exceptions.InvalidURL,
        requests.exceptions.InvalidSchema,
        requests.exceptions.MissingSchema,
    ):
        log.warning("%s dropped: the URL cannot be used", what)
        return None
    except requests.RequestException as error:
        raise CallbackNotDelivered(f"{what}: {error}") from None
    finally:
        if own_session:
            session.close()
    if status >= 500 or status in RETRIED_CLIENT_ERRORS:
        raise CallbackNotDelivered(f"{what}: answered {status}")
    if status >= 300:
        log.warning("%s not delivered: answered %s, which is not retried", what, status)
    else:
        log.info("%s delivered: %s", what, status)
    return status
