"""Fills a run's working folder: the pipeline's git checkout, then its inputs.

Neither may reach the networks of ``WORKER_BLOCKED_NETWORKS``
(``network_policy.py``); a refusal fails the run with the reason.
"""

import ipaddress
import os
import socket
import subprocess
import tempfile
import urllib.parse
import urllib.request

import requests
from urllib3.util.retry import Retry

from .api_client import API_KEY_HEADER
from .network_policy import BlockedAddress, allowed_addresses, blocked_networks, checked_session
from .settings import allow_file_urls, max_input_bytes

GIT_TIMEOUT = 600
DOWNLOAD_TIMEOUT = (10, 60)  # seconds to connect, seconds of silence while reading
CHUNK = 1024 * 1024
# git may only use these transports; ext:: and the like could run commands.
GIT_PROTOCOLS = ("https", "http", "ssh", "git")
GIT_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
HTTP_DEFAULT_PORTS = {"https": 443, "http": 80}


class PreparationError(Exception):
    """The working folder cannot be made ready; the message is the reason
    the run FAILED, as shown at the end of its console."""


def is_plain_file_name(name):
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and name not in (".", "..")
        and not any(bad in name for bad in ("/", "\\", "\0"))
        and not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in name)
    )


def is_file_url(url):
    """file:// URLs, and the plain paths git treats as local repositories."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    return scheme == "file" or (scheme == "" and ":" not in url.split("/", 1)[0])


def shown(url):
    """``url`` without a password or token, for messages users read."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(
        netloc=f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    ).geturl()


def is_ip_literal(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def git_host(url):
    """``(scheme, host, port)`` of a git URL, scp-like ``user@host:path``
    included (as ssh); None for local repositories and what git would refuse."""
    if "://" in url:
        try:
            parts = urllib.parse.urlsplit(url)
            scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
        except ValueError:
            return None
        if scheme not in GIT_DEFAULT_PORTS or not host:
            return None
        return scheme, host, port or GIT_DEFAULT_PORTS[scheme]
    if is_file_url(url) or "::" in url.split("/", 1)[0]:  # TRANSPORT::ADDRESS: refused by protocol.allow
        return None
    host = url.split(":", 1)[0].rsplit("@", 1)[-1].strip("[]")
    return ("ssh", host, GIT_DEFAULT_PORTS["ssh"]) if host else None


def network_config(url, networks):
    """git ``-c`` options that keep the clone out of the blocked ``networks``.

    Over http(s) the host is resolved here and curl is pinned to the
    addresses checked (``http.curloptResolve``), with redirects off, since
    curl would resolve a redirect's host itself. ssh and git:// connect
    through programs of their own: their host is checked first, and a name
    that changes its answer in between is not caught (see docs/worker.md).
    """
    target = git_host(url)
    if target is None:
        return []
    scheme, host, port = target
    try:
        infos = allowed_addresses(host, port, networks)
    except BlockedAddress as error:
        raise PreparationError(f"failed to check out {shown(url)}: not allowed: {error}") from None
    except socket.gaierror:
        if scheme == "ssh":  # may be a Host alias of the ssh configuration: ssh will tell
            return []
        raise PreparationError(f"failed to check out {shown(url)}: cannot resolve host {host}") from None
    if scheme not in ("http", "https") or is_ip_literal(host):
        return []
    addresses = ",".join(f"[{info[4][0]}]" if info[0] == socket.AF_INET6 else info[4][0] for info in infos)
    return ["-c", f"http.curloptResolve={host}:{port}:{addresses}", "-c", "http.followRedirects=false"]


def checkout_repository(url, branch, folder, allow_files=None, networks=None):
    """``git clone --depth 1 [--branch BRANCH] URL`` into the empty ``folder``.

    ``allow_files`` (default: ``WORKER_ALLOW_FILE_URLS``) lets it clone
    ``file://`` URLs and local paths; ``networks`` (default:
    ``WORKER_BLOCKED_NETWORKS``) are the networks it may not reach.
    """
    allow_files = allow_file_urls() if allow_files is None else allow_files
    if is_file_url(url) and not allow_files:
        raise PreparationError(f"failed to check out {shown(url)}: file URLs are not allowed on this worker")
    protocols = [*GIT_PROTOCOLS, "file"] if allow_files else list(GIT_PROTOCOLS)
    config = ["-c", "protocol.allow=never"]
    for protocol in protocols:
        config += ["-c", f"protocol.{protocol}.allow=always"]
    config += network_config(url, blocked_networks() if networks is None else networks)
    argv = ["git", *config, "clone", "--quiet", "--depth", "1"]
    if branch:
        argv += ["--branch", branch]
    argv += ["--", url, folder]
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_SSH_COMMAND": os.environ.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes"),
    }
    try:
        subprocess.run(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            check=True,
        )
    except subprocess.CalledProcessError as error:
        lines = [line for line in error.stderr.splitlines() if line.strip()]
        reason = lines[-1].replace(url, shown(url)) if lines else f"git exited with code {error.returncode}"
        raise PreparationError(f"failed to check out {shown(url)}: {reason}") from None
    except subprocess.TimeoutExpired:
        raise PreparationError(
            f"failed to check out {shown(url)}: timed out after {GIT_TIMEOUT} seconds"
        ) from None


def download_session(networks=None):
    """Retries, and no connection into the blocked ``networks`` (default:
    ``WORKER_BLOCKED_NETWORKS``), redirects included."""
    retry = Retry(total=3, backoff_factor=0.5, status_forcelist=(502, 503, 504), raise_on_status=False)
    return checked_session(networks, max_retries=retry)


def _origin_and_path(url):
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or HTTP_DEFAULT_PORTS.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port), parts.path


def is_api_url(url, server):
    """Whether ``url`` is one of the API's own: the scheme, host and port of
    ``server`` (WORKER_API_SERVER), and a path under its path."""
    if not server:
        return False
    try:
        origin, path = _origin_and_path(url)
        api_origin, api_path = _origin_and_path(server)
    except ValueError:  # a bad port
        return False
    if origin[0] not in HTTP_DEFAULT_PORTS or origin != api_origin:
        return False
    return path.startswith(api_path.rstrip("/") + "/")


def api_key_headers(url, server=None, token=None):
    """The worker's own key for a URL of the API (an upstream node's artifact:
    docs/adr/0021-workers-reading-upstream-artifacts.md); nothing for any
    other URL, whatever its host says. ``server`` and ``token`` default to
    WORKER_API_SERVER and WORKER_API_TOKEN."""
    server = os.environ.get("WORKER_API_SERVER") if server is None else server
    if not is_api_url(url, server):
        return {}
    return {API_KEY_HEADER: os.environ.get("WORKER_API_TOKEN", "") if token is None else token}


def copy_limited(chunks, destination, limit):
    """Write ``chunks`` to ``destination``; raise past ``limit`` bytes."""
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise PreparationError(f"larger than {limit} bytes")
        destination.write(chunk)


def _unreachable(url, error):
    """What a failed download's exception means, in words: requests' and
    urllib3's own messages are their internals (pools, retries, reprs)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    where = f"{host}:{parts.port}" if parts.port else host
    text = str(error)  # urllib3's "Max retries exceeded ... (Caused by ...)" names the cause
    if isinstance(error, requests.Timeout):
        return f"no answer from {where} within {DOWNLOAD_TIMEOUT[0]} seconds"
    if "NameResolutionError" in text or "Name or service not known" in text:
        return f"the host {host} is unknown (its name does not resolve)"
    if isinstance(error, requests.exceptions.SSLError):
        reason = "its certificate is not valid for that host" if "certificate" in text else "TLS failed"
        return f"the secure connection to {where} failed: {reason}"
    if "Connection refused" in text:
        return f"{where} refused the connection (nothing listens there?)"
    if isinstance(error, requests.ConnectionError):
        return f"{where} cannot be reached"
    return f"the download from {where} failed ({type(error).__name__})"


def fetch(url, destination, limit, session, allow_files, headers=None):
    """Stream ``url`` into the open file ``destination``. With ``headers``
    (the worker's key, for the API's own URLs) redirects are not followed:
    the key must not travel to wherever a redirect points."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "file":
        if not allow_files:
            raise PreparationError("file URLs are not allowed on this worker (see WORKER_ALLOW_FILE_URLS)")
        path = urllib.request.url2pathname(parts.path)
        try:
            with open(path, "rb") as source:
                copy_limited(iter(lambda: source.read(CHUNK), b""), destination, limit)
        except OSError as error:
            reason = (error.strerror or str(error)).lower()
            raise PreparationError(
                f"cannot read {path} on the worker's machine ({reason}); check that the file exists there."
            ) from None
        return
    if scheme not in ("http", "https"):
        raise PreparationError(f"unsupported URL scheme {scheme or 'none'!r}")
    try:
        with session.get(
            url, stream=True, timeout=DOWNLOAD_TIMEOUT, headers=headers, allow_redirects=not headers
        ) as response:
            if headers and response.is_redirect:
                raise PreparationError(
                    f"the API answered {response.status_code} with a redirect for {shown(url)}; "
                    "check WORKER_API_SERVER."
                )
            if response.status_code >= 400:
                raise PreparationError(
                    f"{response.status_code} {response.reason} from {shown(url)}; check the URL."
                )
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise PreparationError(f"larger than {limit} bytes")
            copy_limited(response.iter_content(CHUNK), destination, limit)
    except BlockedAddress as error:
        raise PreparationError(f"not allowed: {error}") from None
    except requests.RequestException as error:
        raise PreparationError(
            f"{_unreachable(url, error)}; check the URL ({shown(url)}) and that the worker can reach it."
        ) from None


def download_input(name, url, folder, limit=None, session=None, allow_files=None):
    """Download ``url`` to ``folder/name``, replacing what is there.

    Written to a temporary file and renamed into place, so a symlink the
    checkout may hold under that name is replaced, never followed. A URL
    of the API's own (WORKER_API_SERVER) is fetched with the worker's key. Limits
    default to ``WORKER_MAX_INPUT_BYTES`` and ``WORKER_ALLOW_FILE_URLS``, the
    session to ``download_session()``, which keeps out of
    ``WORKER_BLOCKED_NETWORKS``.
    """
    allow_files = allow_file_urls() if allow_files is None else allow_files
    if not is_plain_file_name(name):
        raise PreparationError(f"failed to download input {name!r}: not a plain file name")
    limit = max_input_bytes() if limit is None else limit
    headers = api_key_headers(url)
    if headers:  # the API is configuration, not a user's choice: not held to WORKER_BLOCKED_NETWORKS
        session = download_session(networks=())
    handle, partial = tempfile.mkstemp(prefix=".download-", dir=folder)
    try:
        with os.fdopen(handle, "wb") as destination:
            fetch(url, destination, limit, session or download_session(), allow_files, headers)
        os.replace(partial, os.path.join(folder, name))
    except PreparationError as error:
        raise PreparationError(f"failed to download input {name}: {error}") from None
    finally:
        if os.path.exists(partial):
            os.remove(partial)


def prepare_working_folder(folder, inputs=(), repository_url=None, repository_branch=None, allow_files=None):
    """Check out the repository (if any), then download every input."""
    if repository_url:
        checkout_repository(repository_url, repository_branch, folder, allow_files)
    session = download_session()
    for item in inputs or ():
        download_input(
            item.get("name"), item.get("url", ""), folder, session=session, allow_files=allow_files
        )
