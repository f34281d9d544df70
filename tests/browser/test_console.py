"""The web console in headless Chromium against a real stack: gunicorn,
Celery, PostgreSQL, Redis and the GridLAB-D engine. What works on the API as
it is in this branch; tests/browser/test_console_studies.py has those that
need input file uploads, sweeps, workflows and the event stream."""

import re
import subprocess
import time

import pytest
import requests
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from ..processes import executable
from .browser import PHONE, wait
from .pages import (
    button,
    create_pipeline,
    field,
    open_console,
    painted_pixels,
    run_state,
    sign_in,
    start_run_by_url,
)

MODEL = "ieee4.glm"
VOLTAGES = "ieee4_load_voltages.csv"


def test_sign_in_start_a_run_watch_it_finish_and_chart_its_voltages(stack, browser, screenshot):
    driver = browser.driver
    open_console(browser, stack)
    wait(lambda: driver.find_element(By.ID, "api-key"))
    screenshot(browser, "1-sign-in")
    sign_in(browser, stack)
    create_pipeline(browser, "IEEE 4 node", MODEL)
    screenshot(browser, "2-pipeline")
    run_uuid = start_run_by_url(browser, MODEL, stack.input_url(MODEL))
    pipeline_uuid = driver.current_url.split("/pipelines/")[1].split("/")[0]

    stdout = driver.find_element(By.ID, "std-out")
    stderr = driver.find_element(By.ID, "std-err")
    wait(lambda: stdout.text.strip() or stderr.text.strip(), timeout=120, message="the console to fill")
    wait(lambda: run_state(driver) == "COMPLETED", timeout=180, message="the run to reach COMPLETED")
    timeline = [item.text.split()[0] for item in driver.find_elements(By.CSS_SELECTOR, "#timeline li")]
    assert timeline == ["NOT_STARTED", "RUNNING", "COMPLETED"]
    # The console shows what gridlabd printed, as the API has it.
    output = stack.get({"pipeline_uuid": pipeline_uuid, "uuid": run_uuid}, "/console")
    shown = lambda element: element.get_attribute("textContent")  # noqa: E731
    assert (shown(stdout), shown(stderr)) == (output["std_out"], output["std_err"])

    row = wait(lambda: driver.find_element(By.CSS_SELECTOR, f'#artifacts tr[data-artifact="{VOLTAGES}"]'))
    size_text = row.find_elements(By.TAG_NAME, "td")[1].text
    assert re.fullmatch(r"[\d.]+ (B|KiB|MiB)", size_text), size_text
    screenshot(browser, "3-run-completed")

    button(
        driver, "Chart", driver.find_element(By.CSS_SELECTOR, f'#artifacts tr[data-artifact="{VOLTAGES}"]')
    ).click()
    panel = wait(lambda: driver.find_element(By.CSS_SELECTOR, f'section.chart[data-artifact="{VOLTAGES}"]'))
    wait(lambda: panel.get_attribute("data-first-draw-ms"), message="the chart to draw")
    plot_id = panel.find_element(By.CSS_SELECTOR, ".plot").get_attribute("id")
    # One simulated day, a row a minute: every row is drawn (fewer than the
    # pixels), three phases of voltage magnitude by default.
    assert int(panel.get_attribute("data-rows")) >= 24 * 60
    assert int(panel.get_attribute("data-points")) >= 24 * 60
    legend = panel.find_element(By.CSS_SELECTOR, ".u-legend").text
    for phase in ("voltage_A (magnitude)", "voltage_B (magnitude)", "voltage_C (magnitude)"):
        assert phase in legend, legend
    assert painted_pixels(driver, plot_id) > 500, "the canvas has lines on it"
    assert "EDT" in panel.text, "the x axis names the recorder's time zone"
    driver.execute_script("arguments[0].scrollIntoView()", panel)
    screenshot(browser, "4-voltage-chart")

    # Angle on request: the phase angles of a balanced feeder are about 120° apart.
    mode = panel.find_element(By.CSS_SELECTOR, "select[id$=-mode]")
    mode.find_element(By.CSS_SELECTOR, "option[value=angle]").click()
    wait(lambda: "voltage_A (angle)" in panel.find_element(By.CSS_SELECTOR, ".u-legend").text)
    screenshot(browser, "5-voltage-angles")
    assert not browser.script_errors()


def test_download_an_artifact_sends_the_key_in_the_header(stack, browser, tmp_path):
    driver = browser.driver
    pipeline = stack.create_pipeline(model=MODEL)
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    run = stack.wait_for(run, {"COMPLETED", "FAILED", "CANCELLED"}, timeout=180)
    assert run["state"] == "COMPLETED"
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    sign_in(browser, stack)
    open_console(browser, stack, f"#/pipelines/{pipeline['uuid']}/runs/{run['uuid']}")
    row = wait(lambda: driver.find_element(By.CSS_SELECTOR, f'#artifacts tr[data-artifact="{VOLTAGES}"]'))
    button(driver, "Download", row).click()
    saved = wait(lambda: [p for p in tmp_path.glob(VOLTAGES) if p.stat().st_size], message="the download")
    artifact = next(a for a in run["artifacts"] if a["name"] == VOLTAGES)
    assert saved[0].read_bytes() == stack.download(artifact).content


def test_requests_carry_the_key_only_in_the_header(stack, browser):
    driver = browser.driver
    key = stack.client["Workflow-API-Key"]
    pipeline = stack.create_pipeline(model=MODEL, name="header check")
    sign_in(browser, stack)
    wait(lambda: driver.find_element(By.LINK_TEXT, "header check")).click()
    wait(lambda: driver.find_element(By.CSS_SELECTOR, "#runs tbody tr"))
    driver.find_element(By.LINK_TEXT, "Workflows").click()
    wait(lambda: driver.find_element(By.ID, "workflows").text)
    sent = browser.requests()
    api_calls = [r for r in sent if "/v1/" in r.get("url", "")]
    assert any(pipeline["uuid"] in r["url"] for r in api_calls), "the pipeline page asked the API"
    for request in sent:
        assert key not in request.get("url", ""), request["url"]
        assert key not in str(request.get("extra_headers", {}).get("Cookie", ""))
    for request in api_calls:
        assert request["headers"].get("Workflow-API-Key") == key, request
    assert browser.cookies() == [], "the console sets no cookie"
    assert driver.execute_script("return sessionStorage.getItem('workflow-api-key')") == key
    assert driver.execute_script("return localStorage.length") == 0, "the key is kept for this tab only"
    # Only this host: the page loads nothing from anywhere else.
    assert {r["url"].split("/")[2] for r in sent if r.get("url", "").startswith("http")} == {
        stack.url.split("/")[2]
    }


def create_key(stack, name):
    result = subprocess.run(
        [executable("invoke"), "create-application-key", "-n", name, "-p", "PIPELINES_CLIENT"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().split("=", 1)[1]


def revoke_key(stack, name):
    listing = subprocess.run(
        [executable("invoke"), "list-application-keys"],
        env=stack.env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    key_id = next(line.split("\t")[0] for line in listing.splitlines() if line.split("\t")[1] == name)
    subprocess.run(
        [executable("invoke"), "revoke-application-key", "--id", key_id], env=stack.env, check=True
    )


def test_a_revoked_key_sends_the_person_back_to_sign_in(stack, browser, screenshot):
    driver = browser.driver
    key = create_key(stack, "revoked in the browser")
    pipeline = stack.create_pipeline(model=MODEL, name="revoked")
    sign_in(browser, stack, key)
    open_console(browser, stack, f"#/pipelines/{pipeline['uuid']}")
    wait(lambda: driver.find_element(By.CSS_SELECTOR, "#runs tbody tr"))
    revoke_key(stack, "revoked in the browser")
    # The page's next request (it refreshes the runs every 3 s) gets 401.
    notice = wait(lambda: driver.find_element(By.CSS_SELECTOR, ".notice"), message="the sign-in page")
    assert "revoked" in notice.text
    assert driver.find_element(By.ID, "api-key").is_displayed()
    assert driver.execute_script("return sessionStorage.getItem('workflow-api-key')") is None
    screenshot(browser, "revoked")
    # And the sign-in form says why a refused key is refused.
    driver.find_element(By.ID, "api-key").send_keys(key)
    button(driver, "Sign in").click()
    error = wait(lambda: driver.find_element(By.CSS_SELECTOR, "form .error:not([hidden])"))
    assert "revoked" in error.text


def test_api_errors_are_shown_next_to_the_field_that_caused_them(stack, browser, screenshot):
    driver = browser.driver
    sign_in(browser, stack)
    driver.find_element(By.LINK_TEXT, "New pipeline").click()
    field(driver, "Name").send_keys("bad model path")
    field(driver, "Model file (.glm, relative to the working directory)").send_keys("../outside.glm")
    button(driver, "Create").click()
    model_error = wait(
        lambda: driver.find_element(By.ID, "field-model-error").text, message="the model's error"
    )
    assert model_error
    assert (
        field(driver, "Model file (.glm, relative to the working directory)").get_attribute("aria-invalid")
        == "true"
    )
    assert "/pipelines/new" in driver.current_url, "nothing was created"
    screenshot(browser, "field-error")
    names = [
        p["name"] for p in requests.get(stack.url + "/v1/pipelines", headers=stack.client, timeout=10).json()
    ]
    assert "bad model path" not in names


def test_cancel_a_running_run_from_its_page(stack, browser):
    driver = browser.driver
    pipeline = stack.create_pipeline(model=MODEL, arguments=["-D", "REALTIME_SECONDS=60"])
    run = stack.start_run(pipeline, [{"name": MODEL, "url": stack.input_url(MODEL)}])
    sign_in(browser, stack)
    open_console(browser, stack, f"#/pipelines/{pipeline['uuid']}/runs/{run['uuid']}")
    wait(lambda: run_state(driver) == "RUNNING", timeout=60, message="the run to start")
    button(driver, "Cancel run").click()
    wait(lambda: run_state(driver) == "CANCELLED", timeout=30, message="the page to show CANCELLED")
    assert stack.get(run)["state"] == "CANCELLED"
    assert not driver.find_element(By.ID, "cancel").is_displayed()


def test_keyboard_only_sign_in_and_navigation(stack, browser):
    driver = browser.driver
    open_console(browser, stack)
    key_field = wait(lambda: driver.find_element(By.ID, "api-key"))
    assert driver.switch_to.active_element == key_field, "the key field has the focus"
    key_field.send_keys(stack.client["Workflow-API-Key"], Keys.ENTER)
    wait(lambda: driver.find_element(By.ID, "pipelines"))
    assert driver.execute_script("return document.activeElement.id") == "main", "focus moved to the new page"
    # Forward into the page, back into the menu, and follow a link there.
    keys = ActionChains(driver)
    keys.send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element.text == "New pipeline"
    reached = []
    for _ in range(5):
        keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).perform()
        reached.append(driver.switch_to.active_element.text)
    assert reached == ["Sign out", "Workflows", "Pipelines", "Workflow Service", "Skip to content"], reached
    for _ in range(3):
        keys.send_keys(Keys.TAB).perform()
    assert driver.switch_to.active_element.text == "Workflows"
    keys.send_keys(Keys.ENTER).perform()
    wait(lambda: driver.current_url.endswith("#/workflows"))


def test_readable_at_a_phone_width(stack, browser, screenshot):
    driver = browser.driver
    pipeline = stack.create_pipeline(model=MODEL, name="phone")
    driver.set_window_size(*PHONE)
    sign_in(browser, stack)
    open_console(browser, stack, f"#/pipelines/{pipeline['uuid']}")
    wait(lambda: driver.find_element(By.ID, "start-run"))
    time.sleep(0.3)
    width = driver.execute_script("return document.documentElement.clientWidth")
    scroll_width = driver.execute_script("return document.documentElement.scrollWidth")
    assert scroll_width <= width, "nothing sticks out sideways at a phone width"
    screenshot(browser, "phone-pipeline")


def test_a_large_recorder_file_is_read_in_parallel_and_its_spike_drawn(stack, browser, tmp_path):
    from bench.chart import SPIKE, recorder_file, store_artifact

    driver = browser.driver
    # 100,000 rows, about 7 MiB: over the size the page reads with Web Workers.
    path = recorder_file(tmp_path / "large_voltages.csv", 100_000)
    stack.stop_worker()  # the run is reported by the test, as a worker would
    try:
        pipeline, run, name = store_artifact(stack, path)
    finally:
        stack.start_worker()
    sign_in(browser, stack)
    open_console(browser, stack, f"#/pipelines/{pipeline}/runs/{run}")
    row = wait(lambda: driver.find_element(By.CSS_SELECTOR, f'#artifacts tr[data-artifact="{name}"]'))
    button(driver, "Chart", row).click()
    panel = wait(
        lambda: driver.find_element(By.CSS_SELECTOR, "section.chart[data-first-draw-ms]"), timeout=120
    )
    assert int(panel.get_attribute("data-rows")) == 100_000
    assert int(panel.get_attribute("data-points")) < 5_000, "downsampled to the pixels"
    assert float(panel.get_attribute("data-drawn-max")) == pytest.approx(abs(complex(SPIKE, -144.929)))
    assert [r for r in browser.requests() if "csv-worker" in r.get("url", "")], "read by Web Workers"
    assert not browser.script_errors()
