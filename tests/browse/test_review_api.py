"""Review decisions through the API: a capture date set by hand (kept by every re-analysis, used by the grid and
by organize), and the catalog exports streamed in the DESIGN.md formats."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest

from catalog.models import Asset, Catalog
from catalog.services.organize import OrganizeOptions, target_path
from tests.services.helpers import analyze, camera_photo, plain_photo

pytestmark = pytest.mark.django_db


def patch(client, path: str, body) -> object:
    return client.patch(path, data=json.dumps(body), content_type="application/json")


def test_a_date_set_by_hand_shows_everywhere_and_outlives_re_analysis(admin_client, tmp_path):
    library = tmp_path / "photos"
    scan = plain_photo(library / "scan.jpg")
    catalog, _ = analyze(tmp_path / "catalog", library)
    asset = Asset.objects.get(catalog=catalog)
    assert asset.date_source == "mtime"

    response = patch(admin_client, f"/api/assets/{asset.pk}", {"taken_at": "1987-06-05T04:03:02"})
    assert response.status_code == 200
    assert response.json()["taken_at"] == "1987-06-05T04:03:02" and response.json()["date_source"] == "manual"
    asset.refresh_from_db()
    assert asset.date_confidence == 1.0 and not asset.date_suspicious
    grid = admin_client.get(f"/api/catalogs/{catalog.pk}/assets?year=1987&month=6").json()["results"]
    assert [row["id"] for row in grid] == [asset.pk]
    assert target_path(asset, "/out", OrganizeOptions(output="/out")).startswith("/out/1987/06/1987-06-05_040302_")

    os.utime(scan, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))  # the file changed: read again
    _, summary = analyze(tmp_path / "catalog", library)
    assert summary.changed == 1
    asset.refresh_from_db()
    assert (asset.date_source, asset.taken_at.isoformat()) == ("manual", "1987-06-05T04:03:02+00:00")

    response = patch(admin_client, f"/api/assets/{asset.pk}", {"taken_at": None})
    assert response.status_code == 200 and response.json()["date_source"] == "mtime"


def test_a_bad_manual_date_answers_400_and_changes_nothing(admin_client, client, tmp_path):
    camera_photo(tmp_path / "photos" / "a.jpg", "2019:03:15 14:22:33")
    catalog, _ = analyze(tmp_path / "catalog", tmp_path / "photos")
    asset = Asset.objects.get(catalog=catalog)
    for body in (
        {"taken_at": "yesterday"},
        {"taken_at": 12},
        {},
        "not json",
        {"taken_at": "2019-06-01T12:00:00+05:00"},
    ):
        data = body if isinstance(body, str) else json.dumps(body)
        response = admin_client.patch(f"/api/assets/{asset.pk}", data=data, content_type="application/json")
        assert response.status_code == 400, body
    assert patch(client, f"/api/assets/{asset.pk}", {"taken_at": None}).status_code == 401
    assert patch(admin_client, "/api/assets/999999", {"taken_at": None}).status_code == 404
    asset.refresh_from_db()
    assert asset.date_source == "exif_original"


def test_exports_stream_the_contract_formats(admin_client, tmp_path):
    library = tmp_path / "photos"
    camera_photo(library / "a.jpg", "2019:03:15 14:22:33")
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    catalog, _ = analyze(tmp_path / "catalog", library)
    base = f"/api/catalogs/{catalog.pk}/export"

    assets = json.loads(b"".join(admin_client.get(base).streaming_content))
    assert assets["catalog"] == catalog.path and {a["path"].rsplit("/", 1)[1] for a in assets["assets"]} == {
        "a.jpg", "broken.jpg"}  # fmt: skip
    response = admin_client.get(f"{base}?what=problems&format=csv")
    assert response["Content-Type"].startswith("text/csv") and "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["path"].rsplit("/", 1)[1] for row in rows] == ["broken.jpg"] and rows[0]["kind"]
    groups = json.loads(b"".join(admin_client.get(f"{base}?what=duplicates").streaming_content))
    assert groups == {"catalog": catalog.path, "groups": []}
    Catalog.objects.filter(pk=catalog.pk).update(name='My "best"\nphotos')
    named = admin_client.get(f"{base}?format=csv")
    assert (
        named.status_code == 200 and named["Content-Disposition"] == 'attachment; filename="My_best_photos-assets.csv"'
    )
    for query in ("?what=secrets", "?format=xml"):
        response = admin_client.get(base + query)
        assert response.status_code == 400 and "choose" in response.json()["error"]


def test_a_date_set_by_hand_follows_its_file_moved_outside_vam(admin_client, tmp_path):
    library = tmp_path / "photos"
    scan = plain_photo(library / "scan.jpg")
    catalog, _ = analyze(tmp_path / "catalog", library)
    asset = Asset.objects.get(catalog=catalog)
    patch(admin_client, f"/api/assets/{asset.pk}", {"taken_at": "1987-06-05T04:03:02"})

    (library / "album").mkdir()
    scan.rename(library / "album" / "scan from 1987.jpg")  # a move in the file manager
    _, summary = analyze(tmp_path / "catalog", library)

    moved = Asset.objects.get(catalog=catalog, path=str(library / "album" / "scan from 1987.jpg"))
    assert summary.missing == 1 and summary.reused == 1
    assert (moved.date_source, moved.taken_at.isoformat()) == ("manual", "1987-06-05T04:03:02+00:00")
