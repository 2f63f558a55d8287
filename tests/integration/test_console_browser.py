"""The console in a real browser (headless Chromium driven through chromedriver by Selenium) over the whole
system as real processes: sign in, see a call made by the call simulator with its transcript, mark a callback
done, upload a document and get an answer from it with "try a question", and fail to open another org's call.

It also takes the README's screenshots, into out/console-screenshots (CONSOLE_SCREENSHOTS_DIR=docs/console
refreshes the committed ones). Debian's chromium and chromium-driver are used as installed: nothing is
downloaded at run time; without them the test is skipped and says what to install.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.cli.launcher import REPO_ROOT, ConsoleProcess
from services.common.records.settings import default_database_url
from services.common.records.store import RecordStore
from services.common.records.users import create_user
from tests.conftest import copy_sample_org
from tests.integration.conftest import ADMIN_TOKEN
from tests.integration.stack import caller_speech, running_system, write_org

pytestmark = pytest.mark.slow

ACME = "+14155550100"
BETA = "+14155550160"
PASSWORD = "a long browser test password"
ACME_CALL = "CA" + "e" * 32
CALLBACK_CALL = "CA" + "f" * 32
BETA_CALL = "CA" + "7" * 32
CALLBACK_LINES = ["Do you sell grand pianos?", "Yes, please.", "My name is John Smith.", "I want a quote for a repair.", "Yes, that's right."]
BETA_QUESTION = "Can you service my tandem bicycle?"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMEDRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")
SCREENSHOTS = Path(os.environ.get("CONSOLE_SCREENSHOTS_DIR", REPO_ROOT / "out" / "console-screenshots"))
WAIT_SECONDS = 60


def browser_binaries() -> tuple[str, str]:
    chromium = next((path for path in CHROMIUM_PATHS if Path(path).exists()), shutil.which("chromium"))
    driver = next((path for path in CHROMEDRIVER_PATHS if Path(path).exists()), shutil.which("chromedriver"))
    if not chromium or not driver:
        pytest.skip("headless Chromium is not installed: apt-get install chromium chromium-driver (make install does it)")
    return chromium, driver


@pytest.fixture(scope="module")
def browser() -> Iterator:
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = browser_binaries()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    # --no-sandbox: CI runs as root, where Chromium's sandbox cannot start.
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,900",
                     "--force-device-scale-factor=1"):  # fmt: skip
        options.add_argument(argument)
    try:
        driver = webdriver.Chrome(service=Service(driver_path), options=options)
    except WebDriverException as error:
        pytest.skip(f"headless Chromium could not start: {error.msg}")
    driver.set_page_load_timeout(WAIT_SECONDS)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def system(tmp_path_factory) -> Iterator[dict]:
    data_dir = tmp_path_factory.mktemp("data")
    copy_sample_org(data_dir)
    write_org(data_dir, "beta", BETA, name="Beta Bikes")
    logs = tmp_path_factory.mktemp("logs")
    with running_system(data_dir, logs) as running:
        store = RecordStore(default_database_url(data_dir))
        with store.session() as session:
            create_user(session, "manager@acme.test", PASSWORD, "admin", "acme", "test")
        services = running.services
        console = ConsoleProcess(
            {"VOICEAGENT_DATA_DIR": str(data_dir), "RETRIEVAL_ADDR": services["retrieval"].address, "LLM_ADDR": services["llm"].address,
             "RETRIEVAL_ADMIN_TOKEN": ADMIN_TOKEN, "CONSOLE_SESSION_KEY": "browser-test-session-key-0123456789"},
            logs / "console.log",
        ).start()  # fmt: skip
        try:
            console.wait_serving()
            speech = caller_speech(services, ["What time do you open on Saturday?", "That's all, goodbye.", *CALLBACK_LINES, BETA_QUESTION])
            running.sim.call(ACME, "+15035550111", [speech["What time do you open on Saturday?"], speech["That's all, goodbye."]], call_sid=ACME_CALL)
            running.sim.call(ACME, "+15035550142", [speech[line] for line in CALLBACK_LINES], call_sid=CALLBACK_CALL)
            running.sim.call(BETA, "+15035550177", [speech[BETA_QUESTION]], call_sid=BETA_CALL)
            yield {"console": console, "store": store, "data_dir": data_dir}
        finally:
            console.stop()
            store.close()


def wait_for(browser, condition, timeout: float = WAIT_SECONDS):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(condition)


def page_text(browser) -> str:
    return browser.find_element("tag name", "body").text


def open_page(browser, system, path: str, until_text: str, timeout: float = WAIT_SECONDS) -> str:
    """Open a page, reloading until `until_text` shows (records are written off the call path)."""
    deadline = time.monotonic() + timeout
    while True:
        browser.get(system["console"].address + path)
        text = page_text(browser)
        if until_text in text or time.monotonic() > deadline:
            assert until_text in text, f"{path} never showed {until_text!r}:\n{text[:2000]}"
            return text
        time.sleep(1)


def screenshot(browser, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    width = browser.get_window_size()["width"]
    browser.set_window_size(width, min(max(900, height + 120), 3000))
    browser.save_screenshot(str(SCREENSHOTS / f"{name}.png"))
    browser.set_window_size(width, 900)


def test_an_operator_works_through_the_console_in_a_browser(browser, system):
    from selenium.webdriver.common.by import By

    console = system["console"].address
    browser.get(f"{console}/calls")
    assert browser.current_url.startswith(f"{console}/login")
    screenshot(browser, "login")
    browser.find_element(By.ID, "email").send_keys("manager@acme.test")
    browser.find_element(By.ID, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    wait_for(browser, lambda b: b.current_url == f"{console}/calls")

    # Once the calls are recorded (off the call path), the overview counts them and the waiting callback.
    open_page(browser, system, "/callbacks", "John")
    open_page(browser, system, "/", "calls today")
    assert browser.find_element(By.ID, "callbacks-waiting").text == "1"
    screenshot(browser, "overview")

    # The simulator's call, with its transcript.
    open_page(browser, system, "/calls", "caller done")
    screenshot(browser, "calls")
    browser.find_element(By.CSS_SELECTOR, f'a[href="/calls/{ACME_CALL}"]').click()
    transcript = wait_for(browser, lambda b: b.find_element(By.ID, "transcript")).text
    assert "saturday" in transcript.lower() and "agent" in transcript.lower() and "Sources:" in transcript
    screenshot(browser, "call")

    # The message the second caller left, marked done.
    text = open_page(browser, system, "/callbacks", "John")
    assert "+15035550142" in text
    screenshot(browser, "callbacks")
    browser.find_element(By.CSS_SELECTOR, "#callbacks-waiting-list form button").click()
    done = wait_for(browser, lambda b: b.find_element(By.ID, "callbacks-done")).text
    assert "John" in done and "console:manager@acme.test" in done and "Marked done." in page_text(browser)

    # The piano question the documents could not answer is a knowledge gap.
    open_page(browser, system, "/gaps", "pianos")
    screenshot(browser, "gaps")

    # A new document, uploaded through the page (with its progress), answers a question at once.
    document = Path(system["data_dir"]) / "gondolas.md"
    document.write_text("# Gondola rides\n\nWe offer gondola rides on the river every Sunday at noon, for twelve dollars a person.\n")
    browser.get(f"{console}/documents")
    browser.find_element(By.ID, "files").send_keys(str(document))
    browser.find_element(By.CSS_SELECTOR, "form[data-upload] button[type=submit]").click()
    wait_for(browser, lambda b: "gondolas.md" in b.find_element(By.ID, "documents-table").text)
    question = browser.find_element(By.ID, "question")
    question.send_keys("When are the gondola rides?")
    question.submit()
    answer = wait_for(browser, lambda b: b.find_element(By.ID, "tried-answer")).text
    assert "sunday" in answer.lower() and "gondolas.md" in answer
    screenshot(browser, "documents")

    open_page(browser, system, "/settings", "What callers hear")
    screenshot(browser, "settings")

    # Another org's call, by its id: not found, and nothing of it on the page.
    browser.get(f"{console}/calls/{BETA_CALL}")
    text = page_text(browser)
    assert "Not found" in text and "tandem" not in text.lower() and BETA_CALL not in text

    # A phone-width screen: the same call, readable without sideways scrolling of the page.
    browser.set_window_size(390, 844)
    browser.get(f"{console}/calls/{ACME_CALL}")
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth + 1")
    screenshot(browser, "call-phone")
    browser.set_window_size(1280, 900)
