"""Reporting a run to the Workflow API, for ``pipeline.execute_run``."""

import logging

from .api_client import Conflict
from .pipeline import RUNNING, Cancelled, RunReport

log = logging.getLogger(__name__)

RESTART_NOTE = (
    "[worker] an earlier attempt at this run was interrupted (its worker was lost); "
    "running it again from the start\n"
)


class ApiRunReport(RunReport):
    """Sends a run's state, console and artifacts through a ``RunApi``.

    A 409 means the run has ended elsewhere (a client cancelled it): from
    then on nothing more is sent.
    """

    def __init__(self, run_api):
        super().__init__()
        self.api = run_api
        self.ended = False

    def start(self):
        try:
            self.api.set_state(RUNNING)
            return True
        except Conflict:
            state = self.api.get_state()
        if state != RUNNING:
            log.info("run %s is %s; not running it", self.api.path, state)
            return False
        # Already RUNNING: the broker handed the task out again because the
        # worker that had it died (acks_late, reject_on_worker_lost). The
        # console starts over, to match the attempt that gives the result.
        try:
            self.api.replace_console(std_out="", std_err=RESTART_NOTE)
        except Conflict:  # cancelled in the meantime
            return False
        return True

    def is_cancelled(self):
        if not self.ended:
            self.ended = self.api.get_state() != RUNNING
        return self.ended

    def send_console(self, std_out, std_err):
        if self.ended:
            return
        try:
            self.api.append_console(std_out, std_err)
        except Conflict:
            self.ended = True

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
