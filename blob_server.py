"""A blob server for development and tests: nginx with WebDAV on loopback.

It stores what is PUT at ``/<path>`` as the file ``<folder>/<path>`` (making
the folders), serves it back on GET (Range requests included) and removes it
on DELETE, for requests carrying ``Authorization: Bearer <token>``; any other
request is a 401. That is all the Workflow API's blob backend needs
(``BLOB_API_SERVER``, see docs/adr/0009-blob-storage-and-retention.md).

For developers (Ctrl-C stops it)::

    bin/blob-server --port 8081 --token dev-blob-token --folder var/blobs

then start the API with the two lines it prints (``BLOB_API_SERVER=...``
and ``BLOB_API_TOKEN=...``). The tests start it through ``BlobServer``.

nginx (Debian's package ``nginx``, which has the dav module built in) is
the only thing it needs. It writes its own ``nginx.conf`` into a prefix
folder that also holds the pid file, the logs and nginx's temporary files,
so it never touches ``/etc/nginx`` or ``/var/log/nginx``. Started as root,
nginx runs its worker as ``nobody``: the data and temporary folders are
then handed to that user. A second server block on another port answers
500 to everything (``failing_url``), for fault tests.

This module uses the standard library only.
"""

import argparse
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
NGINX_PLACES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx")

CONFIG = """\
# Written by blob_server.py; every path is inside {prefix}.
daemon off;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
{user_line}
events {{
    worker_connections 256;
}}

http {{
    access_log {prefix}/logs/access.log;
    client_body_temp_path {prefix}/temp/body;
    proxy_temp_path {prefix}/temp/proxy;
    fastcgi_temp_path {prefix}/temp/fastcgi;
    uwsgi_temp_path {prefix}/temp/uwsgi;
    scgi_temp_path {prefix}/temp/scgi;
    default_type application/octet-stream;
    sendfile on;
    # Artifacts can be as large as the API's MAX_CONTENT_LENGTH: no limit here.
    client_max_body_size 0;

    server {{
        listen {host}:{port};
        root {data};

        if ($http_authorization != "Bearer {token}") {{
            return 401;
        }}

        location / {{
            # The body is written to a temporary file and moved into place
            # once complete: a failed upload never shows up under root.
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:rw all:r;
        }}
    }}

    # A server whose every answer is a 500, for fault tests.
    server {{
        listen {host}:{failing_port};
        location / {{
            return 500;
        }}
    }}
}}
"""


class NginxMissing(Exception):
    """No nginx with the dav module on this machine."""


def find_nginx():
    """The path of an nginx built with the dav module; NginxMissing otherwise."""
    found = shutil.which("nginx") or next((p for p in NGINX_PLACES if os.access(p, os.X_OK)), None)
    if found is None:
        raise NginxMissing("nginx is not installed (Debian: apt-get install nginx)")
    version = subprocess.run([found, "-V"], capture_output=True, text=True, timeout=10)
    if "--with-http_dav_module" not in version.stdout + version.stderr:
        raise NginxMissing(f"{found} is built without the dav module (Debian's package nginx has it)")
    return found


def free_port(host="127.0.0.1"):
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _worker_user():
    """The user and group nginx's worker runs as when started by root."""
    user = pwd.getpwnam("nobody")
    return user, grp.getgrgid(user.pw_gid).gr_name


class BlobServer:
    """nginx with WebDAV on loopback: ``start()``, ``url``, ``path(key)``, ``stop()``.

    ``folder`` is where the blobs go (default: ``data`` in a new temporary
    prefix folder). Ports are chosen free unless given.
    """

    def __init__(self, token, folder=None, port=None, failing_port=None, host="127.0.0.1"):
        if not TOKEN_PATTERN.match(token or ""):
            raise ValueError("the token must be letters, digits and ._~+/=- only")
        self.token = token
        self.host = host
        self.port = port or free_port(host)
        self.failing_port = failing_port or free_port(host)
        self.nginx = find_nginx()
        self.prefix = Path(tempfile.mkdtemp(prefix="blob-server-"))
        self.data = Path(folder).resolve() if folder else self.prefix / "data"
        self.process = None

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    @property
    def failing_url(self):
        """A server that answers 500 to every request."""
        return f"http://{self.host}:{self.failing_port}"

    def path(self, key):
        """Where the blob PUT at ``/<key>`` lies on disk."""
        return self.data.joinpath(*key.split("/"))

    def files(self):
        """Every blob on disk, as keys."""
        return {
            str(path.relative_to(self.data)).replace(os.sep, "/")
            for path in self.data.rglob("*")
            if path.is_file()
        }

    def _prepare(self):
        for folder in (self.prefix / "logs", self.prefix / "temp", self.data):
            folder.mkdir(parents=True, exist_ok=True)
        user_line = ""
        if os.geteuid() == 0:
            # nginx started by root runs its worker as nobody: the worker must
            # be able to reach the prefix and write the data and temp folders.
            user, group = _worker_user()
            user_line = f"user {user.pw_name} {group};"
            self.prefix.chmod(0o755)
            for folder in (self.prefix / "temp", self.data):
                os.chown(folder, user.pw_uid, user.pw_gid)
        config = CONFIG.format(
            prefix=self.prefix,
            user_line=user_line,
            host=self.host,
            port=self.port,
            failing_port=self.failing_port,
            data=self.data,
            token=self.token,
        )
        (self.prefix / "nginx.conf").write_text(config)

    def start(self, timeout=10):
        self._prepare()
        self.process = subprocess.Popen(
            [
                self.nginx,
                "-p",
                str(self.prefix),
                "-c",
                str(self.prefix / "nginx.conf"),
                "-e",
                str(self.prefix / "logs" / "error.log"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            # In the caller's process group: a Ctrl-C (or a CI that ends
            # the group) stops nginx too.
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace")
                raise RuntimeError(f"nginx exited {self.process.returncode}: {error}{self.error_log()}")
            if _accepts(self.host, self.port) and _accepts(self.host, self.failing_port):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.url} within {timeout}s: {self.error_log()}")

    def error_log(self):
        try:
            return (self.prefix / "logs" / "error.log").read_text()
        except FileNotFoundError:
            return ""

    def stop(self):
        """Fast shutdown (connections are cut); waits for nginx to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process.stderr.close()
        self.process = None

    def remove(self):
        """Stop, then delete the prefix folder (and the data, if it is inside)."""
        self.stop()
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.remove()


def _accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def main(argv=None):
    parser = argparse.ArgumentParser(description="nginx with WebDAV on loopback, as a blob server.")
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (default 8081)")
    parser.add_argument("--token", default="dev-blob-token", help="the bearer token it accepts")
    parser.add_argument("--folder", default=None, help="where the blobs go (default: a temporary folder)")
    args = parser.parse_args(argv)
    try:
        server = BlobServer(args.token, folder=args.folder, port=args.port)
    except NginxMissing as error:
        sys.exit(str(error))
    # Stopped like a foreground program: Ctrl-C, or SIGTERM from a supervisor.
    signal.signal(signal.SIGTERM, _interrupt)
    server.start()
    print(f"BLOB_API_SERVER={server.url}")
    print(f"BLOB_API_TOKEN={server.token}")
    print(f"# blobs in {server.data}; Ctrl-C stops the server", flush=True)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.remove()


if __name__ == "__main__":
    main()
