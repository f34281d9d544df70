"""A whole Workflow Service in real processes, for end-to-end tests.

The API under gunicorn, a ``celery -A worker worker`` process, and either
PostgreSQL + Redis or the embedded default (SQLite + kombu's filesystem
transport). Inputs are served by a real HTTP server on loopback.
"""

import functools
import http.server
import os
import signal
import threading
import time

import redis
import requests

from app import create_app
from app.extensions import db
from app.permissions import WorkflowPermissions
from roles.services import create_application_key

from ..migrated import migrated_database
from ..processes import REPO_ROOT, Gunicorn, LoggedProcess, command_env, executable
from ..services import drop_postgres_database, require_redis

EXAMPLES = REPO_ROOT / "examples"
FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED"}
E2E_REDIS_DB = 14
# The default block lists without loopback: the stack serves inputs on
# 127.0.0.1, so it sets both lists explicitly (a caller may set its own).
LOOPBACK_ALLOWED = (
    "0.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,"
    "::/128,fc00::/7,fe80::/10,64:ff9b::/96"
)
STACK_API_SETTINGS = {"BLOCKED_NETWORKS": LOOPBACK_ALLOWED}
STACK_WORKER_SETTINGS = {"WORKER_BLOCKED_NETWORKS": LOOPBACK_ALLOWED, "CALLBACK_ALLOW_UNSIGNED": "true"}


class InputServer:
    """A static HTTP server on loopback serving one folder (404 for the rest)."""

    def __init__(self, folder):
        handler = functools.partial(QuietHandler, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class CeleryWorker(LoggedProcess):
    """``celery -A worker worker`` as a deployment runs it, with ``concurrency``
    pool processes (each runs one run at a time), named ``name`` if given;
    ``queues`` (``-Q``) and ``pool`` (``-P``) as Celery takes them."""

    grace = 20  # a warm shutdown lets the current run finish

    def __init__(self, env, log_path, concurrency=1, name=None, queues=None, pool=None):
        args = [
            executable("celery"),
            "-A",
            "worker",
            "worker",
            "--loglevel=info",
            f"--concurrency={concurrency}",
        ]
        if name:  # several workers on one host need names of their own
            args += ["-n", name]
        if queues:
            args += ["-Q", queues]
        if pool:
            args += ["-P", pool]
        super().__init__(args, env, log_path)


class CeleryBeat(LoggedProcess):
    """``celery -A worker beat``: sends the periodic tasks (run recovery,
    artifact expiry) with the workers' settings, keeping its schedule in
    ``schedule_path``."""

    def __init__(self, env, log_path, schedule_path):
        args = [executable("celery"), "-A", "worker", "beat", "--loglevel=info", "-s", str(schedule_path)]
        super().__init__(args, env, log_path)


class Stack:
    """Database, broker, API, worker and an input server; ``close()`` stops all.

    By default: gunicorn with one process, one Celery worker process, Redis
    database 14. ``api_workers``/``api_threads`` size gunicorn,
    ``worker_concurrency`` the Celery pool (0: start no worker; see
    ``start_worker``), ``redis_db`` picks the Redis database (emptied first),
    ``api_settings`` adds to the API's environment, ``broker_url`` replaces
    the machine's Redis with one of the caller's (used as it is, not emptied),
    ``worker_queues`` gives the worker ``-Q`` (default: every queue, runs and
    callbacks; see ``start_callback_worker``). Both block lists allow
    loopback and the worker may send unsigned callbacks unless the caller
    says otherwise (``STACK_API_SETTINGS``, ``STACK_WORKER_SETTINGS``).
    """

    def __init__(
        self,
        folder,
        embedded=False,
        api_workers=1,
        api_threads=None,
        worker_concurrency=1,
        redis_db=E2E_REDIS_DB,
        api_settings=None,
        broker_url=None,
        worker_queues=None,
        **worker_settings,
    ):
        self.folder = folder
        self.worker_queues = worker_queues
        self.callback_worker = None
        self.embedded = embedded
        api_settings = {**STACK_API_SETTINGS, **(api_settings or {})}
        worker_settings = {**STACK_WORKER_SETTINGS, **worker_settings}
        self.api_settings = {key: str(value) for key, value in api_settings.items()}
        self.database_url = None
        self.broker_url = None
        self.worker = None
        self.beat = None
        self.worker_kills = 0
        self.api_starts = 1
        self._stoppers = []
        try:
            self._start(api_workers, api_threads, redis_db, worker_settings, broker_url)
            if worker_concurrency:
                self.start_worker(worker_concurrency)
        except BaseException:
            self.close()
            raise

    def _start(self, api_workers, api_threads, redis_db, worker_settings, broker_url=None):
        settings = {}
        if self.embedded:
            # No database or broker settings at all: what ./bin/serve uses,
            # the SQLite file in WORKFLOW_DATA_FOLDER.
            env = command_env(self.folder)
            del env["CELERY_BROKER_URL"]
            os.makedirs(env["WORKFLOW_DATA_FOLDER"], exist_ok=True)
            database_file = os.path.join(env["WORKFLOW_DATA_FOLDER"], "workflow.sqlite3")
            keys_database_url = migrated_database("sqlite", database_file)
        else:
            self.database_url = migrated_database("postgresql")
            self._stoppers.append(lambda: drop_postgres_database(self.database_url))
            if broker_url:
                self.broker_url = broker_url
            else:
                self.broker_url = require_redis(redis_db)
                redis.Redis.from_url(self.broker_url).flushdb()
            settings = {"SQLALCHEMY_DATABASE_URI": self.database_url, "CELERY_BROKER_URL": self.broker_url}
            env = command_env(self.folder, **settings)
            keys_database_url = self.database_url
        env.update(self.api_settings)  # e.g. BLOB_API_SERVER for the API
        env["PROMETHEUS_MULTIPROC_DIR"] = self.api_settings.get(
            "PROMETHEUS_MULTIPROC_DIR", str(self.folder / "api-metrics")
        )
        self.env = env
        self.client, self.worker_key = self._keys(keys_database_url)

        self.api = Gunicorn(env, self.folder / "gunicorn.log", workers=api_workers, threads=api_threads)
        self._stoppers.append(self.api.stop)
        self.url = self.api.url

        self.inputs = InputServer(EXAMPLES)
        self._stoppers.append(self.inputs.stop)

        # The worker's working directories are made under TMPDIR, so a test
        # can see that none is left behind.
        self.work_folder = self.folder / "work"
        self.work_folder.mkdir()
        self.worker_env = {
            **env,
            # Its own, never the API's (which gunicorn empties when it starts).
            "PROMETHEUS_MULTIPROC_DIR": str(self.folder / "worker-metrics"),
            "TMPDIR": str(self.work_folder),
            "WORKER_API_SERVER": self.url,
            "WORKER_API_TOKEN": self.worker_key["Workflow-API-Key"],
            **{key: str(value) for key, value in worker_settings.items()},
        }

    def start_worker(self, concurrency=1):
        """Start the Celery worker (after ``stop_worker``, a fresh one)."""
        assert self.worker is None, "a worker is running already"
        self.worker = CeleryWorker(
            self.worker_env, self.folder / "worker.log", concurrency, queues=self.worker_queues
        )
        self._stoppers.append(self._discard_worker)

    def start_callback_worker(self, concurrency=4):
        """A second worker for the ``callbacks`` queue alone, on Celery's thread
        pool, as docs/worker.md suggests (start the first with
        ``worker_queues="celery"`` for callbacks to reach this one only)."""
        assert self.callback_worker is None, "a callback worker is running already"
        self.callback_worker = CeleryWorker(
            self.worker_env,
            self.folder / "callback-worker.log",
            concurrency,
            name="callbacks@%h",
            queues="callbacks",
            pool="threads",
        )
        self._stoppers.append(self.callback_worker.kill)

    def stop_worker(self):
        """Stop the worker as a deployment does (SIGTERM: a warm shutdown)."""
        if self._discard_worker in self._stoppers:
            self._stoppers.remove(self._discard_worker)
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.stop()

    def _discard_worker(self):
        if self.worker is not None:
            worker, self.worker = self.worker, None
            worker.kill()

    def kill_worker(self):
        """SIGKILL the worker's whole process group (main process and pool
        children), as when its host dies; ``start_worker`` starts a new one.
        Its log is kept as ``worker-killed-N.log``."""
        worker, self.worker = self.worker, None
        self._stoppers.remove(self._discard_worker)
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=30)
        worker.log.close()
        self.worker_kills += 1
        os.replace(worker.log.name, self.folder / f"worker-killed-{self.worker_kills}.log")

    def start_beat(self):
        """Start ``celery -A worker beat`` (the workers' settings: e.g.
        WORKER_RECOVERY_INTERVAL); ``close()`` stops it."""
        assert self.beat is None, "beat is running already"
        self.beat = CeleryBeat(self.worker_env, self.folder / "beat.log", self.folder / "beat-schedule")
        self._stoppers.append(self.beat.kill)

    def gridlabd_processes(self):
        """Pids of this stack's GridLAB-D runs: processes working in a run's
        folder under its workers' TMPDIR (other stacks may run on the
        machine; a worker's start-up check of the sandbox runs the engine
        too, in a folder of another name, and is not a run)."""
        runs = [str(self.work_folder.resolve() / "workflow-run-")]
        # A worker process's engine host makes run folders in its own (worker/engine_hosts.py).
        runs += [str(host / "workflow-run-") for host in self.work_folder.resolve().glob("workflow-engine-*")]
        found = []
        for pid in gridlabd_processes():
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd")
            except OSError:
                continue
            if cwd.startswith(tuple(runs)):
                found.append(pid)
        return found

    def stop_api(self):
        """Stop gunicorn (SIGTERM: requests in progress are answered first)."""
        self.api.stop()

    def start_api(self):
        """Start gunicorn again, as before and on the same port, so the URL
        the worker and the clients have still reaches it."""
        old = self.api
        assert old.process.poll() is not None, "the API is running"
        self.api_starts += 1
        log_path = self.folder / f"gunicorn-{self.api_starts}.log"
        self.api = Gunicorn(self.env, log_path, workers=old.workers, threads=old.threads, port=old.port)
        self._stoppers[self._stoppers.index(old.stop)] = self.api.stop

    def restart_api(self, down_seconds):
        """The API gone for ``down_seconds``, then back on the same URL."""
        self.stop_api()
        time.sleep(down_seconds)
        self.start_api()

    def _keys(self, database_url):
        """Headers with a client key and with a worker key, made in this process
        on the stack's database: each `invoke create-application-key` would
        start Python and import the app (about 1 CPU-second), and
        tests/test_cli.py tests that command."""
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": database_url,
                "CELERY_BROKER_URL": "memory://",
                "CELERY_BROKER_TRANSPORT_OPTIONS": {},
                "UPLOAD_FOLDER": str(self.folder / "uploads"),
                "BLOB_API_SERVER": None,
            }
        )
        with app.app_context():
            keys = [
                {"Workflow-API-Key": create_application_key(permission.name, [permission])[1]}
                for permission in (WorkflowPermissions.PIPELINES_CLIENT, WorkflowPermissions.PIPELINES_WORKER)
            ]
            db.engine.dispose()
        return keys

    def close(self):
        """Stop all. The Celery processes are killed, not shut down warm: the
        test has checked what it needed by then, and a warm shutdown waited
        2 to 6 s for Celery's own sleeps (a pool process sleeps 1 s before it
        exits), some 70 s of a suite run."""
        while self._stoppers:
            try:
                self._stoppers.pop()()
            except Exception:  # noqa: BLE001 - keep stopping the rest
                pass

    # The client's side of the API.

    def create_pipeline(self, **fields):
        response = requests.post(
            self.url + "/v1/pipelines", json={"name": "e2e", **fields}, headers=self.client, timeout=10
        )
        assert response.status_code == 201, response.text
        return response.json()

    def start_run(self, pipeline, inputs, callback_url=None):
        body = {"inputs": inputs}
        if callback_url:
            body["callback_url"] = callback_url
        response = requests.post(
            f"{self.url}/v1/pipelines/{pipeline['uuid']}/runs",
            json=body,
            headers=self.client,
            timeout=10,
        )
        assert response.status_code == 201, response.text
        return response.json()

    def run_url(self, run, tail=""):
        return f"{self.url}/v1/pipelines/{run['pipeline_uuid']}/runs/{run['uuid']}{tail}"

    def get(self, run, tail=""):
        response = requests.get(self.run_url(run, tail), headers=self.client, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for(self, run, states, timeout=120, poll=0.2):
        """Poll the run until its state is one of ``states``; returns the run JSON."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            current = self.get(run)
            if current["state"] in states:
                return current
            time.sleep(poll)
        log = self.worker.output()[-4000:] if self.worker else "(no worker running)"
        raise AssertionError(f"run stayed {current['state']} for {timeout}s\nworker log:\n{log}")

    def download(self, artifact):
        response = requests.get(artifact["url"], headers=self.client, timeout=30)
        assert response.status_code == 200, response.text
        return response

    def input_url(self, name):
        return f"{self.inputs.url}/{name}"


def run_folders(stack):
    """The worker's working directories still on disk (Celery's own are not),
    also those in an engine host's folder."""
    return [
        *stack.work_folder.glob("workflow-run-*"),
        *stack.work_folder.glob("workflow-engine-*/workflow-run-*"),
    ]


def gridlabd_processes():
    """Pids of processes running the GridLAB-D engine on this machine."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read().replace(b"\0", b" ")
        except OSError:
            continue
        # A run forked by an engine host has the host's command line.
        if b"gridlabd_cli" in cmdline or b"gridlabd._worker" in cmdline or b"worker.engine_host" in cmdline:
            found.append(int(entry))
    return found
