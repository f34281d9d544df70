"""A revoked key, with real processes: gunicorn with two worker processes
that both have the key cached (roles/queries.py) answer 401 to it within a
second of the revocation, on connections each of them holds."""

import http.client
import os
import time

from app.extensions import db
from app.permissions import WorkflowPermissions
from roles.services import create_application_key, revoke_application

from ..conftest import make_app
from ..processes import children
from ..services import require_redis
from .stack import Stack

CONNECTIONS = 16


def established_remote_ports(pid, port):
    """The client ports of the TCP connections to ``port`` that process ``pid`` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    ports = set()
    with open("/proc/net/tcp") as handle:
        next(handle)
        for line in handle:
            fields = line.split()
            local, remote, state, inode = fields[1], fields[2], fields[3], fields[9]
            if state == "01" and inode in inodes and int(local.split(":")[1], 16) == port:
                ports.add(int(remote.split(":")[1], 16))
    return ports


def status(connection, key):
    connection.request("GET", "/v1/pipelines?limit=1", headers={"Workflow-API-Key": key})
    response = connection.getresponse()
    response.read()
    return response.status


def test_a_revoked_key_is_refused_by_every_api_process_within_a_second(tmp_path):
    (tmp_path / "stack").mkdir()
    stack = Stack(
        tmp_path / "stack", api_workers=2, api_threads=4, worker_concurrency=0, broker_url=require_redis()
    )
    app = make_app(stack.database_url, tmp_path / "uploads")
    connections = []
    try:
        with app.app_context():
            application, key = create_application_key("to revoke", [WorkflowPermissions.PIPELINES_CLIENT])
            application_id = application.id
        connections = [
            http.client.HTTPConnection("127.0.0.1", stack.api.port, timeout=30) for _ in range(CONNECTIONS)
        ]
        assert [status(connection, key) for connection in connections] == [200] * CONNECTIONS
        # Which process holds which connection: each must hold some, or the
        # test would only see one process's cache.
        workers = children(stack.api.process.pid)
        assert len(workers) == 2, workers
        held = {pid: established_remote_ports(pid, stack.api.port) for pid in workers}
        ours = {connection.sock.getsockname()[1] for connection in connections}
        assert all(ports & ours for ports in held.values()), (held, ours)

        # Every process has just checked the key: it is in both caches.
        assert [status(connection, key) for connection in connections] == [200] * CONNECTIONS
        with app.app_context():
            revoke_application(application_id)
        revoked = time.monotonic()
        time.sleep(max(0.0, revoked + 1.0 - time.monotonic()))

        assert [status(connection, key) for connection in connections] == [401] * CONNECTIONS
        # The same connections, so the same processes, as before.
        assert {connection.sock.getsockname()[1] for connection in connections} == ours
    finally:
        for connection in connections:
            connection.close()
        with app.app_context():
            db.engine.dispose()
        stack.close()
