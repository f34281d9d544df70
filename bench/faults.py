"""Faults under load: runs created by many clients while workers, the broker
or the API go away, and what became of every run the API accepted.

    .venv/bin/python -m bench.faults soak [--clients 20] [--duration 300] [--kill-every 60]
    .venv/bin/python -m bench.faults broker-loss [--down-at 20] [--down-for 10] [--broker-keeps-data]
    .venv/bin/python -m bench.faults api-loss [--down-at 20] [--down-for 30]
    .venv/bin/invoke faults --mode soak ...

Starts its own processes on loopback, all stopped at the end: a private
``redis-server`` on a free port (the broker: the machine's Redis is never
touched), a fresh PostgreSQL database, gunicorn, ``--workers`` Celery
worker processes of one pool process each (so that one can be killed alone)
and ``celery beat`` for the recovery sweep, with a short heartbeat timeout.

``--clients`` threads each loop for ``--duration`` seconds: create a run of
``examples/ieee4.glm`` (about a second of CPU), wait for it to end, again.
Meanwhile the mode's fault:

- ``soak``: every ``--kill-every`` seconds one worker's whole process group
  (main process and pool child) gets SIGKILL and a new worker is started.
- ``broker-loss``: the private Redis is stopped at ``--down-at`` for
  ``--down-for`` seconds and started again on the same port, empty unless
  ``--broker-keeps-data`` (an append-only file, fsync at every write).
- ``api-loss``: gunicorn is stopped at ``--down-at`` for ``--down-for``
  seconds and started again on the same port.

Then every run the API accepted (201) is waited for, up to the recovery
bound (heartbeat timeout + sweep interval, for each attempt, and the
queue timeout after which a task the broker lost is sent again) plus
``--settle`` seconds for the queue to drain, and counted: completed,
failed (grouped by the last line of their std_err), cancelled, re-executed
(more than one RUNNING in their states), lost (never left NOT_STARTED, or
gone) and stuck (started, never ended). The exit code is 1 if any run was
lost or stuck or failed without a reason.
"""

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import requests

from tests.e2e.stack import FINAL_STATES, CeleryWorker, Stack
from tests.processes import RedisServer

from .job_latency import MODEL
from .suite import LONG_ARGUMENTS

POLL = 0.5  # seconds between two looks at a run a client waits for


def say(message=""):
    print(message, flush=True)


class Cluster:
    """The service in processes of its own: broker, database, API, workers, beat."""

    def __init__(self, folder, args):
        self.folder = folder
        self.workers = []
        self.started = 0
        self.kills = 0
        self.redis = self.stack = None
        # The recovery settings, for the API (the sweep) and the workers (the
        # heartbeat and the beat): both read them from the environment.
        self.settings = {
            "RUN_HEARTBEAT_TIMEOUT": args.heartbeat_timeout,
            "RUN_QUEUE_TIMEOUT": args.queue_timeout,
            "WORKER_RECOVERY_INTERVAL": args.recovery_interval,
            "WORKER_HEARTBEAT_INTERVAL": args.heartbeat_interval,
            "WORKER_ARTIFACT_EXPIRY_INTERVAL": 0,
        }
        if args.max_attempts:
            self.settings["RUN_MAX_ATTEMPTS"] = args.max_attempts
        try:
            (folder / "redis").mkdir()
            (folder / "stack").mkdir()
            self.redis = RedisServer(folder / "redis", appendonly=args.broker_keeps_data)
            self.stack = Stack(
                folder / "stack",
                api_workers=2,
                api_threads=4,
                worker_concurrency=0,
                broker_url=self.redis.url,
                api_settings=self.settings,
            )
            for _ in range(args.workers):
                self.start_worker()
            self.stack.start_beat()
        except BaseException:
            self.close()
            raise

    def start_worker(self):
        self.started += 1
        name = f"faults{self.started}@%h"
        log_path = self.folder / f"worker-{self.started}.log"
        self.workers.append(CeleryWorker(self.stack.worker_env, log_path, concurrency=1, name=name))

    def kill_worker(self):
        """SIGKILL the oldest worker's process group, then start a new worker."""
        worker = self.workers.pop(0)
        os.killpg(worker.process.pid, signal.SIGKILL)
        worker.process.wait(timeout=30)
        worker.log.close()
        self.kills += 1
        self.start_worker()

    def close(self):
        for worker in self.workers:
            worker.stop()
        if self.stack is not None:  # and its beat
            self.stack.close()
        if self.redis is not None:
            self.redis.stop()


class Ledger:
    """What the clients saw, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created = []  # run JSON as the 201 gave it
        self.refused = Counter()  # status code or exception name -> count

    def add_run(self, run):
        with self.lock:
            self.created.append(run)

    def add_refusal(self, reason):
        with self.lock:
            self.refused[reason] += 1


def client_loop(stack, pipeline, inputs, ledger, end, give_up_at):
    """Create a run, wait for it to end, until ``end``; a run not ended at
    ``give_up_at`` is left to the count."""
    session = requests.Session()
    session.headers.update(stack.client)
    create_url = f"{stack.url}/v1/pipelines/{pipeline['uuid']}/runs"
    while time.monotonic() < end:
        try:
            response = session.post(create_url, json={"inputs": inputs}, timeout=30)
        except requests.RequestException as error:
            ledger.add_refusal(type(error).__name__)
            time.sleep(1)
            continue
        if response.status_code != 201:
            ledger.add_refusal(response.status_code)
            time.sleep(1)
            continue
        run = response.json()
        ledger.add_run(run)
        run_url = stack.run_url(run)
        while time.monotonic() < give_up_at:
            time.sleep(POLL)
            try:
                state = session.get(run_url, timeout=30).json()["state"]
            except (requests.RequestException, ValueError, KeyError):
                continue  # the API may be down: look again
            if state in FINAL_STATES:
                break
    session.close()


def kill_workers(cluster, every, end, stop):
    while not stop.wait(every) and time.monotonic() < end:
        say(
            f"  {time.strftime('%H:%M:%S')} SIGKILL worker {cluster.workers[0].process.pid} and start another"
        )
        cluster.kill_worker()


def broker_outage(cluster, at, down_for, stop):
    if stop.wait(at):
        return
    say(f"  {time.strftime('%H:%M:%S')} stop the broker for {down_for:g} s")
    cluster.redis.stop()
    time.sleep(down_for)
    cluster.redis.start()
    say(f"  {time.strftime('%H:%M:%S')} broker back")


def api_outage(cluster, at, down_for, stop):
    if stop.wait(at):
        return
    say(f"  {time.strftime('%H:%M:%S')} stop the API for {down_for:g} s")
    cluster.stack.stop_api()
    time.sleep(down_for)
    cluster.stack.start_api()
    say(f"  {time.strftime('%H:%M:%S')} API back")


FAULTS = {
    "soak": lambda cluster, args, end, stop: kill_workers(cluster, args.kill_every, end, stop),
    "broker-loss": lambda cluster, args, end, stop: broker_outage(cluster, args.down_at, args.down_for, stop),
    "api-loss": lambda cluster, args, end, stop: api_outage(cluster, args.down_at, args.down_for, stop),
}


def recovery_bound(args):
    """How long a run of a lost worker may take to be settled by the sweep."""
    attempts = args.max_attempts or 3
    resend = args.queue_timeout + args.recovery_interval  # a task the broker lost
    return attempts * (args.heartbeat_timeout + args.recovery_interval) + resend + args.settle


def drive(cluster, args):
    """The clients and the fault, for ``--duration`` seconds; returns the
    pipeline, the ledger and when every run should have ended."""
    stack = cluster.stack
    pipeline = stack.create_pipeline(model=MODEL, arguments=args.arguments)
    inputs = [{"name": MODEL, "url": stack.input_url(MODEL)}]
    ledger = Ledger()
    end = time.monotonic() + args.duration
    # The last run is created just before the end: it has the recovery bound.
    deadline = end + recovery_bound(args)
    stop = threading.Event()
    clients = [
        threading.Thread(
            target=client_loop, args=(stack, pipeline, inputs, ledger, end, deadline), daemon=True
        )
        for _ in range(args.clients)
    ]
    fault = threading.Thread(target=FAULTS[args.mode], args=(cluster, args, end, stop), daemon=True)
    for thread in (*clients, fault):
        thread.start()
    for thread in clients:
        thread.join()
    stop.set()
    fault.join()
    return pipeline, ledger, deadline


def settle(stack, runs, deadline):
    """Each run's JSON once all are final or at ``deadline``; None for a run the API no longer has."""
    session = requests.Session()
    session.headers.update(stack.client)
    latest = {}
    pending = {run["uuid"]: run for run in runs}
    while True:
        for uuid, run in list(pending.items()):
            response = session.get(stack.run_url(run), timeout=30)
            if response.status_code == 404:
                latest[uuid] = None
                del pending[uuid]
                continue
            response.raise_for_status()
            latest[uuid] = response.json()
            if latest[uuid]["state"] in FINAL_STATES:
                del pending[uuid]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(1)
    session.close()
    return latest


def last_line(text):
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return lines[-1][:160] if lines else ""


def seconds_between(start, end):
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def percentiles(values):
    if len(values) < 2:
        return "n/a"
    cuts = statistics.quantiles(values, n=100)
    return f"p50 {statistics.median(values):.2f} s, p95 {cuts[94]:.2f} s"


def count(stack, pipeline, ledger, latest):
    """The figures, as a dict of counts and details."""
    figures = Counter()
    reasons = Counter()
    durations, run_times = [], []
    for run in ledger.created:
        current = latest.get(run["uuid"])
        if current is None:
            figures["lost"] += 1
            continue
        states = [change["state"] for change in current["states"]]
        if states.count("RUNNING") > 1:
            figures["re-executed"] += 1
        state = current["state"]
        if state in FINAL_STATES:
            figures[state.lower()] += 1
            durations.append(seconds_between(current["created_at"], current["completed_at"]))
            if current.get("started_at"):
                run_times.append(seconds_between(current["started_at"], current["completed_at"]))
            if state == "FAILED":
                reason = last_line(stack.get(current, "/console")["std_err"])
                reasons[reason or "(no reason in std_err)"] += 1
                if not reason:
                    figures["failed without reason"] += 1
        elif "RUNNING" in states:
            figures["stuck"] += 1
        else:
            figures["lost"] += 1
    listed = requests.get(
        f"{stack.url}/v1/pipelines/{pipeline['uuid']}/runs", headers=stack.client, timeout=60
    )
    figures["runs the API lists"] = len(listed.json())
    return figures, reasons, durations, run_times


def report(args, cluster, ledger, figures, reasons, durations, run_times):
    say()
    say(f"created      {len(ledger.created)}")
    say(f"completed    {figures['completed']}")
    say(f"failed       {figures['failed']}")
    for reason, number in reasons.most_common():
        say(f"  {number:5d}  {reason}")
    say(f"cancelled    {figures['cancelled']}")
    say(f"re-executed  {figures['re-executed']}")
    say(f"lost         {figures['lost']}")
    say(f"stuck        {figures['stuck']}")
    refused = ", ".join(f"{reason}: {number}" for reason, number in sorted(ledger.refused.items(), key=str))
    say(f"not created  {sum(ledger.refused.values())}" + (f" ({refused})" if refused else ""))
    say(f"runs the API lists: {figures['runs the API lists']}")
    if args.mode == "soak":
        say(f"workers killed: {cluster.kills}")
    say(f"duration (created to final): {percentiles(durations)}")
    say(f"run time (RUNNING to final, last attempt's start): {percentiles(run_times)}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=sorted(FAULTS))
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients (default 20)")
    parser.add_argument("--duration", type=float, default=300, help="seconds of load (default 300)")
    parser.add_argument("--workers", type=int, default=2, help="Celery worker processes (default 2)")
    parser.add_argument(
        "--kill-every", type=float, default=60, help="soak: seconds between kills (default 60)"
    )
    parser.add_argument(
        "--down-at", type=float, default=20, help="seconds into the load of the outage (default 20)"
    )
    parser.add_argument("--down-for", type=float, default=None, help="outage seconds (broker 10, API 30)")
    parser.add_argument(
        "--broker-keeps-data", action="store_true", help="the private Redis keeps its data across the restart"
    )
    parser.add_argument(
        "--heartbeat-timeout", type=int, default=15, help="RUN_HEARTBEAT_TIMEOUT (default 15)"
    )
    parser.add_argument("--queue-timeout", type=int, default=30, help="RUN_QUEUE_TIMEOUT (default 30)")
    parser.add_argument(
        "--recovery-interval", type=int, default=5, help="WORKER_RECOVERY_INTERVAL (default 5)"
    )
    parser.add_argument(
        "--heartbeat-interval", type=int, default=2, help="WORKER_HEARTBEAT_INTERVAL (default 2)"
    )
    parser.add_argument(
        "--max-attempts", type=int, default=None, help="RUN_MAX_ATTEMPTS (default: the API's)"
    )
    parser.add_argument(
        "--settle", type=float, default=60, help="seconds for the queue to drain at the end (default 60)"
    )
    parser.add_argument(
        "--arguments",
        nargs="*",
        default=LONG_ARGUMENTS,
        help=f"gridlabd arguments of the pipeline (default: {' '.join(LONG_ARGUMENTS)})",
    )
    parser.add_argument("--keep", action="store_true", help="keep the processes' logs; prints their folder")
    args = parser.parse_args(argv)
    if args.down_for is None:
        args.down_for = 30 if args.mode == "api-loss" else 10

    folder = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    if args.keep:
        say(f"logs in {folder}")
    try:
        cluster = Cluster(folder, args)
        try:
            say(
                f"faults {args.mode}: {args.clients} clients for {args.duration:g} s, {args.workers} worker"
                f" processes; {describe(args)}; {MODEL} {' '.join(args.arguments)}"
            )
            say("recovery: " + ", ".join(f"{name}={value}" for name, value in cluster.settings.items()))
            pipeline, ledger, deadline = drive(cluster, args)
            left = max(0, deadline - time.monotonic())
            say(f"load over; waiting up to {left:.0f} s more for every created run to end")
            latest = settle(cluster.stack, ledger.created, deadline)
            figures, reasons, durations, run_times = count(cluster.stack, pipeline, ledger, latest)
            report(args, cluster, ledger, figures, reasons, durations, run_times)
        finally:
            cluster.close()
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    bad = figures["lost"] + figures["stuck"] + figures["failed without reason"]
    return 1 if bad else 0


def describe(args):
    if args.mode == "soak":
        return f"SIGKILL one worker every {args.kill_every:g} s"
    what = "broker" if args.mode == "broker-loss" else "API"
    kept = " (it keeps its data)" if args.mode == "broker-loss" and args.broker_keeps_data else ""
    return f"{what} down at {args.down_at:g} s for {args.down_for:g} s{kept}"


if __name__ == "__main__":
    sys.exit(main())
