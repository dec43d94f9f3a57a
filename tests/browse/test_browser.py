"""The browse pages in a real browser (Debian's chromium) against a real daphne server: open the dashboard, click a
month of the timeline, see the filtered grid, open an asset; in duplicate review, keep another copy with a key and
see it persist. Every page is screenshotted into the test artifacts (``VAM_TEST_ARTIFACTS``, default
``test-artifacts/screenshots``), and nothing on any page loads from outside the server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from catalog.models import DuplicateGroup
from tests.jobs.test_browser import browser, server  # noqa: F401 - the fixtures
from tests.jobs.test_websockets import REPO
from tests.services.helpers import analyze, camera_photo
from tests.similarity.helpers import FLOWER, copies

pytestmark = pytest.mark.django_db(transaction=True)

ARTIFACTS = Path(os.environ.get("VAM_TEST_ARTIFACTS") or REPO / "test-artifacts") / "screenshots"


def shoot(driver, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def loaded_from_elsewhere(driver, origin: str) -> list[str]:
    """Every resource the page loaded (images, scripts, styles, fonts) that did not come from the server."""
    names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    return [name for name in names if not name.startswith(origin)]


def visit(driver, origin: str, path: str, name: str) -> None:
    driver.get(origin + path)
    WebDriverWait(driver, 10).until(lambda d: d.execute_script("return document.readyState") == "complete")
    assert loaded_from_elsewhere(driver, origin) == [], path
    shoot(driver, name)


def test_browse_from_the_timeline_to_an_asset_and_review_duplicates(server, browser, tmp_path):  # noqa: F811
    get_user_model().objects.create_user("olga", password="correct horse")
    library = tmp_path / "photos"
    for day in (3, 9, 21):
        camera_photo(library / "march" / f"IMG_{day:02d}.jpg", f"2019:03:{day:02d} 10:00:00", color=(day * 9, 80, 60))
    camera_photo(library / "july" / "IMG_0704.jpg", "2019:07:04 18:00:00", color=(200, 200, 40))
    copies(FLOWER, library / "flowers", only=("png", "resize_50"))
    catalog, _ = analyze(tmp_path / "catalog", library)

    browser.get(server + "/catalogs/")
    browser.find_element(By.NAME, "username").send_keys("olga")
    browser.find_element(By.NAME, "password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/catalogs/"))
    assert loaded_from_elsewhere(browser, server) == []
    shoot(browser, "catalogs")

    browser.find_element(By.LINK_TEXT, catalog.name).click()
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith(f"/catalogs/{catalog.pk}/"))
    assert loaded_from_elsewhere(browser, server) == []
    shoot(browser, "dashboard")
    march = browser.find_element(By.CSS_SELECTOR, 'svg.timeline rect[data-month="2019-03"]')
    ActionChains(browser).move_to_element(march).click().perform()
    WebDriverWait(browser, 10).until(lambda b: "year=2019&month=3" in b.current_url)
    tiles = browser.find_elements(By.CSS_SELECTOR, ".tiles a.tile")
    assert sorted(tile.get_attribute("title").rsplit("/", 1)[1] for tile in tiles) == [
        "IMG_03.jpg", "IMG_09.jpg", "IMG_21.jpg"]  # fmt: skip
    assert all(img.get_attribute("loading") == "lazy" for img in browser.find_elements(By.CSS_SELECTOR, ".tile img"))
    shoot(browser, "grid")

    tiles[0].click()  # the newest of March, in the full-screen viewer
    viewer = browser.find_element(By.ID, "viewer")
    WebDriverWait(browser, 10).until(lambda b: viewer.is_displayed())
    caption = browser.find_element(By.CSS_SELECTOR, ".viewer-name")
    assert "IMG_21.jpg (1 of 3)" in caption.text
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.ARROW_RIGHT)
    assert "IMG_09.jpg (2 of 3)" in caption.text
    body.send_keys(Keys.ARROW_LEFT)
    assert "IMG_21.jpg (1 of 3)" in caption.text
    body.send_keys(Keys.ENTER)  # its page
    WebDriverWait(browser, 10).until(lambda b: "/assets/" in b.current_url)
    assert "IMG_21.jpg" in browser.find_element(By.TAG_NAME, "h1").text
    assert "Thursday 21 March 2019, 10:00:00" in browser.page_source
    browser.find_element(By.CSS_SELECTOR, "a[rel=next]").click()  # on to the next photo of the same filter
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
        lambda b: "IMG_09.jpg" in b.find_element(By.TAG_NAME, "h1").text
    )
    assert loaded_from_elsewhere(browser, server) == []
    shoot(browser, "asset")

    group = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    visit(browser, server, f"/catalogs/{catalog.pk}/duplicates/", "duplicate-review")
    browser.find_element(By.LINK_TEXT, f"Similar group {group.pk}").click()
    WebDriverWait(browser, 10).until(lambda b: f"/duplicates/{group.pk}/" in b.current_url)
    shoot(browser, "duplicate-group")
    second = browser.find_element(By.CSS_SELECTOR, '[data-member="2"] a').text
    browser.find_element(By.TAG_NAME, "body").send_keys("2")  # the shortcut: keep the second file
    WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(  # (the page reloads)
        lambda b: (
            "Primary: kept" in b.find_element(By.CSS_SELECTOR, ".member.primary").text
            and b.find_element(By.CSS_SELECTOR, ".member.primary a").text == second
        )
    )
    group.refresh_from_db()
    assert group.primary.path == second and group.primary_chosen
    browser.refresh()  # it persists
    assert browser.find_element(By.CSS_SELECTOR, ".member.primary a").text == second

    for path, name in ((f"/catalogs/{catalog.pk}/dates/", "date-review"), (f"/catalogs/{catalog.pk}/problems/",
                                                                          "problems")):  # fmt: skip
        visit(browser, server, path, name)


def test_review_names_each_edit_and_shows_turned_copies_facing_like_the_original(server, browser, tmp_path):  # noqa: F811
    from PIL import Image

    get_user_model().objects.create_user("olga", password="correct horse")
    library = tmp_path / "photos"
    (library / "edits").mkdir(parents=True)
    original = Image.open(FLOWER)
    original.save(library / "flower.jpg", exif=original.info["exif"])
    original.transpose(Image.Transpose.ROTATE_90).save(library / "edits" / "turned.jpg", quality=90)
    original.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(library / "edits" / "mirrored.jpg", quality=90)
    catalog, _ = analyze(tmp_path / "catalog", library)
    group = DuplicateGroup.objects.get(catalog=catalog, kind="similar")

    browser.get(server + f"/duplicates/{group.pk}/")
    browser.find_element(By.NAME, "username").send_keys("olga")
    browser.find_element(By.NAME, "password").send_keys("correct horse")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.CSS_SELECTOR, ".member .edit"))
    shoot(browser, "review_edits")
    cards = {
        card.find_element(By.CSS_SELECTOR, ".path").text.rsplit("/", 1)[1]: card
        for card in browser.find_elements(By.CSS_SELECTOR, ".member")
    }
    assert cards["turned.jpg"].find_element(By.CSS_SELECTOR, ".edit").text.startswith("Turned 90° to the left")
    assert cards["mirrored.jpg"].find_element(By.CSS_SELECTOR, ".edit").text.startswith("Mirrored")
    assert "primary" in cards["flower.jpg"].get_attribute("class")

    def transform(name: str) -> str:
        image = cards[name].find_element(By.TAG_NAME, "img")
        return browser.execute_script("return getComputedStyle(arguments[0]).transform", image)

    assert transform("flower.jpg") == "none"

    def matrix(name: str) -> list[float]:
        return [round(float(x), 6) for x in transform(name).removeprefix("matrix(").rstrip(")").split(",")]

    # Turned back clockwise by a quarter (cos 90° = 0, sin 90° = 1), and mirrored back.
    assert matrix("turned.jpg")[:4] == [0.0, 1.0, -1.0, 0.0]
    assert matrix("mirrored.jpg")[:4] == [-1.0, 0.0, 0.0, 1.0]
