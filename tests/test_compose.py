"""The compose setup: docker-compose.yml validates (``docker-compose config``,
no Docker engine needed), and Prometheus' scrape targets are its services."""

import shutil
import subprocess

import yaml

from .processes import REPO_ROOT
from .services import unavailable


def test_the_compose_file_validates(tmp_path):
    compose = shutil.which("docker-compose")
    if compose is None:
        unavailable("docker-compose is not installed (bin/install-compose installs it)")
    # A copy, with the .worker-env the README has one make first: the
    # checkout's own (a developer's key) is neither needed nor touched.
    shutil.copy(REPO_ROOT / "docker-compose.yml", tmp_path)
    shutil.copytree(REPO_ROOT / "docker", tmp_path / "docker")
    shutil.copy(REPO_ROOT / "_worker_env.example", tmp_path / ".worker-env")
    result = subprocess.run(
        [compose, "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_scrapes_the_api_the_worker_and_flower():
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    prometheus = yaml.safe_load((REPO_ROOT / "docker" / "prometheus.yml").read_text())
    services = compose["services"]
    targets = {
        job["job_name"]: target
        for job in prometheus["scrape_configs"]
        for config in job["static_configs"]
        for target in config["targets"]
    }
    assert targets == {"workflow-api": "api:5000", "workflow-worker": "worker:9808", "flower": "flower:5555"}
    assert services["worker"]["environment"]["WORKER_METRICS_PORT"] == "9808"
    assert services["worker"]["environment"]["WORKER_METRICS_ADDRESS"] == "0.0.0.0"
    assert "--port=5555" in services["flower"]["command"]
    assert "./docker/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]
