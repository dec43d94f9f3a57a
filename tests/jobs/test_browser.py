"""One real browser (Debian's chromium) against a real daphne server: log in, submit analyze on a small folder,
watch the progress bar reach 100% over the websocket, and see SUCCESS."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from jobs.models import Job, JobStatus
from tests.jobs.test_websockets import REPO, worker_env
from tests.services.helpers import camera_photo

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    """daphne on the test database, embedded mode (no Redis): jobs run in its process, progress in memory."""
    port = free_port()
    env = worker_env() | {
        "REDIS_URL": "",
        "VAM_LIBRARY_ROOTS": str(tmp_path.resolve()),
        "VAM_ALLOWED_HOSTS": "127.0.0.1",
        "VAM_DATA_DIR": str(tmp_path / "data"),
    }
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "vamsite.asgi:application"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None, process.stderr.read().decode() if process.stderr else "daphne died"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def browser():
    assert os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER), (
        "the browser test needs Debian's chromium and chromium-driver: `make test` installs them as root "
        "(apt install chromium chromium-driver)"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=webdriver.ChromeService(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def test_submit_analyze_in_the_browser_and_watch_it_finish(server, browser, tmp_path):
    get_user_model().objects.create_user("ines", password="correct horse", is_staff=True)
    photos = tmp_path / "photos"
    for index in range(6):
        camera_photo(photos / f"IMG_{index}.jpg", color=(40 * index, 100, 180))

    browser.get(server + "/")
    assert "/accounts/login/" in browser.current_url
    browser.find_element(By.NAME, "username").send_keys("ines")
    browser.find_element(By.NAME, "password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/catalogs/"))  # no catalog yet: the list
    browser.get(server + "/jobs/")

    browser.find_element(By.NAME, "catalog_path").send_keys(str(tmp_path / "catalog"))
    browser.find_element(By.NAME, "source_directories").send_keys(str(photos))
    browser.find_element(By.CSS_SELECTOR, "form[action$='/analyze/'] button").click()
    WebDriverWait(browser, 10).until(lambda b: "/jobs/" in b.current_url and b.current_url.count("-") >= 4)

    status = lambda b: b.find_element(By.CSS_SELECTOR, "[data-field=status]").text  # noqa: E731
    WebDriverWait(browser, 90).until(lambda b: status(b) in ("SUCCESS", "FAILURE", "CANCELLED"))
    assert status(browser) == "SUCCESS"
    bar = browser.find_element(By.CSS_SELECTOR, "[data-field=bar]")
    assert "width: 100%" in bar.get_attribute("style")
    assert browser.find_element(By.CSS_SELECTOR, "[data-field=percent]").text == "100.0%"
    assert browser.find_element(By.ID, "live-state").text == "live"  # the update came over the websocket
    result = browser.find_element(By.TAG_NAME, "main").text
    assert "6 files seen: 6 new" in result and "{" not in result  # the result in words, live
    assert Job.objects.get().status == JobStatus.SUCCESS


# What the page's script sees instead of the browser's notifications: a tab in the background, and a Notification
# that records what it is asked to show (and remembers, like the browser, that it was allowed).
FAKE_NOTIFICATIONS = """
window.told = [];
class Told {
  constructor(title, options) { window.told.push([title, options.tag]); }
}
Told.permission = localStorage.getItem("allowed") ? "granted" : "default";
Told.requestPermission = function () {
  localStorage.setItem("allowed", "1");
  Told.permission = "granted";
  return Promise.resolve("granted");
};
Object.defineProperty(window, "Notification", { value: Told, configurable: true, writable: true });
Object.defineProperty(document, "hidden", { get: function () { return true; }, configurable: true });
"""


def test_the_browser_tells_its_user_when_their_job_ends_in_the_background(server, browser, tmp_path):
    get_user_model().objects.create_user("jo", password="correct horse", is_staff=True)  # may start jobs
    photos = tmp_path / "photos"
    for index in range(4):
        camera_photo(photos / f"IMG_{index}.jpg", color=(50 * index, 90, 160))
    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_NOTIFICATIONS})
    browser.get(server + "/accounts/login/")
    browser.find_element(By.NAME, "username").send_keys("jo")
    browser.find_element(By.NAME, "password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: "/accounts/login/" not in b.current_url)
    browser.get(server + "/jobs/")

    button = browser.find_element(By.CSS_SELECTOR, "[data-notify]")
    button_text = button.text
    assert button_text == "Notify me when my jobs end"
    button.click()
    WebDriverWait(browser, 5).until(lambda b: b.find_element(By.CSS_SELECTOR, "[data-notify]").text != button_text)
    assert browser.find_element(By.CSS_SELECTOR, "[data-notify]").text == "Stop notifying me"
    assert "tells you when one of your jobs ends" in browser.find_element(By.CSS_SELECTOR, "[data-notify-state]").text

    browser.find_element(By.NAME, "catalog_path").send_keys(str(tmp_path / "catalog"))
    browser.find_element(By.NAME, "source_directories").send_keys(str(photos))
    # Submitted into a frame, so that this page stays: the jobs list hears of the job over its websocket.
    browser.execute_script("""
        const frame = document.createElement("iframe");
        frame.name = "elsewhere";
        document.body.appendChild(frame);
        const form = document.querySelector("form[action$='/analyze/']");
        form.target = "elsewhere";
        form.submit();
    """)
    WebDriverWait(browser, 90).until(lambda b: b.execute_script("return window.told.length") > 0)
    job = Job.objects.get()
    assert browser.execute_script("return window.told") == [["VAM: Analyze finished", str(job.pk)]]
    assert job.status == JobStatus.SUCCESS
