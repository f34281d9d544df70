"""``invoke serve``: the API and one worker in the foreground, for a newcomer.

Builds the schema, makes (once) a client key and a worker key kept in
``var/quickstart-keys.env``, starts gunicorn and a Celery worker (with beat,
for the periodic tasks), and prints how to call the API. Ctrl-C stops both.
"""

import os
import secrets
import signal
import subprocess
import sys
import time

from app import create_app
from app.config import embedded_data_folder
from app.permissions import WorkflowPermissions
from roles.queries import find_active_application
from roles.services import create_application_key

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
    from flask_migrate import upgrade

    with app.app_context():
        upgrade(directory=os.path.join(os.path.dirname(__file__), "migrations"))


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


def serve(host, port):
    app = create_app()
    _upgrade(app)
    keys = ensure_keys(app)
    url = f"http://{host}:{port}"
    api = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "run:app", "-b", f"{host}:{port}", "-w", "2", "--threads", "4"]
    )
    worker_env = {
        **os.environ,
        "WORKER_API_SERVER": os.environ.get("WORKER_API_SERVER", url),
        "WORKER_API_TOKEN": keys["WORKER_API_TOKEN"],
        # The walkthrough feeds the example model by file:// URL; a shared
        # deployment leaves this off.
        "WORKER_ALLOW_FILE_URLS": os.environ.get("WORKER_ALLOW_FILE_URLS", "1"),
        # Callbacks are signed with a secret made once under var/.
        "CALLBACK_SIGNING_SECRET": ensure_callback_secret(),
    }
    # -B: the worker also runs beat, which sends the periodic tasks (the
    # recovery of runs whose worker was lost, artifact expiry).
    schedule = os.path.join(embedded_data_folder(), "celerybeat-schedule")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--loglevel=info", "--concurrency=1"]
        + ["-B", "--schedule", schedule],
        env=worker_env,
    )
    children = [api, worker]
    time.sleep(2)
    print(_usage(url, keys), flush=True)
    stop = {"now": False}

    def request_stop(signum, frame):
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stop["now"] and all(child.poll() is None for child in children):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
    failed = [child.args[2] for child in children if child.returncode not in (0, -signal.SIGTERM, None)]
    if failed and not stop["now"]:
        sys.exit(f"stopped: {', '.join(failed)} exited")
