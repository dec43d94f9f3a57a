"""Incremental analyze: unchanged files are not read again, changes are picked up, moves reuse what is known."""

from __future__ import annotations

import builtins
import hashlib
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from catalog.media import analyze as media_analyze
from catalog.media import pool
from catalog.models import Asset
from catalog.services.exports import asset_record
from tests.services.helpers import DERIVED_FIELDS, analyze, asset_at, camera_photo, plain_photo

pytestmark = pytest.mark.django_db

COLORS = [(200, 40, 40), (40, 200, 40), (40, 40, 200)]


@pytest.fixture
def three_photos(library):
    return [camera_photo(library / f"IMG_{i}.jpg", f"2018:0{i + 1}:10 09:00:00", color=c) for i, c in enumerate(COLORS)]


@pytest.fixture
def read_log(monkeypatch):
    """Records every file the (inline, workers=1) analysis opens."""
    paths: list[str] = []
    real = pool.analyze_file

    def spy(path, *args, **kwargs):
        paths.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pool, "analyze_file", spy)
    return paths


@pytest.fixture
def forbid_decoding(monkeypatch):
    """Call it to make any later image decode fail loudly: for runs that must reuse what the catalog knows."""

    def refuse(*args, **kwargs):
        raise AssertionError("this file's content is known to the catalog and must not be decoded again")

    return lambda: monkeypatch.setattr(media_analyze, "_analyze_pillow", refuse)


def rows(catalog):
    return {a.path: a for a in Asset.objects.filter(catalog=catalog)}


def derived(asset):
    return {name: getattr(asset, name) for name in DERIVED_FIELDS}


def test_second_run_reads_nothing_that_did_not_change(library, catalog_dir, three_photos, read_log):
    catalog, first = analyze(catalog_dir, library)
    assert (first.new, first.unchanged) == (3, 0)
    before = {path: (a.analyzed_at, a.updated_at, derived(a)) for path, a in rows(catalog).items()}
    read_log.clear()

    _, second = analyze(catalog_dir, library)

    assert read_log == []
    assert (second.seen, second.new, second.changed, second.unchanged) == (3, 0, 0, 3)
    assert (second.analyzed, second.reused, second.missing) == (0, 0, 0)
    after = {path: (a.analyzed_at, a.updated_at, derived(a)) for path, a in rows(catalog).items()}
    assert after == before


def test_problem_files_are_not_read_again_either(library, catalog_dir, three_photos, read_log):
    (library / "empty.jpg").write_bytes(b"")
    (library / "notes.jpg").write_text("not a picture")
    analyze(catalog_dir, library)
    read_log.clear()

    catalog, second = analyze(catalog_dir, library)

    assert read_log == []
    assert second.unchanged == 5 and second.problems == 2
    assert asset_at(catalog, library / "notes.jpg").problem_kind == "unsupported"


def test_edited_file_is_analyzed_again_and_only_that_one(library, catalog_dir, three_photos, read_log):
    catalog, _ = analyze(catalog_dir, library)
    old = asset_at(catalog, three_photos[1])
    read_log.clear()
    camera_photo(three_photos[1], "2018:02:10 09:00:00", color=(250, 250, 0), size=(120, 90))  # edited in place

    _, summary = analyze(catalog_dir, library)

    assert read_log == [str(three_photos[1])]
    assert (summary.changed, summary.unchanged, summary.new, summary.analyzed) == (1, 2, 0, 1)
    new = asset_at(catalog, three_photos[1])
    assert new.sha256 == hashlib.sha256(three_photos[1].read_bytes()).hexdigest() != old.sha256
    assert (new.width, new.height) == (120, 90)
    assert new.size == three_photos[1].stat().st_size
    assert new.analyzed_at > old.analyzed_at


def test_touched_file_is_checked_again_without_decoding(library, catalog_dir, three_photos, read_log, forbid_decoding):
    catalog, _ = analyze(catalog_dir, library)
    old = asset_at(catalog, three_photos[0])
    read_log.clear()
    forbid_decoding()
    stat = three_photos[0].stat()
    os.utime(three_photos[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 5 * 10**9))

    _, summary = analyze(catalog_dir, library)

    assert read_log == [str(three_photos[0])]
    assert (summary.changed, summary.unchanged, summary.reused, summary.analyzed) == (1, 2, 1, 0)
    new = asset_at(catalog, three_photos[0])
    assert derived(new) == derived(old)
    assert new.mtime_ns == stat.st_mtime_ns + 5 * 10**9


def test_deleted_file_is_marked_missing_and_kept(library, catalog_dir, three_photos):
    catalog, _ = analyze(catalog_dir, library)
    three_photos[2].unlink()

    _, summary = analyze(catalog_dir, library)

    assert (summary.seen, summary.missing, summary.unchanged) == (2, 1, 2)
    by_path = rows(catalog)
    assert by_path[str(three_photos[2])].status == "missing"
    assert by_path[str(three_photos[2])].sha256  # what was known about it is kept
    assert {by_path[str(p)].status for p in three_photos[:2]} == {"ok"}

    _, again = analyze(catalog_dir, library)
    assert again.missing == 0  # already marked: not counted twice
    assert asset_at(catalog, three_photos[2]).status == "missing"


def test_moved_file_becomes_a_new_row_with_the_known_data_without_decoding(library, catalog_dir, forbid_decoding):
    old_path = camera_photo(library / "inbox" / "DSC_0001.jpg", gps=((48.0, 51.0, 24.0), "N", (2.0, 21.0, 0.0), "E"))
    plain_photo(library / "other.jpg")
    catalog, _ = analyze(catalog_dir, library)
    old = asset_at(catalog, old_path)
    new_path = library / "sorted" / "2019" / "DSC_0001-renamed.jpg"
    new_path.parent.mkdir(parents=True)
    shutil.move(old_path, new_path)
    forbid_decoding()

    _, summary = analyze(catalog_dir, library)

    assert (summary.new, summary.reused, summary.analyzed, summary.missing, summary.unchanged) == (1, 1, 0, 1, 1)
    moved = asset_at(catalog, new_path)
    assert moved.status == "ok" and moved.problem_kind == ""
    assert derived(moved) == derived(old)
    assert moved.exif == old.exif and moved.exif["DateTimeOriginal"] == "2019:03:15 14:22:33"
    assert asset_record(moved)["taken_at"] == "2019-03-15T14:22:33"
    assert asset_at(catalog, old_path).status == "missing"
    # Thumbnails are named by content: the moved file still has them.
    assert (catalog_dir / "thumbnails" / "256" / moved.sha256[:2] / f"{moved.sha256}.webp").is_file()


def test_renamed_file_takes_its_date_from_its_new_name(library, catalog_dir, forbid_decoding):
    photo = plain_photo(library / "holiday.jpg")
    catalog, _ = analyze(catalog_dir, library)
    assert asset_at(catalog, photo).date_source == "mtime"
    renamed = photo.rename(library / "IMG_20190315_142233.jpg")
    forbid_decoding()

    _, summary = analyze(catalog_dir, library)

    assert summary.reused == 1
    asset = asset_at(catalog, renamed)
    assert asset.date_source == "filename"
    assert asset_record(asset)["taken_at"] == "2019-03-15T14:22:33"


def test_file_that_reappears_at_a_missing_path_is_ok_again(library, catalog_dir, three_photos, forbid_decoding):
    catalog, _ = analyze(catalog_dir, library)
    original = asset_at(catalog, three_photos[1])
    data, stat = three_photos[1].read_bytes(), three_photos[1].stat()
    three_photos[1].unlink()
    _, gone = analyze(catalog_dir, library)
    assert gone.missing == 1 and asset_at(catalog, three_photos[1]).status == "missing"
    three_photos[1].write_bytes(data)  # restored from a backup, with its old modification time
    os.utime(three_photos[1], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    forbid_decoding()

    _, back = analyze(catalog_dir, library)

    assert (back.missing, back.changed, back.unchanged, back.new) == (0, 1, 2, 0)
    restored = asset_at(catalog, three_photos[1])
    assert restored.status == "ok" and restored.problem_kind == ""
    assert derived(restored) == derived(original)
    assert Asset.objects.filter(catalog=catalog).count() == 3


def test_file_that_comes_back_broken_is_a_problem_not_missing(library, catalog_dir, three_photos):
    catalog, _ = analyze(catalog_dir, library)
    three_photos[0].write_bytes(b"")

    _, summary = analyze(catalog_dir, library)

    asset = asset_at(catalog, three_photos[0])
    assert (asset.status, asset.problem_kind, asset.size) == ("problem", "empty", 0)
    assert asset.width is None and asset.dhash is None  # nothing stale from the old content
    assert summary.changed == 1 and summary.problems == 1


def test_renamed_png_that_now_ends_in_jpg_is_reported_as_wrong_extension(library, catalog_dir):
    """The same bytes at a new path must give the same result as a fresh analysis of that path would."""
    drawing = library / "drawing.png"
    Image.new("RGB", (40, 30), (10, 200, 30)).save(drawing, "PNG")
    catalog, _ = analyze(catalog_dir, library)
    assert asset_at(catalog, drawing).status == "ok"
    renamed = drawing.rename(library / "drawing.jpg")

    analyze(catalog_dir, library)

    asset = asset_at(catalog, renamed)
    assert (asset.status, asset.problem_kind) == ("problem", "wrong_extension")
    assert asset.format == "PNG"


class CancelAfter:
    """A progress reporter whose user presses Cancel once ``count`` files are done."""

    def __init__(self, count: int) -> None:
        self.count, self.done = count, 0

    def update(self, *, phase: str, current: int, total: int | None, message: str = "") -> None:
        if phase == "analyze":
            self.done = current

    def is_cancelled(self) -> bool:
        return self.done >= self.count


def test_cancelled_run_keeps_finished_files_and_the_next_run_finishes(library, catalog_dir, read_log):
    photos = [camera_photo(library / f"p{i}.jpg", color=(40 * i, 100, 100)) for i in range(5)]

    catalog, first = analyze(catalog_dir, library, reporter=CancelAfter(2))

    assert len(read_log) == 2
    kept = set(Asset.objects.filter(catalog=catalog).values_list("path", flat=True))
    assert kept == set(read_log)
    assert {a.status for a in Asset.objects.filter(catalog=catalog)} == {"ok"}
    read_log.clear()

    _, second = analyze(catalog_dir, library)

    assert (second.new, second.unchanged) == (3, 2)
    assert sorted(read_log) == sorted(str(p) for p in photos if str(p) not in kept)
    assert Asset.objects.filter(catalog=catalog, status="ok").count() == 5


def test_link_to_a_drive_that_comes_back_is_ok_again(tmp_path, library, catalog_dir):
    """A photo linked from an external drive: drive unplugged, then plugged in again, file untouched."""
    drive = tmp_path / "drive"
    link = library / "a.jpg"
    link.symlink_to(camera_photo(drive / "a.jpg"))
    catalog, _ = analyze(catalog_dir, library)
    original = asset_at(catalog, link)
    drive.rename(tmp_path / "unplugged")
    analyze(catalog_dir, library)
    assert asset_at(catalog, link).problem_kind == "broken_link"
    (tmp_path / "unplugged").rename(drive)

    analyze(catalog_dir, library)

    back = asset_at(catalog, link)
    assert (back.status, back.problem_kind, back.problem_message) == ("ok", "", "")
    assert derived(back) == derived(original)


def test_file_that_could_not_be_read_is_read_again_next_time(library, catalog_dir, monkeypatch):
    """A read error (permissions since fixed, a network share that dropped) must not stick to an unchanged file."""
    photo = camera_photo(library / "a.jpg")

    def open_denied(path, *args, **kwargs):
        if str(path) == str(photo):
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(media_analyze, "open", open_denied, raising=False)
        catalog, _ = analyze(catalog_dir, library)
    denied = asset_at(catalog, photo)
    assert (denied.status, denied.problem_kind) == ("problem", "unreadable")
    assert "Permission denied" in denied.problem_message

    _, summary = analyze(catalog_dir, library)

    asset = asset_at(catalog, photo)
    assert (asset.status, asset.problem_kind) == ("ok", "")
    assert asset.width == 96 and asset.dhash is not None
    assert summary.problems == 0


def test_copy_whose_known_twin_vanished_mid_run_is_analyzed_in_full(library, catalog_dir, monkeypatch):
    original = camera_photo(library / "a.jpg")
    catalog, _ = analyze(catalog_dir, library)
    twin = asset_at(catalog, original)
    copy = library / "copy of a.jpg"
    shutil.copyfile(original, copy)
    # The twin row is gone by the time the batch is written (deleted or re-analyzed by someone else meanwhile).
    monkeypatch.setattr("catalog.services.analyze._donor_rows", lambda catalog, sha256s: {})

    _, summary = analyze(catalog_dir, library)

    assert (summary.new, summary.reused, summary.analyzed) == (1, 0, 1)
    row = asset_at(catalog, copy)
    assert row.status == "ok"
    assert (row.width, row.height, row.dhash, row.phash) == (twin.width, twin.height, twin.dhash, twin.phash)
    assert row.camera_make == twin.camera_make and row.exif == twin.exif


def test_renamed_copy_of_a_known_clip_takes_its_own_format(library, catalog_dir, tmp_path):
    from tests.media.test_hostile import box, mvhd, tkhd

    clip = library / "clip.mp4"
    clip.write_bytes(
        box(b"ftyp", b"isom\0\0\0\0")
        + box(b"moov", box(b"mvhd", mvhd(3_700_000_000)) + box(b"trak", box(b"tkhd", tkhd(320, 240))))
    )
    catalog, _ = analyze(catalog_dir, library)
    shutil.copyfile(clip, library / "clip.mov")

    _, summary = analyze(catalog_dir, library)

    assert summary.reused == 1
    formats = {Path(path).name: fmt for path, fmt in catalog.assets.values_list("path", "format")}
    assert formats == {"clip.mp4": "MP4", "clip.mov": "MOV"}
