"""End to end on the blob backend: the API under gunicorn stores artifacts on a
real nginx (WebDAV), a Celery worker runs the real GridLAB-D engine, and
``celery -A worker beat`` has the artifacts expired (ARTIFACT_RETENTION_DAYS=0)."""

import subprocess
import time

import pytest
import requests

from ..blob import start_blob_server
from ..processes import REPO_ROOT, executable
from .stack import Stack
from .test_worker_e2e import MODEL, assert_example_completed


@pytest.fixture(scope="module")
def blob():
    server = start_blob_server()
    yield server
    server.remove()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, blob):
    api_settings = {
        "BLOB_API_SERVER": blob.url,
        "BLOB_API_TOKEN": blob.token,
        # Finished runs' artifacts are due at once; only a beat makes them go.
        "ARTIFACT_RETENTION_DAYS": 0,
    }
    stack = Stack(
        tmp_path_factory.mktemp("e2e-blob"), api_settings=api_settings, WORKER_ARTIFACT_EXPIRY_INTERVAL=1
    )
    yield stack
    stack.close()


def run_example(stack):
    pipeline = stack.create_pipeline(model=MODEL)
    return assert_example_completed(
        stack, stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    )


def test_artifacts_land_on_the_blob_server_and_download_through_the_api(stack, blob):
    run = run_example(stack)

    assert len(run["artifacts"]) >= 2
    for artifact in run["artifacts"]:
        on_disk = blob.path(f"{run['pipeline_uuid']}/{run['uuid']}/{artifact['uuid']}").read_bytes()
        downloaded = stack.download(artifact).content
        assert downloaded == on_disk
        assert len(on_disk) == artifact["size"]
    assert not list((stack.folder / "uploads").rglob("*")), "nothing stored on the API's disk"

    # A resumed download through gunicorn, the tail forwarded as a Range to nginx.
    artifact = max(run["artifacts"], key=lambda a: a["size"])
    whole = stack.download(artifact).content
    tail = requests.get(
        artifact["url"], headers={**stack.client, "Range": f"bytes={len(whole) // 2}-"}, timeout=30
    )
    assert tail.status_code == 206
    assert tail.content == whole[len(whole) // 2 :]


def test_celery_beat_has_the_artifacts_expired(stack, blob, tmp_path):
    run = run_example(stack)
    keys = {f"{run['pipeline_uuid']}/{run['uuid']}/{a['uuid']}" for a in run["artifacts"]}
    assert keys <= blob.files()

    with open(tmp_path / "beat.log", "w") as log:
        beat = subprocess.Popen(
            [executable("celery"), "-A", "worker", "beat", "-s", str(tmp_path / "beat-schedule")],
            cwd=REPO_ROOT,
            env=stack.worker_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                current = stack.get(run)
                if all(artifact["expired_at"] for artifact in current["artifacts"]):
                    break
                time.sleep(0.2)
        finally:
            beat.terminate()
            beat.wait(timeout=10)
    logs = (tmp_path / "beat.log").read_text()[-3000:] + stack.worker.output()[-3000:]
    assert all(artifact["expired_at"] for artifact in current["artifacts"]), logs
    assert not keys & blob.files(), "the bytes were deleted from nginx's disk"
    gone = requests.get(current["artifacts"][0]["url"], headers=stack.client, timeout=10)
    assert gone.status_code == 410
    assert "expired" in gone.json()["message"]
