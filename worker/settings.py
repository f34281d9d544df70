"""Worker settings read from the environment (see the README's Worker Configuration)."""

import os

TRUE_WORDS = {"1", "true", "yes", "on"}

DEFAULT_MAX_INPUT_BYTES = 1024**3
DEFAULT_MAX_RUN_SECONDS = 12 * 3600
DEFAULT_ARTIFACT_EXPIRY_INTERVAL = 3600
DEFAULT_HEARTBEAT_INTERVAL = 10.0
DEFAULT_RECOVERY_INTERVAL = 30.0


def env_flag(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in TRUE_WORDS


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_seconds(name, default):
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def allow_file_urls():
    """``WORKER_ALLOW_FILE_URLS``: follow ``file://`` inputs and repositories."""
    return env_flag("WORKER_ALLOW_FILE_URLS")


def max_input_bytes():
    """``WORKER_MAX_INPUT_BYTES``: the largest input a run may download."""
    return env_int("WORKER_MAX_INPUT_BYTES", DEFAULT_MAX_INPUT_BYTES)


def max_run_seconds():
    """``WORKER_MAX_RUN_SECONDS``: the longest any run may take, whatever
    its pipeline's timeout; it bounds how long a run can stay RUNNING."""
    return env_int("WORKER_MAX_RUN_SECONDS", DEFAULT_MAX_RUN_SECONDS)


def artifact_expiry_interval():
    """``WORKER_ARTIFACT_EXPIRY_INTERVAL``: seconds between two calls of the
    API's artifact expiry by ``celery -A worker beat``; 0 schedules none."""
    return env_int("WORKER_ARTIFACT_EXPIRY_INTERVAL", DEFAULT_ARTIFACT_EXPIRY_INTERVAL)


def heartbeat_interval():
    """``WORKER_HEARTBEAT_INTERVAL``: seconds between two heartbeats of a
    worker that has a run; it must stay well under the API's
    RUN_HEARTBEAT_TIMEOUT."""
    interval = env_seconds("WORKER_HEARTBEAT_INTERVAL", DEFAULT_HEARTBEAT_INTERVAL)
    if interval <= 0:
        raise ValueError(f"WORKER_HEARTBEAT_INTERVAL must be more than 0, not {interval:g}")
    return interval


def recovery_interval():
    """``WORKER_RECOVERY_INTERVAL``: seconds between two calls of the API's
    recovery sweep by ``celery -A worker beat``; 0 schedules none."""
    return env_seconds("WORKER_RECOVERY_INTERVAL", DEFAULT_RECOVERY_INTERVAL)


def metrics_port():
    """``WORKER_METRICS_PORT``: the port of the worker's Prometheus exporter
    (``/metrics``, served by its main process); unset: none."""
    value = os.environ.get("WORKER_METRICS_PORT", "").strip()
    return int(value) if value else None


def metrics_address():
    """``WORKER_METRICS_ADDRESS``: the address that exporter listens on."""
    return os.environ.get("WORKER_METRICS_ADDRESS", "").strip() or "127.0.0.1"
