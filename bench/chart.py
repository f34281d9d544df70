"""The console's chart on a 1,000,000-row recorder file: time to first draw in
headless Chromium, next to the time the same browser takes to download the
same file alone (the floor any chart of it has), measured side by side.

    .venv/bin/invoke bench-chart [--rows 1000000] [--repeat 3] [--no-write]

``invoke bench`` runs it on the suite's stack too. The file is what a
GridLAB-D recorder writes (``#`` header lines, a timestamp column, three
complex columns), one row a second, with one spike the chart must keep. It is
stored as a run's artifact through the API, as a worker uploads it; the
browser signs in, opens the run's page and clicks "Chart", as a person does.
The time runs from that click to the chart drawn: download, parse (d3-dsv),
numbers from text, min/max downsampling, uPlot's draw.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests

from tests.processes import REPO_ROOT

DOCUMENT = REPO_ROOT / "docs" / "benchmarks.md"
TARGET_MS = 2000
SECTION = "## The console's chart: a 1,000,000-row recorder file"
SPIKE = 9999.0


def say(message):
    print(message, flush=True)


def recorder_file(path, rows):
    """A recorder CSV of ``rows`` rows, a second apart, with one spike."""
    start = datetime(2020, 7, 1)
    spike_at = rows * 2 // 3
    with open(path, "w") as out:
        out.write("# file...... bench_voltages.csv\n# target.... load 11\n# interval.. 1\n# limit..... 0\n")
        out.write("# timestamp,voltage_A,voltage_B,voltage_C\n")
        for i in range(rows):
            stamp = (start + timedelta(seconds=i)).strftime("%Y-%m-%d %H:%M:%S EDT")
            a = 2197.75 - (i % 3600) * 0.01
            if i == spike_at:
                a = SPIKE
            out.write(f"{stamp},+{a:.2f}-144.929j,-1249.29-1868.32j,-972.448+2002.98j\n")
    return path


def store_artifact(stack, path):
    """A pipeline, a run, and the file as its artifact (uploaded with the
    worker's key, as a worker does); returns (pipeline uuid, run uuid, name)."""
    pipeline = stack.create_pipeline(name="chart bench")
    run = stack.start_run(pipeline, [])
    worker = stack.worker_key
    url = stack.run_url(run)
    requests.put(url + "/state", json={"state": "RUNNING"}, headers=worker, timeout=10).raise_for_status()
    with open(path, "rb") as body:
        response = requests.post(url + f"/artifacts?name={path.name}", data=body, headers=worker, timeout=300)
    assert response.status_code == 201, response.text
    requests.put(url + "/state", json={"state": "COMPLETED"}, headers=worker, timeout=10).raise_for_status()
    return pipeline["uuid"], run["uuid"], path.name


FETCH_ONLY = """
const [url, key, done] = arguments;
const started = performance.now();
fetch(url, {headers: {'Workflow-API-Key': key}, cache: 'no-store'})
  .then((r) => r.text())
  .then((text) => done({ms: performance.now() - started, length: text.length}))
  .catch((e) => done({error: String(e)}));
"""


def measure(stack, browser, pipeline, run, name, repeat):
    """[(first draw, fetch, parse, points, rows)] and [fetch alone] in ms, each
    ``repeat`` times, alternating, in a fresh page each time."""
    from selenium.webdriver.common.by import By

    from tests.browser.browser import wait
    from tests.browser.pages import button, open_console, sign_in

    driver = browser.driver
    key = stack.client["Workflow-API-Key"]
    sign_in(browser, stack)
    draws, fetches = [], []
    artifact_url = next(a["url"] for a in stack.get({"pipeline_uuid": pipeline, "uuid": run})["artifacts"])
    for _ in range(repeat):
        open_console(browser, stack, f"#/pipelines/{pipeline}/runs/{run}")
        driver.refresh()
        row = wait(lambda: driver.find_element(By.CSS_SELECTOR, f'#artifacts tr[data-artifact="{name}"]'))
        button(driver, "Chart", row).click()
        panel = wait(
            lambda: driver.find_element(By.CSS_SELECTOR, "section.chart[data-first-draw-ms]"),
            timeout=120,
            message="the chart to draw",
        )
        data = {
            k: panel.get_attribute(f"data-{k}")
            for k in ("first-draw-ms", "fetch-ms", "parse-ms", "points", "rows")
        }
        draws.append({k: int(v) for k, v in data.items()})
        driver.refresh()
        result = driver.execute_async_script(FETCH_ONLY, artifact_url, key)
        assert "error" not in result, result
        fetches.append(result["ms"])
    return draws, fetches


def run(stack, rows=1_000_000, repeat=3, folder=None):
    """Figures of the chart benchmark on ``stack`` (a tests.e2e.stack.Stack)."""
    from tests.browser.browser import Browser, missing

    reason = missing()
    if reason:
        raise SystemExit(f"chart bench: {reason}")
    with tempfile.TemporaryDirectory(prefix="bench-chart-", dir=folder) as tmp:
        path = recorder_file(Path(tmp) / "bench_voltages.csv", rows)
        size = path.stat().st_size
        say(f"chart: {rows:,} rows, {size / 2**20:.1f} MiB")
        pipeline, run_uuid, name = store_artifact(stack, path)
    load_before = os.getloadavg()
    browser = Browser()
    try:
        version = browser.driver.capabilities.get("browserVersion", "?")
        draws, fetches = measure(stack, browser, pipeline, run_uuid, name, repeat)
    finally:
        browser.close()
    first = statistics.median(d["first-draw-ms"] for d in draws)
    fetch = statistics.median(fetches)
    figures = {
        "rows": rows,
        "size": size,
        "repeat": repeat,
        "chromium": version,
        "first_draw_ms": first,
        "first_draws": [d["first-draw-ms"] for d in draws],
        "download_ms": statistics.median(d["fetch-ms"] for d in draws),
        "parse_ms": statistics.median(d["parse-ms"] for d in draws),
        "points": draws[0]["points"],
        "fetch_alone_ms": fetch,
        "ratio": first / fetch if fetch else float("nan"),
        "measured": datetime.now(UTC),
        "load": (load_before, os.getloadavg()),
    }
    say(
        f"chart: first draw {first:.0f} ms (runs {figures['first_draws']}), fetch alone {fetch:.0f} ms, "
        f"ratio {figures['ratio']:.2f}, {figures['points']} points drawn; {draws}"
    )
    return figures


def section(figures, command):
    """The Markdown section of docs/benchmarks.md."""
    f = figures
    met = "met" if f["first_draw_ms"] <= TARGET_MS else "NOT met"
    return "\n".join(
        [
            SECTION,
            "",
            f"Measured {f['measured']:%Y-%m-%d} with `{command}`, in Debian's headless Chromium",
            f"{f['chromium']}, on the stack above (or one like it): a recorder file of",
            f"{f['rows']:,} rows ({f['size'] / 2**20:.1f} MiB: a timestamp and three complex voltages,",
            "a row a second, one spike), stored as a run's artifact. From the click on",
            '"Chart" to the chart drawn, median of ' + f"{f['repeat']} (each in a fresh page):",
            "",
            "| | ms |",
            "| --- | ---: |",
            f"| time to first draw (target {TARGET_MS} ms: {met}) | {f['first_draw_ms']:.0f} |",
            f"| of which the download, in the chart | {f['download_ms']:.0f} |",
            f"| of which reading (d3-dsv, numbers), downsampling, drawing | {f['parse_ms']:.0f} |",
            f"| reference: the same browser downloading the same file alone | {f['fetch_alone_ms']:.0f} |",
            f"| ratio, first draw / download alone | {f['ratio']:.2f} |",
            "",
            f"Every run: {', '.join(str(ms) for ms in f['first_draws'])} ms. Load average (1, 5, 15",
            f"minutes) {', '.join(f'{x:.2f}' for x in f['load'][0])} before, "
            f"{', '.join(f'{x:.2f}' for x in f['load'][1])} after: on 2 cores, other work",
            "on the machine slows every step, the download alone included. The chart drew",
            f"{f['points']:,} points (min and max of each pixel's bucket, so the spike is",
            "drawn); zooming draws the zoomed range again from every row.",
            "",
        ]
    )


def write_section(text):
    """Put the section in docs/benchmarks.md, in place of the last one."""
    document = DOCUMENT.read_text() if DOCUMENT.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(SECTION) + r"\n.*?(?=\n## |\Z)", re.S)
    if pattern.search(document):
        document = pattern.sub(lambda _: text.rstrip("\n"), document)
    else:
        document = document.rstrip("\n") + "\n\n" + text
    DOCUMENT.write_text(document.rstrip("\n") + "\n")


def main(argv=None, command=None):
    from bench import BENCH_REDIS_DB
    from tests.e2e.stack import Stack

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", dest="write", action="store_false")
    args = parser.parse_args(argv)
    command = command or " ".join(
        [".venv/bin/python -m bench.chart", *(sys.argv[1:] if argv is None else argv)]
    )
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-chart-stack-") as folder:
        stack = Stack(Path(folder), worker_concurrency=0, api_threads=4, redis_db=BENCH_REDIS_DB)
        try:
            figures = run(stack, args.rows, args.repeat)
        finally:
            stack.close()
    say(f"chart bench took {time.monotonic() - started:.0f} s")
    if args.write and args.rows == 1_000_000:
        write_section(section(figures, command))
        say(f"wrote the chart's section of {DOCUMENT}")
    return figures


if __name__ == "__main__":
    main()
