"""Reporting a run to the Workflow API, for ``pipeline.execute_run``."""

import logging
import threading
import time

from .api_client import Conflict
from .pipeline import RUNNING, Cancelled, RunReport
from .settings import heartbeat_interval

log = logging.getLogger(__name__)

# A state the API answered is taken as current for this long: the check
# right after starting (or after the runner's own, once a second) is not
# sent again. A cancel is still seen within about a second.
STATE_FRESH_SECONDS = 1.0


class Heartbeat:
    """``PUT .../heartbeat`` every ``interval`` seconds, in a thread of its
    own, for as long as the worker has the run: downloads, simulation and
    uploads alike, however long one of them blocks the task.

    ``on_over`` is called once the run is no longer this attempt's to run:
    the API refused the heartbeat (409: the run was handed to another
    attempt) or answered another state than RUNNING (cancelled). A failed
    call (the API away after the client's retries) is left to the next beat.
    """

    def __init__(self, run_api, interval, on_over):
        self.api = run_api  # on a session of its own: this is another thread
        self.interval = interval
        self.on_over = on_over
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="run-heartbeat", daemon=True)

    def start(self):
        self.thread.start()

    def stop(self, wait=1.0):
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join(wait)  # a heartbeat in flight may outlast this; it is harmless
        self.api.client.session.close()

    def _run(self):
        while not self.stopped.wait(self.interval):
            try:
                state = self.api.heartbeat()
            except Conflict as error:
                log.warning("run given up by the API: %s", error)
                self.on_over()
                return
            except Exception as error:  # noqa: BLE001 - the next beat tries again
                log.warning("heartbeat not delivered: %s", error)
                continue
            if state != RUNNING:
                self.on_over()
                return


class ApiRunReport(RunReport):
    """Sends a run's state, console and artifacts through a ``RunApi``.

    A 409 means the run is no longer this attempt's: it ended elsewhere (a
    client cancelled it) or the API gave this attempt up for lost and
    handed the run to another. From then on nothing more is sent.
    """

    def __init__(self, run_api, heartbeat_seconds=None):
        super().__init__()
        self.api = run_api
        self.ended = False
        self.heartbeat_seconds = heartbeat_seconds
        self.heartbeat = None
        self.state_seen_at = None  # time.monotonic() of the last state the API answered

    def start(self):
        """Set the run RUNNING; False when it is not ours to run.

        A 409 means the run is RUNNING under another attempt (this task is
        a duplicate, or a redelivery after a worker was lost: the API's
        recovery sweep decides whether and when it runs again), has ended,
        or was cancelled. Either way this task does nothing.
        """
        try:
            answer = self.api.set_state(RUNNING)
        except Conflict as error:
            log.info("run %s not started here: %s", self.api.path, error)
            return False
        self.api.attempt = answer.get("attempt")
        self.state_seen_at = time.monotonic()
        interval = self.heartbeat_seconds or heartbeat_interval()
        self.heartbeat = Heartbeat(self.api.on_own_session(), interval, self._over)
        self.heartbeat.start()
        return True

    def _over(self):
        self.ended = True

    def is_cancelled(self):
        fresh = self.state_seen_at is not None and time.monotonic() - self.state_seen_at < STATE_FRESH_SECONDS
        if not self.ended and not fresh:
            try:
                self.ended = self.api.get_state() != RUNNING
                self.state_seen_at = time.monotonic()
            except Conflict:
                self.ended = True
        return self.ended

    def send_console(self, std_out, std_err):
        """Output and the progress, in one request; the progress is kept for
        the next one if this one fails."""
        if self.ended:
            return
        progress = self.progress
        try:
            self.api.append_console(std_out, std_err, progress)
        except Conflict:
            self.ended = True
            return
        if self.progress is progress:
            self.progress = None

    def upload_artifact(self, name, path):
        if self.ended:
            raise Cancelled
        try:
            with open(path, "rb") as file:
                self.api.upload_artifact(name, file)
        except Conflict:
            self.ended = True
            raise Cancelled from None

    def finish(self, state):
        if self.ended:
            return
        try:
            self.api.set_state(state)
        except Conflict:
            self.ended = True

    def close(self):
        if self.heartbeat is not None:
            self.heartbeat.stop()
