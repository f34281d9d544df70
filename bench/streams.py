"""Event streams against the usual load: the API's throughput with and
without 200 open ``GET .../runs/<uuid>/events`` streams, side by side.

    .venv/bin/python -m bench.streams [--streams 200] [--duration 10] [--clients 8]

On a stack of its own (gunicorn with 2 processes of 4 threads, as
``bench.suite``), or within ``invoke bench``:

1. ``--streams`` RUNNING runs; a feeder, standing for the workers, appends
   a line of console to ``FED_RUNS`` of them every ``FEED_INTERVAL``
   seconds throughout;
2. the usual load (``WORKLOADS`` of ``bench.http_load``) without streams;
3. ``ROUNDS`` times: one stream opened on each run, the same load again
   while every stream reads its events (a line's delay is the time from
   the feeder's POST to its arrival in a stream), then the streams closed
   and the load once more without them.

Each side is the mean of its phases, so that a change in the machine's
other load over the run weighs on both alike.
"""

import argparse
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.e2e.stack import Stack

from . import BENCH_REDIS_DB, http_load

API_WORKERS = 2
API_THREADS = 4
WORKLOADS = ["read-run", "list-10", "replace-console"]
# Runs that are executing and so write console: two worker processes' worth
# on this machine, and two more.
FED_RUNS = 4
FEED_INTERVAL = 0.5
# Phases with streams, each followed by one without: the figures of one
# 10 s phase move by about 10% with the machine's other load, so each side
# is a mean of several.
ROUNDS = 2


class Feeder:
    """Appends ``T=<time>`` lines to some runs' console, like workers do."""

    def __init__(self, api, runs):
        self.api, self.runs = api, runs
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        session = requests.Session()
        session.headers.update(self.api.worker)
        while not self.stop.wait(FEED_INTERVAL):
            for run in self.runs:
                body = {"std_out": f"T={time.time():.6f}\n"}
                session.post(self.api.url + http_load.run_path(run, "/console"), json=body, timeout=30)
                self.sent += 1


class Streams:
    """One reader thread per stream, on a plain socket (which ``close`` can
    shut down under a blocked read); counts console delays."""

    def __init__(self, api, runs):
        self.api = api
        self.delays, self.events, self.opened, self.failed = [], 0, 0, []
        self.lock = threading.Lock()
        self.sockets = []
        self.threads = [threading.Thread(target=self._read, args=(run,), daemon=True) for run in runs]

    def open(self, timeout=60):
        for thread in self.threads:
            thread.start()
        deadline = time.monotonic() + timeout
        while self.opened + len(self.failed) < len(self.threads) and time.monotonic() < deadline:
            time.sleep(0.1)

    def _read(self, run):
        address = urlsplit(self.api.url)
        key = self.api.client[http_load.API_KEY_HEADER]
        request = (
            f"GET {http_load.run_path(run, '/events')} HTTP/1.1\r\nHost: {address.netloc}\r\n"
            f"{http_load.API_KEY_HEADER}: {key}\r\nAccept: text/event-stream\r\n\r\n"
        )
        try:
            sock = socket.create_connection((address.hostname, address.port), timeout=30)
            sock.sendall(request.encode())
            reader = sock.makefile("rb")
            status = reader.readline().decode()
            if " 200 " not in status:
                raise OSError(status.strip())
            while reader.readline() not in (b"\r\n", b""):
                pass  # the head
            sock.settimeout(None)
        except OSError as error:
            with self.lock:
                self.failed.append(str(error))
            return
        with self.lock:
            self.opened += 1
            self.sockets.append(sock)
        kind = None
        try:
            for raw in reader:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "console":
                    now = time.time()
                    text = json.loads(line[6:])["std_out"]
                    stamps = [float(part[2:]) for part in text.split() if part.startswith("T=")]
                    with self.lock:
                        self.events += 1
                        self.delays += [now - stamp for stamp in stamps]
        except (OSError, ValueError):
            pass  # shut down at the end

    def close(self):
        for sock in list(self.sockets):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self.threads:
            thread.join(5)


def measure(api, streams=200, clients=8, warmup=2, duration=10, report=print, rounds=ROUNDS):
    pipeline = api.create_pipeline("streams")
    runs = [api.running_run(pipeline) for _ in range(streams)]
    workloads = http_load.pick(WORKLOADS)
    feeder = Feeder(api, runs[:FED_RUNS])
    feeder.thread.start()
    figures = {"streams": streams, "clients": clients, "duration": duration, "rounds": rounds, "rows": []}
    figures["load_before"] = "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())
    without, with_streams, delays = [], [], []
    opened, failed = [], []
    try:
        report(f"without streams ({clients} clients, {duration:g} s each):")
        without.append(http_load.run_workloads(api, workloads, clients, warmup, duration, report=report))
        for _ in range(rounds):
            readers = Streams(api, runs)
            readers.open()
            opened.append(readers.opened)
            failed.append(len(readers.failed))
            report(f"{readers.opened} streams open ({len(readers.failed)} failed); with them:")
            try:
                time.sleep(1)
                readers.delays.clear()
                loaded = http_load.run_workloads(api, workloads, clients, warmup, duration, report=report)
                with_streams.append(loaded)
                delays += readers.delays
            finally:
                readers.close()
            time.sleep(2)  # the server drops the closed streams at their next write
            report("without streams again:")
            without.append(http_load.run_workloads(api, workloads, clients, warmup, duration, report=report))
    finally:
        feeder.stop.set()
    delays.sort()
    for index, workload in enumerate(workloads):
        rates_without = [phase[index].rate for phase in without]
        rates_with = [phase[index].rate for phase in with_streams]
        rate_without, rate_with = statistics.mean(rates_without), statistics.mean(rates_with)
        figures["rows"].append(
            {
                "label": workload.label,
                "without": rate_without,
                "with": rate_with,
                "without_each": rates_without,
                "with_each": rates_with,
                "ratio": rate_with / rate_without if rate_without else float("nan"),
                "errors": sum(phase[index].errors for phase in without + with_streams),
            }
        )
    figures["opened"], figures["failed"] = min(opened), max(failed)
    figures["load_after"] = "{:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())
    figures["lines"] = len(delays)
    if delays:
        figures["delay_p50"] = statistics.median(delays)
        figures["delay_p99"] = delays[min(len(delays) - 1, int(0.99 * len(delays)))]
        figures["delay_max"] = delays[-1]
    for row in figures["rows"]:
        report(f"{row['label']}: {row['without']:.0f} -> {row['with']:.0f} req/s, ratio {row['ratio']:.2f}")
    if delays:
        report(
            f"console lines through streams: {len(delays)}, "
            f"delay median {figures['delay_p50'] * 1000:.0f} ms, "
            f"p99 {figures['delay_p99'] * 1000:.0f} ms, max {figures['delay_max'] * 1000:.0f} ms"
        )
    return figures


def _rates(rates):
    return ", ".join(f"{rate:.0f}" for rate in rates)


def section(figures, command):
    """The part of docs/benchmarks.md these figures make."""
    lines = [
        "## Event streams",
        "",
        f"`bench/streams.py` ({command}): {figures['streams']} RUNNING runs; a feeder standing",
        f"for the workers appends a console line to {FED_RUNS} of them every {FEED_INTERVAL:g} s throughout.",
        f"The usual load ({figures['clients']} clients, {figures['duration']:g} s per workload) is measured",
        f"without streams, then {figures['rounds']} times with one `GET .../events` stream open on each run",
        f"({figures['opened']} opened, {figures['failed']} failed) and again without them, in the same",
        "run; each side is the mean of its phases. The target: with the streams, at least",
        "80% of the throughput without them. Load average (1, 5, 15 minutes)",
        f"{figures['load_before']} before, {figures['load_after']} after: on a machine busy with",
        "other work the figures of each phase move with it, and the ratio less.",
        "",
        "| workload | without streams (req/s) | with streams (req/s) | ratio | errors |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in figures["rows"]:
        lines.append(
            f"| {row['label']} | {row['without']:.0f} ({_rates(row['without_each'])}) "
            f"| {row['with']:.0f} ({_rates(row['with_each'])}) | {row['ratio']:.2f} | {row['errors']} |"
        )
    if figures.get("lines"):
        lines += [
            "",
            f"Console lines received through the streams while loaded: {figures['lines']}; from the",
            f"feeder's POST to the stream: median {figures['delay_p50'] * 1000:.0f} ms, "
            f"p99 {figures['delay_p99'] * 1000:.0f} ms, max {figures['delay_max'] * 1000:.0f} ms",
            "(the worker adds up to its 0.5 s batching before the POST).",
        ]
    return "\n".join(lines) + "\n"


def write_section(document, text):
    """Replace (or add) the ``## Event streams`` section of ``document``."""
    old = document.read_text() if document.exists() else ""
    head, found, rest = old.partition("## Event streams\n")
    tail = ""
    if found:
        # Up to the next section, or the marker that opens one kept by another bench.
        ends = [at for at in (rest.find("\n## "), rest.find("\n<!-- ")) if at >= 0]
        tail = rest[min(ends) + 1 :] if ends else ""
    document.write_text(head.rstrip("\n") + "\n\n" + text + ("\n" + tail if tail else ""))


def add_arguments(parser):
    parser.add_argument("--streams", type=int, default=200, help="open streams (default 200)")
    parser.add_argument("--clients", type=int, default=8, help="client threads of the usual load")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of warm-up per workload")
    parser.add_argument("--duration", type=float, default=10, help="seconds measured per workload")
    parser.add_argument(
        "--no-write", dest="write", action="store_false", help="do not write docs/benchmarks.md"
    )


def main(argv=None):
    from .suite import DOCUMENT

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-streams-") as folder:
        stack = Stack(
            Path(folder),
            api_workers=API_WORKERS,
            api_threads=API_THREADS,
            worker_concurrency=0,
            redis_db=BENCH_REDIS_DB,
        )
        try:
            api = http_load.Api(
                stack.url,
                stack.client[http_load.API_KEY_HEADER],
                stack.worker_key[http_load.API_KEY_HEADER],
                stack.database_url,
            )
            figures = measure(api, args.streams, args.clients, args.warmup, args.duration)
        finally:
            stack.close()
    if args.write:
        command = "`.venv/bin/python -m bench.streams` " + " ".join(argv or [])
        write_section(DOCUMENT, section(figures, command.strip()))
        print(f"wrote the event streams section of {DOCUMENT}")


if __name__ == "__main__":
    main()
