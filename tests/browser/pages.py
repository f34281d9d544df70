"""What the tests do on the console's pages, as a person would: by labels,
buttons and links."""

from selenium.webdriver.common.by import By

from .browser import wait


def open_console(browser, stack, path="#/"):
    browser.driver.get(f"{stack.url}/{path}")


def sign_in(browser, stack, key=None):
    driver = browser.driver
    open_console(browser, stack)
    field = wait(lambda: driver.find_element(By.ID, "api-key"), message="the sign-in form")
    field.send_keys(key or stack.client["Workflow-API-Key"])
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait(lambda: driver.find_element(By.ID, "pipelines"), message="the pipelines page after sign-in")


def field(driver, label_text):
    """The input that a <label> with this text names."""
    for label in driver.find_elements(By.TAG_NAME, "label"):
        if label.text.strip() == label_text and label.get_attribute("for"):
            return driver.find_element(By.ID, label.get_attribute("for"))
    raise AssertionError(f"no field labelled {label_text!r}")


def button(driver, text, within=None):
    scope = within or driver
    for candidate in scope.find_elements(By.TAG_NAME, "button"):
        if candidate.text.strip() == text and candidate.is_displayed():
            return candidate
    raise AssertionError(f"no button {text!r}")


def create_pipeline(browser, name, model):
    driver = browser.driver
    driver.find_element(By.LINK_TEXT, "New pipeline").click()
    wait(lambda: driver.find_element(By.ID, "pipeline-form"))
    field(driver, "Name").send_keys(name)
    model_field = field(driver, "Model file (.glm, relative to the working directory)")
    model_field.send_keys(model)
    button(driver, "Create").click()
    wait(lambda: "/pipelines/" in driver.current_url and driver.find_element(By.ID, "start-run"))
    return driver.current_url.rsplit("/", 1)[1]


def start_run_by_url(browser, name, url, parameters=None):
    driver = browser.driver
    form = driver.find_element(By.ID, "start-run")
    button(driver, "Add an input by URL", form).click()
    row = form.find_elements(By.CSS_SELECTOR, "#start-run-urls .pair")[-1]
    name_field, url_field = row.find_elements(By.TAG_NAME, "input")
    name_field.send_keys(name)
    url_field.send_keys(url)
    for key, value in (parameters or {}).items():
        button(driver, "Add a parameter", form).click()
        row = form.find_elements(By.CSS_SELECTOR, "#start-run-params .pair")[-1]
        key_field, value_field = row.find_elements(By.TAG_NAME, "input")
        key_field.send_keys(key)
        value_field.send_keys(str(value))
    button(driver, "Start run", form).click()
    wait(lambda: "/runs/" in driver.current_url, message="the run page")
    return driver.current_url.rsplit("/", 1)[1]


def run_state(driver):
    return driver.find_element(By.ID, "run-state").get_attribute("data-state")


def painted_pixels(driver, plot_id):
    """How many pixels of the chart's canvas are neither blank nor white."""
    return driver.execute_script(
        """
        const canvas = document.querySelector(`#${arguments[0]} canvas`);
        if (!canvas) return 0;
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let painted = 0;
        for (let i = 0; i < data.length; i += 4) {
          if (data[i + 3] > 0 && !(data[i] > 240 && data[i + 1] > 240 && data[i + 2] > 240)) painted++;
        }
        return painted;
        """,
        plot_id,
    )
