"""The first hour as a new user lives it, on the embedded default exactly as the README tells it: `make run
PHOTOS=dir` (SQLite, no Redis, the in-process runner), then real Chromium: log in, land on the dashboard, the
photos under their date headings, the full-screen viewer, a duplicate group reviewed, Analyze again from the
dashboard with live progress, an organize dry run whose error is fixed in place, and its job page.

Every page is screenshotted into the test artifacts (``VAM_TEST_ARTIFACTS``, default ``test-artifacts``) under
``first-hour/``. The test reads nothing but what the server shows and what `make run` printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browse.test_browser import ARTIFACTS, loaded_from_elsewhere
from tests.jobs.test_browser import browser, free_port  # noqa: F401 - the fixture
from tests.jobs.test_websockets import REPO
from tests.services.helpers import camera_photo, plain_photo
from tests.similarity.helpers import FLOWER, copies

SHOTS = ARTIFACTS.parent / "first-hour"
FINAL = ("SUCCESS", "FAILURE", "CANCELLED")


def shoot(driver, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(height, 900), 3000))
    driver.save_screenshot(str(SHOTS / f"{name}.png"))
    driver.set_window_size(1280, 1000)


def library(folder: Path) -> Path:
    """Photos as a camera and a phone leave them, copies a library collects, and one broken file."""
    for day, color in ((3, (200, 60, 40)), (9, (40, 160, 90)), (21, (30, 60, 200))):
        camera_photo(folder / "2019" / f"IMG_{day:04d}.jpg", f"2019:03:{day:02d} 10:00:00", color=color)
    camera_photo(folder / "2019" / "IMG_0704.jpg", "2019:07:04 18:30:00", model="EOS 80D", color=(220, 200, 30))
    copies(FLOWER, folder / "flowers", only=("png", "resize_50"))
    plain_photo(folder / "downloads" / "wallpaper.jpg")  # no EXIF, no date in its name: a modification time only
    (folder / "downloads" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest of a picture")
    return folder


@pytest.fixture
def make_run(tmp_path):
    """`make run PHOTOS=… CATALOG=… PORT=…` as a user types it, with nothing of the test's own environment that
    would choose Postgres, Redis or library roots; yields (address, admin password, photos, catalog folder)."""
    photos, catalog, port = library(tmp_path / "Pictures"), tmp_path / "catalog", free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "VAM_LIBRARY_ROOTS", "MAKEFLAGS", "MAKELEVEL"}
        and not name.startswith("PYTEST")
    }
    env |= {"VAM_DATA_DIR": str(tmp_path / "data"), "VAM_ANALYZE_WORKERS": "1"}
    log = tmp_path / "make-run.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            ["make", "--no-print-directory", "run", f"PHOTOS={photos}", f"CATALOG={catalog}", f"PORT={port}"],
            cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        while "Quit the server with" not in log.read_text(errors="replace"):
            assert process.poll() is None, f"make run ended:\n{log.read_text(errors='replace')}"
            assert time.monotonic() < deadline, f"make run did not serve:\n{log.read_text(errors='replace')}"
            time.sleep(0.3)
        printed = log.read_text(errors="replace")
        password = re.search(r"Its password, shown only this once: (\S+)", printed)
        assert password, printed
        assert "done: 10 files" in printed and "10 files seen: 10 new" in printed  # the terminal's bar and summary
        yield f"http://127.0.0.1:{port}", password.group(1), photos, catalog
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def until(driver, condition, timeout: float = 10):
    """Wait for ``condition``, across the page loads that leave elements stale on the way."""
    return WebDriverWait(driver, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)


def wait_for_final_status(driver, timeout: float = 120) -> str:
    badge = lambda d: d.find_element(By.CSS_SELECTOR, "[data-field=status]").text  # noqa: E731
    until(driver, lambda d: badge(d).upper() in FINAL, timeout)
    return badge(driver).upper()


def test_the_first_hour_on_the_embedded_default(make_run, browser):  # noqa: F811
    server, password, photos, catalog_folder = make_run
    here = lambda: browser.current_url.removeprefix(server)  # noqa: E731

    # Log in: / lands on the only catalog's dashboard.
    browser.get(server + "/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys(password)
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(browser, lambda b: re.fullmatch(r"/catalogs/\d+/", here()))
    dashboard = here()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Pictures"  # named after the photo folder
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "10 files" in page and "1 problem" in page
    assert "4 files without a reliable date" in page  # modification times only: the downloads, the edits
    assert "Canon EOS 80D" in page and "Canon Canon" not in page
    recent = browser.find_element(By.CSS_SELECTOR, "table.jobs tbody").text
    assert "Analyze" in recent and "SUCCESS" in recent.upper()  # `make run`'s analyze is a job like any other
    assert loaded_from_elsewhere(browser, server) == []
    shoot(browser, "1-dashboard")

    # Photos, by month and day; the files without a reliable date come last, under their own heading.
    browser.find_element(By.LINK_TEXT, "Photos").click()
    until(browser, lambda b: here().endswith("/photos/"))
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h2.month")]
    assert headings[:2] == ["July 2019", "March 2019"] and headings[-1] == "No reliable date"
    assert "Thursday 21 March" in [h.text for h in browser.find_elements(By.CSS_SELECTOR, "h3.day")]
    shoot(browser, "2-photos")

    # The viewer: a click opens it full screen, the arrow keys step, Escape closes it.
    tiles = browser.find_elements(By.CSS_SELECTOR, ".tiles a.tile")
    tiles[0].click()
    viewer = browser.find_element(By.ID, "viewer")
    until(browser, lambda b: viewer.is_displayed())
    caption = browser.find_element(By.CSS_SELECTOR, ".viewer-name")
    assert "IMG_0704.jpg (1 of 9)" in caption.text
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    assert "IMG_0021.jpg (2 of 9)" in caption.text
    until(
        browser,
        lambda b: b.execute_script(
            "const i = document.querySelector('#viewer img'); return i.complete && i.naturalWidth"
        ),
    )
    shoot(browser, "3-viewer")
    body.send_keys(Keys.ESCAPE)
    assert not viewer.is_displayed()

    # Duplicate review: the flower's copies; keep the second with its key, and it stays kept.
    browser.find_element(By.LINK_TEXT, "Duplicates").click()
    until(browser, lambda b: here().endswith("/duplicates/"))
    browser.find_element(By.PARTIAL_LINK_TEXT, "Similar group").click()
    until(browser, lambda b: re.fullmatch(r"/duplicates/\d+/", here()))
    primary = browser.find_element(By.CSS_SELECTOR, ".member.primary a").text
    assert primary.endswith("flower__original.jpg")  # the camera's original, not its PNG conversion
    second = browser.find_element(By.CSS_SELECTOR, '[data-member="2"] a').text
    browser.find_element(By.TAG_NAME, "body").send_keys("2")
    until(browser, lambda b: b.find_element(By.CSS_SELECTOR, ".member.primary a").text == second)
    browser.refresh()  # it was saved
    assert browser.find_element(By.CSS_SELECTOR, ".member.primary a").text == second
    shoot(browser, "4-duplicate-group")

    # Analyze again, one click on the dashboard, after a new photo arrived: live progress to the end.
    camera_photo(photos / "2019" / "IMG_0801.jpg", "2019:08:01 09:00:00", color=(90, 20, 140))
    browser.get(server + dashboard)
    browser.find_element(By.XPATH, "//button[normalize-space()='Analyze again']").click()
    until(browser, lambda b: re.fullmatch(r"/jobs/[0-9a-f-]{36}/", here()))
    assert wait_for_final_status(browser) == "SUCCESS"
    assert browser.find_element(By.ID, "live-state").text == "live"  # it arrived over the websocket
    job_page = browser.find_element(By.TAG_NAME, "main").text
    assert "Analyze" in job_page and "{" not in job_page and "'" not in job_page  # words, not a dict
    shoot(browser, "5-analyze-again")

    # Organize, a dry run: a relative folder is refused at its field, with what was typed kept.
    browser.get(server + dashboard)
    browser.find_element(By.PARTIAL_LINK_TEXT, "Organize").click()
    form = browser.find_element(By.CSS_SELECTOR, "form[action$='/organize/']")
    output = form.find_element(By.NAME, "output_directory")
    output.send_keys("sorted")
    form.find_element(By.NAME, "dry_run").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(
        browser,
        lambda b: "must be an absolute path" in b.find_element(By.CSS_SELECTOR, "form[action$='/organize/']").text,
    )
    form = browser.find_element(By.CSS_SELECTOR, "form[action$='/organize/']")
    assert form.find_element(By.NAME, "output_directory").get_attribute("value") == "sorted"
    assert form.find_element(By.NAME, "dry_run").is_selected()
    assert "must be an absolute path" in form.text and "non_field_errors" not in browser.page_source
    shoot(browser, "6-organize-error")

    # Fixed in place: the folder inside the photos, left out of later scans.
    output = form.find_element(By.NAME, "output_directory")
    output.clear()
    output.send_keys(str(photos / "sorted"))
    form.find_element(By.NAME, "exclude_output").click()
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    until(browser, lambda b: re.fullmatch(r"/jobs/[0-9a-f-]{36}/", here()))
    assert wait_for_final_status(browser) == "SUCCESS"
    until(browser, lambda b: "2019/03" in b.find_element(By.TAG_NAME, "main").text, 15)  # the files, live
    page = browser.find_element(By.TAG_NAME, "main").text
    assert "dry run" in page.lower() and "{" not in page
    assert not (photos / "sorted").exists()  # a dry run writes nothing
    shoot(browser, "7-organize-dry-run")

    # The history holds every run: make run's analyze, the one from the dashboard, the dry run.
    browser.find_element(By.LINK_TEXT, "Jobs").click()
    history = browser.find_element(By.TAG_NAME, "main").text
    assert history.count("Analyze") >= 2 and "Organize" in history
    shoot(browser, "8-jobs")
