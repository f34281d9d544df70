"""The worker's side of artifact retention: ``celery -A worker beat`` sends
``expire_artifacts`` periodically, and the task asks the API to do it (the
worker never opens the database)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from worker.celery_app import make_celery
from worker.tasks import expire_artifacts


def test_the_task_is_registered_under_its_name():
    import worker

    assert "expire_artifacts" in worker.app.tasks


@pytest.mark.parametrize("setting, seconds", [(None, 3600.0), ("600", 600.0)])
def test_beat_sends_the_expiry_every_interval(monkeypatch, setting, seconds):
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    if setting is None:
        monkeypatch.delenv("WORKER_ARTIFACT_EXPIRY_INTERVAL", raising=False)
    else:
        monkeypatch.setenv("WORKER_ARTIFACT_EXPIRY_INTERVAL", setting)
    schedule = make_celery().conf.beat_schedule
    assert schedule["expire-artifacts"] == {"task": "expire_artifacts", "schedule": seconds}


def test_an_interval_of_zero_schedules_no_expiry(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "memory://")
    monkeypatch.setenv("WORKER_ARTIFACT_EXPIRY_INTERVAL", "0")
    assert "expire-artifacts" not in make_celery().conf.beat_schedule


class ExpiryEndpoint(BaseHTTPRequestHandler):
    calls = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.calls.append((self.path, self.headers.get("Workflow-API-Key")))
        body = json.dumps({"retention_days": 7, "cutoff": None, "expired": 3, "failed": 0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_the_task_asks_the_api_with_the_worker_key(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), ExpiryEndpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("WORKER_API_SERVER", f"http://127.0.0.1:{server.server_port}")
        monkeypatch.setenv("WORKER_API_TOKEN", "the-worker-key")
        report = expire_artifacts()
    finally:
        server.shutdown()
        server.server_close()
    assert ExpiryEndpoint.calls == [("/v1/artifacts/expire", "the-worker-key")]
    assert report["expired"] == 3
