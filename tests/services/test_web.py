"""The web side available today: the admin and the thumbnail view, both behind a login."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.media.analyze import Problem
from tests.services.helpers import analyze, camera_photo

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyzed(library, catalog_dir):
    camera_photo(library / "a.jpg")
    (library / "empty.jpg").write_bytes(b"")
    catalog, _ = analyze(catalog_dir, library)
    return catalog


def thumbnail_url(asset, size=256):
    kwargs = {"catalog_id": asset.catalog_id, "size": size, "sha256": asset.sha256, "ext": "webp"}
    return reverse("catalog:thumbnail", kwargs=kwargs)


def test_thumbnail_needs_a_login(client, analyzed):
    asset = analyzed.assets.get(path__endswith="a.jpg")
    response = client.get(thumbnail_url(asset))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_logged_in_user_gets_the_webp_thumbnail(admin_client, analyzed):
    asset = analyzed.assets.get(path__endswith="a.jpg")
    response = admin_client.get(thumbnail_url(asset, 512))
    assert response.status_code == 200
    assert response["Content-Type"] == "image/webp"
    assert b"".join(response.streaming_content)[:4] == b"RIFF"


def test_unknown_thumbnail_and_malformed_names_are_not_found(admin_client, analyzed):
    asset = analyzed.assets.get(path__endswith="a.jpg")
    assert admin_client.get(thumbnail_url(asset, 999)).status_code == 404
    escape = f"/thumbnails/{asset.catalog_id}/256/..%2F..%2F..%2Fetc%2Fpasswd.webp"
    assert admin_client.get(escape).status_code == 404


def test_admin_asset_pages_need_a_login(client, analyzed):
    response = client.get(reverse("admin:catalog_asset_changelist"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_admin_lists_assets_with_previews_and_filters_problems(admin_client, analyzed):
    page = admin_client.get(reverse("admin:catalog_asset_changelist")).content.decode()
    asset = analyzed.assets.get(path__endswith="a.jpg")
    assert thumbnail_url(asset) in page
    assert "empty.jpg" in page

    problems = admin_client.get(reverse("admin:catalog_asset_changelist"), {"problem_kind": Problem.EMPTY})
    listed = problems.content.decode()
    assert "empty.jpg" in listed and "/a.jpg" not in listed


def test_admin_detail_shows_the_large_preview(admin_client, analyzed):
    asset = analyzed.assets.get(path__endswith="a.jpg")
    page = admin_client.get(reverse("admin:catalog_asset_change", args=[asset.pk])).content.decode()
    assert thumbnail_url(asset, 512) in page
