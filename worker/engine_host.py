"""The engine host: the program a worker process keeps running in a sandbox
of its own, with the engine imported once, to fork one child per run.

    python -P -m worker.engine_host FD

Starting Python and importing the engine is about a third of the CPU time
of a small model's run; a child forked from here has both done already.
docs/adr/0024-engine-host.md says why this is safe and when it is used.

FD is a SOCK_SEQPACKET socket to the worker (``worker/engine_hosts.py``).
The host says ``{"ready": true}`` once the engine is imported. Then, for
each request (``{"arguments", "folder", "env"}`` with the run's stdout and
stderr as two file descriptors), it forks a child that runs
``gridlabd_cli.main(arguments)`` in ``folder``, answers
``{"started": pid}``, waits for the child, removes whatever the run left
(its processes, the files of /tmp and /dev/shm, its message queues and
keyrings) and
answers ``{"status": wait status, "left": [what it could not remove]}``.
A host that could not remove everything is ended by the worker: the next
run gets a new one. It ends when the worker closes the socket.

The host runs as the same sandbox uid as its runs, but is not dumpable:
a run can neither trace it nor read its memory or descriptors. It can
kill it, which fails only its own run (the worker then starts another).
"""

import ctypes
import errno
import json
import os
import shutil
import signal
import socket
import sys
import time
import traceback

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
KEYCTL_CLEAR = 7
# keyctl's system call number, where known; elsewhere a host is never reused.
KEYCTL_SYSCALL = {"x86_64": 250, "aarch64": 219}.get(os.uname().machine)
# No such keyring, or keyrings refused to this sandbox altogether (a seccomp
# filter such as Docker's): then a run could not have used one either.
KEYCTL_NOTHING_TO_CLEAR = (errno.ENOKEY, errno.ENOSYS, errno.EPERM)
KEY_SPEC_USER_KEYRING = -4
KEY_SPEC_USER_SESSION_KEYRING = -5
MESSAGE_BYTES = 1 << 20
# Folders a run may write in besides its own; emptied after each run.
SCRATCH_FOLDERS = ("/tmp", "/dev/shm", "/dev/mqueue")
IPC_RMID = 0
CLEAR_SECONDS = 5.0

_libc = ctypes.CDLL(None, use_errno=True)


def prctl(option, value):
    if _libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), f"prctl({option}) failed")


def send(sock, message):
    sock.send(json.dumps(message).encode())


def run_child(request, fds, sock):
    """In the forked child: become the run, then run the engine. Never returns."""
    code = 255
    try:
        sock.close()
        os.setsid()
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        # Dumpable again: the run's own tools read /proc/self; only the host
        # must stay out of its reach.
        prctl(PR_SET_DUMPABLE, 1)
        os.chdir(request["folder"])
        os.environ.update(request["env"])
        sys.argv = ["gridlabd", *request["arguments"]]
        from worker import gridlabd_cli

        code = gridlabd_cli.main(request["arguments"])
    except BaseException:  # noqa: BLE001 - told on the run's stderr, then exit 255
        try:
            traceback.print_exc()
            sys.stderr.flush()
        except BaseException:  # noqa: BLE001, S110 - nothing left to tell it on
            pass
    os._exit(code if isinstance(code, int) else 255)


def other_processes():
    """Pids in this sandbox's PID namespace besides its init (1) and the host."""
    me = os.getpid()
    return [int(name) for name in os.listdir("/proc") if name.isdigit() and int(name) not in (1, me)]


def reap():
    """Collect the run's ended processes, handed to the host as their subreaper.
    (quickstart.py has the same loop; this module must stand alone in the sandbox.)"""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def kill_leftovers():
    """SIGKILL every process the run left (the host is their subreaper, and
    reaps them); True once none is left."""
    deadline = time.monotonic() + CLEAR_SECONDS
    while other_processes():
        if time.monotonic() > deadline:
            return False
        try:
            os.kill(-1, signal.SIGKILL)  # all this uid may signal: not init, not the host
        except ProcessLookupError:
            pass
        reap()
        time.sleep(0.001)
    return True


def mount_points():
    """Where something is mounted in this sandbox: the folders bound in,
    some below /tmp (the host's own folder among them). Runs cannot mount."""
    with open("/proc/self/mountinfo") as mounts:
        return frozenset(line.split()[4] for line in mounts)


def remove_tree(path):
    """``shutil.rmtree``; a run may have taken its own rights away from
    what it made, and the host, the same uid, gives them back first."""
    try:
        shutil.rmtree(path)
    except OSError:
        os.chmod(path, 0o700)
        for root, folders, _ in os.walk(path):  # top-down: each folder opened before it is listed
            for name in folders:
                if not os.path.islink(os.path.join(root, name)):
                    os.chmod(os.path.join(root, name), 0o700)
        shutil.rmtree(path)


def empty_folder(folder, mounts):
    """Remove what is in ``folder`` but the mount points in ``mounts`` and the
    folders on the way to them; True when nothing else is left."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return True
    clean = True
    for name in names:
        path = os.path.join(folder, name)
        if path in mounts:
            continue
        try:
            if any(mount.startswith(path + "/") for mount in mounts):
                clean = empty_folder(path, mounts) and clean
            elif os.path.isdir(path) and not os.path.islink(path):
                remove_tree(path)
            else:
                os.unlink(path)
        except OSError:
            clean = False
    return clean


def sysv_ipc_ids(table):
    try:
        with open(table) as listing:
            rows = listing.read().splitlines()[1:]  # under a header line, one per object
    except FileNotFoundError:
        return []
    return [int(row.split()[1]) for row in rows if row.strip()]


def remove_sysv_ipc():
    """Remove the System V objects of the run (the engine itself leaves a
    shared memory segment); True when none is left."""
    remove = {
        "/proc/sysvipc/shm": lambda id_: _libc.shmctl(id_, IPC_RMID, None),
        "/proc/sysvipc/sem": lambda id_: _libc.semctl(id_, 0, IPC_RMID),
        "/proc/sysvipc/msg": lambda id_: _libc.msgctl(id_, IPC_RMID, None),
    }
    for table, remover in remove.items():
        for id_ in sysv_ipc_ids(table):
            remover(id_)
    return not any(sysv_ipc_ids(table) for table in remove)


def clear_keyrings():
    """Empty the user's keyrings: the kernel keeps them per uid and user
    namespace, and later runs have the same. True when that was done."""
    if KEYCTL_SYSCALL is None:
        return False
    for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
        if (
            _libc.syscall(KEYCTL_SYSCALL, KEYCTL_CLEAR, keyring) != 0
            and ctypes.get_errno() not in KEYCTL_NOTHING_TO_CLEAR
        ):
            return False
    return True


def clear_after_run(mounts):
    """Remove whatever a finished run left; what could not be (nothing when
    the host is as new)."""
    steps = {"processes": kill_leftovers}
    for folder in SCRATCH_FOLDERS:
        steps[folder] = lambda folder=folder: empty_folder(folder, mounts)
    steps["keyrings"] = clear_keyrings
    steps["System V IPC objects"] = remove_sysv_ipc
    left = []
    for what, step in steps.items():
        try:
            done = step()
        except Exception:  # noqa: BLE001 - told to the worker, which ends this host
            done = False
        if not done:
            left.append(what)
    return left


def wait_for(pid):
    """The child's wait status, reaping anything else that ends meanwhile."""
    while True:
        ended, status = os.waitpid(-1, 0)
        if ended == pid:
            return status


def serve(sock):
    mounts = mount_points()
    while True:
        message, fds, _, _ = socket.recv_fds(sock, MESSAGE_BYTES, 2)
        if not message:
            return
        request = json.loads(message)
        clear_keyrings()  # also before: nothing of a run may reach the next
        pid = os.fork()
        if pid == 0:
            run_child(request, fds, sock)
        for fd in fds:
            os.close(fd)
        send(sock, {"started": pid})
        status = wait_for(pid)
        send(sock, {"status": status, "left": clear_after_run(mounts)})


def main(arguments):
    prctl(PR_SET_DUMPABLE, 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    sock = socket.socket(fileno=int(arguments[0]))
    import gridlabd  # noqa: F401 - the point: every child has it imported

    from worker import gridlabd_cli  # noqa: F401

    send(sock, {"ready": True})
    serve(sock)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
