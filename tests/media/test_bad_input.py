"""Bad input never raises: each kind becomes a problem, and whatever could still be read is kept."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog.media.analyze import AnalyzeOptions, FileAnalysis, Problem, analyze_file
from catalog.media.dates import capture_date
from tests.conftest import FIXTURES, exif_date, make_jpeg


def analyze(path: Path, **options) -> FileAnalysis:
    return analyze_file(str(path), AnalyzeOptions(**options))


def test_zero_byte_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.jpg"
    path.write_bytes(b"")
    result = analyze(path)
    assert result.problem_kind == Problem.EMPTY
    assert "0 bytes" in result.problem_message
    assert result.width is None and result.dhash is None


@pytest.mark.parametrize("name", ["IMG_0001.jpg", "clip.mp4"])
def test_zero_byte_file_is_empty_whatever_its_kind(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"")
    assert analyze(path).problem_kind == Problem.EMPTY


def test_one_byte_file_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "image_invalid.jpg"
    path.write_bytes(b"\xff")
    result = analyze(path)
    assert result.problem_kind == Problem.UNSUPPORTED
    assert result.sha256 == hashlib.sha256(b"\xff").hexdigest()
    assert result.size == 1


def test_text_named_as_an_image_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("these are my holiday notes, not a picture\n" * 20)
    result = analyze(path, thumbnails_root=str(tmp_path / "thumbs"))
    assert result.problem_kind == Problem.UNSUPPORTED
    assert result.thumbnails == []
    assert not (tmp_path / "thumbs").exists()


def test_truncated_jpeg_fixture(tmp_path: Path) -> None:
    result = analyze(FIXTURES / "truncated_jpeg.jpg", thumbnails_root=str(tmp_path / "thumbs"))
    assert result.problem_kind == Problem.TRUNCATED
    assert (
        result.problem_message == "the picture data is cut short: the file ends before the picture does; "
        "the metadata was kept"
    )  # one sentence, not Pillow's nested "(image file is truncated (8 bytes …))"
    assert (result.width, result.height) == (100, 100)
    assert result.thumbnails == []


def test_truncated_jpeg_keeps_its_metadata(tmp_path: Path) -> None:
    taken = datetime(2019, 3, 15, 14, 22, 33)
    whole = make_jpeg(
        tmp_path / "whole.jpg",
        size=(400, 300),
        exif={0x010F: "Canon", 0x0110: "Canon EOS 80D"},
        exif_ifd={0x9003: exif_date(taken)},
    )
    data = whole.read_bytes()
    cut = tmp_path / "IMG_1234.jpg"
    cut.write_bytes(data[: len(data) // 2])
    result = analyze(cut)
    assert result.problem_kind == Problem.TRUNCATED
    assert (result.camera_make, result.camera_model) == ("Canon", "Canon EOS 80D")
    assert (result.width, result.height) == (400, 300)
    assert result.sha256 == hashlib.sha256(data[: len(data) // 2]).hexdigest()
    chosen = capture_date(result.dates, result.path, result.mtime_ns)
    assert (chosen.source, chosen.taken_at) == ("exif_original", taken)


def test_truncated_png_keeps_its_size() -> None:
    result = analyze(FIXTURES / "png_331x90x8_truncated.png")
    assert result.problem_kind == Problem.TRUNCATED
    assert (result.width, result.height) == (331, 90)
    assert result.format == "PNG"


def test_decompression_bomb_gif() -> None:
    result = analyze(FIXTURES / "decompression_bomb.gif")
    assert result.problem_kind == Problem.BOMB
    assert result.problem_message == (
        "refused as a decompression bomb: 4,364,696,535 pixels, more than the 240,000,000 allowed "
        "(VAM_MAX_IMAGE_PIXELS)"
    )
    assert result.sha256 == hashlib.sha256((FIXTURES / "decompression_bomb.gif").read_bytes()).hexdigest()
    assert result.dhash is None


def test_image_far_above_the_pixel_limit_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGB", (200, 200), (9, 9, 9)).save(path)
    result = analyze(path, max_image_pixels=10_000)  # 40 000 pixels: four times the limit
    assert result.problem_kind == Problem.BOMB
    assert result.dhash is None
    # The limit is per call, not stuck in the process: a normal run decodes the same file.
    assert analyze(path).problem_kind == ""


def test_png_named_jpg_is_wrong_extension_but_fully_analyzed(tmp_path: Path) -> None:
    path = tmp_path / "holiday.jpg"
    make_jpeg(tmp_path / "src.jpg", size=(90, 60))
    with Image.open(tmp_path / "src.jpg") as source:
        source.save(path, "PNG")
    result = analyze(path, thumbnails_root=str(tmp_path / "thumbs"), sizes=(64,))
    assert result.problem_kind == Problem.WRONG_EXTENSION
    assert "PNG" in result.problem_message and ".jpg" in result.problem_message
    assert result.format == "PNG"
    assert (result.width, result.height) == (90, 60)
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.dhash is not None and result.phash is not None
    assert result.thumbnails == [64]


def test_jpeg_named_heic_is_wrong_extension(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "IMG_0001.HEIC")
    result = analyze(path)
    assert result.problem_kind == Problem.WRONG_EXTENSION
    assert (result.width, result.height) == (64, 48)


@pytest.mark.parametrize("name", ["a.jpeg", "a.JPG", "a.jpe", "a.jfif"])
def test_jpeg_spellings_are_not_wrong_extension(tmp_path: Path, name: str) -> None:
    assert analyze(make_jpeg(tmp_path / name)).problem_kind == ""


@pytest.mark.parametrize("fixture", ["broken-exif-tag.jpg", "broken_exif_dpi.jpg", "exif-ifd-offset.jpg"])
def test_broken_exif_keeps_pixels_and_hashes(tmp_path: Path, fixture: str) -> None:
    result = analyze(FIXTURES / fixture, thumbnails_root=str(tmp_path / "thumbs"), sizes=(64,))
    assert result.problem_kind == Problem.BAD_EXIF
    assert result.problem_message
    assert result.width and result.height
    assert result.dhash is not None and result.phash is not None
    assert result.sha256
    assert result.thumbnails == [64]


def test_broken_gps_offset_keeps_the_rest_of_the_exif() -> None:
    result = analyze(FIXTURES / "broken-exif-tag.jpg")
    assert (result.camera_make, result.camera_model) == ("samsung", "SM-G9600")
    assert result.orientation is None  # Orientation 0
    assert result.gps is None
    assert capture_date(result.dates, result.path, None).taken_at == datetime(2022, 12, 31, 8, 6, 40)


def test_directory_named_like_an_image_is_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "x.jpg"
    path.mkdir()
    result = analyze(path)
    assert result.problem_kind == Problem.UNREADABLE
    assert "cannot read file" in result.problem_message


def test_file_gone_after_the_walk_is_unreadable(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "IMG_0001.jpg")
    stat = path.stat()
    path.unlink()  # removed between the walk (which took size and mtime) and the analysis
    result = analyze_file(str(path), AnalyzeOptions(), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    assert result.problem_kind == Problem.UNREADABLE
    assert "No such file" in result.problem_message


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    result = analyze(tmp_path / "missing.mp4")
    assert result.problem_kind == Problem.UNREADABLE


def test_raw_without_image_data_keeps_its_exif() -> None:
    result = analyze(FIXTURES / "canon.raw.cr2")
    assert result.problem_kind == Problem.CORRUPT
    assert "metadata was kept" in result.problem_message
    assert result.format == "RAW/CR2"
    assert (result.camera_make, result.camera_model) == ("Canon", "Canon EOS REBEL T5i")
    assert result.lens_model == "EF-S18-135mm f/3.5-5.6 IS STM"
    assert result.exposure_time == pytest.approx(1 / 60)
    assert (result.f_number, result.iso, result.focal_length) == (4.0, 200, 18.0)
    chosen = capture_date(result.dates, result.path, result.mtime_ns)
    assert (chosen.source, chosen.taken_at) == ("exif_original", datetime(2015, 11, 15, 13, 35, 29))


def test_raw_exif_subset_stores_numbers_like_other_files() -> None:
    # The stored EXIF shows one kind of value per field: a JPEG's ExposureTime is 0.02, so a RAW's must not be [1, 60].
    result = analyze(FIXTURES / "canon.raw.cr2")
    assert result.exif["ExposureTime"] == pytest.approx(1 / 60, abs=1e-6)
    assert result.exif["FNumber"] == pytest.approx(4.0)
    assert result.exif["FocalLength"] == pytest.approx(18.0)


def test_garbage_raw_is_a_problem(tmp_path: Path) -> None:
    path = tmp_path / "DSC_0001.NEF"
    path.write_bytes(os.urandom(2048))
    result = analyze(path)
    assert result.problem_kind in (Problem.CORRUPT, Problem.BAD_EXIF)
    assert result.format == "RAW/NEF"


def test_corrupt_jpeg_body_is_a_problem(tmp_path: Path) -> None:
    data = bytearray(make_jpeg(tmp_path / "ok.jpg", size=(200, 150)).read_bytes())
    start = data.index(b"\xff\xda")  # start of scan
    data[start + 20 :] = b"\x00" * (len(data) - start - 22) + b"\xff\xd9"
    path = tmp_path / "zeros.jpg"
    path.write_bytes(bytes(data))
    result = analyze(path)  # decodes to grey garbage or fails: either way it returns
    assert (result.width, result.height) == (200, 150)


def test_nothing_raises_for_any_fixture_copied_under_any_media_name(tmp_path: Path) -> None:
    for fixture in sorted(FIXTURES.iterdir()):
        if fixture.is_dir() or fixture.suffix == ".md":
            continue
        for extension in (".jpg", ".png", ".heic", ".cr2", ".mp4", ".mkv", ".avi"):
            target = tmp_path / f"{fixture.stem}{extension}"
            shutil.copyfile(fixture, target)
            result = analyze(target, thumbnails_root=str(tmp_path / "thumbs"), sizes=(32,))
            assert isinstance(result, FileAnalysis)
            assert result.sha256 or result.problem_kind, target.name
            target.unlink()


def test_truncated_heic_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    noise = np.random.default_rng(1).integers(0, 255, (256, 256, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, "HEIF")
    data = buffer.getvalue()
    path = tmp_path / "IMG_0001.heic"
    path.write_bytes(data[: len(data) * 7 // 10])  # the header is whole, the coded picture is cut
    result = analyze(path)
    assert result.problem_kind in (Problem.TRUNCATED, Problem.CORRUPT)
    assert "end of file" in result.problem_message
    assert (result.width, result.height) == (256, 256)
    assert result.dhash is None


def test_heic_burst_cut_after_its_first_frame_keeps_the_picture_and_reports_the_lost_frame(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    frames = [Image.fromarray(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)) for _ in range(2)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "HEIF", save_all=True, append_images=frames[1:], quality=90)
    data = buffer.getvalue()
    path = tmp_path / "burst.heic"
    path.write_bytes(data[:-10])  # the last frame's data now runs past the end of the file

    result = analyze(path)

    assert result.problem_kind == Problem.TRUNCATED
    assert "10 bytes short" in result.problem_message and "outside" in result.problem_message
    assert (result.width, result.height) == (96, 64)
    assert result.dhash is not None  # the first frame still decodes


def test_complete_heic_burst_is_not_a_problem(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (96, 64), colour) for colour in ((200, 0, 0), (0, 200, 0))]
    path = tmp_path / "burst.heic"
    frames[0].save(path, "HEIF", save_all=True, append_images=frames[1:])

    result = analyze(path)

    assert result.problem_kind == "" and result.problem_message == ""
