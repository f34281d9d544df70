"""A run's progress from what the engine reports: the simulated clock.

Two sources, both readable from outside a sandbox, since they are the
simulation's output stream and a file in its working folder:

- the engine's progress line, ``Processing <time>...``, which it prints
  about once a second of wall time while ``show_progress`` is on (its
  default): the clock;
- ``CLOCK_FILE``, which ``gridlabd_cli`` writes when the environment names
  it (``CLOCK_FILE_VARIABLE``): the model's start and stop times once the
  model is loaded, and the clock reached once the run is over.

The engine writes times as ``2020-07-01 06:00:00 EDT`` (its default
``dateformat``, ISO); the zone's abbreviation gives the UTC offset for the
zones of GridLAB-D's ``tzinfo.txt`` listed in ``OFFSETS``. A time in
another zone is given without an offset (local time), and the fraction is
then computed on local times.
"""

import json
import os
import re
from datetime import datetime, timedelta, timezone

CLOCK_FILE_VARIABLE = "GRIDLABD_CLOCK_FILE"
CLOCK_FILE = ".gridlabd-clock.json"
PROGRESS_LINE = re.compile(r"Processing (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?: ([A-Z]{1,5}))?\b")
ENGINE_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)(?: ([A-Z]{1,5}))?$")

# Hours east of UTC of the abbreviations GridLAB-D's time zones print.
OFFSETS = {
    "UTC": 0,
    "GMT": 0,
    "BST": 1,
    "WET": 0,
    "WEST": 1,
    "CET": 1,
    "CEST": 2,
    "EET": 2,
    "EEST": 3,
    "MSK": 3,
    "EST": -5,
    "EDT": -4,
    "CST": -6,
    "CDT": -5,
    "MST": -7,
    "MDT": -6,
    "PST": -8,
    "PDT": -7,
    "AKST": -9,
    "AKDT": -8,
    "HST": -10,
    "AWST": 8,
    "ACST": 9.5,
    "AEST": 10,
    "AEDT": 11,
}


def engine_time(text):
    """``datetime`` of an engine time (aware when its zone is known), or
    None for anything else (``NEVER``, ``INIT``, another ``dateformat``)."""
    match = ENGINE_TIME.match((text or "").strip())
    if not match:
        return None
    moment = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")
    hours = OFFSETS.get(match.group(2) or "")
    if hours is None:
        return moment
    return moment.replace(tzinfo=timezone(timedelta(hours=hours)))


def _local(moment):
    return moment.replace(tzinfo=None) if moment.tzinfo is None else moment


def progress_of(clock, start, stop):
    """The API's ``progress`` from three times (``stop`` None: no stop time)."""
    fraction = None
    if stop is not None:
        aware = all(moment.tzinfo is not None for moment in (clock, start, stop))
        plain = (lambda moment: moment) if aware else (lambda moment: moment.replace(tzinfo=None))
        span = (plain(stop) - plain(start)).total_seconds()
        done = (plain(clock) - plain(start)).total_seconds()
        fraction = 1.0 if span <= 0 else round(min(max(done / span, 0.0), 1.0), 4)
    return {
        "clock": _local(clock).isoformat(),
        "start": _local(start).isoformat(),
        "stop": stop and _local(stop).isoformat(),
        "fraction": fraction,
    }


class ProgressWatcher:
    """Fed the simulation's output; ``take()`` hands its progress to
    ``on_progress`` when it has changed."""

    def __init__(self, folder, on_progress):
        self.on_progress = on_progress
        self.path = os.path.join(folder, CLOCK_FILE)
        self.partial = ""
        self.clock = None
        self.span = None  # (start, stop) once the clock file says
        self.sent = None

    def feed(self, text):
        lines = re.split(r"[\r\n]", self.partial + text)
        self.partial = lines.pop()[-512:]
        for line in lines:
            match = PROGRESS_LINE.search(line)
            if match:
                self.clock = engine_time(" ".join(filter(None, match.groups()))) or self.clock

    def _read_clock_file(self):
        try:
            with open(self.path) as file:
                found = json.load(file)
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def take(self, final=False):
        """True if the progress changed since the last ``take`` (and was
        handed to ``on_progress``). ``final``
        (the engine has exited): the clock it ended at, from the file."""
        if self.span is None or final:
            found = self._read_clock_file()
            start = engine_time(found.get("start"))
            if start is not None:
                self.span = (start, engine_time(found.get("stop")))
            if final and engine_time(found.get("clock")) is not None:
                self.clock = engine_time(found.get("clock"))
        if self.span is None:
            return False
        start, stop = self.span
        progress = progress_of(self.clock or start, start, stop)
        if progress == self.sent:
            return False
        self.sent = progress
        self.on_progress(progress)
        return True

    def remove_file(self):
        """The clock file is the worker's, not the run's: no artifact."""
        try:
            os.remove(self.path)
        except OSError:
            pass
