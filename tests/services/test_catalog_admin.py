"""The admin's catalog form keeps to the library roots like the pages and the API: no door is left open."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from catalog.models import Catalog

pytestmark = pytest.mark.django_db

ADD = "/admin/catalog/catalog/add/"


def form(name: str, path: str, sources: list[str], exclude: list[str] | None = None) -> dict:
    return {"name": name, "path": path, "source_directories": json.dumps(sources),
            "exclude_directories": json.dumps(exclude or []), "stats": "{}"}  # fmt: skip


def test_the_admin_refuses_catalogs_and_folders_outside_the_roots(admin_client, tmp_path):
    root = tmp_path / "photos"
    (root / "family").mkdir(parents=True)
    (tmp_path / "photos2").mkdir()
    with override_settings(VAM_LIBRARY_ROOTS=[str(root)]):
        for path, sources, says in (
            (
                str(tmp_path / "elsewhere"),
                [str(root / "family")],
                "must be inside the data folder or the library roots",
            ),
            (str(root / "cat"), [str(root / ".." / "photos2")], "outside the library roots"),  # .. leads out
            (str(root / "cat"), [str(tmp_path / "photos2")], "outside the library roots"),  # a sibling, not inside
            (str(root / "cat"), ["/etc"], "outside the library roots"),
            (str(root / "cat"), ["family"], "must be an absolute path"),
        ):
            response = admin_client.post(ADD, form("x", path, sources))
            assert response.status_code == 200 and says in response.content.decode(), (path, sources)
        assert not Catalog.objects.exists()
        response = admin_client.post(ADD, form("Family", str(root / "cat"), [str(root / "family")]))
        assert response.status_code == 302, response.context["adminform"].form.errors
    catalog = Catalog.objects.get()
    assert catalog.source_directories == [str((root / "family").resolve())]


def test_a_catalog_the_command_line_made_elsewhere_can_still_be_renamed(admin_client, tmp_path):
    catalog = Catalog.objects.create(name="old", path=str(tmp_path / "cat"), source_directories=["/srv/photos"])
    with override_settings(VAM_LIBRARY_ROOTS=[str(tmp_path / "photos")]):
        change = f"/admin/catalog/catalog/{catalog.pk}/change/"
        response = admin_client.post(change, form("new name", catalog.path, ["/srv/photos"]))
        assert response.status_code == 302, response.context["adminform"].form.errors
        refused = admin_client.post(change, form("new name", catalog.path, ["/srv/photos", "/etc"]))
        assert refused.status_code == 200 and "outside the library roots" in refused.content.decode()
    catalog.refresh_from_db()
    assert catalog.name == "new name" and catalog.source_directories == ["/srv/photos"]
