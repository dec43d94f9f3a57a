"""`manage.py export`: the assets and problems formats of DESIGN.md, field for field, in JSON and CSV."""

from __future__ import annotations

import hashlib
import io
import re

import pytest
from django.core.management import CommandError, call_command

from tests.services.helpers import (
    ASSET_KEYS,
    HEX16,
    PROBLEM_KEYS,
    analyze,
    camera_photo,
    export_csv,
    export_file,
    export_json,
    plain_photo,
)

pytestmark = pytest.mark.django_db

PARIS = ((48.0, 51.0, 24.0), "N", (2.0, 21.0, 0.0), "E")  # 48.8566..., 2.35


@pytest.fixture
def analyzed(library, catalog_dir):
    """A catalog with a camera photo (GPS), a photo dated by its name, a non-ASCII name and two bad files."""
    camera_photo(library / "camera.jpg", "2021:07:04 18:30:05", make="NIKON CORPORATION", model="NIKON D750", gps=PARIS)
    plain_photo(library / "IMG_20190315_142233.jpg")
    camera_photo(library / "Zürich café.jpg", "2020:01:02 03:04:05", color=(20, 220, 90))
    (library / "empty.jpg").write_bytes(b"")
    (library / "notes.jpg").write_text("not a picture")
    analyze(catalog_dir, library)
    return library


def test_assets_json_matches_the_contract(analyzed, catalog_dir, tmp_path):
    library = analyzed
    document = export_json(catalog_dir, "assets", tmp_path / "assets.json")

    assert list(document) == ["catalog", "assets"]
    assert document["catalog"] == str(catalog_dir.resolve())
    assets = {record["path"]: record for record in document["assets"]}
    assert sorted(assets) == sorted(
        str(library / n) for n in ["camera.jpg", "IMG_20190315_142233.jpg", "Zürich café.jpg", "empty.jpg", "notes.jpg"]
    )
    for record in assets.values():
        assert list(record) == ASSET_KEYS

    camera = assets[str(library / "camera.jpg")]
    data = (library / "camera.jpg").read_bytes()
    assert camera["size"] == len(data)
    assert camera["sha256"] == hashlib.sha256(data).hexdigest()
    assert (camera["media_type"], camera["format"], camera["width"], camera["height"]) == ("image", "JPEG", 96, 64)
    assert camera["taken_at"] == "2021-07-04T18:30:05"
    assert (camera["date_source"], camera["date_suspicious"]) == ("exif_original", False)
    assert isinstance(camera["date_confidence"], float) and 0 < camera["date_confidence"] <= 1
    assert (camera["camera_make"], camera["camera_model"]) == ("NIKON CORPORATION", "NIKON D750")
    assert isinstance(camera["gps"], list) and len(camera["gps"]) == 2
    assert camera["gps"] == [pytest.approx(48.8566667), pytest.approx(2.35)]
    assert re.fullmatch(HEX16, camera["dhash"]) and re.fullmatch(HEX16, camera["phash"])
    assert (camera["status"], camera["problem"]) == ("ok", "")

    named = assets[str(library / "IMG_20190315_142233.jpg")]
    assert (named["taken_at"], named["date_source"]) == ("2019-03-15T14:22:33", "filename")
    assert named["gps"] is None and named["camera_make"] == ""
    assert assets[str(library / "Zürich café.jpg")]["taken_at"] == "2020-01-02T03:04:05"

    bad = assets[str(library / "notes.jpg")]
    assert bad["status"] == "problem"
    assert "not a readable image" in bad["problem"]
    assert bad["width"] is None and bad["gps"] is None


def test_assets_csv_has_the_contract_columns_and_one_row_per_asset(analyzed, catalog_dir, tmp_path):
    library = analyzed
    header, rows = export_csv(catalog_dir, "assets", tmp_path / "assets.csv")
    document = export_json(catalog_dir, "assets", tmp_path / "assets.json")

    assert header == ASSET_KEYS
    assert len(rows) == len(document["assets"]) == 5
    by_path = {row["path"]: row for row in rows}
    camera = by_path[str(library / "camera.jpg")]
    as_json = next(r for r in document["assets"] if r["path"] == camera["path"])
    for key in ("size", "sha256", "media_type", "format", "width", "height", "taken_at", "date_source",
                "camera_make", "camera_model", "orientation", "dhash", "phash", "status", "problem"):  # fmt: skip
        expected = "" if as_json[key] is None else str(as_json[key])
        assert camera[key] == expected, key
    latitude, longitude = (float(part) for part in camera["gps"].split(","))
    assert (latitude, longitude) == (pytest.approx(48.8566667), pytest.approx(2.35))
    assert by_path[str(library / "IMG_20190315_142233.jpg")]["gps"] == ""
    assert str(library / "Zürich café.jpg") in by_path
    assert "not a readable image" in by_path[str(library / "notes.jpg")]["problem"]


def test_problems_json_and_csv(analyzed, catalog_dir, tmp_path):
    library = analyzed
    document = export_json(catalog_dir, "problems", tmp_path / "problems.json")
    header, rows = export_csv(catalog_dir, "problems", tmp_path / "problems.csv")

    assert list(document) == ["catalog", "problems"]
    assert document["catalog"] == str(catalog_dir.resolve())
    for record in document["problems"]:
        assert list(record) == PROBLEM_KEYS
    kinds = {record["path"]: record["kind"] for record in document["problems"]}
    assert kinds == {str(library / "empty.jpg"): "empty", str(library / "notes.jpg"): "unsupported"}
    assert all(record["message"] for record in document["problems"])
    assert header == PROBLEM_KEYS
    assert [(row["path"], row["kind"], row["message"]) for row in rows] == [
        (r["path"], r["kind"], r["message"]) for r in document["problems"]
    ]


def test_missing_files_are_exported_with_their_status(analyzed, catalog_dir, tmp_path):
    (analyzed / "camera.jpg").unlink()
    analyze(catalog_dir, analyzed)

    document = export_json(catalog_dir, "assets", tmp_path / "assets.json")

    statuses = {record["path"]: record["status"] for record in document["assets"]}
    assert statuses[str(analyzed / "camera.jpg")] == "missing"
    assert statuses[str(analyzed / "Zürich café.jpg")] == "ok"


def test_empty_catalog_exports_valid_json_and_a_header_only_csv(library, catalog_dir, tmp_path):
    analyze(catalog_dir, library)

    assert export_json(catalog_dir, "assets", tmp_path / "a.json") == {
        "catalog": str(catalog_dir.resolve()),
        "assets": [],
    }
    assert export_json(catalog_dir, "problems", tmp_path / "p.json") == {
        "catalog": str(catalog_dir.resolve()),
        "problems": [],
    }
    header, rows = export_csv(catalog_dir, "assets", tmp_path / "a.csv")
    assert (header, rows) == (ASSET_KEYS, [])


def test_catalog_path_may_be_given_relative_or_with_a_trailing_slash(analyzed, catalog_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(catalog_dir.parent)
    out = tmp_path / "assets.json"
    call_command("export", catalog_dir.name + "/", "assets", "-o", str(out), stderr=io.StringIO())

    assert '"assets"' in out.read_text(encoding="utf-8")
    assert export_json(catalog_dir, "assets", tmp_path / "again.json")["catalog"] == str(catalog_dir.resolve())


def test_export_of_an_unknown_catalog_says_to_run_analyze_first(tmp_path):
    with pytest.raises(CommandError, match="run analyze first"):
        call_command("export", str(tmp_path / "never-analyzed"), "assets", "-o", str(tmp_path / "out.json"))
    assert not (tmp_path / "out.json").exists()


def test_export_to_standard_output(analyzed, catalog_dir, capsys):
    call_command("export", str(catalog_dir), "problems", "--format", "csv")

    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "path,kind,message"
    assert len(lines) == 3


def test_export_to_an_unwritable_place_is_a_clear_error(analyzed, catalog_dir, tmp_path):
    with pytest.raises(CommandError, match="cannot write"):
        export_file(catalog_dir, "assets", "json", tmp_path / "no-such-folder" / "assets.json")
