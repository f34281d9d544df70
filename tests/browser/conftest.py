"""Fixtures of the browser tests: a real stack (gunicorn, Celery, PostgreSQL,
Redis, GridLAB-D), Debian's headless Chromium, and a folder of screenshots
that the run prints at its end."""

import os
from pathlib import Path

import pytest

from ..e2e.stack import Stack
from ..services import unavailable
from .browser import LAPTOP, REPO_ROOT, Browser, missing

SCREENSHOTS = Path(os.environ.get("BROWSER_SCREENSHOTS", REPO_ROOT / "var" / "browser-screenshots"))


def pytest_report_header(config):
    return f"browser tests: screenshots in {SCREENSHOTS}"


def pytest_terminal_summary(terminalreporter):
    if SCREENSHOTS.is_dir() and any(SCREENSHOTS.glob("*.png")):
        terminalreporter.write_line(f"browser tests: screenshots saved in {SCREENSHOTS}")


# Redis databases of their own (each module's stack empties its own), apart
# from the other tests' (TEST_REDIS_URL's, 10 and 14 of the live tests, 11
# and 12 of the benchmarks), so that modules run at the same time (xdist).
BROWSER_REDIS_DB = int(os.environ.get("BROWSER_REDIS_DB", "9"))


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    reason = missing()
    if reason:
        unavailable(reason)
    # Threads: the page keeps a stream or polls open while it sends the rest.
    stack = Stack(
        tmp_path_factory.mktemp("browser-stack"),
        api_threads=8,
        redis_db=BROWSER_REDIS_DB - getattr(request.module, "REDIS_DB_OFFSET", 0),
    )
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def module_browser():
    reason = missing()
    if reason:
        unavailable(reason)
    browsers = [Browser(LAPTOP)]
    yield browsers
    browsers[-1].close()


@pytest.fixture
def browser(module_browser, stack):
    """The module's Chromium, as a fresh one would meet the stack (Browser.forget);
    a new one if the last test left it unusable."""
    try:
        module_browser[-1].forget(stack.url)
    except Exception:  # noqa: BLE001 - a crashed or hung browser: start another
        module_browser[-1].close()
        module_browser.append(Browser(LAPTOP))
    return module_browser[-1]


@pytest.fixture
def screenshot(request):
    """screenshot(browser, name) saves <test name>-<name>.png in SCREENSHOTS."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def save(browser, name):
        path = SCREENSHOTS / f"{request.node.name}-{name}.png"
        browser.driver.save_screenshot(str(path))
        return path

    return save
