"""Inputs on the API itself (an upstream node's artifacts) are fetched with
the worker's key, and the key goes to WORKER_API_SERVER alone."""

from http.server import BaseHTTPRequestHandler

import pytest

from worker.inputs import PreparationError, download_input, is_api_url

from .loopback_server import LoopbackServer

TOKEN = "worker-token-under-test"


class RecordingServer(LoopbackServer):
    """Answers GETs with ``body`` (or a redirect to ``location``) and keeps
    the Workflow-API-Key header of every request, None when absent."""

    def __init__(self, body=b"upstream bytes", location=None, host="127.0.0.1"):
        self.keys = []
        recorded = self.keys

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                recorded.append(self.headers.get("Workflow-API-Key"))
                if location:
                    self.send_response(302)
                    self.send_header("Location", location)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.url = self.serve(Handler, host=host)


@pytest.mark.parametrize(
    "url, expected",
    [
        ("http://api.test:5000/v1/pipelines/p/runs/r/artifacts/a", True),
        ("HTTP://API.test:5000/v1/x", True),
        ("http://api.test:5000/", True),
        ("https://api.test:5000/v1/x", False),
        ("http://api.test:5001/v1/x", False),
        ("http://api.test/v1/x", False),
        ("http://api.test:5000.evil.test/v1/x", False),
        ("http://evil.test/http://api.test:5000/v1/x", False),
        ("http://api.test:5000@evil.test/v1/x", False),
        ("http://evil.test:5000/v1/x", False),
        ("file:///etc/passwd", False),
    ],
)
def test_which_urls_are_the_apis_own(url, expected):
    assert is_api_url(url, "http://api.test:5000") is expected


def test_a_server_with_a_path_owns_only_the_urls_under_it():
    server = "https://example.test/workflow"
    assert is_api_url("https://example.test/workflow/v1/x", server)
    assert is_api_url("https://example.test:443/workflow/v1/x", server)
    assert not is_api_url("https://example.test/workflow-other/v1/x", server)
    assert not is_api_url("https://example.test/v1/x", server)
    assert not is_api_url("https://example.test/v1/x", "")


def test_the_apis_urls_get_the_workers_key(tmp_path, monkeypatch):
    with RecordingServer() as api:
        monkeypatch.setenv("WORKER_API_SERVER", api.url)
        monkeypatch.setenv("WORKER_API_TOKEN", TOKEN)
        download_input("loads.csv", f"{api.url}/v1/pipelines/p/runs/r/artifacts/a", str(tmp_path))
    assert (tmp_path / "loads.csv").read_bytes() == b"upstream bytes"
    assert api.keys == [TOKEN]


def test_other_hosts_never_get_the_key(tmp_path, monkeypatch):
    """Another loopback address, and another port on the same one: not the API."""
    with RecordingServer(host="127.0.0.2") as elsewhere, RecordingServer() as other_port:
        monkeypatch.setenv("WORKER_API_SERVER", "http://127.0.0.1:9")
        monkeypatch.setenv("WORKER_API_TOKEN", TOKEN)
        download_input("a.csv", f"{elsewhere.url}/v1/pipelines/p/runs/r/artifacts/a", str(tmp_path))
        download_input("b.csv", f"{other_port.url}/v1/pipelines/p/runs/r/artifacts/a", str(tmp_path))
    assert elsewhere.keys == [None]
    assert other_port.keys == [None]


def test_a_redirect_from_the_api_is_not_followed_with_the_key(tmp_path, monkeypatch):
    with RecordingServer(host="127.0.0.2") as elsewhere:
        with RecordingServer(location=f"{elsewhere.url}/stolen") as api:
            monkeypatch.setenv("WORKER_API_SERVER", api.url)
            monkeypatch.setenv("WORKER_API_TOKEN", TOKEN)
            with pytest.raises(PreparationError, match="redirect"):
                download_input("a.csv", f"{api.url}/v1/x", str(tmp_path))
    assert api.keys == [TOKEN]
    assert elsewhere.keys == []
    assert not (tmp_path / "a.csv").exists()
