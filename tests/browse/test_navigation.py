"""Where a user lands and how they get around: / opens the catalog, the navigation bar reaches the catalog's
pages from everywhere, and the queues page never fails without Redis."""

from __future__ import annotations

import pytest
from django.test import override_settings
from django.urls import reverse

from catalog.models import Catalog
from tests.services.helpers import analyze, camera_photo

pytestmark = pytest.mark.django_db


def test_home_opens_the_only_catalog_else_the_last_one_shown_else_the_list(admin_client, tmp_path):
    assert admin_client.get("/").url == reverse("catalog:list")  # none yet
    camera_photo(tmp_path / "photos" / "IMG_1.jpg", "2019:03:15 14:22:33")
    family, _ = analyze(tmp_path / "family", tmp_path / "photos")
    landed = admin_client.get("/", follow=True)
    assert landed.redirect_chain[-1][0] == reverse("catalog:dashboard", args=[family.pk])

    work = Catalog.objects.create(name="work", path=str(tmp_path / "work"))
    assert admin_client.get("/").url == reverse("catalog:dashboard", args=[family.pk])  # the one last shown
    admin_client.get(reverse("catalog:dashboard", args=[work.pk]))
    assert admin_client.get("/").url == reverse("catalog:dashboard", args=[work.pk])
    admin_client.logout()
    assert admin_client.get("/").url.startswith("/accounts/login/")


def test_the_navigation_bar_reaches_the_catalogs_pages_from_the_jobs_page(admin_client, tmp_path):
    camera_photo(tmp_path / "photos" / "IMG_1.jpg", "2019:03:15 14:22:33")
    catalog, _ = analyze(tmp_path / "family", tmp_path / "photos")
    page = admin_client.get(reverse("jobs:index")).content.decode()
    for name, label in (("dashboard", catalog.name), ("grid", "Photos"), ("duplicates", "Duplicates"),
                        ("dates", "Dates"), ("problems", "Problems")):  # fmt: skip
        assert f'href="{reverse(f"catalog:{name}", args=[catalog.pk])}"' in page and f">{label}</a>" in page
    grid = admin_client.get(reverse("catalog:grid", args=[catalog.pk])).content.decode()
    assert f'class="current" href="{reverse("catalog:grid", args=[catalog.pk])}"' in grid


def test_without_redis_the_queues_link_is_hidden_and_its_page_says_why(admin_client, rf):
    from django.contrib.auth import get_user_model

    from vamsite.middleware import redis_unavailable

    assert ">Queues</a>" in admin_client.get(reverse("jobs:index")).content.decode()  # (the tests run with Redis)
    with override_settings(REDIS_URL=""):
        assert ">Queues</a>" not in admin_client.get(reverse("jobs:index")).content.decode()
        request = rf.get("/django-rq/")
        request.user, request.session = get_user_model().objects.get(username="admin"), {}
        page = redis_unavailable(request).content.decode()
    assert "runs its jobs itself" in page and "jobs page" in page


def test_with_redis_down_the_queues_page_says_so_instead_of_failing(admin_client, monkeypatch):
    from django_rq import settings as rq_settings

    for config in rq_settings.QUEUES.values():  # every queue on a port where no Redis listens
        monkeypatch.setitem(config, "URL", "redis://127.0.0.1:1/0")
    response = admin_client.get("/django-rq/")
    assert response.status_code == 503
    page = response.content.decode()
    assert "Redis does not answer" in page and "Traceback" not in page
    assert f'href="{reverse("jobs:index")}"' in page  # the navigation bar still works


def test_every_answer_carries_the_security_policies(admin_client, tmp_path):
    camera_photo(tmp_path / "photos" / "IMG_1.jpg", "2019:03:15 14:22:33")
    catalog, _ = analyze(tmp_path / "family", tmp_path / "photos")
    asset = catalog.assets.get()
    for url in ("/accounts/login/", reverse("catalog:grid", args=[catalog.pk]), "/admin/", "/api/catalogs"):
        response = admin_client.get(url)
        policy = response["Content-Security-Policy"]
        assert "script-src 'self';" in policy and "style-src 'self';" in policy and "frame-ancestors 'none'" in policy
        assert "camera=()" in response["Permissions-Policy"], url
    with override_settings(VAM_LIBRARY_ROOTS=[str(tmp_path / "photos")]):
        original = admin_client.get(reverse("catalog:original", args=[asset.pk]))
    assert original["Content-Security-Policy"] == "sandbox; default-src 'none'"  # its own, stricter one stays
    for page in (reverse("catalog:dates", args=[catalog.pk]), reverse("jobs:index")):  # no inline code to block
        html = admin_client.get(page).content.decode()
        assert " onclick=" not in html and ' style="' not in html and "<script>" not in html, page
