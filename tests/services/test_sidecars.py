"""Sidecars in the catalog: linked to their photo, their data used, kept in step on rescans, in the API, the
asset page and the export; never an asset or a problem of their own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from catalog.api import asset_detail
from catalog.models import Asset, Sidecar
from tests.services.helpers import analyze, asset_at, camera_photo, export_csv, export_json, plain_photo

pytestmark = pytest.mark.django_db

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:Rating="{rating}">
<dc:subject><rdf:Bag><rdf:li>{keyword}</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>"""
TAKEOUT = (
    '{"photoTakenTime": {"timestamp": "1552659753"}, "creationTime": {"timestamp": "1600000000"}, '
    '"geoData": {"latitude": 48.8566, "longitude": 2.3522, "altitude": 0.0}}'
)  # 1552659753 is 2019-03-15 14:22:33 UTC


def sidecar_paths(asset: Asset) -> list[tuple[str, str]]:
    return sorted((Path(s.path).name, s.kind) for s in asset.sidecars.all())


def test_sidecars_are_linked_and_their_data_used(tmp_path: Path, settings):
    settings.VAM_TIME_ZONE = "UTC"
    library = tmp_path / "photos"
    library.mkdir()
    camera_photo(library / "IMG_1234.JPG")  # EXIF DateTimeOriginal 2019-03-15 14:22:33
    (library / "IMG_1234.JPG.xmp").write_text(XMP.format(rating=5, keyword="Family"))
    plain_photo(library / "IMG_1.jpg")
    (library / "IMG_1.jpg.json").write_text(TAKEOUT)
    plain_photo(library / "PXL_20190315_162233.jpg", color=(10, 200, 10))  # the name says 16:22: UTC+2
    (library / "PXL_20190315_162233.jpg.json").write_text(TAKEOUT)
    camera_photo(library / "EXIF_WINS.jpg", "2019:03:10 08:00:00", color=(1, 2, 3))
    (library / "EXIF_WINS.jpg.json").write_text(TAKEOUT)
    plain_photo(library / "IMG_2.HEIC.jpg", color=(50, 50, 50))
    (library / "orphan.xmp").write_text(XMP.format(rating=1, keyword="Nobody"))
    (library / "orphan.AAE").write_text("<plist/>")
    catalog, summary = analyze(tmp_path / "catalog", library)

    assert summary.seen == 5 and summary.problems == 0
    assert Asset.objects.filter(catalog=catalog).count() == 5  # no sidecar (orphans included) is an asset
    assert not Sidecar.objects.filter(path__contains="orphan").exists()

    edited = asset_at(catalog, library / "IMG_1234.JPG")
    assert sidecar_paths(edited) == [("IMG_1234.JPG.xmp", "xmp")]
    assert (edited.rating, edited.keywords, edited.date_source) == (5, ["Family"], "exif_original")

    takeout = asset_at(catalog, library / "IMG_1.jpg")
    assert sidecar_paths(takeout) == [("IMG_1.jpg.json", "takeout")]
    assert (takeout.date_source, takeout.date_confidence) == ("takeout", 0.82)
    assert takeout.taken_at.replace(tzinfo=None).isoformat() == "2019-03-15T14:22:33"
    assert (takeout.gps_latitude, takeout.gps_longitude) == (48.8566, 2.3522)

    named = asset_at(catalog, library / "PXL_20190315_162233.jpg")
    assert (named.date_source, named.date_confidence, named.taken_at_offset) == ("takeout", 0.88, 120)
    assert named.taken_at.replace(tzinfo=None).isoformat() == "2019-03-15T16:22:33"

    exif = asset_at(catalog, library / "EXIF_WINS.jpg")
    assert exif.date_source == "exif_original" and exif.date_suspicious  # Takeout says five days later

    detail = asset_detail(takeout)
    assert detail["sidecars"] == [{"path": str(library / "IMG_1.jpg.json"), "kind": "takeout"}]
    records = {r["path"]: r for r in export_json(tmp_path / "catalog", "assets", tmp_path / "a.json")["assets"]}
    assert records[str(library / "IMG_1234.JPG")]["sidecars"] == [
        {"path": str(library / "IMG_1234.JPG.xmp"), "kind": "xmp"}
    ]
    assert records[str(library / "IMG_2.HEIC.jpg")]["sidecars"] == []
    _, rows = export_csv(tmp_path / "catalog", "assets", tmp_path / "a.csv")
    assert {r["path"]: r["sidecars"] for r in rows}[str(library / "IMG_1.jpg")] == str(library / "IMG_1.jpg.json")


def test_rescans_keep_the_links_in_step(tmp_path: Path):
    library = tmp_path / "photos"
    library.mkdir()
    photo = camera_photo(library / "IMG_1.jpg")
    xmp = library / "IMG_1.xmp"
    xmp.write_text(XMP.format(rating=2, keyword="First"))
    catalog, _ = analyze(tmp_path / "catalog", library)
    assert asset_at(catalog, photo).rating == 2

    _, summary = analyze(tmp_path / "catalog", library)
    assert (summary.unchanged, summary.changed) == (1, 0)  # nothing changed: nothing read again

    xmp.write_text(XMP.format(rating=4, keyword="Second, longer"))
    os.utime(xmp, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    _, summary = analyze(tmp_path / "catalog", library)
    asset = asset_at(catalog, photo)
    assert summary.changed == 1
    assert (asset.rating, asset.keywords) == (4, ["Second, longer"])

    own = library / "IMG_1.jpg.xmp"
    own.write_text(XMP.format(rating=1, keyword="Own"))  # NAME.EXT.xmp is linked too, and wins over NAME.xmp
    analyze(tmp_path / "catalog", library)
    asset = asset_at(catalog, photo)
    assert sidecar_paths(asset) == [("IMG_1.jpg.xmp", "xmp"), ("IMG_1.xmp", "xmp")]
    assert (asset.rating, asset.keywords) == (1, ["Own"])

    own.unlink()
    xmp.unlink()
    _, summary = analyze(tmp_path / "catalog", library)
    asset = asset_at(catalog, photo)
    assert summary.changed == 1 and sidecar_paths(asset) == []
    assert (asset.rating, asset.keywords) == (None, [])  # back to what the file itself says


def test_a_copy_without_sidecars_does_not_take_another_paths_sidecar_data(tmp_path: Path):
    library = tmp_path / "photos"
    (library / "a").mkdir(parents=True)
    (library / "b").mkdir()
    camera_photo(library / "a" / "IMG_1.jpg")
    (library / "a" / "IMG_1.xmp").write_text(XMP.format(rating=5, keyword="Only here"))
    catalog, _ = analyze(tmp_path / "catalog", library)
    (library / "b" / "IMG_1.jpg").write_bytes((library / "a" / "IMG_1.jpg").read_bytes())
    analyze(tmp_path / "catalog", library)
    copy = asset_at(catalog, library / "b" / "IMG_1.jpg")
    assert (copy.rating, copy.keywords, sidecar_paths(copy)) == (None, [], [])
    assert asset_at(catalog, library / "a" / "IMG_1.jpg").rating == 5


def test_the_asset_page_lists_the_sidecars(tmp_path: Path, admin_client):
    library = tmp_path / "photos"
    library.mkdir()
    camera_photo(library / "MVI_1.jpg")
    (library / "MVI_1.jpg.json").write_text(TAKEOUT)
    catalog, _ = analyze(tmp_path / "catalog", library)
    asset = asset_at(catalog, library / "MVI_1.jpg")
    page = admin_client.get(reverse("catalog:asset", args=[asset.pk])).content.decode()
    assert "Sidecars" in page and "MVI_1.jpg.json" in page and "Google Takeout JSON" in page


def test_a_fanned_out_batch_keeps_the_sidecars():
    from catalog.media.sidecars import SidecarEntry
    from catalog.media.walk import WalkEntry
    from jobs.fanout import _entry_from_row, _entry_row

    entry = WalkEntry("/p/IMG_1.jpg", 10, 20, sidecars=(SidecarEntry("/p/IMG_1.xmp", "xmp", 3, 4),))
    assert _entry_from_row(_entry_row(entry)) == entry
    assert _entry_from_row(["/p/a.jpg", 1, 2]) == WalkEntry("/p/a.jpg", 1, 2)  # batches written before sidecars
