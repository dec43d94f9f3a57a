"""The dashboard's figures: computed when the catalog changes (analyze, duplicate detection, review decisions),
read from the catalog row."""

from __future__ import annotations

import json
import shutil

import pytest

from catalog.models import Asset, Catalog, DuplicateGroup
from jobs.models import Job
from tests.services.helpers import analyze, camera_photo, plain_photo

pytestmark = pytest.mark.django_db


def test_dashboard_figures_follow_the_catalog(admin_client, tmp_path):
    library = tmp_path / "photos"
    first = camera_photo(library / "a.jpg", "2019:03:15 14:22:33", make="Canon", model="EOS R5")
    camera_photo(library / "b.jpg", "2019:03:20 08:00:00", make="Canon", model="EOS R5", color=(10, 200, 10))
    camera_photo(library / "c.jpg", "2020:12:31 23:59:59", make="Sony", model="A7", color=(10, 10, 200))
    shutil.copy2(first, library / "copy_of_a.jpg")
    plain_photo(library / "scan.jpg")
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff not a picture")
    catalog, _ = analyze(tmp_path / "catalog", library)
    Job.objects.create(kind="analyze", catalog=catalog)

    body = admin_client.get(f"/api/catalogs/{catalog.pk}").json()
    stats = body["stats"]
    # The broken JPEG counts as an image (its extension says so), and as the one problem.
    assert (stats["assets"], stats["images"], stats["videos"], stats["problems"]) == (6, 6, 0, 1)
    assert stats["bytes"] == sum(p.stat().st_size for p in library.iterdir())
    assert stats["timeline"][:2] == [{"month": "2019-03", "count": 3}, {"month": "2020-12", "count": 1}]
    assert stats["cameras"] == [{"make": "Canon", "model": "EOS R5", "count": 3},
                                {"make": "Sony", "model": "A7", "count": 1}]  # fmt: skip
    assert stats["exact_groups"] == 1 and stats["exact_redundant_bytes"] == first.stat().st_size
    assert stats["unreviewed_groups"] == 1 and body["stats_at"]
    assert [job["kind"] for job in body["recent_jobs"]] == ["analyze"]

    scan = Asset.objects.get(catalog=catalog, path=str(library / "scan.jpg"))
    admin_client.patch(f"/api/assets/{scan.pk}", data=json.dumps({"taken_at": "2020-12-01T10:00:00"}),
                       content_type="application/json")  # fmt: skip
    group = DuplicateGroup.objects.get(catalog=catalog)
    admin_client.post(f"/api/duplicates/{group.pk}/reviewed", data="{}", content_type="application/json")
    stats = admin_client.get(f"/api/catalogs/{catalog.pk}").json()["stats"]
    assert {"month": "2020-12", "count": 2} in stats["timeline"] and stats["unreviewed_groups"] == 0


def test_a_catalog_never_summed_is_summed_when_first_shown(admin_client, client):
    catalog = Catalog.objects.create(path="/catalogs/new", name="new")
    stats = admin_client.get(f"/api/catalogs/{catalog.pk}").json()["stats"]
    assert stats["assets"] == 0 and stats["timeline"] == [] and stats["exact_groups"] == 0
    catalog.refresh_from_db()
    assert catalog.stats_at is not None
    assert admin_client.get("/api/catalogs/999999").status_code == 404
    assert client.get(f"/api/catalogs/{catalog.pk}").status_code == 401
