"""A worker refuses to start when it cannot sandbox simulations or sign
callbacks, unless a setting says so explicitly (worker/celery_app.py)."""

import os
import subprocess
import sys

import pytest

from worker.celery_app import WorkerMisconfigured, startup_checks

from .conftest import ROOT

SECRET = "a-signing-secret"


@pytest.fixture
def configured(monkeypatch):
    monkeypatch.setenv("CALLBACK_SIGNING_SECRET", SECRET)
    monkeypatch.delenv("CALLBACK_ALLOW_UNSIGNED", raising=False)
    monkeypatch.delenv("WORKER_SANDBOX", raising=False)
    monkeypatch.delenv("WORKER_BWRAP", raising=False)


def test_a_worker_that_can_sandbox_and_sign_starts(configured):
    startup_checks()


def test_without_bubblewrap_it_says_what_to_install_or_which_setting(configured, monkeypatch):
    monkeypatch.setenv("WORKER_BWRAP", "/nonexistent/bwrap")

    with pytest.raises(WorkerMisconfigured) as error:
        startup_checks()

    assert "bubblewrap (bwrap) is not installed" in str(error.value)
    assert "apt-get install bubblewrap" in str(error.value)
    assert "WORKER_SANDBOX=off" in str(error.value)


def test_a_bubblewrap_that_cannot_build_a_sandbox_is_refused(configured, monkeypatch, tmp_path):
    # Stands in for a kernel without user namespaces: bwrap fails as it would.
    broken = tmp_path / "bwrap"
    broken.write_text("#!/bin/sh\necho 'bwrap: No permissions to creating new namespace' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("WORKER_BWRAP", str(broken))

    with pytest.raises(WorkerMisconfigured) as error:
        startup_checks()

    assert "No permissions to creating new namespace" in str(error.value)
    assert "WORKER_SANDBOX=off" in str(error.value)


@pytest.mark.parametrize("off", ["off", "false", "0", "no"])
def test_worker_sandbox_off_is_the_explicit_way_to_run_unsandboxed(configured, monkeypatch, off):
    monkeypatch.setenv("WORKER_BWRAP", "/nonexistent/bwrap")
    monkeypatch.setenv("WORKER_SANDBOX", off)

    startup_checks()


def test_without_a_signing_secret_it_refuses_unless_unsigned_is_allowed(configured, monkeypatch):
    monkeypatch.delenv("CALLBACK_SIGNING_SECRET")

    with pytest.raises(WorkerMisconfigured) as error:
        startup_checks()
    assert "CALLBACK_SIGNING_SECRET is not set" in str(error.value)
    assert "CALLBACK_ALLOW_UNSIGNED=true" in str(error.value)

    monkeypatch.setenv("CALLBACK_ALLOW_UNSIGNED", "true")
    startup_checks()


def celery_worker_output(tmp_path, **settings):
    """Start a real ``celery -A worker worker`` on a broker folder; return
    (exit code, output) once it exits (or None after 30 s, then stopped)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "CALLBACK_", "WORKER_"))},
        "CELERY_BROKER_FOLDER": str(tmp_path / "broker"),
        "PYTHONPATH": ROOT,
        **settings,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "--concurrency=1", "--loglevel=INFO"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=30)
        return process.returncode, output
    except subprocess.TimeoutExpired:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        return None, output


def test_a_real_worker_without_bubblewrap_exits_with_the_message(tmp_path):
    code, output = celery_worker_output(
        tmp_path, WORKER_BWRAP="/nonexistent/bwrap", CALLBACK_SIGNING_SECRET=SECRET
    )

    assert code == 78, output
    assert "worker not started: bubblewrap (bwrap) is not installed" in output
    assert "ready" not in output


def test_a_real_worker_without_a_signing_secret_exits_with_the_message(tmp_path):
    code, output = celery_worker_output(tmp_path)

    assert code == 78, output
    assert "worker not started: CALLBACK_SIGNING_SECRET is not set" in output
