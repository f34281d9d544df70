"""The embedded default's broker (filesystem_broker): a consumer never sees a
message before it is written whole, and both the API and the workers use it."""

import json
import os

from kombu import Connection
from kombu.transport import filesystem as kombu_filesystem
from kombu.transport.virtual import Empty

import filesystem_broker
from app.config import broker_settings
from worker.celery_app import make_celery

from .conftest import make_app


def options(folder):
    return {"data_folder_in": str(folder), "data_folder_out": str(folder), "store_processed": False}


def channel(folder, transport=filesystem_broker.TRANSPORT):
    connection = Connection("filesystem://localhost/", transport=transport, transport_options=options(folder))
    return connection, connection.default_channel


def test_a_consumer_looking_while_a_message_is_written_does_not_see_it(tmp_path, monkeypatch):
    """The consumer looks in the folder at the worst moment: while the
    producer serializes the message, after kombu's own transport has made its
    file (it then reads it empty, fails, and the message is lost)."""
    producer, sending = channel(tmp_path)
    consumer, receiving = channel(tmp_path)
    seen_while_writing = []

    def dumps_while_a_consumer_looks(payload):
        try:
            seen_while_writing.append(receiving._get("celery"))
        except Empty:
            pass
        return json.dumps(payload)

    for module in (filesystem_broker, kombu_filesystem):
        monkeypatch.setattr(module, "dumps", dumps_while_a_consumer_looks)
    with producer, consumer:
        sending._put("celery", {"body": "whole"})
        assert seen_while_writing == []
        assert receiving._get("celery") == {"body": "whole"}
        assert os.listdir(tmp_path) == []


def test_the_api_and_the_workers_use_it_on_the_embedded_default(monkeypatch, tmp_path):
    for name in ("CELERY_BROKER_URL", "CELERY_BROKER_FOLDER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKFLOW_DATA_FOLDER", str(tmp_path / "data"))
    url, transport_options = broker_settings()
    api = make_app(
        "sqlite://",
        tmp_path / "uploads",
        CELERY_BROKER_URL=url,
        CELERY_BROKER_TRANSPORT_OPTIONS=transport_options,
    )
    for celery in (api.extensions["workflow_broker"], make_celery()):
        with celery.connection_for_write() as connection:
            assert isinstance(connection.transport, filesystem_broker.Transport)


def test_other_brokers_keep_their_own_transport(monkeypatch, tmp_path):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/15")
    api = make_app("sqlite://", tmp_path / "uploads", CELERY_BROKER_URL="redis://127.0.0.1:6379/15")
    for celery in (api.extensions["workflow_broker"], make_celery()):
        with celery.connection_for_write() as connection:
            assert not isinstance(connection.transport, filesystem_broker.Transport)
            assert connection.transport.driver_type == "redis"
