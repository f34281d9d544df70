"""Worker settings read from the environment (see the README's Worker Configuration)."""

import os

TRUE_WORDS = {"1", "true", "yes", "on"}

DEFAULT_MAX_INPUT_BYTES = 1024**3
DEFAULT_MAX_RUN_SECONDS = 12 * 3600
DEFAULT_ARTIFACT_EXPIRY_INTERVAL = 3600


def env_flag(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in TRUE_WORDS


def env_int(name, default):
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


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
