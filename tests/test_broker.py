"""What the API puts on a real Redis broker, and how it behaves when the broker is down."""

import base64
import json
import time
import uuid

import pytest

from app.extensions import db
from app.runs.models import Run, RunStateChange

from .conftest import make_app
from .processes import free_port
from .services import require_redis


@pytest.fixture
def redis_queue():
    """A private key prefix on the test Redis db; its keys are removed after."""
    import redis

    url = require_redis()
    prefix = f"workflow-test-{uuid.uuid4().hex[:12]}-"
    connection = redis.Redis.from_url(url)
    yield RedisQueue(url, prefix, connection)
    for key in connection.scan_iter(match=prefix + "*"):
        connection.delete(key)
    connection.close()


class RedisQueue:
    def __init__(self, url, prefix, connection):
        self.url = url
        self.prefix = prefix
        self.connection = connection

    @property
    def options(self):
        return {"global_keyprefix": self.prefix}

    def take(self, queue="celery"):
        """Every message on ``queue``, decoded, oldest first; the queue is left empty."""
        key = self.prefix + queue
        raw = self.connection.lrange(key, 0, -1)
        self.connection.delete(key)
        return [decode(message) for message in reversed(raw)]  # kombu LPUSHes


def decode(raw):
    """A kombu message as Celery (protocol 2, JSON) sends it."""
    message = json.loads(raw)
    assert message["content-type"] == "application/json"
    assert message["properties"]["body_encoding"] == "base64"
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    return {"task": message["headers"]["task"], "args": args, "kwargs": kwargs}


def build_app(main_app, tmp_path, **overrides):
    """Another app on the same database as ``main_app``, with its own broker."""
    app = make_app(main_app.config["SQLALCHEMY_DATABASE_URI"], tmp_path / "uploads", **overrides)
    return app


@pytest.fixture
def apps():
    made = []

    def build(main_app, tmp_path, **overrides):
        app = build_app(main_app, tmp_path, **overrides)
        made.append(app)
        return app

    yield build
    for app in made:
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def redis_app(apps, redis_queue):
    """``redis_app(app, tmp_path)``: an app like ``app`` publishing to the test Redis."""

    def make(app, tmp_path):
        return apps(
            app,
            tmp_path,
            CELERY_BROKER_URL=redis_queue.url,
            CELERY_BROKER_TRANSPORT_OPTIONS=redis_queue.options,
        )

    return make


def test_creating_a_run_enqueues_one_execute_pipeline_message(
    app, keys, apps, redis_queue, tmp_path, redis_app
):
    publishing_app = redis_app(app, tmp_path)
    client = publishing_app.test_client()
    pipeline = client.post(
        "/v1/pipelines",
        json={
            "name": "feeder",
            "repository_ssh_url": "git@example.com:grid/feeder.git",
            "repository_branch": "main",
            "model": "models/ieee4.glm",
            "arguments": ["-D", "starttime='2020-01-01 00:00:00'"],
            "timeout": 600,
            "network": True,
        },
        headers=keys.client,
    ).get_json()
    assert redis_queue.take() == []

    inputs = [{"name": "weather.csv", "url": "https://example.com/weather.csv"}]
    response = client.post(
        f"/v1/pipelines/{pipeline['uuid']}/runs", json={"inputs": inputs}, headers=keys.client
    )
    assert response.status_code == 201, response.get_json()
    run = response.get_json()

    assert redis_queue.take() == [
        {
            "task": "execute_pipeline",
            "args": [],
            "kwargs": {
                "pipeline_uuid": pipeline["uuid"],
                "run_uuid": run["uuid"],
                "inputs": inputs,
                "parameters": {},
                "repository_ssh_url": "git@example.com:grid/feeder.git",
                "repository_branch": "main",
                "model": "models/ieee4.glm",
                "arguments": ["-D", "starttime='2020-01-01 00:00:00'"],
                "timeout": 600,
                "network": True,
            },
        }
    ]


def test_pipeline_defaults_reach_the_worker_as_documented(app, keys, apps, redis_queue, tmp_path, redis_app):
    publishing_app = redis_app(app, tmp_path)
    client = publishing_app.test_client()
    pipeline = client.post("/v1/pipelines", json={"name": "plain"}, headers=keys.client).get_json()
    run = client.post(
        f"/v1/pipelines/{pipeline['uuid']}/runs", json={"inputs": []}, headers=keys.client
    ).get_json()

    (message,) = redis_queue.take()
    assert message["task"] == "execute_pipeline"
    assert message["kwargs"] == {
        "pipeline_uuid": pipeline["uuid"],
        "run_uuid": run["uuid"],
        "inputs": [],
        "parameters": {},
        "repository_ssh_url": None,
        "repository_branch": None,
        "model": "model.glm",
        "arguments": [],
        "timeout": None,
        "network": False,
    }


def test_broker_down_gives_503_quickly_and_keeps_no_run(app, keys, apps, redis_queue, tmp_path, redis_app):
    down_app = apps(app, tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/13")
    down = down_app.test_client()
    pipeline = down.post("/v1/pipelines", json={"name": "feeder"}, headers=keys.client).get_json()
    runs_path = f"/v1/pipelines/{pipeline['uuid']}/runs"

    started = time.monotonic()
    response = down.post(
        runs_path,
        json={"inputs": [{"name": "model.glm", "url": "https://example.com/model.glm"}]},
        headers=keys.client,
    )
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    assert response.is_json
    assert "queue" in response.get_json()["message"].lower()
    assert elapsed < 5, f"503 took {elapsed:.1f}s"
    assert down.get(runs_path, headers=keys.client).get_json() == []
    with down_app.app_context():
        assert db.session.query(Run).count() == 0
        assert db.session.query(RunStateChange).count() == 0

    # once the broker is there again, creating a run works
    up = redis_app(app, tmp_path).test_client()
    response = up.post(runs_path, json={"inputs": []}, headers=keys.client)
    assert response.status_code == 201, response.get_json()
    listed = up.get(runs_path, headers=keys.client).get_json()
    assert [run["uuid"] for run in listed] == [response.get_json()["uuid"]]
    assert [m["task"] for m in redis_queue.take()] == ["execute_pipeline"]


def test_state_change_sends_deliver_callback(app, keys, apps, redis_queue, tmp_path, redis_app):
    client = redis_app(app, tmp_path).test_client()
    pipeline = client.post("/v1/pipelines", json={"name": "feeder"}, headers=keys.client).get_json()
    run = client.post(
        f"/v1/pipelines/{pipeline['uuid']}/runs",
        json={"inputs": [], "callback_url": "https://client.example.com/hook"},
        headers=keys.client,
    ).get_json()
    redis_queue.take()
    run_path = f"/v1/pipelines/{pipeline['uuid']}/runs/{run['uuid']}"

    for state in ("RUNNING", "COMPLETED"):
        response = client.put(run_path + "/state", json={"state": state}, headers=keys.worker)
        assert response.status_code == 200, response.get_json()
        assert redis_queue.take() == []  # callbacks have a queue of their own
        assert redis_queue.take("callbacks") == [
            {
                "task": "deliver_callback",
                "args": [],
                "kwargs": {
                    "url": "https://client.example.com/hook",
                    "pipeline_run_uuid": run["uuid"],
                    "state": state,
                },
            }
        ]


def test_no_callback_url_sends_no_callback(app, keys, apps, redis_queue, tmp_path, redis_app):
    client = redis_app(app, tmp_path).test_client()
    pipeline = client.post("/v1/pipelines", json={"name": "feeder"}, headers=keys.client).get_json()
    run = client.post(
        f"/v1/pipelines/{pipeline['uuid']}/runs", json={"inputs": []}, headers=keys.client
    ).get_json()
    redis_queue.take()

    response = client.put(
        f"/v1/pipelines/{pipeline['uuid']}/runs/{run['uuid']}/state",
        json={"state": "RUNNING"},
        headers=keys.worker,
    )
    assert response.status_code == 200
    assert redis_queue.take() == []
    assert redis_queue.take("callbacks") == []


def test_state_change_succeeds_with_the_broker_down(app, keys, apps, redis_queue, tmp_path, redis_app):
    up = redis_app(app, tmp_path).test_client()
    pipeline = up.post("/v1/pipelines", json={"name": "feeder"}, headers=keys.client).get_json()
    run = up.post(
        f"/v1/pipelines/{pipeline['uuid']}/runs",
        json={"inputs": [], "callback_url": "https://client.example.com/hook"},
        headers=keys.client,
    ).get_json()
    run_path = f"/v1/pipelines/{pipeline['uuid']}/runs/{run['uuid']}"

    down = apps(app, tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/13").test_client()
    started = time.monotonic()
    response = down.put(run_path + "/state", json={"state": "RUNNING"}, headers=keys.worker)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["state"] == "RUNNING"
    cancelled = down.post(run_path + "/cancel", headers=keys.client)
    assert cancelled.status_code == 200, cancelled.get_json()
    assert time.monotonic() - started < 10

    states = [s["state"] for s in up.get(run_path, headers=keys.client).get_json()["states"]]
    assert states == ["NOT_STARTED", "RUNNING", "CANCELLED"]


def test_each_app_publishes_to_its_own_broker(app, client, keys, apps, redis_queue, tmp_path, redis_app):
    """Building a second app in the process must not redirect the first one's tasks."""
    down = apps(app, tmp_path, CELERY_BROKER_URL=f"redis://127.0.0.1:{free_port()}/13").test_client()
    up = redis_app(app, tmp_path).test_client()
    pipeline = client.post("/v1/pipelines", json={"name": "feeder"}, headers=keys.client).get_json()
    runs_path = f"/v1/pipelines/{pipeline['uuid']}/runs"

    assert down.post(runs_path, json={"inputs": []}, headers=keys.client).status_code == 503
    assert up.post(runs_path, json={"inputs": []}, headers=keys.client).status_code == 201
    assert client.post(runs_path, json={"inputs": []}, headers=keys.client).status_code == 201  # memory://
    assert down.post(runs_path, json={"inputs": []}, headers=keys.client).status_code == 503
    assert [m["task"] for m in redis_queue.take()] == ["execute_pipeline"]


def test_a_bulk_message_is_what_celery_itself_sends(app, keys, apps, redis_queue, tmp_path, redis_app):
    """Broker.send_many writes its messages itself (app/broker.py): the same
    envelope, headers and body as Celery's send_task, ids apart."""
    import redis

    from app.broker import broker

    publishing_app = redis_app(app, tmp_path)
    with publishing_app.app_context():
        broker.send("execute_pipeline", run_uuid="a", inputs=[])
        broker.send_many("execute_pipeline", [{"run_uuid": "b", "inputs": []}])
    key = redis_queue.prefix + "celery"
    connection = redis.Redis.from_url(redis_queue.url)
    celery_made, bulk_made = (json.loads(raw) for raw in reversed(connection.lrange(key, 0, -1)))
    connection.delete(key)

    def shape(message):
        headers = {
            k: v for k, v in message["headers"].items() if k not in ("id", "root_id", "origin", "kwargsrepr")
        }
        properties = {
            k: v
            for k, v in message["properties"].items()
            if k not in ("correlation_id", "delivery_tag", "reply_to")
        }
        args, kwargs, embed = json.loads(base64.b64decode(message["body"]))
        return {
            **message,
            "body": [args, sorted(kwargs), embed],
            "headers": headers,
            "properties": properties,
        }

    assert set(bulk_made["headers"]) <= set(celery_made["headers"])
    for name in set(celery_made["headers"]) - set(bulk_made["headers"]):
        # Celery's extras that a worker takes as absent: stamping, nothing replaced.
        assert not celery_made["headers"][name], name
        del celery_made["headers"][name]
    celery_made["headers"]["ignore_result"] = bool(celery_made["headers"]["ignore_result"])
    assert shape(bulk_made) == shape(celery_made)
    assert (
        bulk_made["headers"]["id"]
        == bulk_made["headers"]["root_id"]
        == bulk_made["properties"]["correlation_id"]
    )
