"""The worker's side of the engine host (``worker/engine_host.py``).

A worker process starts its host at its first run that may use one and
keeps it while every run leaves it clean; anything else (a cancel, a
timeout, a limit, a run that left something the host could not remove, a
host that died) ends it, and the next run starts a new one. A run may use
the host when the worker is root and sandboxed, the run's pipeline keeps the
network off, and the command is the default engine wrapper. Every other run
gets a sandbox of its own as before. docs/adr/0024-engine-host.md.

The host's sandbox binds one folder, made here and owned by root; each run's
working folder is made inside it (``folder_for``) and owned by the sandbox
uid, so a run writes only in its own.
"""

import json
import logging
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from . import settings
from .sandbox import Sandbox, sandbox_uid

logger = logging.getLogger(__name__)

ENGINE_HOST_MODULE = "worker.engine_host"
MESSAGE_BYTES = 1 << 16
START_SECONDS = 60.0  # a fresh sandbox importing the engine
ANSWER_SECONDS = 10.0
END_SECONDS = 10.0  # for the processes in an ended host's namespace to be gone
RETRY_AFTER_SECONDS = 60.0  # after a host failed to start


class EngineHostError(Exception):
    """The host did not answer as it should: it is ended, the run goes on without."""


def default_command():
    """The worker's default engine command (``runner.gridlabd_command()``
    without GRIDLABD_BINARY or a native gridlabd): the only one a host runs.
    -P: the working folder (a user's checkout) is not put on sys.path, so a
    gridlabd.py or worker/ in it cannot stand in for the real packages."""
    return [sys.executable, "-P", "-m", "worker.gridlabd_cli"]


def may_use_host(command, network):
    """Whether a run of ``command`` (the argv prefix it would run) may use a host."""
    return (
        settings.sandbox_enabled()
        and settings.engine_host_enabled()
        and sandbox_uid() is not None
        and not network
        and list(command) == default_command()
    )


class EngineHost:
    """One started host: its sandbox's process, its socket and its folder."""

    def __init__(self, limits):
        self.limits = limits
        self.folder = tempfile.mkdtemp(prefix="workflow-engine-")
        os.chmod(self.folder, 0o755)  # root's: runs may enter, not write
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.socket = ours
        self.pidfd = None
        sandbox = Sandbox(self.folder, limits=limits)
        argv = sandbox.wrap([sys.executable, "-P", "-m", ENGINE_HOST_MODULE], [str(theirs.fileno())])
        self.bound = sandbox.bound
        try:
            self.process = subprocess.Popen(
                argv,
                cwd=self.folder,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env={"PATH": "/usr/bin:/bin"},
                preexec_fn=sandbox.preexec(),
                pass_fds=[*sandbox.fds, theirs.fileno()],
            )
        except OSError:
            ours.close()
            shutil.rmtree(self.folder, ignore_errors=True)
            raise
        finally:
            theirs.close()
            sandbox.release()
        self.pidfd = os.pidfd_open(self.process.pid)
        try:
            if not self.receive(START_SECONDS, "ready"):
                raise EngineHostError("the engine host did not start in time")
        except EngineHostError:
            self.end()
            raise

    @property
    def pid(self):
        return self.process.pid

    def alive(self):
        return self.process.poll() is None

    def receive(self, timeout, expected):
        """The host's next answer (a dict holding ``expected``), or None after
        ``timeout`` seconds; ``EngineHostError`` when it ended or said something else."""
        ready = select.select([self.socket, self.pidfd], [], [], timeout)[0]
        if not ready:
            return None
        if self.socket not in ready:  # ended: an answer sent just before still counts
            ready = select.select([self.socket], [], [], 0)[0]
        data = self.socket.recv(MESSAGE_BYTES) if ready else b""
        if not data:
            raise EngineHostError("the engine host ended")
        answer = json.loads(data)
        if expected not in answer:
            raise EngineHostError(f"the engine host answered {answer}")
        return answer

    def start(self, arguments, folder, env):
        """Fork the run's child; a ``HostedRun`` to supervise it."""
        pipes = [os.pipe(), os.pipe()]
        request = {"arguments": list(arguments), "folder": folder, "env": dict(env)}
        try:
            socket.send_fds(self.socket, [json.dumps(request).encode()], [pipes[0][1], pipes[1][1]])
            if not self.receive(ANSWER_SECONDS, "started"):
                raise EngineHostError("the engine host did not start the run in time")
        except (OSError, EngineHostError):
            for read_end, _ in pipes:
                os.close(read_end)
            raise
        finally:
            for _, write_end in pipes:
                os.close(write_end)
        return HostedRun(
            self, os.fdopen(pipes[0][0], "rb", buffering=0), os.fdopen(pipes[1][0], "rb", buffering=0)
        )

    def end(self):
        """Kill the host's sandbox and all in it. Its folder goes once the
        run's own folder in it is gone (``host_for``): what a run wrote is
        uploaded after it ends."""
        if self.socket.fileno() == -1:
            return
        inside = self._namespace_init()
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        if inside is not None:
            # The namespace's first process dies with bwrap, and the kernel
            # lets it exit only once every other process in the namespace
            # has: until then the run's processes may still be there.
            select.select([inside], [], [], END_SECONDS)
            os.close(inside)
        self.socket.close()
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None
        _ended_folders.append(self.folder)

    def _namespace_init(self):
        """A pidfd of the first process in the host's PID namespace (bwrap's
        child), or None."""
        pid = self.process.pid
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as file:
                children = file.read().split()
            return os.pidfd_open(int(children[0])) if children else None
        except (OSError, ValueError):
            return None


class HostedRun:
    """A run forked by a host, supervised as ``runner`` supervises a process."""

    def __init__(self, host, stdout, stderr):
        self.host = host
        self.pid = host.pid  # the sandbox's outer process, as for a run's own sandbox
        self.bound = host.bound
        self.stdout = stdout
        self.stderr = stderr
        self.status = None
        self.left = None  # what the host could not remove after the run
        self.lost = False

    def has_exited(self):
        if self.status is None and not self.lost:
            self.wait(0)
        return self.status is not None or self.lost

    def wait(self, timeout):
        """Wait up to ``timeout`` seconds for the end; True once it ended."""
        if self.status is None and not self.lost:
            try:
                answer = self.host.receive(timeout, "status")
            except (OSError, ValueError, EngineHostError):
                self.lost = True
            else:
                if answer is not None:
                    self.status, self.left = answer["status"], answer.get("left", ["?"])
        return self.status is not None or self.lost

    def stop(self):
        """End what is left; the return code. A host is kept only after a
        run that ended by itself and left nothing behind."""
        if self.left:
            logger.info("engine host ended: the run left %s", ", ".join(map(str, self.left)))
        if self.status is None or self.left:
            forget(self.host)
        if self.status is None:
            return -signal.SIGKILL
        return os.waitstatus_to_exitcode(self.status)


_hosts = {}  # by worker process id: forked worker processes start their own
_ended_folders = []
_failed_at = {}


def forget(host):
    """End ``host`` and let the next run start another."""
    if _hosts.get(os.getpid()) is host:
        del _hosts[os.getpid()]
    host.end()


def remove_ended_folders():
    """Remove the folders of ended hosts (once the run in one is over)."""
    while _ended_folders:
        shutil.rmtree(_ended_folders.pop(), ignore_errors=True)


def host_for(limits):
    """This worker process's host for runs under ``limits`` (and in today's
    temporary folder), started if needed; None when one cannot start here
    (runs then go without)."""
    remove_ended_folders()
    host = _hosts.get(os.getpid())
    stale = host is not None and (
        host.limits != limits or os.path.dirname(host.folder) != tempfile.gettempdir() or not host.alive()
    )
    if stale:
        forget(host)
        host = None
    if host is None:
        failed_at = _failed_at.get(os.getpid())
        if failed_at is not None and time.monotonic() - failed_at < RETRY_AFTER_SECONDS:
            return None
        try:
            host = _hosts[os.getpid()] = EngineHost(limits)
        except (OSError, EngineHostError) as error:
            _failed_at[os.getpid()] = time.monotonic()
            logger.warning("no engine host (runs start the engine each time): %s", error)
            return None
    return host
