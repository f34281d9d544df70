"""Runs ``GRIDLABD_BINARY [arguments] model`` in a working folder, supervised.

The simulation runs in a session (process group) of its own, never through
a shell. Its output is handed to ``on_output`` in batches about twice a
second, with its progress (``progress.py``) to ``on_progress`` just before
when it changed; ``is_cancelled`` is asked as often. On cancel or
timeout the whole group gets SIGTERM, then SIGKILL if anything is left
after a grace period, well within the 5 seconds the contract allows.

With a ``sandbox`` (worker/sandbox.py) the command runs inside bubblewrap,
with the sandbox's limits; ``limits`` alone sets them on an unsandboxed
run. Either way a ``LimitWatch`` looks at what the run wrote about twice a
second and stops it once it holds more than the disk limit.
"""

import codecs
import ctypes
import os
import re
import select
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass

from .engine_hosts import EngineHostError, default_command, forget
from .progress import CLOCK_FILE, CLOCK_FILE_VARIABLE, ProgressWatcher
from .sandbox import set_limits

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Output reaches a client's event stream within a second: this, the request
# and the stream's own poll (EVENTS_POLL_INTERVAL).
REPORT_INTERVAL = 0.5
KILL_GRACE = 2.0
LIMIT_INTERVAL = 0.5
PR_SET_PDEATHSIG = 1

# The first line that says what went wrong: a parser message such as
# "model.glm(12): ..." or an ERROR/FATAL message of the engine.
ERROR_LINE = re.compile(r"^(\S+\(\d+\): .+|(ERROR|FATAL)\s+\[.*)$")


def gridlabd_command():
    """The argv prefix that runs GridLAB-D: ``GRIDLABD_BINARY`` split like a
    shell would (no shell involved), else a native ``gridlabd`` on PATH,
    else the project's wrapper around the PyPI engine."""
    configured = os.environ.get("GRIDLABD_BINARY", "").strip()
    if configured:
        return shlex.split(configured)
    native = shutil.which("gridlabd")
    if native:
        return [native]
    return default_command()


def child_environment():
    """The worker's environment, with this project importable, so that
    ``python -m worker.gridlabd_cli`` works from any working folder."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [PROJECT_ROOT, env.get("PYTHONPATH")]))
    return env


@dataclass
class RunResult:
    returncode: int | None = None
    timed_out: bool = False
    cancelled: bool = False
    first_error: str | None = None
    limit: str | None = None  # which limit the run went over, as told to the user


class OutputBuffer:
    """Output read from the pipes but not yet handed on, per stream."""

    def __init__(self):
        self.lock = threading.Lock()
        self.pending = {"std_out": [], "std_err": []}

    def add(self, stream, text):
        with self.lock:
            self.pending[stream].append(text)

    def take(self):
        with self.lock:
            taken = {stream: "".join(parts) for stream, parts in self.pending.items()}
            for parts in self.pending.values():
                parts.clear()
        return taken

    def put_back(self, taken):
        with self.lock:
            for stream, text in taken.items():
                if text:
                    self.pending[stream].insert(0, text)


class FirstErrorLine:
    """Watches a stream for the first line matching ``ERROR_LINE``."""

    def __init__(self):
        self.partial = ""
        self.found = None

    def feed(self, text):
        if self.found:
            return
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()[-4096:]
        for line in lines:
            line = line.strip("\r")
            if ERROR_LINE.match(line):
                self.found = line
                return


# What programs print when a limit refuses them memory or a new process.
MEMORY_HINT = re.compile(r"MemoryError|Cannot allocate memory|std::bad_alloc|out of memory", re.I)
PROCESS_HINT = re.compile(
    r"Cannot fork|fork: (retry: )?Resource temporarily unavailable|can't start new thread|BlockingIOError"
)


class LimitHints:
    """Remembers whether a stream said memory or a process was refused."""

    def __init__(self):
        self.tail = ""
        self.memory = self.processes = False

    def feed(self, text):
        text = self.tail + text
        self.memory = self.memory or bool(MEMORY_HINT.search(text))
        self.processes = self.processes or bool(PROCESS_HINT.search(text))
        self.tail = text[-64:]


class LimitWatch:
    """The disk and file-size limits of a running run, checked from outside:
    the bytes in its working folder and in its sandbox's private /tmp."""

    def __init__(self, folder, limits, process, bound=()):
        self.folder = folder
        self.limits = limits
        self.process = process  # what has the sandbox's outer process as .pid
        # Host paths bound into the sandbox: under /tmp they show in its
        # private /tmp, and are not what the run wrote.
        self.bound_in_tmp = [path[len("/tmp") :] for path in bound if path.startswith("/tmp/")]

    def sandbox_tmp(self):
        """The sandbox's /tmp as the host sees it, through its first process."""
        try:
            with open(f"/proc/{self.process.pid}/task/{self.process.pid}/children") as file:
                children = file.read().split()
        except OSError:
            return None
        return f"/proc/{children[0]}/root/tmp" if children else None

    def check(self, final=False):
        """The reason the run must stop, or None."""
        if not self.limits:
            return None
        total, largest = folder_bytes(self.folder)
        tmp = None if final else self.sandbox_tmp()
        if tmp:
            total += folder_bytes(tmp, skip={tmp + path for path in self.bound_in_tmp})[0]
        disk, file_bytes = self.limits.disk_bytes, self.limits.file_bytes
        if disk and total > disk:
            return f"disk limit reached: the run wrote more than {disk} bytes (WORKER_MAX_DISK_BYTES={disk})"
        if file_bytes and largest[0] >= file_bytes:
            return (
                f"file size limit reached: {largest[1]} reached {file_bytes} bytes "
                f"(WORKER_MAX_FILE_BYTES={file_bytes})"
            )
        return None

    def after_exit(self, result, hints):
        """Which limit the run went over, from how it ended and what it
        printed: also when it exited 0, since gridlabd ignores the exit code
        of a ``#system`` command that a limit stopped."""
        if result.returncode == -signal.SIGXFSZ and self.limits.file_bytes:
            value = self.limits.file_bytes
            return f"file size limit reached: a file reached {value} bytes (WORKER_MAX_FILE_BYTES={value})"
        if hints.memory and self.limits.memory_bytes:
            value = self.limits.memory_bytes
            return (
                f"memory limit reached: a process was refused memory past {value} bytes "
                f"of address space (WORKER_MAX_MEMORY_BYTES={value})"
            )
        if hints.processes and self.limits.processes:
            value = self.limits.processes
            return (
                f"process limit reached: a new process was refused past {value} processes "
                f"and threads (WORKER_MAX_PROCESSES={value})"
            )
        return None


def folder_bytes(folder, skip=frozenset()):
    """``(total bytes, (size, path) of the largest file)`` of regular files
    under ``folder``, symlinks not followed, the folders in ``skip`` left out."""
    total, largest = 0, (0, None)
    for root, folders, names in os.walk(folder):
        folders[:] = [name for name in folders if os.path.join(root, name) not in skip]
        for name in names:
            path = os.path.join(root, name)
            try:
                info = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(info.st_mode):
                total += info.st_size
                if info.st_size >= largest[0]:
                    largest = (info.st_size, os.path.relpath(path, folder))
    return total, largest


def read_pipe(pipe, stream, buffer, *watchers):
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while True:
        chunk = os.read(pipe.fileno(), 65536)
        text = decoder.decode(chunk, final=not chunk)
        if text:
            buffer.add(stream, text)
            for watcher in watchers:
                watcher.feed(text)
        if not chunk:
            pipe.close()
            return


def die_with_parent():
    """Runs in the child between fork and exec: if the worker dies (killed,
    OOM), the kernel kills the simulation too, so a lost worker never leaves
    a simulation running in the session it was given. Linux ties this to the
    thread that started the run, so that thread must outlive the run."""
    libc = ctypes.CDLL(None, use_errno=True)
    parent = os.getpid()

    def set_death_signal():
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return set_death_signal if sys.platform.startswith("linux") else None


def in_child(*steps):
    """The child's steps between fork and exec, in order."""
    steps = [step for step in steps if step]

    def run_steps():
        for step in steps:
            step()

    return run_steps if steps else None


def has_exited(process):
    """True once the process has exited, without reaping it: its pid, and so
    its process group id, stays reserved until we have killed the group."""
    try:
        return os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


class ExitWatch:
    """Waits for a process to exit, or for ``timeout`` seconds, whichever
    comes first: on a pidfd where the kernel has them, so that the
    supervision loop learns of the exit at once instead of at its next
    tick; else by sleeping."""

    def __init__(self, process):
        try:
            self.pidfd = os.pidfd_open(process.pid)
        except (AttributeError, OSError):
            self.pidfd = None

    def wait(self, timeout):
        """True when the process is known to have exited."""
        if self.pidfd is None:
            time.sleep(timeout)
            return False
        return bool(select.select([self.pidfd], [], [], timeout)[0])

    def close(self):
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


class SpawnedRun:
    """A run started as a process of its own (in its own sandbox or none)."""

    def __init__(self, process, bound=()):
        self.process = process
        self.pid = process.pid
        self.bound = bound  # host paths bound into its sandbox (LimitWatch)
        self.stdout = process.stdout
        self.stderr = process.stderr
        self.exit_watch = ExitWatch(process)

    def has_exited(self):
        return has_exited(self.process)

    def wait(self, timeout):
        return self.exit_watch.wait(timeout)

    def stop(self):
        """End what is left, also after a normal exit (whatever the run
        started in its group goes); the return code."""
        self.exit_watch.close()
        kill_group(self.process)
        return self.process.wait()


def kill_group(process, grace=KILL_GRACE):
    """SIGTERM the process group, SIGKILL whatever is left after ``grace``."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and not has_exited(process):
            time.sleep(0.05)


def report_periodically(buffer, on_output, is_cancelled, cancelled, stop, interval, progress):
    """Hand output on and look for a cancel, every ``interval`` seconds.

    Runs beside the supervision loop, so a slow or unreachable API never
    delays a timeout or a kill.
    """
    while not stop.wait(interval):
        try:
            if is_cancelled():
                cancelled.set()
                return
        except Exception:  # noqa: BLE001 - the API may be down; keep supervising
            pass
        flush(buffer, on_output, progress)


def flush(buffer, on_output, progress=None, final=False):
    """Hand on the output read so far, and the progress if it changed (with
    the output, or alone: ``on_output("", "")``)."""
    moved = progress is not None and progress.take(final)
    taken = buffer.take()
    if not any(taken.values()) and not moved:
        return
    try:
        on_output(taken["std_out"], taken["std_err"])
    except Exception:  # noqa: BLE001 - kept for the next attempt
        buffer.put_back(taken)


def spawn(command, arguments, cwd, engine_env, sandbox, limits):
    """Start ``command + arguments`` as a process of its own: in a sandbox of
    its own with ``sandbox``, else with ``limits``; a ``SpawnedRun``."""
    if sandbox:
        sandbox.prepare_folder()
        argv = sandbox.wrap(command, arguments, engine_env)
        env = {"PATH": "/usr/bin:/bin"}  # bwrap's own; the sandbox's is built from scratch
        preexec = sandbox.preexec()  # None lets subprocess use vfork
    else:
        argv = [*command, *arguments]
        env = {**child_environment(), **engine_env}
        preexec = in_child(die_with_parent(), limits and (lambda: set_limits(limits)))
    try:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            env=env,
            preexec_fn=preexec,
            pass_fds=sandbox.fds if sandbox else (),
        )
    finally:
        if sandbox:
            sandbox.release()
    return SpawnedRun(process, sandbox.bound if sandbox else ())


def run_gridlabd(
    arguments,
    cwd,
    timeout=None,
    on_output=lambda std_out, std_err: None,
    is_cancelled=lambda: False,
    command=None,
    interval=REPORT_INTERVAL,
    sandbox=None,
    limits=None,
    on_progress=None,
    engine_host=None,
):
    """Run ``command + arguments`` in ``cwd``; return a ``RunResult``.

    ``arguments`` ends with the model file. Output not yet handed to
    ``on_output`` when the run is cancelled is dropped, since nothing may be
    reported after a cancel. ``sandbox`` (a ``sandbox.Sandbox`` on ``cwd``)
    runs it sandboxed; ``limits`` (a ``sandbox.Limits``) applies without one.
    ``engine_host`` (an ``engine_hosts.EngineHost`` whose folder holds
    ``cwd``) forks it from there instead, with the sandbox's limits; if the
    host fails to, it runs in a sandbox of its own.
    """
    limits = sandbox.limits if sandbox else limits
    # gridlabd_cli writes the model's times there (progress.py).
    engine_env = {CLOCK_FILE_VARIABLE: CLOCK_FILE} if on_progress else {}
    child = None
    if engine_host is not None:
        sandbox.prepare_folder()
        try:
            child = engine_host.start(arguments, cwd, engine_env)
        except (OSError, EngineHostError):
            forget(engine_host)  # this run gets a sandbox of its own instead
    child = child or spawn(command or gridlabd_command(), arguments, cwd, engine_env, sandbox, limits)
    buffer = OutputBuffer()
    first_error = FirstErrorLine()
    hints = LimitHints()
    watch = LimitWatch(cwd, limits, child, child.bound)
    progress = ProgressWatcher(cwd, on_progress) if on_progress else None
    watching = (hints, progress) if progress else (hints,)
    readers = [
        threading.Thread(target=read_pipe, args=(child.stdout, "std_out", buffer, *watching), daemon=True),
        threading.Thread(
            target=read_pipe, args=(child.stderr, "std_err", buffer, first_error, *watching), daemon=True
        ),
    ]
    cancelled, stop = threading.Event(), threading.Event()
    reporter = threading.Thread(
        target=report_periodically,
        args=(buffer, on_output, is_cancelled, cancelled, stop, interval, progress),
        daemon=True,
    )
    for thread in (*readers, reporter):
        thread.start()

    result = RunResult()
    deadline = time.monotonic() + timeout if timeout else None
    next_limit_check = time.monotonic() + LIMIT_INTERVAL
    while not child.has_exited():
        if cancelled.is_set():
            result.cancelled = True
            break
        if deadline and time.monotonic() >= deadline:
            result.timed_out = True
            break
        if time.monotonic() >= next_limit_check:
            result.limit = watch.check()
            if result.limit:
                break
            next_limit_check = time.monotonic() + LIMIT_INTERVAL
        child.wait(0.05)
    result.returncode = child.stop()
    for reader in readers:
        reader.join(timeout=5)
    stop.set()
    reporter.join()
    result.cancelled = result.cancelled or cancelled.is_set()
    if not result.cancelled:
        flush(buffer, on_output, progress, final=True)
    if progress:
        progress.remove_file()
    result.first_error = first_error.found
    if limits and not result.cancelled and not result.timed_out:
        result.limit = result.limit or watch.check(final=True) or watch.after_exit(result, hints)
    return result
