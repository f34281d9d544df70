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


def allow_unsigned_callbacks():
    """``CALLBACK_ALLOW_UNSIGNED``: a worker without CALLBACK_SIGNING_SECRET
    starts anyway, and sends callbacks unsigned."""
    return env_flag("CALLBACK_ALLOW_UNSIGNED")


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


DEFAULT_MAX_MEMORY_BYTES = 4 * 1024**3
DEFAULT_MAX_PROCESSES = 256
DEFAULT_MAX_DISK_BYTES = 4 * 1024**3
DEFAULT_MAX_FILE_BYTES = 1024**3
DEFAULT_MAX_ARTIFACTS = 1000
DEFAULT_SANDBOX_UID = 200000


def sandbox_enabled():
    """``WORKER_SANDBOX``: run each simulation in the bubblewrap sandbox
    (worker/sandbox.py). Only an explicit ``off`` (or false, 0, no) turns it off."""
    value = os.environ.get("WORKER_SANDBOX", "on").strip().lower()
    return value not in {"0", "false", "no", "off"}


def engine_host_enabled():
    """``WORKER_ENGINE_HOST``: a sandboxed root worker runs the default engine
    in a child forked from a host that keeps it imported (worker/engine_hosts.py).
    Only an explicit ``off`` (or false, 0, no) turns it off."""
    value = os.environ.get("WORKER_ENGINE_HOST", "on").strip().lower()
    return value not in {"0", "false", "no", "off"}


def sandbox_uid():
    """``WORKER_SANDBOX_UID``: the first host uid a root worker runs sandboxes as."""
    return env_int("WORKER_SANDBOX_UID", DEFAULT_SANDBOX_UID)


def max_memory_bytes():
    """``WORKER_MAX_MEMORY_BYTES``: a run's address space, per process (RLIMIT_AS)."""
    return env_int("WORKER_MAX_MEMORY_BYTES", DEFAULT_MAX_MEMORY_BYTES)


def max_processes():
    """``WORKER_MAX_PROCESSES``: processes and threads of the sandbox's uid (RLIMIT_NPROC)."""
    return env_int("WORKER_MAX_PROCESSES", DEFAULT_MAX_PROCESSES)


def max_disk_bytes():
    """``WORKER_MAX_DISK_BYTES``: the most a run's working folder (and its
    private /tmp) may hold."""
    return env_int("WORKER_MAX_DISK_BYTES", DEFAULT_MAX_DISK_BYTES)


def max_file_bytes():
    """``WORKER_MAX_FILE_BYTES``: the largest file a run may write (RLIMIT_FSIZE)."""
    return env_int("WORKER_MAX_FILE_BYTES", DEFAULT_MAX_FILE_BYTES)


def max_artifacts():
    """``WORKER_MAX_ARTIFACTS``: the most files one run uploads as artifacts."""
    return env_int("WORKER_MAX_ARTIFACTS", DEFAULT_MAX_ARTIFACTS)


def max_artifact_bytes():
    """``WORKER_MAX_ARTIFACT_BYTES``: the most bytes one run uploads as
    artifacts, all together (default: the disk limit)."""
    return env_int("WORKER_MAX_ARTIFACT_BYTES", max_disk_bytes())
