"""Near-duplicate videos through a whole analyze: sampled frames stored, groups of their own kind with the longest
copy as primary, the review page with poster frames side by side, the export, and the review decisions kept."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from catalog.models import Asset, DuplicateGroup, GroupKind
from catalog.services.analyze import catalog_analyze, catalog_get_or_create
from catalog.services.duplicates import catalog_find_duplicates, group_dismiss
from catalog.services.exports import catalog_export_chunks

FFMPEG = shutil.which("ffmpeg")
pytestmark = [pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed"), pytest.mark.django_db]


def ffmpeg(*args: str) -> None:
    assert FFMPEG is not None
    subprocess.run([FFMPEG, "-v", "error", "-y", *args], check=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """An original (12 s, 320x240, with its camera's make and model), three copies of it (another codec and
    container, 10 % cut from the start, half the size) that lose the camera's tags, and an unrelated video."""
    folder = tmp_path_factory.mktemp("videos")
    original = folder / "VID_20240501_101500.mp4"
    tags = ["-movflags", "use_metadata_tags", "-metadata", "com.apple.quicktime.make=Google",
            "-metadata", "com.apple.quicktime.model=Pixel 8"]  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10:duration=12", "-c:v", "libx264", "-preset",
           "veryfast", "-g", "20", "-pix_fmt", "yuv420p", *tags, str(original))  # fmt: skip
    ffmpeg("-i", str(original), "-c:v", "mpeg4", "-q:v", "5", str(folder / "reencoded.avi"))
    ffmpeg("-ss", "1.2", "-i", str(original), "-c:v", "libx264", "-preset", "veryfast", str(folder / "trimmed.mp4"))
    ffmpeg("-i", str(original), "-vf", "scale=160:120", "-c:v", "libx264", "-preset", "veryfast",
           str(folder / "small.mp4"))  # fmt: skip
    ffmpeg("-f", "lavfi", "-i", "mandelbrot=size=320x240:rate=10", "-t", "12", "-c:v", "libx264", "-preset",
           "veryfast", "-pix_fmt", "yuv420p", str(folder / "other.mp4"))  # fmt: skip
    return folder


@pytest.fixture
def analyzed(clips, tmp_path):
    videos = tmp_path / "videos"
    shutil.copytree(clips, videos)
    catalog = catalog_get_or_create(path=tmp_path / "catalog")
    summary = catalog_analyze(catalog=catalog, sources=[str(videos)], workers=2)
    return catalog, videos, summary


def test_copies_of_a_video_form_one_group_with_the_original_kept(analyzed):
    catalog, videos, summary = analyzed
    assert summary.duplicates is not None
    assert summary.duplicates.videos == 5 and summary.duplicates.video_groups == 1
    assert Asset.objects.filter(catalog=catalog, video_signature__isnull=False).count() == 5
    group = DuplicateGroup.objects.get(catalog=catalog, kind=GroupKind.VIDEO)
    members = {Path(m.asset.path).name: m for m in group.members.select_related("asset")}
    assert set(members) == {"VID_20240501_101500.mp4", "reencoded.avi", "trimmed.mp4", "small.mp4"}
    assert group.primary is not None and Path(group.primary.path).name == "VID_20240501_101500.mp4"
    assert group.primary.camera_model == "Pixel 8"  # (the re-encode is larger: the camera's tags decide)
    assert members["trimmed.mp4"].edit == "trimmed at the start"
    assert members["small.mp4"].edit == "scaled down"
    assert members["reencoded.avi"].edit == "re-encoded"
    assert all(m.distance <= 16 for m in members.values())


def test_the_review_page_shows_the_videos_posters_side_by_side(analyzed, admin_client):
    catalog, _, _ = analyzed
    group = DuplicateGroup.objects.get(catalog=catalog, kind=GroupKind.VIDEO)
    page = admin_client.get(f"/duplicates/{group.pk}/").content.decode()
    assert page.count('<section class="card member') == 4 and page.count("<img src=") == 4
    assert "Similar videos group" in page and "Trimmed at the start" in page and "0:12" in page
    assert "Not the same video" in page and "None of these are the same video" in page


def test_the_export_names_the_kind_and_a_rerun_keeps_the_group(analyzed):
    catalog, _, _ = analyzed
    group = DuplicateGroup.objects.get(catalog=catalog, kind=GroupKind.VIDEO)
    document = json.loads("".join(catalog_export_chunks(catalog=catalog, kind="duplicates", fmt="json")))
    videos = [g for g in document["groups"] if g["kind"] == "video"]
    assert len(videos) == 1 and videos[0]["primary"].endswith("VID_20240501_101500.mp4")
    assert len(videos[0]["members"]) == 4
    catalog_find_duplicates(catalog=catalog)
    assert DuplicateGroup.objects.get(catalog=catalog, kind=GroupKind.VIDEO).pk == group.pk


def test_videos_marked_not_duplicates_are_not_grouped_again(analyzed):
    catalog, _, _ = analyzed
    group_dismiss(group=DuplicateGroup.objects.get(catalog=catalog, kind=GroupKind.VIDEO))
    summary = catalog_find_duplicates(catalog=catalog)
    assert summary.video_groups == 0
    assert not DuplicateGroup.objects.filter(catalog=catalog, kind=GroupKind.VIDEO).exists()
