"""Pairs: a RAW and its JPEG, a Live Photo's picture and video, linked by name or by Apple's ContentIdentifier,
kept in step by every analyze, and shown with each file (API, export, asset page, duplicate review)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.urls import reverse

from catalog.models import Asset, AssetStatus, PairKind
from catalog.services.pairs import link_pairs, pairs_for
from tests.services.helpers import analyze, asset_at, camera_photo, export_csv, export_json

RAW, LIVE = PairKind.RAW_JPEG, PairKind.LIVE_PHOTO
ID = "8F6C2F6E-1D2B-4C3A-9E8F-0A1B2C3D4E5F"


def rows(*specs):
    """(id, path, duration, content_id) rows from (path, duration, content_id) specs, ids from 1."""
    return [(index, path, duration, content_id) for index, (path, duration, content_id) in enumerate(specs, start=1)]


def test_a_raw_leads_its_jpeg_and_a_picture_its_short_video_by_name_in_any_case():
    found = pairs_for(rows(
        ("/p/IMG_1.CR2", None, ""), ("/p/img_1.jpg", None, ""),  # RAW + JPEG
        ("/p/IMG_2.HEIC", None, ""), ("/p/IMG_2.MOV", 2.9, ""),  # Live Photo
        ("/p/IMG_3.DNG", None, ""), ("/p/IMG_3.JPG", None, ""), ("/p/IMG_3.MOV", 3.0, ""),  # both: the RAW leads
    ))  # fmt: skip
    assert found == {2: (1, RAW), 4: (3, LIVE), 6: (5, RAW), 7: (5, LIVE)}


def test_names_alone_never_pair_a_long_video_other_folders_or_a_video_with_another_identifier():
    found = pairs_for(rows(
        ("/p/MVI_1.JPG", None, ""), ("/p/MVI_1.MOV", 95.0, ""),  # a camera's film of the same number
        ("/a/IMG_2.CR2", None, ""), ("/b/IMG_2.JPG", None, ""),  # same name, other folders
        ("/p/IMG_3.JPG", None, ID), ("/p/IMG_3.MOV", 2.0, ID.replace("8F", "00")),  # identifiers differ
        ("/p/IMG_4.PNG", None, ""), ("/p/IMG_4.MOV", 2.0, ""),  # a screenshot is no Live Photo
    ))  # fmt: skip
    assert found == {}


def test_a_shared_content_identifier_pairs_a_renamed_live_photo_across_folders_when_it_is_unambiguous():
    found = pairs_for(rows(
        ("/photos/2021/beach.heic", None, ID), ("/videos/clip_0042.mov", 2.5, ID),
        ("/p/a.jpg", None, "AAAA"), ("/p/b.mov", 2.0, "AAAA"), ("/q/b.mov", 2.0, "AAAA"),  # two videos: left alone
        ("/p/long.jpg", None, "BBBB"), ("/p/long_clip.mov", 300.0, "BBBB"),  # the identifier says so, not the length
    ))  # fmt: skip
    assert found == {2: (1, LIVE), 7: (6, LIVE)}


@pytest.mark.django_db
def test_analyze_links_pairs_and_unlinks_them_when_a_file_goes(tmp_path: Path):
    library = tmp_path / "photos"
    raw = library / "IMG_20190315_142233.CR2"
    library.mkdir()
    raw.write_bytes(b"II*\x00" + os.urandom(1000))
    jpeg = camera_photo(library / "IMG_20190315_142233.JPG")
    catalog, summary = analyze(tmp_path / "catalog", library)
    assert summary.pairs == 1
    assert asset_at(catalog, jpeg).paired_with == asset_at(catalog, raw)

    raw.unlink()
    _, again = analyze(tmp_path / "catalog", library)
    assert asset_at(catalog, raw).status == AssetStatus.MISSING
    assert (asset_at(catalog, jpeg).paired_with, again.pairs) == (None, 0)
    assert link_pairs(catalog) == 0


@pytest.mark.django_db
def test_a_pair_is_shown_with_each_of_its_files(tmp_path: Path, client, admin_user):
    library = tmp_path / "photos"
    library.mkdir()
    raw = library / "IMG_20190315_142233.CR2"
    raw.write_bytes(b"II*\x00" + os.urandom(1000))
    jpeg = camera_photo(library / "IMG_20190315_142233.JPG")
    catalog, _ = analyze(tmp_path / "catalog", library)
    lead, companion = asset_at(catalog, raw), asset_at(catalog, jpeg)
    client.force_login(admin_user)

    detail = client.get(reverse("catalog:api-asset", args=[companion.pk])).json()
    assert (detail["paired_with"], detail["pair_kind"]) == (str(raw), "raw_jpeg")
    assert detail["goes_with"] == [{"id": lead.pk, "path": str(raw), "kind": "raw_jpeg"}]
    assert client.get(reverse("catalog:api-asset", args=[lead.pk])).json()["goes_with"] == [
        {"id": companion.pk, "path": str(jpeg), "kind": "raw_jpeg"}
    ]
    page = client.get(reverse("catalog:asset", args=[lead.pk])).content.decode()
    assert "Goes with" in page and f'{jpeg}</a> <span class="muted">(RAW + JPEG)</span>' in page

    exported = export_json(tmp_path / "catalog", "assets", tmp_path / "assets.json")
    records = {record["path"]: record for record in exported["assets"]}
    assert (records[str(jpeg)]["paired_with"], records[str(jpeg)]["pair_kind"]) == (str(raw), "raw_jpeg")
    assert (records[str(raw)]["paired_with"], records[str(raw)]["pair_kind"]) == (None, "")
    fields, table = export_csv(tmp_path / "catalog", "assets", tmp_path / "assets.csv")
    assert fields[-2:] == ["paired_with", "pair_kind"]
    assert {row["path"]: row["paired_with"] for row in table}[str(jpeg)] == str(raw)
    assert Asset.objects.filter(catalog=catalog, paired_with__isnull=False).count() == 1


@pytest.mark.django_db
def test_a_renamed_live_photo_is_paired_by_its_content_identifier_and_organized_under_one_name(tmp_path: Path):
    from tests.conftest import make_jpeg
    from tests.media.test_content_id import APPLE, KEY, MAKER_NOTE, live_photo_note, live_photo_video
    from tests.services.test_organize import organize

    library = tmp_path / "photos"
    still = make_jpeg(library / "2021" / "beach.jpg", exif=APPLE, exif_ifd={MAKER_NOTE: live_photo_note(),
                      0x9003: "2021:07:04 18:30:05"})  # fmt: skip
    (library / "clips").mkdir()
    video = live_photo_video(library / "clips" / "clip_0042.mov", {"com.apple.quicktime.content.identifier": KEY})
    other = live_photo_video(library / "clips" / "clip_0043.mov", {})  # no key: goes with nothing
    catalog, summary = analyze(tmp_path / "catalog", library)
    picture, clip = asset_at(catalog, still), asset_at(catalog, video)
    assert picture.content_id == clip.content_id == KEY
    assert (clip.paired_with, clip.pair_kind, summary.pairs) == (picture, LIVE, 1)
    assert asset_at(catalog, other).paired_with is None

    organize(catalog, tmp_path / "sorted", operation="move", naming="date_time_original")

    placed = sorted(path.name for path in (tmp_path / "sorted" / "2021" / "07").iterdir())
    assert placed == ["2021-07-04_183005_beach.jpg", "2021-07-04_183005_beach.mov"]
    assert not video.exists() and (tmp_path / "sorted" / "undated" / other.name).exists()  # filed on its own


@pytest.mark.django_db
def test_moving_a_pairs_jpeg_away_alone_unpairs_it_at_the_next_analyze_with_nothing_else_changed(tmp_path: Path):
    """ "Move redundant copies" moves a byte-identical copy alone: its RAW stays, and the pair goes."""
    from catalog.models import DuplicateGroup
    from catalog.services.duplicates import group_set_primary
    from tests.services.test_organize import organize

    library = tmp_path / "photos"
    (library / "DCIM").mkdir(parents=True)
    raw = library / "DCIM" / "IMG_20190315_142233.CR2"
    raw.write_bytes(b"II*\x00" + os.urandom(1000))
    jpeg = camera_photo(library / "DCIM" / "IMG_20190315_142233.JPG")
    backup = library / "backup" / "IMG_20190315_142233.JPG"
    backup.parent.mkdir()
    backup.write_bytes(jpeg.read_bytes())
    catalog, summary = analyze(tmp_path / "catalog", library)
    assert summary.pairs == 1
    group = DuplicateGroup.objects.get(catalog=catalog, kind="exact")
    group_set_primary(group=group, asset=asset_at(catalog, backup))

    organize(catalog, tmp_path / "copies", operation="move", only_redundant=True)
    moved = Asset.objects.get(catalog=catalog, sha256=asset_at(catalog, backup).sha256, path__contains="copies")
    assert moved.paired_with_id is not None  # still linked until the catalog is analyzed again

    _, again = analyze(tmp_path / "catalog", library)
    moved.refresh_from_db()
    assert (again.new, again.changed, again.missing) == (0, 0, 0)
    assert (moved.paired_with, again.pairs) == (None, 0)
