"""``invoke serve``: the API and one worker in the foreground, for a newcomer.

Builds the schema, makes (once) a client key and a worker key kept in
``var/quickstart-keys.env``, starts gunicorn and a Celery worker (with beat,
for the periodic tasks), and prints how to call the API. Ctrl-C (or
SIGTERM) stops both, and all they started, within seconds (``stop_all``).
"""

import ctypes
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request

from app import create_app
from app.config import embedded_data_folder
from app.permissions import WorkflowPermissions
from roles.queries import find_active_application
from roles.services import create_application_key

PR_SET_CHILD_SUBREAPER = 36
# Ctrl-C or SIGTERM stops everything within about GRACE_SECONDS + KILL_SECONDS.
GRACE_SECONDS, KILL_SECONDS = 3.0, 2.0

KEYS = {"CLIENT": WorkflowPermissions.PIPELINES_CLIENT, "WORKER": WorkflowPermissions.PIPELINES_WORKER}


def _keys_file():
    return os.path.join(embedded_data_folder(), "quickstart-keys.env")


def _read_keys(path):
    if not os.path.exists(path):
        return {}
    with open(path) as handle:
        return dict(line.strip().split("=", 1) for line in handle if "=" in line)


def ensure_keys(app):
    """The quick start's keys, made on first use and checked on later ones."""
    path = _keys_file()
    keys = _read_keys(path)
    with app.app_context():
        for kind, permission in KEYS.items():
            name = f"{kind}_API_TOKEN"
            if not find_active_application(keys.get(name)):
                _, keys[name] = create_application_key(f"quickstart {kind.lower()}", [permission])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.writelines(f"{name}={value}\n" for name, value in sorted(keys.items()))
    return keys


def ensure_callback_secret():
    """The worker's CALLBACK_SIGNING_SECRET: the environment's, else one made
    once and kept in ``var/quickstart-callback-secret`` (a worker refuses to
    start without one)."""
    if os.environ.get("CALLBACK_SIGNING_SECRET"):
        return os.environ["CALLBACK_SIGNING_SECRET"]
    path = os.path.join(embedded_data_folder(), "quickstart-callback-secret")
    if os.path.exists(path):
        with open(path) as handle:
            secret = handle.read().strip()
        if secret:
            return secret
    os.makedirs(os.path.dirname(path), exist_ok=True)
    secret = secrets.token_hex(32)
    with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as handle:
        handle.write(secret + "\n")
    return secret


def _upgrade(app):
    from app.migrations import enable_migrations

    # Before flask_migrate is imported: it keeps alembic's plugin lines quiet.
    enable_migrations(app)
    from flask_migrate import upgrade

    # Alembic's INFO lines (its dialect, each migration applied) on every
    # start are not for a newcomer; warnings and errors still show.
    logging.disable(logging.INFO)
    try:
        with app.app_context():
            upgrade(directory=os.path.join(os.path.dirname(__file__), "migrations"))
    finally:
        logging.disable(logging.NOTSET)


def _usage(url, keys):
    return f"""
Workflow Service is running.
  API:         {url}   (Swagger UI: {url}/apidocs/)
  client key:  {keys["CLIENT_API_TOKEN"]}
  worker key:  {keys["WORKER_API_TOKEN"]}  (used by the worker started here)
  keys kept in {_keys_file()}

Try it:
  export WORKFLOW_API_KEY={keys["CLIENT_API_TOKEN"]}
  curl -s -H "Workflow-API-Key: $WORKFLOW_API_KEY" {url}/v1/pipelines
The README's "Running a simulation with curl" runs the example model.
Ctrl-C stops the API and the worker.
"""


def _become_subreaper():
    """Orphans of the processes started here (a simulation in a session of
    its own whose worker was killed) come back to this process, so that
    the shutdown finds and stops them too. Linux only; elsewhere a no-op."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (AttributeError, OSError):
        pass


def _descendants():
    """The pids of every live process below this one, from /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parents[int(entry)] = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, frontier = set(), {os.getpid()}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _reap_adopted(children):
    """Collect the orphans handed to this subreaper that have exited (bwrap
    leaves one at each sandbox check of a worker's start): else each stays a
    zombie until the service stops. ``children`` themselves are left to
    their ``Popen``, which keeps their exit status."""
    if not hasattr(os, "waitid"):
        return  # not Linux: no subreaper, nothing adopted
    ours = {child.pid for child in children}
    while True:
        try:
            exited = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return
        if exited is None or exited.si_pid in ours:
            return
        os.waitpid(exited.si_pid, 0)


def stop_all(children, grace_seconds=GRACE_SECONDS, kill_seconds=KILL_SECONDS):
    """Stop ``children`` and everything they started within about
    ``grace_seconds + kill_seconds``.

    SIGTERM first (gunicorn stops serving, Celery starts a warm shutdown),
    to the last started first, a moment apart: the worker's last reports
    still reach the API. A warm shutdown waits for the task in progress,
    which may be a simulation of hours, so whatever is left after
    ``grace_seconds`` is killed: every process below this one, the worker's
    beat (``-B``) and a simulation in a session of its own included. The
    run that was in progress is then one whose worker was lost: the
    recovery sweep of the next start queues it again, or fails it with the
    reason (ADR 10).
    """
    deadline = time.monotonic() + grace_seconds
    for child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        pause = time.monotonic() + grace_seconds / 3
        while child.poll() is None and time.monotonic() < pause:
            time.sleep(0.05)
    while time.monotonic() < deadline and any(child.poll() is None for child in children):
        time.sleep(0.05)
    deadline = time.monotonic() + kill_seconds
    while True:
        left = _descendants()
        _kill(left)
        for child in children:
            child.poll()
        _reap_adopted(children)
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.05)


def _answers(url):
    """Whether the API answers its health check yet (the banner waits for it)."""
    try:
        with urllib.request.urlopen(url + "/healthcheck", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _start(args, env=None):
    # A session of its own: the terminal's Ctrl-C reaches this process
    # alone, which then stops each child in order (``stop_all``).
    return subprocess.Popen(args, env=env, start_new_session=True)


def serve(host, port):
    app = create_app()
    _upgrade(app)
    keys = ensure_keys(app)
    url = f"http://{host}:{port}"
    _become_subreaper()
    data = embedded_data_folder()
    # Warnings and errors only: the banner below says where it listens (the
    # master's own "Listening at" line is empty with reuse_port), and the
    # control socket would be made under the user's home.
    # The walkthrough feeds the example model by file:// URL, which the API
    # (ALLOW_FILE_URLS) and the worker (WORKER_ALLOW_FILE_URLS) refuse by
    # default; a shared deployment leaves both off.
    api_env = {**os.environ, "ALLOW_FILE_URLS": os.environ.get("ALLOW_FILE_URLS", "1")}
    api = _start(
        [sys.executable, "-m", "gunicorn", "run:app", "-b", f"{host}:{port}", "-w", "2", "--threads", "4"]
        + ["--log-level", "warning", "--no-control-socket"],
        env=api_env,
    )
    worker_env = {
        **os.environ,
        "WORKER_API_SERVER": os.environ.get("WORKER_API_SERVER", url),
        "WORKER_API_TOKEN": keys["WORKER_API_TOKEN"],
        "WORKER_ALLOW_FILE_URLS": os.environ.get("WORKER_ALLOW_FILE_URLS", "1"),
        # Callbacks are signed with a secret made once under var/.
        "CALLBACK_SIGNING_SECRET": ensure_callback_secret(),
    }
    # -B: the worker also runs beat, which sends the periodic tasks (the
    # recovery of runs whose worker was lost, artifact expiry). Warnings
    # and errors only: at INFO, beat and the worker log four lines for
    # every periodic task, every 30 seconds.
    schedule = os.path.join(data, "celerybeat-schedule")
    worker = _start(
        [sys.executable, "-m", "celery", "--quiet", "-A", "worker", "worker", "--loglevel=warning"]
        + ["--concurrency=1", "-B", "--schedule", schedule],
        env=worker_env,
    )
    children = [api, worker]
    stop = {"now": False}

    def request_stop(signum, frame):
        stop["now"] = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, request_stop)
    try:
        started = time.monotonic()
        while not stop["now"] and not _answers(url) and time.monotonic() - started < 60:
            if api.poll() is not None:
                break
            time.sleep(0.2)
        if not stop["now"] and api.poll() is None:
            print(_usage(url, keys), flush=True)
        while not stop["now"] and all(child.poll() is None for child in children):
            _reap_adopted(children)
            time.sleep(0.2)
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        stop_all(children)
    failed = [
        child.args[2] for child in children if child.returncode not in (0, -signal.SIGTERM, -signal.SIGKILL)
    ]
    message = f"stopped: {', '.join(failed)} exited" if failed and not stop["now"] else None
    if message:
        print(message, file=sys.stderr)
    # Straight out: everything started here is gone, and the interpreter's
    # own teardown (the app made for the migration and the keys) took
    # seconds more on a busy machine, past the 10 s a Ctrl-C may take.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if message else 0)
