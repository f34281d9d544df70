"""The worker's side of run recovery: ``celery -A worker beat`` sends
``recover_runs`` every WORKER_RECOVERY_INTERVAL seconds, and the task asks
the API to settle the runs whose worker went silent (the worker never opens
the database)."""

import json
from http.server import BaseHTTPRequestHandler

import pytest

from worker.celery_app import make_celery
from worker.tasks import recover_runs

from .loopback_server import LoopbackServer


def test_the_task_is_registered_under_its_name():
    import worker

    assert "recover_runs" in worker.app.tasks


@pytest.mark.parametrize("setting, seconds", [(None, 30.0), ("1", 1.0), ("2.5", 2.5)])
def test_beat_sends_the_sweep_every_interval(monkeypatch, setting, seconds):
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    if setting is None:
        monkeypatch.delenv("WORKER_RECOVERY_INTERVAL", raising=False)
    else:
        monkeypatch.setenv("WORKER_RECOVERY_INTERVAL", setting)
    schedule = make_celery().conf.beat_schedule
    assert schedule["recover-runs"] == {
        "task": "recover_runs",
        "schedule": seconds,
        "options": {"expires": seconds},  # the next sweep does the same
    }


def test_an_interval_of_zero_schedules_no_sweep(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    monkeypatch.setenv("WORKER_RECOVERY_INTERVAL", "0")
    monkeypatch.delenv("WORKER_ARTIFACT_EXPIRY_INTERVAL", raising=False)
    assert set(make_celery().conf.beat_schedule) == {"expire-artifacts"}


class RecoverEndpoint(LoopbackServer):
    def __init__(self):
        self.calls = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                endpoint.calls.append((self.path, self.headers.get("Workflow-API-Key")))
                body = json.dumps({"requeued": 2, "failed": 1, "postponed": 0}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.url = self.serve(Handler)


def test_the_task_asks_the_api_with_the_worker_key(monkeypatch):
    with RecoverEndpoint() as endpoint:
        monkeypatch.setenv("WORKER_API_SERVER", endpoint.url)
        monkeypatch.setenv("WORKER_API_TOKEN", "the-worker-key")
        report = recover_runs()
    assert endpoint.calls == [("/v1/runs/recover", "the-worker-key")]
    assert report == {"requeued": 2, "failed": 1, "postponed": 0}
