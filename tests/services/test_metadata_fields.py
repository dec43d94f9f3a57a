"""Lens, keywords, rating and title read by ExifTool reach the catalog: stored, exported and in the API record."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from catalog.api import asset_detail
from catalog.models import Asset
from tests.conftest import FIXTURES
from tests.services.helpers import analyze, export_file, export_json

pytestmark = pytest.mark.django_db


def test_metadata_fields_are_stored_exported_and_in_the_api(tmp_path: Path):
    library = tmp_path / "photos"
    library.mkdir()
    for name in ("IPTC.jpg", "MWG.jpg", "CanonRaw.cr3"):
        shutil.copyfile(FIXTURES / "exiftool" / name, library / name)
    catalog, _ = analyze(tmp_path / "catalog", library)

    iptc = Asset.objects.get(catalog=catalog, path=str(library / "IPTC.jpg"))
    assert (iptc.keywords, iptc.title, iptc.description) == (["ExifTool", "Test", "IPTC"], "Test IPTC picture",
                                                             "A witty caption")  # fmt: skip
    assert (iptc.taken_at.date().isoformat(), iptc.date_source, iptc.date_confidence) == (
        "2004-02-26", "metadata_date", 0.6)  # fmt: skip
    raw = Asset.objects.get(catalog=catalog, path=str(library / "CanonRaw.cr3"))
    assert (raw.camera_model, raw.lens_model, raw.iso, raw.width, raw.height) == (
        "Canon EOS M50", "EF-M15-45mm f/3.5-6.3 IS STM", 12800, 6000, 4000)  # fmt: skip

    records = {r["path"]: r for r in export_json(tmp_path / "catalog", "assets", tmp_path / "a.json")["assets"]}
    mwg = records[str(library / "MWG.jpg")]
    assert (mwg["keywords"], mwg["rating"]) == (["RIGHT1of2-XMP-Keywords", "RIGHT2of2-XMP-Keywords"], 3)
    assert records[str(library / "CanonRaw.cr3")]["lens_model"] == "EF-M15-45mm f/3.5-6.3 IS STM"
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(
        export_file(tmp_path / "catalog", "assets", "csv", tmp_path / "a.csv")))}  # fmt: skip
    assert rows[str(library / "IPTC.jpg")]["keywords"] == "ExifTool; Test; IPTC"
    assert rows[str(library / "IPTC.jpg")]["title"] == "Test IPTC picture"

    detail = asset_detail(Asset.objects.get(catalog=catalog, path=str(library / "MWG.jpg")))
    assert (detail["rating"], detail["keywords"][0], detail["description"]) == (
        3, "RIGHT1of2-XMP-Keywords", "RIGHT-EXIF-Description")  # fmt: skip
