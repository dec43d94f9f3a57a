"""Organize carries each file's sidecars and the other file of its pair in the same journaled step: one name stem
for the group (so the next scan links them again), a move that takes the group whole or not at all, and a
rollback that brings every file back."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from catalog.media import safefs
from catalog.models import Asset, OrganizeStep, PairKind, Sidecar, StepKind, StepState
from catalog.services.exports import plan_export
from catalog.services.organize import organize_resume, organize_rollback
from tests.services.helpers import analyze, asset_at, camera_photo
from tests.services.test_organize import leftovers, organize, steps, tree

pytestmark = pytest.mark.django_db

XMP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:Rating="{rating}">
<dc:subject><rdf:Bag><rdf:li>{keyword}</rdf:li></rdf:Bag></dc:subject>
</rdf:Description></rdf:RDF></x:xmpmeta>"""
TAKEOUT = '{"photoTakenTime": {"timestamp": "1552659753"}, "geoData": {"latitude": 48.85, "longitude": 2.35}}'


def photo_with_sidecars(library: Path) -> Path:
    """IMG_1234.JPG (2019-03-15 14:22:33) with an XMP of its own, a shared-name AAE and a Takeout JSON."""
    photo = camera_photo(library / "trip" / "IMG_1234.JPG")
    (library / "trip" / "IMG_1234.JPG.xmp").write_text(XMP.format(rating=4, keyword="Rome"))
    (library / "trip" / "IMG_1234.AAE").write_text("<plist>edits</plist>")
    (library / "trip" / "IMG_1234.JPG.json").write_text(TAKEOUT)
    return photo


def names(folder: Path) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def sidecar_rows(asset: Asset) -> list[str]:
    return sorted(Path(row.path).name for row in Sidecar.objects.filter(asset=asset))


@pytest.fixture
def library(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder


def test_a_move_takes_the_sidecars_under_the_photos_new_name_and_the_next_scan_reads_nothing_again(tmp_path, library):
    photo = photo_with_sidecars(library)
    camera_photo(library / "IMG_5678.JPG", "2019:04:02 09:00:00", color=(10, 200, 10))
    catalog, _ = analyze(tmp_path / "catalog", library)
    sha = asset_at(catalog, photo).sha256
    out = tmp_path / "sorted"

    job, summary = organize(catalog, out, operation="move")

    stem = f"2019-03-15_142233_{sha[:8]}"
    assert names(out) == sorted([
        f"2019/03/{stem}.JPG", f"2019/03/{stem}.JPG.xmp", f"2019/03/{stem}.AAE", f"2019/03/{stem}.JPG.json",
        f"2019/04/2019-04-02_090000_{asset_at(catalog, out / '2019/04' / names(out / '2019/04')[0]).sha256[:8]}.JPG",
    ])  # fmt: skip
    assert names(library) == []  # nothing left behind
    assert (summary.done, summary.sidecars, summary.failed) == (5, 3, 0)
    moved = Asset.objects.get(catalog=catalog, sha256=sha)
    assert moved.path == str(out / "2019/03" / f"{stem}.JPG")
    assert sidecar_rows(moved) == [f"{stem}.AAE", f"{stem}.JPG.json", f"{stem}.JPG.xmp"]
    lead = next(step for step in steps(job) if step.source == str(photo))
    followers = [step for step in steps(job) if step.follows_id == lead.pk]
    assert [step.seq for step in followers] == [lead.seq + 1, lead.seq + 2, lead.seq + 3]
    assert {step.kind for step in followers} == {StepKind.SIDECAR}

    _, again = analyze(tmp_path / "catalog", out)
    moved.refresh_from_db()
    assert again.unchanged == 2 and again.changed == again.new == 0  # the rows were pointed at the new paths
    assert (moved.rating, moved.keywords) == (4, ["Rome"])
    assert sidecar_rows(moved) == [f"{stem}.AAE", f"{stem}.JPG.json", f"{stem}.JPG.xmp"]


def test_a_copy_takes_the_sidecars_and_leaves_the_originals_together(tmp_path, library):
    photo_with_sidecars(library)
    before = tree(library)
    catalog, _ = analyze(tmp_path / "catalog", library)
    out = tmp_path / "copies"

    _, summary = organize(catalog, out, operation="copy", naming="original")

    assert tree(library) == before
    assert names(out) == ["2019/03/IMG_1234.AAE", "2019/03/IMG_1234.JPG", "2019/03/IMG_1234.JPG.json",
                          "2019/03/IMG_1234.JPG.xmp"]  # fmt: skip
    assert (out / "2019/03/IMG_1234.JPG.xmp").read_bytes() == (library / "trip/IMG_1234.JPG.xmp").read_bytes()
    assert summary.sidecars == 3

    _, again = organize(catalog, out, operation="copy", naming="original")  # the same copy again: all there
    assert (again.present, again.done, again.failed, len(names(out))) == (4, 0, 0, 4)


def test_a_name_taken_for_any_file_of_the_group_moves_the_whole_group_to_the_next_suffix(tmp_path, library):
    photo_with_sidecars(library)
    camera_photo(library / "other" / "IMG_1234.JPG", color=(1, 2, 250))  # same planned name, other content
    (library / "other" / "IMG_1234.xmp").write_text(XMP.format(rating=1, keyword="Other"))
    catalog, _ = analyze(tmp_path / "catalog", library)
    out = tmp_path / "sorted"
    (out / "2019/03").mkdir(parents=True)
    (out / "2019/03/IMG_1234.AAE").write_text("a stranger's file")  # only the AAE's name is taken

    job, summary = organize(catalog, out, operation="move", naming="original")

    assert (out / "2019/03/IMG_1234.AAE").read_text() == "a stranger's file"  # never overwritten
    # No photo takes the stem of the stranger's file either: the next scan would link it to that photo.
    assert sorted(names(out)) == sorted([
        "2019/03/IMG_1234.AAE",
        "2019/03/IMG_1234_001.JPG", "2019/03/IMG_1234_001.xmp",  # other/ comes first in the plan
        "2019/03/IMG_1234_002.JPG", "2019/03/IMG_1234_002.JPG.xmp", "2019/03/IMG_1234_002.AAE",
        "2019/03/IMG_1234_002.JPG.json",
    ])  # fmt: skip
    assert summary.failed == 0 and summary.conflicts == 6
    _, again = analyze(tmp_path / "catalog", out)
    renamed = asset_at(catalog, out / "2019/03/IMG_1234_002.JPG")
    assert sidecar_rows(renamed) == ["IMG_1234_002.AAE", "IMG_1234_002.JPG.json", "IMG_1234_002.JPG.xmp"]
    assert sidecar_rows(asset_at(catalog, out / "2019/03/IMG_1234_001.JPG")) == ["IMG_1234_001.xmp"]


def test_a_move_whose_sidecar_cannot_be_placed_moves_nothing_of_that_group(tmp_path, library, settings, monkeypatch):
    photo = photo_with_sidecars(library)
    other = camera_photo(library / "IMG_5678.JPG", "2019:04:02 09:00:00", color=(10, 200, 10))
    catalog, _ = analyze(tmp_path / "catalog", library)
    settings.VAM_ORGANIZE_MOVE_BY_LINK = False  # copy the bytes, as across file systems
    copy = safefs.copy_durably

    def disk_full_for_the_aae(source: str, temp: str) -> None:
        if source.endswith(".AAE"):
            raise OSError(errno.ENOSPC, "No space left on device", temp)
        copy(source, temp)

    monkeypatch.setattr(safefs, "copy_durably", disk_full_for_the_aae)
    out = tmp_path / "sorted"

    job, summary = organize(catalog, out, operation="move")

    assert names(library) == ["trip/IMG_1234.AAE", "trip/IMG_1234.JPG", "trip/IMG_1234.JPG.json",
                              "trip/IMG_1234.JPG.xmp"]  # fmt: skip
    assert not os.path.lexists(other)
    assert [path for path in names(out) if path.startswith("2019/03")] == []  # the group was taken back out
    assert leftovers(out) == []
    by_name = {Path(step.source).name: step for step in steps(job)}
    assert by_name["IMG_1234.AAE"].reason.startswith("the disk is full")
    assert by_name["IMG_1234.JPG"].reason.startswith("not moved: IMG_1234.AAE, which goes with it, failed")
    assert {by_name[name].state for name in ("IMG_1234.JPG", "IMG_1234.JPG.xmp", "IMG_1234.AAE")} == {"failed"}
    assert asset_at(catalog, photo).path == str(photo)
    assert (summary.done, summary.failed) == (1, 4)


def test_a_rollback_of_a_move_brings_the_sidecars_back_and_points_the_catalog_at_them(tmp_path, library):
    photo = photo_with_sidecars(library)
    before = tree(library)
    catalog, _ = analyze(tmp_path / "catalog", library)
    out = tmp_path / "sorted"
    job, _ = organize(catalog, out, operation="move")
    assert names(library) == []

    summary = organize_rollback(catalog=catalog, journal=job)

    assert tree(library) == before and names(out) == []
    assert summary.rolled_back == 4
    asset = asset_at(catalog, photo)
    assert sidecar_rows(asset) == ["IMG_1234.AAE", "IMG_1234.JPG.json", "IMG_1234.JPG.xmp"]
    assert all(row.path.startswith(str(library)) for row in Sidecar.objects.filter(asset=asset))


def test_a_move_resumed_after_a_crash_with_its_photo_placed_carries_the_sidecars_before_any_source_goes(
    tmp_path, library
):
    """The crash: the photo verified and linked at its target (PLACED), its sidecars not begun."""
    photo = photo_with_sidecars(library)
    catalog, _ = analyze(tmp_path / "catalog", library)
    out = tmp_path / "sorted"
    job, _ = organize(catalog, out, operation="move", dry_run=True)
    job.params["dry_run"] = False
    job.save(update_fields=["params"])
    lead = next(step for step in steps(job) if step.source == str(photo))
    os.makedirs(os.path.dirname(lead.target))
    os.link(photo, lead.target)
    device, inode = safefs.identity(lead.target)
    OrganizeStep.objects.filter(pk=lead.pk).update(state=StepState.PLACED, file_device=device, file_inode=inode)
    assert os.path.exists(photo)

    summary = organize_resume(catalog=catalog, journal=job)

    assert names(library) == []
    stem = Path(lead.target).stem
    assert names(out) == sorted(f"2019/03/{stem}{tail}" for tail in (".JPG", ".JPG.xmp", ".AAE", ".JPG.json"))
    assert summary.done == 4 and summary.failed == 0


def fake_raw(path: Path) -> Path:
    """A RAW file's bytes as far as organize cares: content, and a date in its name (the JPEG's date differs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"II*\x00" + os.urandom(2000))
    return path


def test_a_raw_and_its_jpeg_are_filed_together_under_the_raws_name_with_their_sidecars(tmp_path, library):
    raw = fake_raw(library / "DCIM" / "IMG_20190315_142233.CR2")
    jpeg = camera_photo(library / "DCIM" / "img_20190315_142233.jpg", "2019:05:01 10:00:00")
    (library / "DCIM" / "IMG_20190315_142233.xmp").write_text(XMP.format(rating=5, keyword="Best"))
    catalog, _ = analyze(tmp_path / "catalog", library)
    raw_asset, jpeg_asset = asset_at(catalog, raw), asset_at(catalog, jpeg)
    assert (jpeg_asset.paired_with_id, jpeg_asset.pair_kind) == (raw_asset.pk, PairKind.RAW_JPEG)
    assert sidecar_rows(raw_asset) == ["IMG_20190315_142233.xmp"]
    out = tmp_path / "sorted"

    job, summary = organize(catalog, out, operation="move")

    stem = f"2019-03-15_142233_{raw_asset.sha256[:8]}"  # the RAW's date and checksum name both
    assert names(out) == [f"2019/03/{stem}.CR2", f"2019/03/{stem}.jpg", f"2019/03/{stem}.xmp"]
    assert names(library) == []
    assert (summary.pairs, summary.sidecars) == (1, 1)
    _, again = analyze(tmp_path / "catalog", out)
    assert again.unchanged == 2
    jpeg_asset.refresh_from_db()
    assert (jpeg_asset.path, jpeg_asset.paired_with_id) == (str(out / f"2019/03/{stem}.jpg"), raw_asset.pk)

    organize_rollback(catalog=catalog, journal=job)
    assert names(library) == ["DCIM/IMG_20190315_142233.CR2", "DCIM/IMG_20190315_142233.xmp",
                              "DCIM/img_20190315_142233.jpg"]  # fmt: skip


def test_a_live_photo_moves_with_its_video_and_a_move_that_cannot_take_the_video_keeps_both(tmp_path, library):
    still = camera_photo(library / "IMG_0001.JPG", "2021:07:04 18:30:00")
    video = library / "IMG_0001.MOV"
    video.write_bytes(b"\x00\x00\x00\x14ftypqt  " + os.urandom(500))  # the clip as bytes; organize needs no more
    kept = camera_photo(library / "IMG_0002.JPG", "2021:07:04 18:31:00", color=(9, 9, 9))
    (tmp_path / "elsewhere").mkdir()
    target = tmp_path / "elsewhere" / "clip.MOV"
    target.write_bytes(os.urandom(300))
    (library / "IMG_0002.MOV").symlink_to(target)  # a symbolic link is never moved
    catalog, _ = analyze(tmp_path / "catalog", library)
    clip = asset_at(catalog, video)
    assert (clip.paired_with_id, clip.pair_kind) == (asset_at(catalog, still).pk, PairKind.LIVE_PHOTO)
    out = tmp_path / "sorted"

    job, summary = organize(catalog, out, operation="move", naming="original")

    assert names(out) == ["2021/07/IMG_0001.JPG", "2021/07/IMG_0001.MOV"]
    reasons = {Path(step.source).name: step.reason for step in steps(job) if step.state == StepState.SKIPPED}
    assert reasons["IMG_0002.JPG"].startswith("goes with IMG_0002.MOV, which cannot be moved: a symbolic link")
    assert os.path.exists(kept) and os.path.islink(library / "IMG_0002.MOV")
    assert summary.skipped_reasons["goes with"] >= 1


def test_the_plan_export_says_which_file_each_sidecar_goes_with(tmp_path, library):
    photo_with_sidecars(library)
    catalog, _ = analyze(tmp_path / "catalog", library)
    job, _ = organize(catalog, tmp_path / "sorted", operation="copy", dry_run=True)
    out = tmp_path / "plan.json"
    with out.open("w") as stream:
        plan_export(journal=job, fmt="json", stream=stream)
    records = json.loads(out.read_text())["steps"]
    assert [(record["kind"], record["goes_with"]) for record in records] == [
        ("media", None), ("sidecar", 1), ("sidecar", 1), ("sidecar", 1)
    ]  # fmt: skip


def test_a_camera_video_moves_with_its_thm_thumbnail(tmp_path, library):
    video = library / "VID_20200101_101500.MP4"
    video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(800))  # dated by its name
    (library / "VID_20200101_101500.THM").write_bytes(os.urandom(400))
    catalog, _ = analyze(tmp_path / "catalog", library)
    assert sidecar_rows(asset_at(catalog, video)) == ["VID_20200101_101500.THM"]

    _, summary = organize(catalog, tmp_path / "sorted", operation="move", naming="original")

    assert names(tmp_path / "sorted") == ["2020/01/VID_20200101_101500.MP4", "2020/01/VID_20200101_101500.THM"]
    assert names(library) == [] and summary.sidecars == 1
