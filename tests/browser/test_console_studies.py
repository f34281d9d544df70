"""The console's pages that use the API of part two: input file uploads,
sweeps, workflows and the run's event stream."""

import time

import requests
from selenium.webdriver.common.by import By

from ..e2e.stack import EXAMPLES
from .browser import wait
from .pages import button, create_pipeline, open_console, painted_pixels, run_state, sign_in

MODEL = "ieee4.glm"
REDIS_DB_OFFSET = 1  # a Redis database apart from test_console.py's (conftest.py)
VOLTAGES = "ieee4_load_voltages.csv"


def test_start_a_run_from_a_local_glm_and_follow_its_event_stream(stack, browser, screenshot):
    driver = browser.driver
    sign_in(browser, stack)
    create_pipeline(browser, "from my disk", MODEL)
    form = driver.find_element(By.ID, "start-run")
    form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(EXAMPLES / MODEL))
    button(driver, "Start run", form).click()
    wait(lambda: "/runs/" in driver.current_url, message="the run page")
    wait(
        lambda: driver.find_element(By.ID, "console-mode").text == "(live)",
        message="the page to say that its event stream is open",
    )
    wait(lambda: driver.find_element(By.ID, "std-out").get_attribute("textContent").strip(), timeout=120)
    wait(lambda: run_state(driver) == "COMPLETED", timeout=180)
    assert [r for r in browser.requests() if r.get("url", "").endswith("/events")], (
        "the page opened the stream"
    )
    row = wait(lambda: driver.find_element(By.CSS_SELECTOR, f'#artifacts tr[data-artifact="{VOLTAGES}"]'))
    button(driver, "Chart", row).click()
    panel = wait(lambda: driver.find_element(By.CSS_SELECTOR, "section.chart[data-first-draw-ms]"))
    assert painted_pixels(driver, panel.find_element(By.CSS_SELECTOR, ".plot").get_attribute("id")) > 500
    screenshot(browser, "uploaded-run")


def test_a_three_run_sweep_fills_its_table_and_charts_a_value_across_runs(
    stack, browser, screenshot, tmp_path
):
    driver = browser.driver
    # The example model, its peak load per phase a parameter (load_w).
    model = tmp_path / MODEL
    text = (EXAMPLES / MODEL).read_text()
    if "${load_w}" not in text:
        assert "daily_load_shape*1800000" in text
        text = text.replace("daily_load_shape*1800000", "daily_load_shape*${load_w}")
    model.write_text(text)
    sign_in(browser, stack)
    create_pipeline(browser, "peak load sweep", MODEL)
    form = driver.find_element(By.ID, "start-sweep")
    form.find_element(By.CSS_SELECTOR, "input[type=file]").send_keys(str(model))
    name, values = form.find_elements(By.CSS_SELECTOR, "#start-sweep-params .pair input")
    name.send_keys("load_w")
    values.send_keys("900000, 1800000, 2700000")
    button(driver, "Start sweep", form).click()
    wait(lambda: "/sweeps/" in driver.current_url, message="the sweep page")
    wait(
        lambda: len(driver.find_elements(By.CSS_SELECTOR, "#sweep-runs tbody tr")) == 3, message="three runs"
    )
    wait(
        lambda: driver.find_element(By.ID, "sweep-state").get_attribute("data-state") == "COMPLETED",
        timeout=300,
        message="the sweep to complete",
    )
    rows = driver.find_elements(By.CSS_SELECTOR, "#sweep-runs tbody tr")
    assert [row.get_attribute("data-state") for row in rows] == ["COMPLETED"] * 3
    assert [row.find_elements(By.TAG_NAME, "td")[1].text for row in rows] == ["900000", "1800000", "2700000"]
    screenshot(browser, "sweep-table")

    wait(lambda: driver.find_element(By.CSS_SELECTOR, f"#sweep-artifact option[value='{VOLTAGES}']")).click()
    wait(lambda: driver.find_element(By.CSS_SELECTOR, "#sweep-column option[value='voltage_A']")).click()
    driver.find_element(By.CSS_SELECTOR, "#sweep-how option[value='min']").click()
    button(driver, "Draw").click()
    plot = wait(
        lambda: driver.find_element(By.CSS_SELECTOR, "#sweep-plot[data-points='3']"), message="three points"
    )
    assert painted_pixels(driver, "sweep-plot") > 50
    driver.execute_script("arguments[0].scrollIntoView()", plot)
    screenshot(browser, "sweep-chart")


def test_a_workflow_run_draws_its_dag_with_each_nodes_state(stack, browser, screenshot):
    driver = browser.driver
    headers = stack.client
    # Paced by the wall clock (about 7 s a node, 0.1 s of CPU), so that the
    # workflow is still going when the page opens and its states can move;
    # solved every simulated second instead, it took 5 CPU-s a node.
    slow = ["-D", "REALTIME_SECONDS=3"]
    first = stack.create_pipeline(name="feeder", model=MODEL, arguments=slow)
    second = stack.create_pipeline(name="again", model=MODEL, arguments=slow)
    workflow = requests.post(
        stack.url + "/v1/workflows", json={"name": "two steps"}, headers=headers, timeout=10
    ).json()
    nodes = f"{stack.url}/v1/workflows/{workflow['uuid']}/pipelines"
    a = requests.post(nodes, json={"pipeline_uuid": first["uuid"]}, headers=headers, timeout=10).json()
    requests.post(
        nodes,
        json={"pipeline_uuid": second["uuid"], "source_workflow_pipelines": [a["uuid"]]},
        headers=headers,
        timeout=10,
    ).raise_for_status()
    response = requests.post(
        f"{stack.url}/v1/workflows/{workflow['uuid']}/runs",
        json={"inputs": [{"name": MODEL, "url": stack.input_url(MODEL)}]},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 201, response.text
    sign_in(browser, stack)
    open_console(browser, stack, f"#/workflows/{workflow['uuid']}/runs/{response.json()['uuid']}")
    wait(lambda: len(driver.find_elements(By.CSS_SELECTOR, "svg.dag g.node")) == 2, message="two nodes drawn")
    assert len(driver.find_elements(By.CSS_SELECTOR, "svg.dag path.edge")) == 1
    seen = set()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        # Read in one script: the page redraws the nodes as their states change.
        states = driver.execute_script(
            "return [...document.querySelectorAll('svg.dag g.node')].map((g) => g.dataset.state)"
        )
        seen.update(states)
        if states == ["COMPLETED", "COMPLETED"]:
            break
        time.sleep(0.5)
    assert states == ["COMPLETED", "COMPLETED"], states
    assert len(seen) > 1, "the drawing followed the nodes' states as they changed"
    screenshot(browser, "workflow-dag")
