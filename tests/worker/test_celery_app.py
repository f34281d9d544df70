"""The Celery app's configuration, and its agreement with the API's."""

import pytest

from app.config import broker_settings as api_broker_settings
from worker.celery_app import broker_settings, make_celery


def test_tasks_are_registered_under_the_names_the_api_sends():
    import worker

    assert worker.app is worker.celery
    assert {"execute_pipeline", "deliver_callback"} <= set(worker.app.tasks.keys())


def test_delivery_guarantees_and_json_only(monkeypatch, tmp_path):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setenv("CELERY_BROKER_FOLDER", str(tmp_path / "broker"))
    conf = make_celery().conf

    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.task_always_eager is False


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/3")
    monkeypatch.setenv("CELERY_RESULT_BACKEND", "redis://127.0.0.1:6379/4")
    monkeypatch.setenv("CELERY_ALWAYS_EAGER", "true")
    monkeypatch.setenv("WORKER_MAX_RUN_SECONDS", "600")
    celery = make_celery()

    assert celery.conf.broker_url == "redis://127.0.0.1:6379/3"
    assert celery.conf.result_backend == "redis://127.0.0.1:6379/4"
    assert celery.conf.task_always_eager is True
    # Redis must not hand a running task to a second worker.
    assert celery.conf.broker_transport_options["visibility_timeout"] > 600


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"WORKFLOW_DATA_FOLDER": "data"},
        {"CELERY_BROKER_FOLDER": "elsewhere/queue-folder"},
        {"CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"},
    ],
)
def test_worker_and_api_agree_on_the_broker(monkeypatch, tmp_path, environment):
    monkeypatch.chdir(tmp_path)
    for name in ("CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", "WORKFLOW_DATA_FOLDER"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    url, options = broker_settings()
    api_url, api_options = api_broker_settings()

    assert url == api_url
    for name in ("data_folder_in", "data_folder_out", "processed_folder"):
        assert options.get(name) == api_options.get(name)
    if url.startswith("filesystem://"):
        assert options["data_folder_in"] == options["data_folder_out"]
        assert (tmp_path / options["data_folder_in"]).is_dir()
        assert (tmp_path / options["processed_folder"]).is_dir()


def test_default_broker_folder_is_var_broker(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    for name in ("CELERY_BROKER_URL", "CELERY_BROKER_FOLDER", "WORKFLOW_DATA_FOLDER"):
        monkeypatch.delenv(name, raising=False)

    url, options = broker_settings()

    assert url == "filesystem://localhost/"
    assert options["data_folder_in"] == str(tmp_path / "var" / "broker" / "queue")
    assert (tmp_path / "var" / "broker" / "processed").is_dir()
