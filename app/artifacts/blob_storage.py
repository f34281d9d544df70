"""Artifacts on a blob server: HTTP PUT, GET and DELETE at ``<BLOB_API_SERVER>/<key>``.

Any HTTP server that stores PUT bodies and serves them back will do (the
tests and docker-compose use nginx with WebDAV). Every request carries
``Authorization: Bearer <BLOB_API_TOKEN>``.

- Uploads are streamed: the API's request body is read in 64 KiB pieces by
  a generator that requests sends as a chunked body, hashing and counting
  as it goes, so no upload is ever held whole in memory.
- Retries (urllib3 ``Retry`` on the session, with exponential backoff):
  GET and DELETE are retried on connection and read errors and on 502, 503
  and 504 answers. A PUT is retried only when the connection could not be
  made, that is before any of the body went out: the body is a stream that
  cannot be replayed once sent.
- Failures are ``StorageError``: 503 when the blob server cannot be reached
  or timed out, 502 when it answered with an error (a wrong token is its
  401 or 403). After a failed upload the key is deleted, best effort, so no
  partial blob is left where the server kept one.
"""

import hashlib
import logging

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .storage import CHUNK_BYTES, StorageRefused, StorageUnavailable, StoredBytes, StoredRange

log = logging.getLogger(__name__)

RETRIED_STATUSES = (502, 503, 504)
# Methods whose request can be sent again after a read error or a 5xx.
REPLAYABLE_METHODS = frozenset({"GET", "HEAD", "DELETE"})
STORED_STATUSES = {200, 201, 204}


def blob_session(retries, backoff):
    """A requests Session that retries as the module docstring says."""
    retry = Retry(
        total=retries,
        connect=retries,
        read=retries,
        status=retries,
        other=0,
        redirect=0,
        allowed_methods=REPLAYABLE_METHODS,
        status_forcelist=RETRIED_STATUSES,
        backoff_factor=backoff,
        raise_on_status=False,  # hand back the last answer; it becomes a 502
        raise_on_redirect=False,
    )
    session = requests.Session()
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class _SourceFailed(Exception):
    """Reading the upload (the API's request body) failed, not the blob server.

    Raised through requests so that the original error (a 413, a client that
    went away) reaches the caller instead of passing for a blob server fault.
    """


class _HashingBody:
    """The chunks of ``stream`` for requests, with their size and sha256."""

    def __init__(self, stream):
        self._stream = stream
        self.size = 0
        self.digest = hashlib.sha256()
        self.source_error = None

    def __iter__(self):
        while True:
            try:
                chunk = self._stream.read(CHUNK_BYTES)
            except BaseException as error:
                self.source_error = error
                raise _SourceFailed() from error
            if not chunk:
                return
            self.size += len(chunk)
            self.digest.update(chunk)
            yield chunk


def _refused(what, response):
    if response.status_code in (401, 403):
        return StorageRefused(
            f"The blob server refused the API's token ({response.status_code}) on {what}; "
            "check BLOB_API_TOKEN."
        )
    return StorageRefused(f"The blob server answered {response.status_code} on {what}.")


def _unreachable(what, error):
    kind = "timed out" if isinstance(error, requests.Timeout) else "cannot be reached"
    return StorageUnavailable(f"The blob server {kind} ({what}); try again later.")


class BlobStorage:
    """The storage interface of ``app/artifacts/storage.py`` on a blob server."""

    def __init__(self, server, token, timeout=30, retries=3, backoff=0.5, session=None):
        if not server.startswith(("http://", "https://")):
            raise ValueError(f"BLOB_API_SERVER must be an http(s) URL, not {server!r}")
        self.server = server.rstrip("/")
        self.timeout = (timeout, timeout)  # to connect; of silence while reading
        self.session = session or blob_session(retries, backoff)
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def url(self, key):
        return f"{self.server}/{key}"

    def save(self, key, stream):
        body = _HashingBody(stream)
        try:
            response = self.session.put(
                self.url(key),
                data=iter(body),
                headers={**self.headers, "Content-Type": "application/octet-stream"},
                timeout=self.timeout,
            )
        except _SourceFailed:
            self._forget(key)
            raise body.source_error from None
        except requests.RequestException as error:
            if body.source_error is not None:
                self._forget(key)
                raise body.source_error from None
            log.warning("blob upload of %s failed: %s", key, error)
            self._forget(key)
            raise _unreachable("storing an artifact", error) from None
        response.close()
        if response.status_code not in STORED_STATUSES:
            log.warning("blob upload of %s answered %s", key, response.status_code)
            self._forget(key)
            raise _refused("storing an artifact", response)
        return StoredBytes(body.size, body.digest.hexdigest())

    def _forget(self, key):
        """Delete what a failed upload may have left; never raises."""
        try:
            self.session.delete(self.url(key), headers=self.headers, timeout=self.timeout).close()
        except requests.RequestException as error:
            log.warning("could not delete %s after a failed upload: %s", key, error)

    def open(self, key, start=0, length=None):
        headers = dict(self.headers)
        if start or length is not None:
            end = "" if length is None else str(start + length - 1)
            headers["Range"] = f"bytes={start}-{end}"
        try:
            response = self.session.get(self.url(key), headers=headers, timeout=self.timeout, stream=True)
        except requests.RequestException as error:
            raise _unreachable("reading an artifact", error) from None
        expected = 206 if "Range" in headers else 200
        if response.status_code != expected:
            response.close()
            if response.status_code == 404:
                raise StorageRefused("The blob server has no bytes for this artifact (404).")
            raise _refused("reading an artifact", response)
        return StoredRange(response.iter_content(CHUNK_BYTES), response.close)

    def delete(self, key):
        try:
            response = self.session.delete(self.url(key), headers=self.headers, timeout=self.timeout)
        except requests.RequestException as error:
            raise _unreachable("deleting an artifact", error) from None
        response.close()
        if response.status_code not in STORED_STATUSES and response.status_code != 404:
            raise _refused("deleting an artifact", response)
