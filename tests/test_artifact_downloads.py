"""Artifact downloads: ETag and If-None-Match, byte ranges (206, 416), If-Range,
HEAD; the same answers whichever backend holds the bytes (local disk, blob server)."""

import hashlib
import os

import pytest

from .helpers import assert_error

SIZE = 200_003


@pytest.fixture
def stored(api, backend):
    """An uploaded artifact: (download path, its bytes, its JSON)."""
    pipeline = api.create_pipeline()["uuid"]
    run = api.create_run(pipeline)["uuid"]
    assert api.set_state(pipeline, run, "RUNNING").status_code == 200
    data = os.urandom(SIZE)
    artifact = api.upload(pipeline, run, "volts.csv", data).get_json()
    assert artifact["size"] == SIZE
    return api.run_path(pipeline, run, f"/artifacts/{artifact['uuid']}"), data, artifact


def get(api, path, **headers):
    return api.client.get(path, headers={**api.keys.client, **headers})


def test_whole_download_has_etag_length_and_accept_ranges(api, stored):
    path, data, artifact = stored
    response = get(api, path)
    assert response.status_code == 200
    assert response.data == data
    assert response.headers["ETag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert response.headers["Accept-Ranges"] == "bytes"
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["Content-Disposition"] == 'attachment; filename="volts.csv"'
    assert "Last-Modified" in response.headers


@pytest.mark.parametrize(
    "if_none_match, status",
    [("<etag>", 304), ("W/<etag>", 304), ('"other", <etag>', 304), ("*", 304), ('"other"', 200)],
)
def test_if_none_match(api, stored, if_none_match, status):
    path, data, artifact = stored
    etag = f'"{artifact["sha256"]}"'
    response = get(api, path, **{"If-None-Match": if_none_match.replace("<etag>", etag)})
    assert response.status_code == status
    assert response.headers["ETag"] == etag
    assert response.data == (b"" if status == 304 else data)


@pytest.mark.parametrize(
    "header, start, stop",
    [
        ("bytes=0-0", 0, 1),
        ("bytes=10-19", 10, 20),
        ("bytes=100000-", 100000, SIZE),
        ("bytes=-5", SIZE - 5, SIZE),
        ("bytes=0-", 0, SIZE),
        (f"bytes={SIZE - 1}-{SIZE + 1000}", SIZE - 1, SIZE),
    ],
)
def test_one_byte_range_is_a_206(api, stored, header, start, stop):
    path, data, _ = stored
    response = get(api, path, Range=header)
    assert response.status_code == 206, response.data[:200]
    assert response.data == data[start:stop]
    assert response.headers["Content-Range"] == f"bytes {start}-{stop - 1}/{SIZE}"
    assert response.headers["Content-Length"] == str(stop - start)


def test_an_interrupted_download_can_be_resumed(api, stored):
    path, data, artifact = stored
    first = get(api, path, Range="bytes=0-65535").data
    rest = get(api, path, Range=f"bytes={len(first)}-", **{"If-Range": f'"{artifact["sha256"]}"'})
    assert rest.status_code == 206
    assert first + rest.data == data


@pytest.mark.parametrize(
    "header", [f"bytes={SIZE}-", f"bytes={SIZE + 10}-{SIZE + 20}", "bytes=5-2", "bytes=x-y"]
)
def test_unsatisfiable_or_malformed_range_is_a_json_416(api, stored, header):
    path, _, _ = stored
    response = get(api, path, Range=header)
    assert_error(response, 416)
    assert response.headers["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=0-1,5-6", "items=0-1"])
def test_several_ranges_or_another_unit_get_the_whole(api, stored, header):
    path, data, _ = stored
    response = get(api, path, Range=header)
    assert response.status_code == 200
    assert response.data == data


def test_if_range_with_another_etag_gets_the_whole(api, stored):
    path, data, _ = stored
    response = get(api, path, Range="bytes=0-9", **{"If-Range": '"not-the-etag"'})
    assert response.status_code == 200
    assert response.data == data


def test_head_gives_the_headers_only(api, stored):
    path, _, artifact = stored
    response = api.client.head(path, headers=api.keys.client)
    assert response.status_code == 200
    assert response.data == b""
    assert response.headers["Content-Length"] == str(SIZE)
    assert response.headers["ETag"] == f'"{artifact["sha256"]}"'


def test_non_ascii_name_has_an_ascii_fallback(api, backend):
    pipeline = api.create_pipeline()["uuid"]
    run = api.create_run(pipeline)["uuid"]
    assert api.set_state(pipeline, run, "RUNNING").status_code == 200
    artifact = api.upload(pipeline, run, "ünïcode résumé.csv", b"x").get_json()
    response = get(api, api.run_path(pipeline, run, f"/artifacts/{artifact['uuid']}"))
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="unicode resume.csv"')
    assert "filename*=UTF-8''%C3%BCn%C3%AFcode%20r%C3%A9sum%C3%A9.csv" in disposition
