"""A run's console: replace (PUT), append (POST), read (GET), and when writes stop."""

import pytest

from .helpers import FINAL_STATES, assert_error, failed_cases, run_in_state, table_snapshot


@pytest.fixture
def console(api, client, keys):
    """Callables on the console of a fresh RUNNING run."""
    pipeline_uuid = api.create_pipeline()["uuid"]
    run = run_in_state(api, pipeline_uuid, "RUNNING")
    return Console(api, client, keys, pipeline_uuid, run["uuid"])


class Console:
    def __init__(self, api, client, keys, pipeline_uuid, run_uuid):
        self.api, self.client, self.keys = api, client, keys
        self.pipeline_uuid, self.run_uuid = pipeline_uuid, run_uuid
        self.path = api.run_path(pipeline_uuid, run_uuid, "/console")

    def read(self):
        response = self.client.get(self.path, headers=self.keys.client)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def replace(self, body):
        return self.client.put(self.path, json=body, headers=self.keys.worker)

    def append(self, body, **kwargs):
        if "data" in kwargs:
            return self.client.post(self.path, headers=self.keys.worker, **kwargs)
        return self.client.post(self.path, json=body, headers=self.keys.worker)

    def set_state(self, state):
        response = self.api.set_state(self.pipeline_uuid, self.run_uuid, state)
        assert response.status_code == 200, response.get_json()


def test_new_console_is_empty(console):
    assert console.read() == {"std_out": "", "std_err": ""}


def test_put_replaces_both_streams(console):
    assert console.append({"std_out": "old out\n", "std_err": "old err\n"}).status_code == 204
    response = console.replace({"std_out": "new out\n", "std_err": "new err\n"})
    assert response.status_code == 200
    assert response.get_json() == {"std_out": "new out\n", "std_err": "new err\n"}
    assert console.read() == {"std_out": "new out\n", "std_err": "new err\n"}


def test_post_appends_in_order_with_independent_streams(console):
    assert console.append({"std_out": "1"}).status_code == 204
    assert console.append({"std_err": "a"}).status_code == 204
    assert console.append({"std_out": "2", "std_err": "b"}).status_code == 204
    assert console.append({"std_out": "3"}).status_code == 204
    assert console.append({"std_err": "c"}).status_code == 204
    assert console.read() == {"std_out": "123", "std_err": "abc"}


def test_append_after_replace_continues_the_replaced_text(console):
    console.append({"std_out": "gone"})
    console.replace({"std_out": "kept ", "std_err": "e1 "})
    console.append({"std_out": "more", "std_err": "e2"})
    assert console.read() == {"std_out": "kept more", "std_err": "e1 e2"}


def test_text_is_kept_exactly(console):
    text = "line 1\r\nline 2\n\ttabbed  trailing  \n\u00fcnic\u00f8de \U0001f50c \u2028 end"
    console.append({"std_out": text, "std_err": text[::-1]})
    assert console.read() == {"std_out": text, "std_err": text[::-1]}


def test_consoles_of_two_runs_are_separate(api, client, keys, console):
    other = run_in_state(api, console.pipeline_uuid, "RUNNING")
    other_path = api.run_path(console.pipeline_uuid, other["uuid"], "/console")
    console.append({"std_out": "mine"})
    client.post(other_path, json={"std_out": "theirs"}, headers=keys.worker)
    assert console.read() == {"std_out": "mine", "std_err": ""}
    assert client.get(other_path, headers=keys.client).get_json() == {"std_out": "theirs", "std_err": ""}


BAD_APPENDS = [
    ({}, {}),
    (None, {"data": "", "content_type": "application/json"}),
    (None, {"data": "{", "content_type": "application/json"}),
    (None, {"data": '{"std_out": "x"}', "content_type": "text/plain"}),
    ({"std_out": 5}, {}),
    ({"std_out": None}, {}),
    ({"stdout": "x"}, {}),
    ({"std_out": "x", "extra": "y"}, {}),
    ({"std_out": "x\x00y"}, {}),
    ({"std_err": "lone \ud800 surrogate"}, {}),
    (["x"], {}),
]


def test_bad_append_is_400_and_appends_nothing(app, console):
    console.append({"std_out": "before"})
    before = table_snapshot(app)

    def check(case):
        body, kwargs = case
        assert_error(console.append(body, **kwargs), 400)

    assert failed_cases(BAD_APPENDS, check) == []
    assert table_snapshot(app) == before
    assert console.read() == {"std_out": "before", "std_err": ""}


def test_bad_replace_is_400_and_changes_nothing(console):
    console.append({"std_out": "before"})

    def check(body):
        assert_error(console.replace(body), 400)

    assert failed_cases([{"std_out": 1}, {"extra": ""}, ["x"], {"std_err": "a\x00"}], check) == []
    assert console.read() == {"std_out": "before", "std_err": ""}


def test_writes_are_accepted_before_the_run_starts(api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    run = api.create_run(pipeline_uuid)
    path = api.run_path(pipeline_uuid, run["uuid"], "/console")
    assert client.post(path, json={"std_out": "cloning\n"}, headers=keys.worker).status_code == 204
    assert client.get(path, headers=keys.client).get_json() == {"std_out": "cloning\n", "std_err": ""}


@pytest.mark.parametrize("final", FINAL_STATES)
def test_writes_after_the_run_ended_are_409(app, console, final):
    console.append({"std_out": "out", "std_err": "reason"})
    console.set_state(final)
    before = table_snapshot(app)
    assert_error(console.append({"std_out": "late"}), 409)
    assert_error(console.replace({"std_out": "late", "std_err": ""}), 409)
    assert table_snapshot(app) == before
    assert console.read() == {"std_out": "out", "std_err": "reason"}


def test_large_output_in_many_appends_reads_back_exactly(console):
    """5 MB of std_out in 500 appends (with std_err between) comes back byte for byte."""
    pieces = []
    errors = []
    for index in range(500):
        # 10,000 characters, each piece different so that order and completeness both show.
        piece = (f"[{index:04d}] " + "0123456789abcdef" * 625)[:9999] + "\n"
        pieces.append(piece)
        body = {"std_out": piece}
        if index % 50 == 0:
            errors.append(f"warning {index}\n")
            body["std_err"] = errors[-1]
        response = console.append(body)
        assert response.status_code == 204, response.get_json()
    console_text = console.read()
    expected = "".join(pieces)
    assert len(expected) == 5_000_000
    assert console_text["std_out"] == expected
    assert console_text["std_err"] == "".join(errors)
