"""The web console's routes: the page at /, its assets under /ui/, the
headers that keep it to this host, and no key needed to load it."""

import pytest


@pytest.fixture
def built(app, tmp_path):
    (tmp_path / "index.html").write_text('<!doctype html><script src="/ui/main-ABC.js"></script>')
    (tmp_path / "main-ABC.js").write_text("console.log(1)")
    app.config["WEB_CONSOLE_FOLDER"] = str(tmp_path)
    return tmp_path


def test_the_page_is_served_at_the_root_without_a_key(client, built):
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b"/ui/main-ABC.js" in response.data
    assert response.headers["Cache-Control"] == "no-cache"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "script-src 'self'" in policy and "connect-src 'self'" in policy
    assert "Set-Cookie" not in response.headers


def test_assets_are_served_under_ui_and_cached(client, built):
    response = client.get("/ui/main-ABC.js")
    assert response.status_code == 200
    assert "javascript" in response.mimetype
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_unknown_assets_and_paths_outside_the_folder_are_404(client, built):
    assert client.get("/ui/missing.js").status_code == 404
    assert client.get("/ui/../index.html").status_code == 404
    assert client.get("/ui/%2e%2e/%2e%2e/app/config.py").status_code == 404


def test_an_unbuilt_console_says_how_to_build_it(app, client, tmp_path):
    app.config["WEB_CONSOLE_FOLDER"] = str(tmp_path / "absent")
    response = client.get("/")
    assert response.status_code == 503
    assert b"bin/install-console" in response.data


def test_the_api_routes_are_unchanged(client, built):
    assert client.get("/healthcheck").data == b"OK"
    assert client.get("/v1/pipelines").status_code == 401
