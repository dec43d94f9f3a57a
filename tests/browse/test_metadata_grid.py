"""Keywords and rating in the grid's filters, and lens, keywords, rating and title on the asset page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Asset, Catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def catalog():
    catalog = Catalog.objects.create(path="/catalogs/words", name="words")
    for name, keywords, rating in (
        ("a.jpg", ["Beach", "Rome"], 4),
        ("b.jpg", ["Beachball"], 2),
        ("c.jpg", [], None),
        ("d.jpg", ["beach"], -1),
    ):
        Asset.objects.create(catalog=catalog, path=f"/p/{name}", keywords=keywords, rating=rating, sha256=name[0] * 64)
    return catalog


def grid(client, catalog, query: str) -> list[str]:
    response = client.get(f"/api/catalogs/{catalog.pk}/assets{query}&sort=path")
    assert response.status_code == 200, response.content
    return [row["path"].rsplit("/", 1)[1][0] for row in response.json()["results"]]


def test_keyword_and_rating_filters(admin_client, catalog):
    assert grid(admin_client, catalog, "?keyword=BEACH") == ["a", "d"]  # a whole keyword, in any case
    assert grid(admin_client, catalog, "?keyword=rome") == ["a"]
    assert grid(admin_client, catalog, "?rating=3") == ["a"]
    assert grid(admin_client, catalog, "?rating=-1") == ["a", "b", "d"]  # every rated one, rejected included
    assert grid(admin_client, catalog, "?keyword=beach&rating=0") == ["a"]
    response = admin_client.get(f"/api/catalogs/{catalog.pk}/assets?rating=6")
    assert response.status_code == 400 and "rating" in response.json()["error"]


def test_the_asset_page_shows_lens_keywords_rating_and_title(admin_client, catalog):
    asset = Asset.objects.get(catalog=catalog, path="/p/a.jpg")
    asset.lens_model, asset.title, asset.description = "EF-M15-45mm f/3.5-6.3 IS STM", "At the beach", "Sunset"
    asset.save()
    page = admin_client.get(reverse("catalog:asset", args=[asset.pk])).content.decode()
    assert "lens EF-M15-45mm f/3.5-6.3 IS STM" in page
    assert "Beach, Rome" in page and "4 of 5" in page
    assert "At the beach" in page and "Sunset" in page
    rejected = Asset.objects.get(catalog=catalog, path="/p/d.jpg")
    assert "rejected" in admin_client.get(reverse("catalog:asset", args=[rejected.pk])).content.decode()


def test_the_photos_page_offers_and_keeps_the_keyword_and_rating_filters(admin_client, catalog):
    page = admin_client.get(reverse("catalog:grid", args=[catalog.pk]) + "?keyword=beach&rating=3")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'name="keyword" value="beach"' in text
    assert '<option value="3" selected>3 stars or more</option>' in text and ">1 star or more<" in text
    assert ">5 stars<" in text
    assert [tile["asset"].path.rsplit("/", 1)[1][0] for group in page.context["sections"] for day in group["days"]
            for tile in day["tiles"]] == ["a"]  # fmt: skip
