"""catalog_analyze end to end: what a fresh run records about each photo, and what it does with bad files."""

from __future__ import annotations

import hashlib
import os
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from catalog.media import analyze as media_analyze
from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset
from catalog.services.exports import asset_record
from tests.conftest import make_jpeg
from tests.services.helpers import DERIVED_FIELDS, HEX16, analyze, asset_at, camera_photo, plain_photo

pytestmark = pytest.mark.django_db

BERLIN = ((52.0, 31.0, 12.0), "N", (13.0, 24.0, 36.0), "E")  # 52.52, 13.41
RIO = ((22.0, 54.0, 0.0), "S", (43.0, 12.0, 36.0), "W")  # -22.9, -43.21


def test_analyze_records_size_checksum_metadata_date_hashes_and_thumbnails(library, catalog_dir):
    photo = camera_photo(library / "holiday.jpg", make="Canon", model="EOS 5D Mark IV", gps=BERLIN, size=(600, 400))

    catalog, summary = analyze(catalog_dir, library)

    assert (summary.seen, summary.new, summary.analyzed, summary.problems) == (1, 1, 1, 0)
    asset = asset_at(catalog, photo)
    data = photo.read_bytes()
    assert asset.size == len(data)
    assert asset.sha256 == hashlib.sha256(data).hexdigest()
    assert (asset.media_type, asset.format) == ("image", "JPEG")
    assert (asset.width, asset.height) == (600, 400)
    assert asset.status == "ok" and asset.problem_kind == "" and asset.problem_message == ""
    assert (asset.camera_make, asset.camera_model) == ("Canon", "EOS 5D Mark IV")
    assert asset.gps_latitude == pytest.approx(52.52) and asset.gps_longitude == pytest.approx(13.41)
    # The camera's wall-clock time, field for field, and the top-ranked source.
    taken = asset.taken_at
    assert (taken.year, taken.month, taken.day, taken.hour, taken.minute, taken.second) == (2019, 3, 15, 14, 22, 33)
    assert asset_record(asset)["taken_at"] == "2019-03-15T14:22:33"
    assert asset.date_source == "exif_original"
    assert asset.date_confidence >= 0.9 and asset.date_suspicious is False
    assert asset.dhash is not None and asset.phash is not None
    assert re.fullmatch(HEX16, asset.dhash_hex) and re.fullmatch(HEX16, asset.phash_hex)
    assert asset.analyzed_at is not None
    catalog_thumbnails = catalog_dir / "thumbnails"
    for size in (256, 512):
        thumb = catalog_thumbnails / str(size) / asset.sha256[:2] / f"{asset.sha256}.webp"
        assert thumb.is_file(), f"no {size} px thumbnail at {thumb}"
        with Image.open(thumb) as image:
            assert image.format == "WEBP"
            assert image.size == (size, round(size * 400 / 600))  # longest side = size, 3:2 kept
    assert catalog.source_directories == [str(library)]
    assert catalog.last_analyzed_at is not None


def test_analyze_never_modifies_the_source_files(library, catalog_dir):
    photo = camera_photo(library / "a.jpg", gps=BERLIN)
    before, mtime = photo.read_bytes(), photo.stat().st_mtime_ns

    analyze(catalog_dir, library)

    assert photo.read_bytes() == before
    assert photo.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in library.iterdir()) == ["a.jpg"]


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_taken_at_is_the_exif_wall_clock_in_any_server_time_zone(library, catalog_dir, settings, zone):
    # Changing TIME_ZONE also sets the process TZ (Django's setting_changed handler), so both are covered.
    settings.TIME_ZONE = zone
    plain = camera_photo(library / "plain.jpg", "2019:03:15 14:22:33")
    with_offset = camera_photo(library / "tokyo.jpg", "2019:03:15 14:22:33", offset="+09:00", color=(10, 200, 10))
    late = camera_photo(library / "late.jpg", "2019:12:31 23:59:59", color=(10, 10, 200))

    catalog, _ = analyze(catalog_dir, library)

    records = {a.path: asset_record(a) for a in Asset.objects.filter(catalog=catalog)}
    assert records[str(plain)]["taken_at"] == "2019-03-15T14:22:33"
    assert records[str(with_offset)]["taken_at"] == "2019-03-15T14:22:33"
    assert records[str(late)]["taken_at"] == "2019-12-31T23:59:59"
    assert {r["date_source"] for r in records.values()} == {"exif_original"}
    assert asset_at(catalog, with_offset).taken_at_offset == 9 * 60


def test_exif_orientation_is_applied_to_size_and_thumbnails(library, catalog_dir):
    # Stored 120x80 with "rotate 90 CW to display": the photo is a portrait; the bright corner ends top right.
    photo = make_jpeg(library / "portrait.jpg", size=(120, 80), exif={0x0112: 6})

    catalog, _ = analyze(catalog_dir, library)

    asset = asset_at(catalog, photo)
    assert (asset.width, asset.height, asset.orientation) == (80, 120, 6)
    with Image.open(thumbnail_path(catalog.thumbnails_dir, 256, asset.sha256)) as thumb:
        thumb = thumb.convert("RGB")
        assert thumb.size == (80, 120)
        assert min(thumb.getpixel((75, 5))) > 230  # the white block
        assert min(thumb.getpixel((5, 5))) < 150


def test_date_from_the_file_name_when_there_is_no_exif(library, catalog_dir):
    photo = plain_photo(library / "IMG_20190315_142233.jpg")

    catalog, _ = analyze(catalog_dir, library)

    asset = asset_at(catalog, photo)
    assert asset.date_source == "filename"
    assert asset_record(asset)["taken_at"] == "2019-03-15T14:22:33"
    assert asset.camera_make == "" and asset.gps_latitude is None
    assert asset_record(asset)["gps"] is None


def test_photo_without_any_date_falls_back_to_the_modification_time(library, catalog_dir):
    photo = plain_photo(library / "scan.jpg")
    mtime_ns = 1_552_659_753 * 10**9  # 2019-03-15 14:22:33 UTC
    os.utime(photo, ns=(mtime_ns, mtime_ns))

    catalog, _ = analyze(catalog_dir, library)

    asset = asset_at(catalog, photo)
    assert asset.date_source == "mtime"
    assert asset.date_confidence is not None and asset.date_confidence < 0.5
    # The modification time as the server's clock showed it (wall-clock, like every other source).
    assert asset.taken_at.replace(tzinfo=None) == datetime.fromtimestamp(mtime_ns / 1e9)


def test_subfolders_are_scanned_and_non_media_files_ignored(library, catalog_dir):
    camera_photo(library / "2019" / "trip" / "a.jpg")
    plain_photo(library / "b.JPG")
    (library / "notes.txt").write_text("shopping list")
    (library / "trip.xmp").write_text("<x:xmpmeta/>")
    camera_photo(library / ".hidden" / "c.jpg", color=(1, 2, 3))

    catalog, summary = analyze(catalog_dir, library)

    names = sorted(a.path.removeprefix(str(library) + "/") for a in Asset.objects.filter(catalog=catalog))
    assert names == ["2019/trip/a.jpg", "b.JPG"]
    assert summary.seen == 2


def test_byte_identical_copies_are_separate_rows_sharing_a_checksum(library, catalog_dir):
    original = camera_photo(library / "a.jpg")
    copy = library / "backup" / "a copy.jpg"
    copy.parent.mkdir()
    copy.write_bytes(original.read_bytes())

    catalog, summary = analyze(catalog_dir, library)

    rows = Asset.objects.filter(catalog=catalog)
    assert rows.count() == 2 and summary.new == 2
    assert len({row.sha256 for row in rows}) == 1
    assert {row.width for row in rows} == {96}


def test_two_worker_processes_give_the_same_results_as_one(library, tmp_path, monkeypatch):
    colors = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200)]
    for index, color in enumerate(colors):
        camera_photo(library / f"IMG_{index}.jpg", f"2020:0{index + 1}:0{index + 1} 10:00:0{index}", color=color)
    (library / "empty.jpg").write_bytes(b"")

    inline, _ = analyze(tmp_path / "inline-catalog", library, workers=1)

    def not_here(*args, **kwargs):
        raise AssertionError("with two workers the files must be analyzed in the worker processes")

    monkeypatch.setattr("catalog.media.pool.analyze_file", not_here)  # patched in this process only
    pooled, summary = analyze(tmp_path / "pooled-catalog", library, workers=2)

    assert (summary.seen, summary.new, summary.analyzed) == (6, 6, 6)
    fields = [*DERIVED_FIELDS, "status", "problem_kind", "date_confidence"]
    expected = {row["path"]: row for row in Asset.objects.filter(catalog=inline).values("path", *fields)}
    got = {row["path"]: row for row in Asset.objects.filter(catalog=pooled).values("path", *fields)}
    assert got == expected
    assert got[str(library / "IMG_3.jpg")]["taken_at"].isoformat().startswith("2020-04-04T10:00:03")
    for row in got.values():
        if row["status"] == "ok":
            assert thumbnail_path(pooled.thumbnails_dir, 256, row["sha256"]).is_file()


@pytest.mark.parametrize("workers", [1, 2])
def test_bad_files_become_problems_and_the_run_goes_on(library, catalog_dir, workers):
    good = [camera_photo(library / f"good{i}.jpg", color=(60 * i, 90, 30)) for i in range(3)]
    (library / "empty.jpg").write_bytes(b"")
    full = camera_photo(library / "source-of-truncated.bin", color=(5, 5, 5), size=(200, 150)).read_bytes()
    (library / "truncated.jpg").write_bytes(full[: len(full) // 2])
    (library / "notes.jpg").write_text("this is a text file, not a picture\n")

    catalog, summary = analyze(catalog_dir, library, workers=workers)

    assert summary.seen == 6 and summary.problems == 3
    for photo in good:
        asset = asset_at(catalog, photo)
        assert asset.status == "ok" and asset.width == 96 and asset.dhash is not None
    empty = asset_at(catalog, library / "empty.jpg")
    assert (empty.status, empty.problem_kind, empty.size) == ("problem", "empty", 0)
    assert "empty" in empty.problem_message
    truncated = asset_at(catalog, library / "truncated.jpg")
    assert (truncated.status, truncated.problem_kind) == ("problem", "truncated")
    assert "cut short" in truncated.problem_message
    assert truncated.sha256 == hashlib.sha256(full[: len(full) // 2]).hexdigest()
    assert (truncated.width, truncated.height) == (200, 150)  # the header was still read
    text = asset_at(catalog, library / "notes.jpg")
    assert (text.status, text.problem_kind) == ("problem", "unsupported")
    assert "not a readable image" in text.problem_message
    assert text.width is None and text.dhash is None


def test_wrong_extension_is_reported_but_the_picture_is_kept(library, catalog_dir):
    png = library / "drawing.jpg"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(png, "PNG")

    catalog, _ = analyze(catalog_dir, library)

    asset = asset_at(catalog, png)
    assert (asset.status, asset.problem_kind, asset.format) == ("problem", "wrong_extension", "PNG")
    assert "PNG" in asset.problem_message and ".jpg" in asset.problem_message
    assert (asset.width, asset.height) == (40, 30)


def test_undecodable_file_name_is_a_problem_row(library, catalog_dir):
    name = os.fsencode(str(library)) + b"/caf\xe9.jpg"
    camera_photo(library / "tmp.jpg", color=(9, 9, 9)).rename(os.fsdecode(name))

    catalog, summary = analyze(catalog_dir, library)

    asset = Asset.objects.get(catalog=catalog)
    assert asset.path == str(library) + "/caf\\xe9.jpg"
    assert (asset.status, asset.problem_kind) == ("problem", "undecodable_name")
    assert "UTF-8" in asset.problem_message
    assert summary.problems == 1


def test_no_thumbnails_option_writes_no_thumbnails(library, catalog_dir):
    camera_photo(library / "a.jpg")

    catalog, _ = analyze(catalog_dir, library, thumbnails=False)

    assert Asset.objects.get(catalog=catalog).dhash is not None
    assert not list((catalog_dir / "thumbnails").rglob("*.webp"))


def test_path_too_long_to_index_is_reported_and_the_rest_is_cataloged(library, catalog_dir):
    deep = library
    for index in range(12):  # 12 folders of 220 characters: a 2.6 KB path, legal on Linux
        deep = deep / (f"{index:02d}" + "x" * 218)
    deep.mkdir(parents=True)
    plain_photo(deep / "far.jpg")
    plain_photo(library / "near.jpg")

    catalog, summary = analyze(catalog_dir, library)

    assert [Path(path).name for path in catalog.assets.values_list("path", flat=True)] == ["near.jpg"]
    assert len(summary.walk_errors) == 1 and "longer than 2400 bytes" in summary.walk_errors[0]


def test_a_row_the_database_refuses_costs_that_file_only(library, catalog_dir, monkeypatch):
    good = [plain_photo(library / f"good_{index}.jpg", color=(40 * index, 90, 200)) for index in range(3)]
    bad = camera_photo(library / "bad.jpg", make="Canon")
    real_sanitize = media_analyze.sanitize

    def leave_one_nul(result):
        real_sanitize(result)
        if result.path == str(bad):
            result.camera_make = "Can\x00on"  # what an unchecked header would carry: Postgres refuses NUL in text

    monkeypatch.setattr(media_analyze, "sanitize", leave_one_nul)

    catalog, summary = analyze(catalog_dir, library)

    stored = {Path(asset.path).name: asset for asset in catalog.assets.all()}
    assert sorted(stored) == ["bad.jpg", "good_0.jpg", "good_1.jpg", "good_2.jpg"]
    assert all(stored[path.name].status == "ok" and stored[path.name].dhash is not None for path in good)
    assert stored["bad.jpg"].status == "problem" and stored["bad.jpg"].problem_kind == "unstorable"
    assert "database refused" in stored["bad.jpg"].problem_message


def test_mtime_dates_are_wall_clock_in_the_library_time_zone(library, catalog_dir, settings):
    photo = plain_photo(library / "scan.jpg")
    instant = datetime(2020, 6, 2, 3, 30, tzinfo=UTC).timestamp()  # 23:30 the evening before in New York
    os.utime(photo, (instant, instant))
    settings.VAM_TIME_ZONE = "America/New_York"

    catalog, _ = analyze(catalog_dir, library)

    record = asset_record(catalog.assets.get())
    assert (record["taken_at"], record["date_source"]) == ("2020-06-01T23:30:00", "mtime")
