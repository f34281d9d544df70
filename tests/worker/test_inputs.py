"""Filling the working folder: git checkout, then inputs by URL."""

import functools
import os
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from worker import network_policy
from worker.inputs import (
    PreparationError,
    checkout_repository,
    download_input,
    download_session,
    prepare_working_folder,
)
from worker.network_policy import blocked_networks

from .conftest import QuietHandler
from .loopback_server import LoopbackServer


def git(*arguments, cwd):
    subprocess.run(["git", *arguments], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repository(tmp_path):
    """A local git repository: model.glm on main, another on branch 'other'."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=repo)
    git("config", "user.email", "test@example.com", cwd=repo)
    git("config", "user.name", "test", cwd=repo)
    (repo / "model.glm").write_text("// main\n")
    (repo / "data").mkdir()
    (repo / "data" / "weather.csv").write_text("1,2\n")
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "main", cwd=repo)
    git("checkout", "--quiet", "-b", "other", cwd=repo)
    (repo / "model.glm").write_text("// other\n")
    git("commit", "--quiet", "-am", "other", cwd=repo)
    git("checkout", "--quiet", "main", cwd=repo)
    return repo


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "work"
    path.mkdir()
    return path


def test_download_over_http(file_server, folder):
    served, url = file_server
    (served / "model.glm").write_bytes(b"clock {}\n" * 1000)

    download_input("model.glm", f"{url}/model.glm", folder)

    assert (folder / "model.glm").read_bytes() == b"clock {}\n" * 1000
    assert os.listdir(folder) == ["model.glm"]


def test_http_error_names_the_input_and_status(file_server, folder):
    _, url = file_server

    with pytest.raises(PreparationError, match=r"^failed to download input weather.csv: 404 "):
        download_input("weather.csv", f"{url}/missing.csv", folder)
    assert os.listdir(folder) == []


def test_unreachable_server_fails_the_input_in_one_readable_sentence(folder):
    with pytest.raises(PreparationError) as error:
        download_input("a.glm", "http://127.0.0.1:9/a.glm", folder, session=requests.Session())
    assert str(error.value) == (
        "failed to download input a.glm: 127.0.0.1:9 refused the connection (nothing listens there?); "
        "check the URL (http://127.0.0.1:9/a.glm) and that the worker can reach it."
    )


def test_unknown_host_fails_the_input_in_one_readable_sentence(folder):
    with pytest.raises(PreparationError) as error:
        download_input("a.glm", "http://no-such-host.invalid/a.glm", folder, session=requests.Session())
    assert str(error.value) == (
        "failed to download input a.glm: the host no-such-host.invalid is unknown "
        "(its name does not resolve); check the URL (http://no-such-host.invalid/a.glm) "
        "and that the worker can reach it."
    )


def test_missing_file_url_names_its_path(folder, tmp_path):
    missing = tmp_path / "nowhere" / "ieee4.glm"
    with pytest.raises(PreparationError) as error:
        download_input("ieee4.glm", missing.as_uri(), folder, allow_files=True)
    assert str(error.value) == (
        f"failed to download input ieee4.glm: cannot read {missing} on the worker's machine "
        "(no such file or directory); check that the file exists there."
    )


def test_inputs_over_the_size_limit_are_refused(file_server, folder):
    served, url = file_server
    (served / "big.csv").write_bytes(b"x" * 5000)

    with pytest.raises(PreparationError, match="larger than 4096 bytes"):
        download_input("big.csv", f"{url}/big.csv", folder, limit=4096)
    assert os.listdir(folder) == []


def test_size_limit_comes_from_the_environment(file_server, folder, monkeypatch):
    served, url = file_server
    (served / "big.csv").write_bytes(b"x" * 5000)
    monkeypatch.setenv("WORKER_MAX_INPUT_BYTES", "100")

    with pytest.raises(PreparationError, match="larger than 100 bytes"):
        download_input("big.csv", f"{url}/big.csv", folder)


def test_file_urls_are_refused_unless_allowed(tmp_path, folder, monkeypatch):
    source = tmp_path / "local.glm"
    source.write_text("// local\n")
    monkeypatch.delenv("WORKER_ALLOW_FILE_URLS", raising=False)

    with pytest.raises(PreparationError, match="file URLs are not allowed"):
        download_input("model.glm", source.as_uri(), folder)

    monkeypatch.setenv("WORKER_ALLOW_FILE_URLS", "true")
    download_input("model.glm", source.as_uri(), folder)
    assert (folder / "model.glm").read_text() == "// local\n"


@pytest.mark.parametrize("url", ["ftp://example.com/a.glm", "gopher://x/a", "/etc/passwd", "a.glm"])
def test_other_url_schemes_are_refused(folder, url):
    with pytest.raises(PreparationError, match="unsupported URL scheme"):
        download_input("a.glm", url, folder)


@pytest.mark.parametrize("name", ["", ".", "..", "../a.glm", "sub/a.glm", "a\\b.glm", "a\0.glm", "x" * 256])
def test_input_names_must_be_plain_file_names(folder, name):
    with pytest.raises(PreparationError, match="not a plain file name"):
        download_input(name, "http://127.0.0.1:9/a.glm", folder)


def test_an_input_replaces_a_symlink_instead_of_writing_through_it(file_server, folder, tmp_path):
    served, url = file_server
    (served / "model.glm").write_text("// downloaded\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me")
    os.symlink(outside, folder / "model.glm")

    download_input("model.glm", f"{url}/model.glm", folder)

    assert outside.read_text() == "keep me"
    assert not os.path.islink(folder / "model.glm")
    assert (folder / "model.glm").read_text() == "// downloaded\n"


def test_checkout_of_a_local_repository(repository, folder, monkeypatch):
    monkeypatch.setenv("WORKER_ALLOW_FILE_URLS", "1")

    checkout_repository(repository.as_uri(), None, str(folder))

    assert (folder / "model.glm").read_text() == "// main\n"
    assert (folder / "data" / "weather.csv").read_text() == "1,2\n"


def test_checkout_of_a_branch(repository, folder):
    checkout_repository(repository.as_uri(), "other", str(folder), allow_files=True)

    assert (folder / "model.glm").read_text() == "// other\n"


def test_checkout_of_a_missing_branch_fails_with_gits_reason(repository, folder):
    with pytest.raises(PreparationError, match=r"failed to check out .*: .*nope"):
        checkout_repository(repository.as_uri(), "nope", str(folder), allow_files=True)


@pytest.mark.parametrize("kind", ["file_url", "plain_path"])
def test_local_repositories_are_refused_unless_allowed(repository, folder, monkeypatch, kind):
    monkeypatch.delenv("WORKER_ALLOW_FILE_URLS", raising=False)
    url = repository.as_uri() if kind == "file_url" else str(repository)

    with pytest.raises(PreparationError, match="file URLs are not allowed"):
        checkout_repository(url, None, str(folder))
    assert os.listdir(folder) == []


def test_git_transports_that_run_commands_are_refused(folder, tmp_path):
    marker = tmp_path / "ran"

    with pytest.raises(PreparationError, match="failed to check out"):
        checkout_repository(f"ext::sh -c touch% {marker}", None, str(folder), allow_files=True)
    assert not marker.exists()


def test_inputs_come_after_the_checkout_and_override_it(repository, file_server, folder):
    served, url = file_server
    (served / "model.glm").write_text("// input\n")

    prepare_working_folder(
        str(folder),
        [{"name": "model.glm", "url": f"{url}/model.glm"}],
        repository.as_uri(),
        None,
        allow_files=True,
    )

    assert (folder / "model.glm").read_text() == "// input\n"
    assert (folder / "data" / "weather.csv").exists()


def test_failure_messages_never_show_a_password(folder):
    with pytest.raises(PreparationError) as error:
        checkout_repository("https://user:s3cret@127.0.0.1:9/repo.git", None, str(folder))

    assert "s3cret" not in str(error.value)
    assert str(error.value).startswith("failed to check out https://user:***@127.0.0.1:9/repo.git: ")


# --- WORKER_BLOCKED_NETWORKS ------------------------------------------------


class RedirectServer(LoopbackServer):
    """Answers every GET with a 302 to ``location``."""

    def __init__(self, location, host="127.0.0.1"):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.url = self.serve(Handler, host=host)


class StandInResolver:
    """Stands in for a DNS server (none can be run for this test): answers
    ``name`` with ``first``, then with ``later`` on every lookup after it,
    as a rebinding attacker's server would; other names resolve normally."""

    def __init__(self, name, first, later):
        self.name, self.first, self.later = name, first, later
        self.lookups = 0

    def __call__(self, host, port, *args, **kwargs):
        if host != self.name:
            return socket.getaddrinfo(host, port, *args, **kwargs)
        self.lookups += 1
        address = self.first if self.lookups == 1 else self.later
        return socket.getaddrinfo(address, port, *args, **kwargs)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_input_in_a_blocked_network_fails_with_the_reason(file_server, folder, monkeypatch, host):
    served, url = file_server
    (served / "model.glm").write_text("// secret\n")
    monkeypatch.setenv("WORKER_BLOCKED_NETWORKS", "10.0.0.0/8, 127.0.0.1/32")

    with pytest.raises(PreparationError) as error:
        download_input("model.glm", url.replace("127.0.0.1", host) + "/model.glm", folder)

    assert str(error.value).startswith("failed to download input model.glm: not allowed: ")
    assert "in the blocked network 127.0.0.1/32 (WORKER_BLOCKED_NETWORKS)" in str(error.value)
    assert os.listdir(folder) == []


def test_the_link_local_range_is_blocked_by_default(folder, monkeypatch):
    monkeypatch.delenv("WORKER_BLOCKED_NETWORKS", raising=False)

    with pytest.raises(PreparationError, match=r"not allowed: 169\.254\.169\.254 is in the blocked network"):
        download_input("meta", "http://169.254.169.254/latest/meta-data/", folder)
    with pytest.raises(PreparationError, match=r"not allowed: .* in the blocked network 169\.254\.0\.0/16"):
        download_input("meta", "http://[::ffff:169.254.169.254]/latest/meta-data/", folder)


def test_a_redirect_into_a_blocked_network_is_refused(file_server, folder, monkeypatch):
    served, url = file_server
    (served / "model.glm").write_text("// secret\n")
    monkeypatch.setenv("WORKER_BLOCKED_NETWORKS", "127.0.0.1/32")

    with RedirectServer(url + "/model.glm", host="127.0.0.2") as redirect:
        with pytest.raises(PreparationError, match=r"not allowed: 127\.0\.0\.1 is in the blocked network"):
            download_input("model.glm", redirect.url + "/model.glm", folder)
    assert os.listdir(folder) == []


def test_an_allowed_redirect_is_followed(file_server, folder, monkeypatch):
    served, url = file_server
    (served / "model.glm").write_text("// moved\n")
    monkeypatch.setenv("WORKER_BLOCKED_NETWORKS", "127.0.0.2/32")

    with RedirectServer(url + "/model.glm", host="127.0.0.3") as redirect:
        download_input("model.glm", redirect.url + "/model.glm", folder)
    assert (folder / "model.glm").read_text() == "// moved\n"


def test_the_connection_goes_to_the_address_that_was_checked(file_server, folder, monkeypatch):
    served, url = file_server
    (served / "model.glm").write_text("// checked\n")
    resolver = StandInResolver("rebind.test", first="127.0.0.1", later="169.254.169.254")
    monkeypatch.setattr(network_policy, "getaddrinfo", resolver)

    download_input("model.glm", url.replace("127.0.0.1", "rebind.test") + "/model.glm", folder)

    # rebind.test exists only for the stand-in: the download reached the
    # file server through the one address checked, never asking again.
    assert (folder / "model.glm").read_text() == "// checked\n"
    assert resolver.lookups == 1


@pytest.fixture(scope="module")
def localhost_certificate(tmp_path_factory):
    """A self-signed certificate for the name ``localhost`` only."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost",
            "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def https_file_server(file_server, localhost_certificate):
    """The file server's folder, also served over TLS on 127.0.0.1 as ``localhost``."""
    served, _ = file_server
    cert, key = localhost_certificate
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield served, server.server_port, cert
    server.shutdown()
    server.server_close()


def test_https_checks_the_certificate_against_the_urls_host(https_file_server, folder):
    served, port, cert = https_file_server
    (served / "model.glm").write_text("// over tls\n")
    session = download_session(blocked_networks("127.0.0.2/32"))
    session.verify = str(cert)

    download_input("model.glm", f"https://localhost:{port}/model.glm", folder, session=session)
    assert (folder / "model.glm").read_text() == "// over tls\n"

    # The certificate names localhost, not the address connected to.
    with pytest.raises(PreparationError, match="certificate"):
        download_input("other.glm", f"https://127.0.0.1:{port}/model.glm", folder, session=session)


def test_a_repository_in_a_blocked_network_is_not_cloned(folder):
    networks = blocked_networks("127.0.0.1/32")
    for url in ("http://127.0.0.1:9/repo.git", "https://localhost/repo.git", "git@localhost:repo.git"):
        with pytest.raises(PreparationError, match=r"^failed to check out .*: not allowed: .*127.0.0.1/32"):
            checkout_repository(url, None, str(folder), networks=networks)
    assert os.listdir(folder) == []


class GitServer(LoopbackServer):
    """git's smart HTTP protocol for the repositories in ``root``, through
    ``git http-backend`` run as a CGI program for each request."""

    def __init__(self, root):
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.backend()

            def do_POST(self):
                self.backend()

            def backend(self):
                path, _, query = self.path.partition("?")
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {
                    **os.environ,
                    "GIT_PROJECT_ROOT": str(root),
                    "GIT_HTTP_EXPORT_ALL": "1",
                    "REQUEST_METHOD": self.command,
                    "PATH_INFO": path,
                    "QUERY_STRING": query,
                    "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                    "CONTENT_LENGTH": str(len(body)),
                    "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
                    "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
                }
                output = subprocess.run(
                    ["git", "http-backend"], input=body, env=env, capture_output=True, check=True
                ).stdout
                separator = b"\r\n\r\n" if b"\r\n\r\n" in output else b"\n\n"
                head, _, payload = output.partition(separator)
                status, headers = 200, []
                for line in head.decode().splitlines():
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    else:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.url = self.serve(Handler)


@pytest.fixture
def served_repository(repository, tmp_path):
    """``repository`` served over git's smart HTTP on loopback; its URL."""
    root = tmp_path / "git-root"
    root.mkdir()
    git("clone", "--quiet", "--bare", str(repository), str(root / "repo.git"), cwd=root)
    with GitServer(root) as server:
        yield f"{server.url}/repo.git"


def test_git_over_http_connects_to_the_address_checked(served_repository, folder, monkeypatch):
    resolver = StandInResolver("rebind.test", first="127.0.0.1", later="169.254.169.254")
    monkeypatch.setattr(network_policy, "getaddrinfo", resolver)

    url = served_repository.replace("127.0.0.1", "rebind.test")
    checkout_repository(url, None, str(folder), networks=blocked_networks("169.254.0.0/16"))

    # Only the stand-in knows rebind.test: curl used the address pinned for it.
    assert (folder / "model.glm").read_text() == "// main\n"
    assert resolver.lookups == 1


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "172.20.0.1", "192.168.0.7", "100.64.3.4", "::1", "fd12::1", "fe80::1"]
    + ["::ffff:127.0.0.1", "::127.0.0.1", "64:ff9b::a01:203", "2002:c0a8:1::1", "0.0.0.0", "::"],
)
def test_the_default_list_blocks_internal_addresses_and_their_ipv6_spellings(address, monkeypatch):
    monkeypatch.delenv("WORKER_BLOCKED_NETWORKS", raising=False)
    resolver = StandInResolver("internal.test", first=address, later=address)
    monkeypatch.setattr(network_policy, "getaddrinfo", resolver)

    with pytest.raises(network_policy.BlockedAddress, match=r"resolves to .* blocked network"):
        network_policy.allowed_addresses("internal.test", 80, network_policy.blocked_networks())


def test_an_ipv4_mapped_address_is_checked_against_the_ipv4_list(monkeypatch):
    networks = network_policy.blocked_networks("10.0.0.0/8")
    with pytest.raises(network_policy.BlockedAddress, match=r"blocked network 10\.0\.0\.0/8"):
        network_policy.allowed_addresses("::ffff:10.9.8.7", 80, networks)
    assert network_policy.allowed_addresses("::ffff:8.8.8.8", 80, networks)


class KeyRecordingHandler(BaseHTTPRequestHandler):
    """Answers every GET with its path, and records the API key it was sent."""

    seen = []

    def do_GET(self):
        self.seen.append((self.path, self.headers.get("Workflow-API-Key")))
        if self.path.startswith("/elsewhere"):
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.2:1/stolen")
            self.end_headers()
            return
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class KeyRecordingServer(LoopbackServer):
    def __init__(self, host="127.0.0.1"):
        KeyRecordingHandler.seen = []
        self.url = self.serve(KeyRecordingHandler, host=host)


def test_an_input_the_api_serves_is_fetched_with_the_workers_key(folder, monkeypatch):
    with KeyRecordingServer() as api, KeyRecordingServer(host="127.0.0.2") as other:
        monkeypatch.setenv("WORKER_API_SERVER", api.url + "/")
        monkeypatch.setenv("WORKER_API_TOKEN", "worker-secret")
        download_input("model.glm", api.url + "/v1/pipelines/p/input_files/f", folder)
        download_input("other.glm", other.url + "/v1/pipelines/p/input_files/f", folder)
        assert (folder / "model.glm").read_text() == "/v1/pipelines/p/input_files/f"
        seen = KeyRecordingHandler.seen
    assert ("/v1/pipelines/p/input_files/f", "worker-secret") in seen
    # Another host (same port or not) never gets the key.
    assert ("/v1/pipelines/p/input_files/f", None) in seen
    assert [key for _, key in seen].count("worker-secret") == 1


def test_the_worker_key_never_follows_a_redirect(folder, monkeypatch):
    with KeyRecordingServer() as api:
        monkeypatch.setenv("WORKER_API_SERVER", api.url)
        monkeypatch.setenv("WORKER_API_TOKEN", "worker-secret")
        with pytest.raises(PreparationError, match="302"):
            download_input("model.glm", api.url + "/elsewhere", folder)
    assert os.listdir(folder) == []
