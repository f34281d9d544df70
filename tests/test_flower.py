"""``invoke flower``: Flower on the broker the workers use (here the embedded
default's queue folder), serving its pages and Celery's metrics."""

import os
import signal
import time

import requests

from .processes import LoggedProcess, command_env, executable, free_port


def test_invoke_flower_serves_the_workers_view_and_celerys_metrics(tmp_path):
    env = command_env(tmp_path)
    del env["CELERY_BROKER_URL"]  # the embedded default's filesystem queue
    port = free_port()
    flower = LoggedProcess(
        [executable("invoke"), "flower", "--port", str(port)], env, tmp_path / "flower.log"
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert flower.process.poll() is None, flower.output()
            try:
                metrics = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=2)
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, f"Flower did not answer within 60 s\n{flower.output()}"
                time.sleep(0.2)
        assert metrics.status_code == 200
        assert "flower_events_total" in metrics.text
        assert requests.get(f"http://127.0.0.1:{port}/workers", timeout=10).status_code == 200
    finally:
        # invoke runs Flower in a child: stop the whole group.
        if flower.process.poll() is None:
            os.killpg(flower.process.pid, signal.SIGTERM)
        flower.stop()
