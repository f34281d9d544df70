"""Creating a sweep costs a bounded number of SQL statements and broker
round trips, the same for 10 runs and for 1,000; its counts read no run."""

import pytest
import redis.connection

from . import test_broker, test_query_counts
from .test_query_counts import KEY_LOOKUP, counted_statements

# The real-Redis fixtures of the broker tests.
apps, redis_app, redis_queue = test_broker.apps, test_broker.redis_app, test_broker.redis_queue
# Autouse: a key checked once stays cached however slow the machine is (the
# counts here had the key's query when a test outlasted the cache's 0.5 s).
frozen_key_cache = test_query_counts.frozen_key_cache

INPUTS = [{"name": "model.glm", "url": "https://example.com/model.glm"}]


def make_sweep(client, keys, pipeline_uuid, count):
    response = client.post(
        f"/v1/pipelines/{pipeline_uuid}/sweeps",
        json={"inputs": INPUTS, "parameters": {"load_w": list(range(count))}},
        headers=keys.client,
    )
    assert response.status_code == 201, response.get_json()
    return response.get_json()


# The pipeline; then its counter (reserving the block of sequences), the
# sweep, every run, every first state, and the commit.
CREATION = KEY_LOOKUP + 1 + 4


def test_creating_a_sweep_costs_the_same_statements_for_10_and_1000_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    make_sweep(client, keys, pipeline_uuid, 2)  # warm up
    with counted_statements(app) as ten:
        small = make_sweep(client, keys, pipeline_uuid, 10)
    with counted_statements(app) as thousand:
        large = make_sweep(client, keys, pipeline_uuid, 1000)
    assert small["run_count"] == 10 and large["run_count"] == 1000
    assert len(ten) == len(thousand), "\n\n".join(thousand)
    # Counted without the transaction's own BEGIN/COMMIT, which are not statements here.
    assert len(thousand) <= CREATION, "\n\n".join(thousand)
    assert sum("insert into run " in s.lower() or "insert into run(" in s.lower() for s in thousand) == 1


def test_reading_a_sweep_costs_the_same_for_10_and_1000_runs(app, api, client, keys):
    pipeline_uuid = api.create_pipeline()["uuid"]
    small, large = make_sweep(client, keys, pipeline_uuid, 10), make_sweep(client, keys, pipeline_uuid, 1000)

    def read(sweep):
        with counted_statements(app) as statements:
            response = client.get(
                f"/v1/pipelines/{pipeline_uuid}/sweeps/{sweep['uuid']}", headers=keys.client
            )
        assert response.status_code == 200
        assert response.get_json()["counts"]["NOT_STARTED"] == sweep["run_count"]
        return list(statements)

    read(small)
    one, many = read(small), read(large)
    # The key, the pipeline, the sweep, one GROUP BY for its counts.
    assert len(one) == len(many) == KEY_LOOKUP + 3, "\n\n".join(many)
    assert "group by" in many[-1].lower()
    with counted_statements(app) as listing:
        assert len(client.get(f"/v1/pipelines/{pipeline_uuid}/sweeps", headers=keys.client).get_json()) == 2
    assert len(listing) == KEY_LOOKUP + 3, "\n\n".join(listing)


@pytest.fixture
def broker_round_trips(monkeypatch):
    """Every command (or pipeline of commands) redis-py sends, counted on
    its way out: the real connection still sends it."""
    sent = []
    real = redis.connection.AbstractConnection.send_packed_command

    def counting(self, command, *args, **kwargs):
        sent.append(command)
        return real(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


def test_a_sweep_is_published_in_the_same_round_trips_for_10_and_1000_runs(
    app, keys, redis_queue, redis_app, tmp_path, broker_round_trips
):
    publishing = redis_app(app, tmp_path)
    client = publishing.test_client()
    pipeline = client.post("/v1/pipelines", json={"name": "feeder"}, headers=keys.client).get_json()
    make_sweep(client, keys, pipeline["uuid"], 2)  # connects
    redis_queue.take()

    def publishes(count):
        broker_round_trips.clear()
        sweep = make_sweep(client, keys, pipeline["uuid"], count)
        sent = list(broker_round_trips)
        messages = redis_queue.take()
        assert len(messages) == count
        runs = client.get(
            f"/v1/pipelines/{pipeline['uuid']}/sweeps/{sweep['uuid']}/runs", headers=keys.client
        ).get_json()
        # One message per run, in the runs' order, each with the run's parameters.
        assert [m["kwargs"]["run_uuid"] for m in messages] == [run["uuid"] for run in runs]
        assert [m["kwargs"]["parameters"] for m in messages] == [run["parameters"] for run in runs]
        assert all(m["task"] == "execute_pipeline" and m["kwargs"]["inputs"] == INPUTS for m in messages)
        return sent

    ten, thousand = publishes(10), publishes(1000)
    # The connection's own handshake, then one send holding every message.
    assert len(ten) == len(thousand) <= 10, thousand
    pushes = [b"".join(packet) for packet in thousand if b"LPUSH" in b"".join(packet)]
    assert len(pushes) == 1 and pushes[0].count(b"execute_pipeline") == 1000
