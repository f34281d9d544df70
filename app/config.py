"""Configuration read from the environment, with the embedded defaults."""

import ipaddress
import os

TRUE_WORDS = {"1", "true", "yes", "on"}
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def env_flag(name, default=False):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in TRUE_WORDS


def embedded_data_folder():
    """Where the embedded default keeps its SQLite file and broker queue."""
    return os.path.abspath(os.environ.get("WORKFLOW_DATA_FOLDER", "var"))


def broker_settings():
    """Celery broker URL and transport options, shared by API and worker.

    Without CELERY_BROKER_URL both sides use kombu's filesystem transport in
    the same folder, so the embedded default needs no broker server.
    """
    url = os.environ.get("CELERY_BROKER_URL")
    if url:
        return url, {}
    folder = os.path.abspath(
        os.environ.get("CELERY_BROKER_FOLDER", os.path.join(embedded_data_folder(), "broker"))
    )
    queue = os.path.join(folder, "queue")
    processed = os.path.join(folder, "processed")
    control = os.path.join(folder, "control")
    for path in (queue, processed, control):
        os.makedirs(path, exist_ok=True)
    # The host means nothing to this transport; naming one keeps kombu from
    # warning "No hostname was supplied" each time it connects.
    return "filesystem://localhost/", {
        "data_folder_in": queue,
        "data_folder_out": queue,
        "processed_folder": processed,
        "store_processed": False,
        "control_folder": control,
    }


# Loopback, "this host", RFC 1918, CGNAT, link-local (cloud metadata at
# 169.254.169.254), and their IPv6 counterparts: unspecified, loopback,
# unique-local, link-local and NAT64. IPv6 addresses that spell an IPv4
# one (mapped, compatible, NAT64, 6to4) are also checked as that address.
DEFAULT_BLOCKED_NETWORKS = (
    "0.0.0.0/8,127.0.0.0/8,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,169.254.0.0/16,"
    "::/128,::1/128,fc00::/7,fe80::/10,64:ff9b::/96"
)


def network_list(value):
    """Comma-separated CIDRs (BLOCKED_NETWORKS); unset: ``DEFAULT_BLOCKED_NETWORKS``."""
    if value is None:
        value = DEFAULT_BLOCKED_NETWORKS
    parts = [part.strip() for part in value.split(",")]
    return tuple(ipaddress.ip_network(part, strict=False) for part in parts if part)


def env_number(name, kind, default=None, minimum=0):
    """``kind(value)`` of a numeric setting, or ``default`` when unset or empty."""
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    number = kind(value)
    if number < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return number


def from_environment():
    """The Flask config mapping for ``create_app``."""
    data = embedded_data_folder()
    database = os.environ.get("SQLALCHEMY_DATABASE_URI")
    if not database:
        os.makedirs(data, exist_ok=True)
        database = "sqlite:///" + os.path.join(data, "workflow.sqlite3")
    broker_url, transport_options = broker_settings()
    max_content = os.environ.get("MAX_CONTENT_LENGTH")
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", "dev-only-secret-key"),
        "SQLALCHEMY_DATABASE_URI": database,
        # No pool_pre_ping: it cost every request a round trip to the database.
        # A connection that died (the database restarted) fails the one request
        # using it with a 503; SQLAlchemy then renews the whole pool.
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        "CELERY_BROKER_URL": broker_url,
        "CELERY_BROKER_TRANSPORT_OPTIONS": transport_options,
        "CELERY_RESULT_BACKEND": os.environ.get("CELERY_RESULT_BACKEND") or None,
        "CELERY_ALWAYS_EAGER": env_flag("CELERY_ALWAYS_EAGER"),
        "BROKER_CONNECT_TIMEOUT": float(os.environ.get("BROKER_CONNECT_TIMEOUT", "3")),
        "BLOB_API_SERVER": os.environ.get("BLOB_API_SERVER") or None,
        "BLOB_API_TOKEN": os.environ.get("BLOB_API_TOKEN") or None,
        "BLOB_API_TIMEOUT": env_number("BLOB_API_TIMEOUT", float, 30.0, minimum=0.001),
        "BLOB_API_RETRIES": env_number("BLOB_API_RETRIES", int, 3),
        "BLOB_API_RETRY_BACKOFF": env_number("BLOB_API_RETRY_BACKOFF", float, 0.5),
        "ARTIFACT_RETENTION_DAYS": env_number("ARTIFACT_RETENTION_DAYS", float),
        "RUN_HEARTBEAT_TIMEOUT": env_number("RUN_HEARTBEAT_TIMEOUT", float, 120.0, minimum=1),
        "RUN_MAX_ATTEMPTS": env_number("RUN_MAX_ATTEMPTS", int, 2, minimum=1),
        "RUN_QUEUE_TIMEOUT": env_number("RUN_QUEUE_TIMEOUT", float, 900.0),
        "ALLOW_FILE_URLS": env_flag("ALLOW_FILE_URLS"),
        "EVENTS_POLL_INTERVAL": env_number("EVENTS_POLL_INTERVAL", float, 0.25, minimum=0.01),
        "EVENTS_KEEPALIVE": env_number("EVENTS_KEEPALIVE", float, 10.0, minimum=0.1),
        "BLOCKED_NETWORKS": network_list(os.environ.get("BLOCKED_NETWORKS")),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN") or None,
        "MAX_CONTENT_LENGTH": int(max_content) if max_content else 1024**3,
        "UPLOAD_FOLDER": os.path.abspath(os.environ.get("UPLOAD_FOLDER", "uploads")),
        "WEB_CONSOLE_FOLDER": os.path.abspath(
            os.environ.get("WEB_CONSOLE_FOLDER") or os.path.join(REPO_ROOT, "console", "dist")
        ),
    }
