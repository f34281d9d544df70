"""The sandbox a simulation runs in: bubblewrap namespaces plus resource limits.

``Sandbox(folder, network=False).wrap(argv)`` gives the argv that runs
``argv`` inside bubblewrap (``bwrap``) under the run's resource limits
(set by util-linux ``prlimit`` before it execs bwrap; where there is no
``prlimit``, ``preexec`` sets them between fork and exec), as an
unprivileged uid when the worker is root. Inside, the process sees:

- the run's working folder, the only writable place, at its own path;
- a private ``/tmp`` (a tmpfs no larger than the disk limit);
- read-only: the system's programs and libraries (``/usr`` and the usual
  top-level links), a few harmless files of ``/etc``, the Python
  installation and virtualenv that hold the engine (resolved paths: the
  project's ``.venv`` may be a symlink), and the engine wrapper's own files
  (``worker/gridlabd_cli.py``, ``bin/gridlabd``): nothing else of the
  checkout, no home folder, no other run's folder;
- an environment built from scratch (``sandbox_environment``);
- no network at all (a network namespace of its own, whose loopback is not
  the host's) unless the pipeline's ``network`` field allows it;
- its own PID, IPC and UTS namespaces; bwrap dies with the worker
  (``--die-with-parent``) and the whole namespace dies with it.

Every bind is made from a file descriptor the worker opened (``--bind-fd``),
so the sandbox's unprivileged uid needs no access to the folders above.
See docs/adr/0015-sandbox.md.
"""

import ctypes
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass

from . import settings

PROJECT_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRAPPER_FILES = ("worker/__init__.py", "worker/gridlabd_cli.py", "worker/engine_host.py", "bin/gridlabd")
SYSTEM_FOLDERS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
# What programs need from /etc to start and to name things; no secrets.
ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "alternatives",
    "localtime",
    "timezone",
    "nsswitch.conf",
    "mime.types",
)
# Only with the pipeline's network allowed: name resolution and TLS roots.
NETWORK_ETC_FILES = ("resolv.conf", "hosts", "host.conf", "gai.conf", "ssl", "ca-certificates")
CLONE_NEWUSER = 0x10000000
INSIDE_UID = 1000
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"
# Environment variables of the engine itself that the worker passes on.
ENGINE_VARIABLES = ("GLPATH", "GLTEMP", "GRIDLABD", "TZ")
INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; or run bin/install-bubblewrap) "
    "on a kernel that allows unprivileged user namespaces, or set WORKER_SANDBOX=off to run "
    "simulations unsandboxed (only for models you trust)"
)


class SandboxUnavailable(Exception):
    """The sandbox cannot be built on this machine."""


@dataclass(frozen=True)
class Limits:
    """The resource limits of one run (worker settings, see ``from_settings``)."""

    memory_bytes: int
    processes: int
    disk_bytes: int
    file_bytes: int

    @classmethod
    def from_settings(cls):
        return cls(
            memory_bytes=settings.max_memory_bytes(),
            processes=settings.max_processes(),
            disk_bytes=settings.max_disk_bytes(),
            file_bytes=settings.max_file_bytes(),
        )


def bwrap_path():
    return shutil.which(os.environ.get("WORKER_BWRAP", "bwrap") or "bwrap")


def check_available():
    """Raise ``SandboxUnavailable`` unless a trivial sandbox starts here."""
    if not bwrap_path():
        raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="workflow-sandbox-check-") as folder:
        sandbox = Sandbox(folder, limits=Limits(0, 0, 0, 0))
        try:
            sandbox.prepare_folder()
            argv = sandbox.wrap(["/bin/sh"], ["-c", "echo ok > probe"])
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=30, pass_fds=sandbox.fds, cwd=folder
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise SandboxUnavailable(f"bubblewrap could not start ({error}): {INSTALL_HINT}") from None
        finally:
            sandbox.release()
        if result.returncode != 0 or not os.path.exists(os.path.join(folder, "probe")):
            why = result.stderr.strip().splitlines()[-1:] or [f"exit code {result.returncode}"]
            raise SandboxUnavailable(f"bubblewrap cannot build a sandbox here ({why[0]}): {INSTALL_HINT}")


def sandbox_uid():
    """The host uid the sandbox runs as when the worker is root, else None.

    A uid of its own per worker process (``WORKER_SANDBOX_UID`` plus the pid,
    modulo 65536): the kernel counts ``RLIMIT_NPROC`` per uid and never
    enforces it for root, and an unprivileged uid owns nothing on the host.
    """
    if os.geteuid() != 0:
        return None
    return settings.sandbox_uid() + os.getpid() % 65536


def user_namespace(uid):
    """An open user namespace (fd) where uid/gid 0 are the host's root and
    ``INSIDE_UID`` is the host's ``uid``.

    bwrap sets the sandbox up as root in it (so it can reach and bind paths
    under folders only root may enter, such as ``/root/.pyenv``), then
    ``setpriv`` turns the simulation into ``INSIDE_UID`` with no capabilities:
    on the host it is the unprivileged ``uid``, whose RLIMIT_NPROC the kernel
    enforces. Only root may map host uids like this.
    """
    holder = subprocess.Popen(
        ["cat"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: _unshare(CLONE_NEWUSER),
    )
    try:
        for name in ("uid_map", "gid_map"):
            with open(f"/proc/{holder.pid}/{name}", "w") as mapping:
                mapping.write(f"0 0 1\n{INSIDE_UID} {uid} 1\n")
        return os.open(f"/proc/{holder.pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        holder.stdin.close()
        holder.wait()


def _unshare(flags):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(flags) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWUSER) failed")


def set_limits(limits):
    """setrlimit in the child (soft = hard, so it cannot raise them)."""
    for which, value in (
        (resource.RLIMIT_AS, limits.memory_bytes),
        (resource.RLIMIT_NPROC, limits.processes),
        (resource.RLIMIT_FSIZE, limits.file_bytes),
        (resource.RLIMIT_CORE, 0),
    ):
        if value and value > 0:
            resource.setrlimit(which, (value, value))


def prlimit_arguments(limits):
    """``prlimit`` options that set ``limits`` as ``set_limits`` does (soft =
    hard, a value of 0 or less leaves that limit alone); None without
    ``prlimit``. Setting them in a program of their own rather than between
    fork and exec lets Python start bwrap with vfork: a fork of a large
    worker process costs several milliseconds per run."""
    prlimit = shutil.which("prlimit", path=SYSTEM_PATH)
    if not prlimit:
        return None
    arguments = [prlimit]
    for option, value in (
        ("--as", limits.memory_bytes),
        ("--nproc", limits.processes),
        ("--fsize", limits.file_bytes),
    ):
        if value and value > 0:
            arguments.append(f"{option}={value}")
    return [*arguments, "--core=0", "--"]


def python_folders():
    """The resolved folders of the Python installation and virtualenv running this worker."""
    folders = []
    for path in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix):
        real = os.path.realpath(path)
        if real not in folders and os.path.isdir(real):
            folders.append(real)
    return folders


def in_sandbox_executable(program):
    """Where ``program`` is found inside: this worker's Python runs as the
    virtualenv's own (resolved) interpreter, anything else by its real path."""
    if os.path.realpath(program) == os.path.realpath(sys.executable):
        venv_python = os.path.join(os.path.realpath(sys.prefix), "bin", os.path.basename(sys.executable))
        if os.path.exists(venv_python):
            return venv_python
    found = shutil.which(program) if os.sep not in program else program
    return os.path.realpath(found) if found else program


def sandbox_environment(network=False):
    """The sandboxed process's whole environment: nothing of the worker's
    but the engine's own variables."""
    venv_bin = os.path.join(os.path.realpath(sys.prefix), "bin")
    env = {
        "PATH": f"{venv_bin}:{SYSTEM_PATH}",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "PYTHONPATH": PROJECT_ROOT,
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    for name in ENGINE_VARIABLES:
        if name in os.environ:
            env[name] = os.environ[name]
    return env


class Sandbox:
    """One run's sandbox: ``prepare_folder``, build the argv with ``wrap``,
    start it with ``preexec`` and ``pass_fds=fds``, then ``release``. The
    only fd is the sandbox's own user namespace (a root worker's): one per
    sandbox, because the kernel keeps a user's keyrings per uid and user
    namespace, and a namespace shared by runs let one run's keys reach the
    next."""

    def __init__(self, folder, network=False, limits=None):
        self.folder = os.path.realpath(folder)
        self.bound = []  # set by wrap()
        self.network = network
        self.limits = limits or Limits.from_settings()
        self.uid = sandbox_uid()
        self.fds = []
        self.limits_prefix = prlimit_arguments(self.limits)

    def _ro(self, path, args, seen):
        if path in seen or not os.path.lexists(path):
            return
        seen.add(path)
        if os.path.islink(path) and os.path.dirname(path) == "/":  # /bin -> usr/bin on merged-/usr systems
            args += ["--symlink", os.readlink(path), path]
            return
        args += ["--ro-bind", path, path]

    def prepare_folder(self):
        """Make the working folder the sandbox uid's, so the model may write
        in it and change its inputs."""
        if self.uid is None:
            return
        for root, folders, files in os.walk(self.folder):
            for name in (*folders, *files):
                os.lchown(os.path.join(root, name), self.uid, self.uid)
        os.lchown(self.folder, self.uid, self.uid)

    def wrap(self, command, arguments=(), engine_env=None):
        """The argv that runs ``command + arguments`` in the sandbox, with
        ``engine_env`` added to the environment it builds from scratch.

        ``command`` is the worker's configuration (``GRIDLABD_BINARY``):
        files it names by absolute path are bound read-only, so that a
        configured script runs. ``arguments`` come from the pipeline and get
        nothing bound.
        """
        bwrap = bwrap_path()
        if not bwrap:
            raise SandboxUnavailable(f"bubblewrap (bwrap) is not installed: {INSTALL_HINT}")
        args, seen = [bwrap], set()
        if self.uid is None:
            args.append("--unshare-user")
        else:
            fd = user_namespace(self.uid)
            self.fds.append(fd)
            args += ["--userns", str(fd)]
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.network:
            args.append("--unshare-net")
        args += ["--die-with-parent", "--new-session", "--hostname", "sandbox"]
        # First, so that binds below /tmp (a working folder, a configured
        # script) land on top of the private /tmp, not under it.
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp"]
        # Its POSIX message queues in sight, so that an engine host can
        # remove those a run left (engine_host.py).
        args += ["--mqueue", "/dev/mqueue"]
        for folder in SYSTEM_FOLDERS:
            self._ro(folder, args, seen)
        for name in ETC_FILES + (NETWORK_ETC_FILES if self.network else ()):
            self._ro(os.path.join("/etc", name), args, seen)
        for folder in python_folders():
            self._ro(folder, args, seen)
        for name in WRAPPER_FILES:
            self._ro(os.path.join(PROJECT_ROOT, name), args, seen)
        program = in_sandbox_executable(command[0])
        for path in (program, *command[1:]):
            if os.path.isabs(path) and not any(path.startswith(bound + "/") for bound in seen):
                self._ro(os.path.realpath(path), args, seen)
        argv = [program, *command[1:], *arguments]
        args += ["--bind", self.folder, self.folder]
        # bwrap gives the folders it makes on the way to a bind the modes of
        # the host's (/root is 0700): let the sandbox's uid walk through them.
        # What is bound in from the host: not the run's own writing, even
        # where it shows under the sandbox's /tmp (runner.LimitWatch).
        self.bound = sorted({*seen, self.folder})
        for folder in sorted(intermediate_folders([*seen, self.folder])):
            args += ["--chmod", "1777" if folder == "/tmp" else "0755", folder]
        args += ["--chdir", self.folder, "--clearenv"]
        for name, value in {**sandbox_environment(self.network), **(engine_env or {})}.items():
            args += ["--setenv", name, value]
        prefix = self.limits_prefix or []
        if self.uid is None:
            return [*prefix, *args, "--cap-drop", "ALL", "--", *argv]
        # Root in the namespace only until setpriv has dropped it all.
        args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        args += ["--", shutil.which("setpriv") or "/usr/bin/setpriv"]
        args += [f"--reuid={INSIDE_UID}", f"--regid={INSIDE_UID}", "--clear-groups"]
        args += ["--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--", *argv]
        return [*prefix, *args]

    def release(self):
        """Close this side's fds once the sandbox's first process has them."""
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def preexec(self):
        """What the child must run before it execs the argv of ``wrap``:
        nothing (None) when ``prlimit`` sets the limits, else setting them.
        bwrap's ``--die-with-parent`` ties the sandbox to the worker."""
        if self.limits_prefix:
            return None
        limits = self.limits
        return lambda: set_limits(limits)


def intermediate_folders(paths):
    """The folders above ``paths``, below ``/``, that are not bound themselves."""
    found = set()
    for path in paths:
        parent = os.path.dirname(path)
        while parent not in ("/", ""):
            found.add(parent)
            parent = os.path.dirname(parent)
    return found - set(paths)
