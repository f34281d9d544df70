"""A 1 GiB artifact streams up to the blob server and back down through the API
(gunicorn) while the API process's memory stays flat.

The bytes are made on the fly and hashed as they go; the only copy of the
GiB is the one on the blob server's disk, removed at the end.
"""

import hashlib

import pytest
import requests

from .test_streaming_upload import MIB, Body, Deployment, peak_rss_kib

GIB = 1024 * MIB
ALLOWED_GROWTH_KIB = 50 * 1024


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    deployment = Deployment(tmp_path_factory.mktemp("blob-streaming"))
    try:
        yield deployment
    finally:
        deployment.close()


def download_sha256(url, headers):
    digest = hashlib.sha256()
    size = 0
    with requests.get(url, headers=headers, stream=True, timeout=120) as response:
        assert response.status_code == 200, response.text
        for piece in response.iter_content(MIB):
            digest.update(piece)
            size += len(piece)
    return size, digest.hexdigest()


def test_one_gib_streams_up_and_down_through_the_api(deployment, blob_server, record_property):
    server = deployment.serve(BLOB_API_SERVER=blob_server.url, BLOB_API_TOKEN=blob_server.token)
    run_url = deployment.running_run(server)
    # Warm up both code paths (imports, buffers, connections) with a small artifact.
    warm = deployment.upload(run_url, "warm.bin", Body(2 * MIB).chunks())
    assert warm.status_code == 201, warm.text
    download_sha256(f"{run_url}/artifacts/{warm.json()['uuid']}", deployment.client)
    baseline = peak_rss_kib(server)

    body = Body(GIB, block=MIB)
    response = deployment.upload(run_url, "big.bin", body.chunks(), timeout=600)
    assert response.status_code == 201, response.text
    artifact = response.json()
    key = run_url.split("/v1/pipelines/")[1].replace("/runs/", "/") + "/" + artifact["uuid"]
    try:
        assert (artifact["size"], artifact["sha256"]) == (GIB, body.sha256.hexdigest())
        assert blob_server.path(key).stat().st_size == GIB
        after_upload = peak_rss_kib(server)

        size, sha256 = download_sha256(f"{run_url}/artifacts/{artifact['uuid']}", deployment.client)
        assert (size, sha256) == (GIB, artifact["sha256"])
    finally:
        blob_server.path(key).unlink()

    growth = peak_rss_kib(server) - baseline
    record_property("peak_rss_growth_kib", growth)
    print(
        f"1 GiB through the API on the blob backend: gunicorn worker VmHWM {baseline} KiB after warm-up, "
        f"+{after_upload - baseline} KiB after the upload, +{growth} KiB after the download"
    )
    assert growth < ALLOWED_GROWTH_KIB, f"the API's peak RSS grew {growth} KiB for 1 GiB up and down"
