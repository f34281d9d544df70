"""Debian's headless Chromium driven by Selenium, for the console's tests and
its chart benchmark. Each browser gets a fresh profile folder and its own
chromedriver port, so tests can run in parallel (pytest-xdist); the tests
of a module share one, which ``forget`` puts back as a fresh one is."""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER_BINARY", "/usr/bin/chromedriver")
REPO_ROOT = Path(__file__).resolve().parents[2]
CONSOLE_BUILD = REPO_ROOT / "console" / "dist" / "index.html"
LAUNCH_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
LAPTOP = (1280, 900)
PHONE = (390, 844)


def missing():
    """Why no browser test can run here, or None."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (Pipfile dev-packages)"
    for path, installer in ((CHROMIUM, "bin/install-chromium"), (CHROMEDRIVER, "bin/install-chromium")):
        if not os.access(path, os.X_OK):
            return f"{path} is missing: run {installer}"
    if not CONSOLE_BUILD.is_file():
        return f"{CONSOLE_BUILD} is missing: run bin/install-console"
    return None


class Browser:
    """One Chromium with a fresh profile; ``close()`` removes it."""

    def __init__(self, size=LAPTOP):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="console-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in LAUNCH_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={size[0]},{size[1]}")
        # The network log: every request the page sends, with its headers.
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, port=0)
        try:
            self.driver = webdriver.Chrome(service=service, options=options)
        except BaseException:
            shutil.rmtree(self.profile, ignore_errors=True)
            raise
        self.driver.set_script_timeout(60)

    def close(self):
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def forget(self, url):
        """Back to how a fresh profile meets ``url``'s origin: one tab on
        about:blank, the laptop's size, nothing stored there (local and
        session storage, cookies, caches, databases), downloads as by
        default, and the logs read. Launching a Chromium costs about 1 s
        and 1 CPU-s; the browser tests share one per module."""
        driver = self.driver
        first, *others = driver.window_handles
        for handle in others:
            driver.switch_to.window(handle)
            driver.close()
        driver.switch_to.window(first)
        # The tab's session storage outlives navigation and is not the
        # DevTools call's to clear: from inside, on a page of the origin
        # that runs no script.
        driver.get(url.rstrip("/") + "/healthcheck")
        driver.execute_script("window.sessionStorage.clear();")
        driver.get("about:blank")
        origin = "/".join(url.split("/")[:3])
        driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": origin, "storageTypes": "all"})
        driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "default"})
        driver.set_window_size(*LAPTOP)
        driver.get_log("performance")
        driver.get_log("browser")

    def requests(self):
        """The requests sent since the last call: [{url, method, headers}]
        (from Chromium's DevTools Network events, extra headers included)."""
        sent = {}
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            params = message.get("params", {})
            if message["method"] == "Network.requestWillBeSent":
                request = params["request"]
                sent.setdefault(params["requestId"], {}).update(
                    url=request["url"], method=request["method"], headers=dict(request.get("headers", {}))
                )
            elif message["method"] == "Network.requestWillBeSentExtraInfo":
                sent.setdefault(params["requestId"], {}).setdefault("extra_headers", {}).update(
                    params.get("headers", {})
                )
        return list(sent.values())

    def cookies(self):
        return self.driver.get_cookies()

    def script_errors(self):
        """Errors the page's scripts raised (not answers like a 404, which
        the page shows itself)."""
        return [
            entry
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and entry.get("source") != "network"
        ]


def wait(condition, timeout=60, message="the page did not get there", poll=0.2):
    """Poll ``condition()`` until it returns something truthy; returns it."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            result = condition()
            if result:
                return result
        except Exception as error:  # noqa: BLE001 - the page is still changing
            last_error = error
        time.sleep(poll)
    raise AssertionError(f"{message} within {timeout}s (last error: {last_error})")
