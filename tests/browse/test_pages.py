"""The browse pages through Django's test client: login, the catalog list, the dashboard and its timeline links,
the photo grid's filters in the URL, an asset's page with its neighbours, and the original-file view."""

from __future__ import annotations

import base64
import re
import shutil
from datetime import UTC, datetime

import pytest
from django.test import override_settings
from django.urls import reverse
from django.utils.html import escape
from django.utils.http import urlencode

from catalog.models import Asset
from tests.services.helpers import analyze, camera_photo, plain_photo

pytestmark = pytest.mark.django_db

GPS = ((48.0, 51.0, 29.0), "N", (2.0, 17.0, 40.0), "E")  # 48.858, 2.294


@pytest.fixture
def catalog(tmp_path):
    library = tmp_path / "photos"
    first = camera_photo(library / "2019" / "a.jpg", "2019:03:15 14:22:33", make="Canon", model="EOS R5", gps=GPS)
    camera_photo(library / "2019" / "b.jpg", "2019:03:20 08:00:00", make="Canon", model="EOS R5",
                 color=(10, 200, 10))  # fmt: skip
    camera_photo(library / "2020" / "c.jpg", "2020:12:31 23:59:59", make="Sony", model="A7", color=(9, 9, 200))
    shutil.copy2(first, library / "2020" / "copy.jpg")
    plain_photo(library / "scan.jpg")
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff not a picture")
    catalog, _ = analyze(tmp_path / "catalog", library)
    return catalog


def tiles(response) -> list[str]:
    assert response.status_code == 200
    return re.findall(r'<a class="tile[^"]*" [^>]*title="[^"]*/([^/"]+)"', response.content.decode())


def test_every_page_needs_a_login(client, catalog):
    asset = Asset.objects.filter(catalog=catalog).first()
    for url in (
        reverse("catalog:list"),
        reverse("catalog:dashboard", args=[catalog.pk]),
        reverse("catalog:grid", args=[catalog.pk]),
        reverse("catalog:asset", args=[asset.pk]),
        reverse("catalog:original", args=[asset.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/"), url


def test_the_catalog_list_and_the_dashboard(admin_client, catalog):
    page = admin_client.get(reverse("catalog:list")).content.decode()
    assert reverse("catalog:dashboard", args=[catalog.pk]) in page and catalog.path in page

    page = admin_client.get(reverse("catalog:dashboard", args=[catalog.pk])).content.decode()
    grid = reverse("catalog:grid", args=[catalog.pk])
    assert "<b>6 files</b>" in page and "<b>1 problem</b>" in page
    # scan.jpg and broken.jpg have only their modification time: no reliable date, and not in the timeline
    assert "<b>2 files</b> without a reliable date" in page and "2 dated only by the file's modification time" in page
    assert "2 files without a reliable date</a> are not in the chart" in page
    assert f'href="{grid}?year=2019&amp;month=3"' in page  # a month of the timeline opens the grid on it
    assert 'data-month="2019-03"' in page and 'data-month="2020-12"' in page
    assert f'href="{grid}?camera=EOS%20R5"' in page and ">Canon EOS R5</a>" in page and "1 exact" in page
    assert len(re.findall(r"data-month=", page)) == 22  # March 2019 to December 2020, today's month not among them
    assert f"?catalog={catalog.path}" in page.replace("%2F", "/")  # the quick actions name this catalog
    jobs = admin_client.get(reverse("jobs:index") + f"?catalog={catalog.path}").content.decode()
    assert f'<option value="{catalog.path}" selected>' in jobs


def test_the_grid_filters_sorts_and_pages_from_the_url(admin_client, catalog):
    grid = reverse("catalog:grid", args=[catalog.pk])
    page = admin_client.get(grid).content.decode()
    newest_first = tiles(admin_client.get(grid))  # scan.jpg and broken.jpg have only a modification time (today)
    assert newest_first.index("c.jpg") < newest_first.index("b.jpg") < newest_first.index("a.jpg")
    assert sorted(newest_first[-2:]) == ["broken.jpg", "scan.jpg"]  # with the undated, last: a guess is no date
    assert sorted(tiles(admin_client.get(grid + "?sort=taken_at"))[-2:]) == ["broken.jpg", "scan.jpg"]
    assert page.index("December 2020") < page.index("March 2019") < page.index("No reliable date")
    assert "Wednesday 20 March" in page and "file date " in page
    march = tiles(admin_client.get(grid + "?year=2019&month=3"))  # copy.jpg sits in 2020/ but was taken with a
    assert march[0] == "b.jpg" and sorted(march[1:]) == ["a.jpg", "copy.jpg"]
    assert tiles(admin_client.get(grid + "?camera=A7")) == ["c.jpg"]
    assert tiles(admin_client.get(grid + "?problem=1")) == ["broken.jpg"]
    assert tiles(admin_client.get(grid + "?duplicates=1&sort=path")) == ["a.jpg", "copy.jpg"]
    assert tiles(admin_client.get(grid + f"?folder={catalog.source_directories[0]}/2019&sort=-path")) == [
        "b.jpg", "a.jpg"]  # fmt: skip
    page = admin_client.get(grid + "?year=2019").content.decode()
    assert 'loading="lazy"' in page and "/thumbnails/" in page
    assert 'href="/assets/' in page and "?year=2019" in page  # a tile keeps the filter for its neighbours
    bad = admin_client.get(grid + "?month=13&year=2019")
    assert bad.status_code == 400 and "month" in bad.content.decode()


def test_the_grid_pages_with_a_next_link(admin_client, catalog, monkeypatch):
    from catalog import pages

    monkeypatch.setattr(pages, "GRID_PAGE", 4)  # pages of four instead of 120
    grid = reverse("catalog:grid", args=[catalog.pk])
    first = admin_client.get(grid + "?sort=path")
    following = re.search(r'href="(\?[^"]+)" rel="next"', first.content.decode()).group(1).replace("&amp;", "&")
    assert tiles(first) + tiles(admin_client.get(grid + following)) == sorted(
        ["a.jpg", "b.jpg", "c.jpg", "copy.jpg", "scan.jpg", "broken.jpg"],
        key=lambda name: Asset.objects.get(catalog=catalog, path__endswith="/" + name).path,
    )


def test_an_asset_page_shows_its_metadata_and_neighbours_within_the_filter(admin_client, catalog):
    a = Asset.objects.get(catalog=catalog, path__endswith="2019/a.jpg")
    b = Asset.objects.get(catalog=catalog, path__endswith="2019/b.jpg")
    in_2019 = urlencode({"year": 2019, "folder": f"{catalog.source_directories[0]}/2019"})
    page = admin_client.get(reverse("catalog:asset", args=[a.pk]) + f"?{in_2019}").content.decode()
    assert "Friday 15 March 2019, 14:22:33" in page and "EXIF DateTimeOriginal" in page and "Canon EOS R5" in page
    assert "openstreetmap.org/?mlat=48.858056&amp;mlon=2.294444" in page
    assert "Exact group" in page and "the primary" in page
    assert f'href="/assets/{b.pk}/?{escape(in_2019)}" rel="prev"' in page  # newest first: b comes before a
    assert 'rel="next"' not in page  # a is the last of them
    page = admin_client.get(reverse("catalog:asset", args=[b.pk]) + f"?{in_2019}").content.decode()
    assert f'href="/assets/{a.pk}/?{escape(in_2019)}" rel="next"' in page and 'rel="prev"' not in page
    broken = Asset.objects.get(catalog=catalog, path__endswith="broken.jpg")
    page = admin_client.get(reverse("catalog:asset", args=[broken.pk])).content.decode()
    assert "Not a picture" in page and escape(broken.problem_message) in page
    scan = Asset.objects.get(catalog=catalog, path__endswith="scan.jpg")
    page = admin_client.get(reverse("catalog:asset", args=[scan.pk])).content.decode()
    assert "Not known." in page and "it is only a guess" in page


def test_the_original_is_served_only_from_inside_the_library_roots(admin_client, catalog, tmp_path):
    a = Asset.objects.get(catalog=catalog, path__endswith="2019/a.jpg")
    with override_settings(VAM_LIBRARY_ROOTS=[str(tmp_path / "photos")]):
        response = admin_client.get(reverse("catalog:original", args=[a.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        assert b"".join(response.streaming_content) == (tmp_path / "photos" / "2019" / "a.jpg").read_bytes()
        (tmp_path / "photos" / "2019" / "a.jpg").unlink()
        assert admin_client.get(reverse("catalog:original", args=[a.pk])).status_code == 404
    with override_settings(VAM_LIBRARY_ROOTS=[str(tmp_path / "elsewhere")]):
        refused = admin_client.get(reverse("catalog:original", args=[a.pk]))
        assert refused.status_code == 403 and b"outside the library roots" in refused.content
    secret = tmp_path / "secret.txt"
    secret.write_text("not a photo")
    (tmp_path / "photos" / "link.jpg").symlink_to(secret)
    linked = Asset.objects.create(catalog=catalog, path=str(tmp_path / "photos" / "link.jpg"))
    with override_settings(VAM_LIBRARY_ROOTS=[str(tmp_path / "photos")]):
        assert admin_client.get(reverse("catalog:original", args=[linked.pk])).status_code == 403
    # A link that leads back to its own folder (a walk records it as a link loop) is a folder, not a file: 403
    # with the reason, never a 500.
    (tmp_path / "photos" / "loop.jpg").symlink_to(tmp_path / "photos")
    loop = Asset.objects.create(catalog=catalog, path=str(tmp_path / "photos" / "loop.jpg"))
    with override_settings(VAM_LIBRARY_ROOTS=[str(tmp_path / "photos")]):
        refused = admin_client.get(reverse("catalog:original", args=[loop.pk]))
    assert refused.status_code == 403 and b"not a regular file" in refused.content


def test_hostile_queries_and_files_get_clear_answers_never_a_500(admin_client, catalog, tmp_path):
    grid = reverse("catalog:grid", args=[catalog.pk])
    api = f"/api/catalogs/{catalog.pk}/assets"
    forged = base64.urlsafe_b64encode(b'{"s":"-taken_at","v":null,"i":1e999}').decode()
    for url in (f"{grid}?camera=%00", f"{grid}?folder=a%00b", f"{api}?limit=%C2%B2", f"{api}?after={forged}",
                f"{api}?sort=size&after=" + base64.urlsafe_b64encode(b'{"s":"size","v":1e999,"i":1}').decode(),
                reverse("catalog:problems", args=[catalog.pk]) + "?kind=%00",
                reverse("catalog:dates", args=[catalog.pk]) + "?after=%00",
                "/api/assets/1/thumbnail?size=%C2%B2"):  # fmt: skip
        assert admin_client.get(url).status_code in (400, 404), url

    # A file named like a web page is never shown inline, and nothing served can run in the page.
    page = tmp_path / "photos" / "page.html"
    page.write_text("<script>alert(1)</script>")
    odd = tmp_path / "photos" / "new\nline.jpg"
    odd.write_bytes((tmp_path / "photos" / "2019" / "b.jpg").read_bytes())
    with override_settings(VAM_LIBRARY_ROOTS=[str(tmp_path / "photos")]):
        html = Asset.objects.create(catalog=catalog, path=str(page))
        response = admin_client.get(reverse("catalog:original", args=[html.pk]))
        assert (
            response["Content-Type"] == "application/octet-stream" and "attachment" in response["Content-Disposition"]
        )
        assert (
            response["Content-Security-Policy"].startswith("sandbox")
            and response["X-Content-Type-Options"] == "nosniff"
        )
        strange = Asset.objects.create(catalog=catalog, path=str(odd))
        response = admin_client.get(reverse("catalog:original", args=[strange.pk]))
        assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
        assert "\n" not in response["Content-Disposition"]


def test_the_timeline_survives_a_date_from_far_away(admin_client, catalog):
    Asset.objects.filter(catalog=catalog, path__endswith="scan.jpg").update(
        taken_at=datetime(9999, 12, 31, tzinfo=UTC), date_source="manual"
    )
    from catalog.services.stats import catalog_stats_refresh

    catalog_stats_refresh(catalog)
    page = admin_client.get(reverse("catalog:dashboard", args=[catalog.pk])).content.decode()
    assert page.count("<rect") < 20 and 'data-month="9999-12"' in page  # the months with photos, not 96,000 bars
