"""The gridlabd command on top of the PyPI engine, run as users run it."""

import os
import re
import shutil
import signal
import subprocess
import sys
import time

from .conftest import CLI, EXAMPLES, ROOT, cli_environment, run_cli

TWO_NODE_MODEL = """
#set complex_output_format=RECT
clock {
  timezone EST+5EDT;
  starttime '2020-01-01 00:00:00';
  stoptime '2020-01-01 00:10:00';
}
module powerflow;
module tape;
#ifndef OUTPUT
#define OUTPUT=voltages
#endif
object node { name source; phases ABCN; bustype SWING; nominal_voltage 2400 V; }
object load { name sink; parent source; phases ABCN; nominal_voltage 2400 V; constant_power_A 100 kVA; }
object recorder { parent sink; property voltage_A; file ${OUTPUT}.csv; interval 60; }
"""

FAILING_ASSERT = """
module assert;
object assert { parent load4; target "voltage_A"; relation "=="; value 0+0j; within 1; }
"""


def magnitudes(csv_path, column=1):
    """Magnitudes of one column of a recorder file of complex values ("+2197.75-144.929j")."""
    with open(csv_path) as csv:
        rows = [line.strip().split(",") for line in csv if not line.startswith("#")]
    return [abs(complex(row[column])) for row in rows]


def test_example_model_runs_and_records_computed_voltages(model_folder):
    started = time.monotonic()
    result = run_cli(["model.glm"], model_folder)
    elapsed = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert elapsed < 10
    for phase in (1, 2, 3):
        volts = magnitudes(model_folder / "ieee4_load_voltages.csv", phase)
        assert len(volts) == 24 * 60
        # Below the 2,400 V nominal by the feeder's drop, and following the
        # daily load shape: the engine solved the network at each step.
        assert all(1800 < v < 2400 for v in volts)
        assert len(set(volts)) >= 4
    assert (model_folder / "ieee4_substation_power.csv").stat().st_size > 0
    assert not (model_folder / "_checkpoint.json").exists()


def test_defines_reach_the_model(tmp_path):
    (tmp_path / "model.glm").write_text(TWO_NODE_MODEL)

    result = run_cli(["-D", "OUTPUT=chosen_name", "model.glm"], tmp_path)

    assert result.returncode == 0, result.stderr
    assert magnitudes(tmp_path / "chosen_name.csv")
    assert not (tmp_path / "voltages.csv").exists()


def test_the_broken_example_fails_to_load(tmp_path):
    shutil.copy(os.path.join(EXAMPLES, "broken.glm"), tmp_path)

    result = run_cli(["broken.glm"], tmp_path)

    assert result.returncode == 1
    assert "broken.glm(16): expected ';' at end of property specification" in result.stderr


def test_syntax_error_fails_with_the_parser_message(tmp_path):
    (tmp_path / "model.glm").write_text(TWO_NODE_MODEL + "object no_such_class {\n  name x;\n}\n")

    result = run_cli(["model.glm"], tmp_path)

    assert result.returncode == 1
    assert re.search(r"model\.glm\(\d+\): class 'no_such_class' is not known", result.stderr)
    assert "failed to load model file" in result.stderr


def test_missing_model_file_fails(tmp_path):
    result = run_cli(["missing.glm"], tmp_path)

    assert result.returncode == 1
    assert "unable to load 'missing.glm'" in result.stderr


def test_simulation_failure_is_exit_code_2(model_folder):
    with open(model_folder / "model.glm", "a") as model:
        model.write(FAILING_ASSERT)

    result = run_cli(["model.glm"], model_folder)

    assert result.returncode == 2
    assert "assert failed" in result.stderr


def test_engine_rejects_unknown_options(model_folder):
    result = run_cli(["--no-such-option", "model.glm"], model_folder)

    assert result.returncode == 1
    assert "'--no-such-option' is not recognized" in result.stderr


def test_options_after_the_model_and_server_options_are_refused(model_folder):
    after = run_cli(["model.glm", "-D", "x=1"], model_folder)
    server = run_cli(["--server", "model.glm"], model_folder)

    assert after.returncode == server.returncode == 1
    assert "must come last" in after.stderr
    assert "--server is not supported" in server.stderr
    assert not (model_folder / "ieee4_load_voltages.csv").exists()


def test_informational_options_need_no_model(tmp_path):
    version = run_cli(["--version"], tmp_path)
    nothing = run_cli([], tmp_path)

    assert version.returncode == 0
    assert version.stdout.strip().startswith("GridLAB-D 6")
    assert nothing.returncode == 1
    assert "usage: gridlabd" in nothing.stderr
    assert os.listdir(tmp_path) == []


def test_bin_gridlabd_runs_the_same_command(model_folder):
    result = subprocess.run(
        [os.path.join(ROOT, "bin", "gridlabd"), "model.glm"],
        cwd=model_folder,
        env={**os.environ, "GRIDLABD_PYTHON": sys.executable},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert magnitudes(model_folder / "ieee4_load_voltages.csv")


def start_realtime(folder, seconds=60):
    return subprocess.Popen(
        [*CLI, "-D", f"REALTIME_SECONDS={seconds}", "model.glm"],
        cwd=folder,
        env=cli_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_progress(process, within=10, lines=1):
    """The engine's progress line (``lines`` of them) arrives through the
    pipe while it runs."""
    deadline = time.monotonic() + within
    seen = b""
    while seen.count(b"Processing") < lines:
        assert time.monotonic() < deadline, seen
        seen += os.read(process.stdout.fileno(), 4096)
    return seen


def test_output_streams_and_sigterm_stops_the_simulation_at_once(model_folder):
    process = start_realtime(model_folder)
    try:
        wait_for_progress(process)
        assert process.poll() is None

        process.send_signal(signal.SIGTERM)
        process.wait(timeout=2)
    finally:
        process.kill()
        process.wait()

    assert process.returncode in (-signal.SIGTERM, 128 + signal.SIGTERM)


def test_sigint_stops_cleanly_with_the_native_exit_code(model_folder):
    process = start_realtime(model_folder)
    try:
        # A second progress line: the clock has moved on, so the recorders
        # have a row to keep (on a busy machine the first can come before).
        wait_for_progress(process, lines=2)
        process.send_signal(signal.SIGINT)
        process.wait(timeout=5)
    finally:
        process.kill()
        process.wait()

    assert process.returncode == 130
    assert magnitudes(model_folder / "ieee4_load_voltages.csv")
