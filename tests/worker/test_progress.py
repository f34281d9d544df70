"""Progress from what the engine reports (worker/progress.py), and from the
real engine through the runner."""

import json

from worker.progress import CLOCK_FILE, ProgressWatcher, engine_time, progress_of
from worker.runner import run_gridlabd

from .conftest import IEEE4


def test_engine_times_get_their_zone_offset():
    assert engine_time("2020-07-01 06:00:00 EDT").isoformat() == "2020-07-01T06:00:00-04:00"
    assert engine_time("2020-01-01 06:00:00 EST").isoformat() == "2020-01-01T06:00:00-05:00"
    assert engine_time("2020-01-01 06:00:00 UTC").isoformat() == "2020-01-01T06:00:00+00:00"
    assert engine_time("2020-01-01 06:00:00 XYZ").isoformat() == "2020-01-01T06:00:00"  # unknown zone
    assert engine_time("NEVER") is None
    assert engine_time("01-07-2020 06:00:00 EDT") is None  # another dateformat


def test_the_fraction_is_the_share_of_the_span_done():
    start, stop = engine_time("2020-07-01 00:00:00 EDT"), engine_time("2020-07-02 00:00:00 EDT")
    assert progress_of(engine_time("2020-07-01 06:00:00 EDT"), start, stop)["fraction"] == 0.25
    assert progress_of(stop, start, stop)["fraction"] == 1.0
    # Across a change of zone (EST to EDT) the offsets keep it right.
    winter, summer = engine_time("2020-03-08 00:00:00 EST"), engine_time("2020-03-09 00:00:00 EDT")
    assert progress_of(engine_time("2020-03-08 12:00:00 EDT"), winter, summer)["fraction"] == round(
        11 / 23, 4
    )
    open_ended = progress_of(engine_time("2020-07-01 06:00:00 EDT"), start, None)
    assert open_ended == {
        "clock": "2020-07-01T06:00:00-04:00",
        "start": "2020-07-01T00:00:00-04:00",
        "stop": None,
        "fraction": None,
    }


def test_the_watcher_reads_progress_lines_split_anywhere(tmp_path):
    (tmp_path / CLOCK_FILE).write_text(
        json.dumps({"start": "2020-07-01 00:00:00 EDT", "stop": "2020-07-02 00:00:00 EDT"})
    )
    sent = []
    watcher = ProgressWatcher(str(tmp_path), sent.append)
    watcher.feed("\rProcessing 2020-07-01 06:00")
    watcher.feed(":00 EDT...\r      \rProcessing 2020-07-01 12:00:00 EDT...\r")
    assert watcher.take() is True
    assert sent[-1]["fraction"] == 0.5  # the newest complete line
    assert watcher.take() is False  # unchanged: not sent again
    watcher.remove_file()
    assert not (tmp_path / CLOCK_FILE).exists()


def test_a_real_run_reports_growing_progress_then_one(tmp_path):
    """The real engine on a simulated day solved every 2 s: a few seconds of CPU."""
    (tmp_path / "ieee4.glm").write_bytes(open(IEEE4, "rb").read())
    reports = []
    result = run_gridlabd(
        ["-D", "RECORDER_INTERVAL=2", "ieee4.glm"], str(tmp_path), timeout=300, on_progress=reports.append
    )
    assert result.returncode == 0
    fractions = [report["fraction"] for report in reports]
    assert fractions == sorted(fractions)
    assert len([f for f in fractions if 0 < f < 1]) >= 1, reports
    assert reports[-1] == {
        "clock": "2020-07-02T00:00:00-04:00",
        "start": "2020-07-01T00:00:00-04:00",
        "stop": "2020-07-02T00:00:00-04:00",
        "fraction": 1.0,
    }
    assert not (tmp_path / CLOCK_FILE).exists()  # never an artifact
