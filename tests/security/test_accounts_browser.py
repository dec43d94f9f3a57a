"""The log-in page's "Forgot your password?" and the lockout in real Chromium against daphne: without mail it
leads to the page that says who resets passwords; with EMAIL_URL the whole reset by mail; five wrong passwords
show the lockout page. Every page is screenshotted into the test artifacts under ``accounts/``."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time

import pytest
from django.contrib.auth import get_user_model
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browse.test_browser import ARTIFACTS, loaded_from_elsewhere
from tests.jobs.test_browser import browser, free_port, server  # noqa: F401 - the fixtures
from tests.jobs.test_websockets import REPO, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

SHOTS = ARTIFACTS.parent / "accounts"


def shoot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


def heading(driver) -> str:
    """The page's heading; "" while the page is being replaced (the browser then says the node is gone)."""
    try:
        return driver.find_element(By.TAG_NAME, "h1").text
    except WebDriverException:
        return ""


def log_in(driver, password: str) -> None:
    username = driver.find_element(By.NAME, "username")
    username.clear()  # the page keeps the name typed before a wrong password
    username.send_keys("ines")
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.execute_script("document.documentElement.dataset.answered = 'not yet'")  # marks the page with the form
    driver.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    # Until the answer has replaced that page and is loaded; while it is being replaced, the browser may say so.
    WebDriverWait(driver, 10, ignored_exceptions=(WebDriverException,)).until(answer_loaded)


def answer_loaded(driver) -> bool:
    return driver.execute_script(
        "return document.documentElement.dataset.answered !== 'not yet' && document.readyState === 'complete'"
    )


@pytest.fixture
def mail_server(tmp_path):
    """daphne that "sends" mail to its own output (EMAIL_URL=console://); yields its address and that output."""
    port, log = free_port(), tmp_path / "daphne.log"
    env = worker_env() | {"REDIS_URL": "", "VAM_ALLOWED_HOSTS": "127.0.0.1", "VAM_DATA_DIR": str(tmp_path / "data"),
                          "EMAIL_URL": "console://", "PYTHONUNBUFFERED": "1"}  # fmt: skip
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "vamsite.asgi:application"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", log
    finally:
        process.kill()
        process.wait()


def test_without_mail_forgot_leads_to_who_resets_passwords_and_wrong_passwords_lock_out(server, browser):  # noqa: F811
    get_user_model().objects.create_user("ines", password="correct horse")
    browser.get(server + "/accounts/login/")
    shoot(browser, "1-login")
    browser.find_element(By.LINK_TEXT, "Forgot your password?").click()
    WebDriverWait(browser, 10).until(lambda b: heading(b) == "Forgot your password?")
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "manage.py changepassword USERNAME" in page and "sends no mail" in page
    assert browser.find_elements(By.CSS_SELECTOR, "main form") == []
    assert loaded_from_elsewhere(browser, server) == []
    shoot(browser, "2-forgotten-without-mail")

    browser.find_element(By.LINK_TEXT, "Back to log in").click()
    for _ in range(4):
        log_in(browser, "wrong")
        assert "did not match" in browser.find_element(By.TAG_NAME, "main").text
    log_in(browser, "wrong")
    assert heading(browser) == "Too many wrong passwords"
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "Try again in 15 minutes" in page and "manage.py axes_reset" in page
    shoot(browser, "3-locked-out")

    browser.find_element(By.LINK_TEXT, "Back to log in").click()
    log_in(browser, "correct horse")  # still refused until the wait is over
    assert heading(browser) == "Too many wrong passwords"


def test_with_mail_forgot_sends_a_link_that_sets_a_new_password(mail_server, browser):  # noqa: F811
    origin, log = mail_server
    get_user_model().objects.create_user("ines", email="ines@example.com", password="correct horse")
    browser.get(origin + "/accounts/login/")
    browser.find_element(By.LINK_TEXT, "Forgot your password?").click()
    WebDriverWait(browser, 10).until(lambda b: heading(b) == "Reset your password")
    browser.find_element(By.NAME, "email").send_keys("ines@example.com")
    shoot(browser, "4-reset-form")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: heading(b) == "Look in your mail")
    shoot(browser, "5-reset-sent")

    deadline = time.monotonic() + 10
    while not (link := re.search(r"http://127\.0\.0\.1:\d+/accounts/reset/\S+/", log.read_text())):
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)
    assert "To: ines@example.com" in log.read_text()
    browser.get(link.group(0))
    WebDriverWait(browser, 10).until(lambda b: heading(b) == "Set a new password")
    browser.find_element(By.NAME, "new_password1").send_keys("tide pool 42")
    browser.find_element(By.NAME, "new_password2").send_keys("tide pool 42")
    shoot(browser, "6-new-password")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: heading(b) == "Password set")

    browser.find_element(By.LINK_TEXT, "Log in").click()
    log_in(browser, "tide pool 42")
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/catalogs/"))  # logged in: no catalog yet
