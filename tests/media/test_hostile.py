"""Crafted headers: values a database cannot hold, sizes that lie, counts that never end. Each costs one file only."""

from __future__ import annotations

import math
import struct
from pathlib import Path

from catalog.media.analyze import AnalyzeOptions, Problem, analyze_file


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mvhd(created: int, version: int = 0) -> bytes:
    if version == 1:
        return bytes([1, 0, 0, 0]) + struct.pack(">QQIQ", created, 0, 1000, 5000) + b"\0" * 80
    return bytes([0, 0, 0, 0]) + struct.pack(">IIII", created, 0, 1000, 5000) + b"\0" * 80


def tkhd(width: int, height: int) -> bytes:
    matrix = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    return bytes(4) + bytes(20) + bytes(8) + bytes(8) + matrix + struct.pack(">II", width << 16, height << 16)


def udta_text(text: bytes) -> bytes:
    return struct.pack(">HH", len(text), 0) + text


def movie(path: Path, *children: bytes, created: int = 3_700_000_000) -> Path:
    path.write_bytes(box(b"ftyp", b"qt  \0\0\0\0") + box(b"moov", box(b"mvhd", mvhd(created)) + b"".join(children)))
    return path


def ebml(element: int, payload: bytes) -> bytes:
    return (
        element.to_bytes((element.bit_length() + 7) // 8, "big") + b"\x01" + len(payload).to_bytes(7, "big") + payload
    )


def matroska(path: Path, info: bytes, tracks: bytes = b"") -> Path:
    header = ebml(0x1A45DFA3, ebml(0x4282, b"webm"))
    path.write_bytes(header + ebml(0x18538067, ebml(0x1549A966, info) + tracks))
    return path


def analyze(path: Path):
    return analyze_file(str(path), AnalyzeOptions(ffprobe=None, ffmpeg=None))


def test_make_with_nul_and_overlong_model_are_cleaned_to_fit(tmp_path: Path) -> None:
    udta = box(b"udta", box(b"\xa9mak", udta_text(b"Apple\x00\x00junk")) + box(b"\xa9mod", udta_text(b"X" * 300)))
    result = analyze(movie(tmp_path / "clip.mov", udta))
    assert result.camera_make == "Apple"
    assert result.camera_model == "X" * 128


def test_creation_time_beyond_any_calendar_is_ignored_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(
        box(b"ftyp", b"isom\0\0\0\0")
        + box(b"moov", box(b"mvhd", mvhd(0xFFFFFFFFFFFFFF, version=1)) + box(b"trak", box(b"tkhd", tkhd(640, 480))))
    )
    result = analyze(path)
    assert result.problem_kind == ""
    assert "CreationTime" not in result.exif
    assert (result.width, result.height, result.duration) == (640, 480, 5.0)


def test_metadata_data_box_shorter_than_its_header_is_a_problem(tmp_path: Path) -> None:
    keys = box(
        b"keys", bytes(4) + struct.pack(">I", 1) + struct.pack(">I", 8 + 24) + b"mdta" + b"com.apple.quicktime.make"
    )
    item = box(struct.pack(">I", 1), box(b"data", b"\0" * 3))  # a data payload of 3 bytes cannot hold its header
    meta = box(b"meta", box(b"hdlr", bytes(24)) + keys + box(b"ilst", item))
    path = movie(tmp_path / "clip.mov", meta)
    path.write_bytes(path.read_bytes() + b"\0" * 100_000)  # what a read to the end of the file would swallow
    result = analyze(path)
    assert result.camera_make == ""
    assert len(str(result.exif)) < 1000


def test_key_count_larger_than_its_box_ends_with_the_box(tmp_path: Path) -> None:
    keys = box(b"keys", bytes(4) + struct.pack(">I", 0xFFFFFFFF) + struct.pack(">I", 0) + b"mdta")
    result = analyze(movie(tmp_path / "clip.mov", box(b"meta", box(b"hdlr", bytes(24)) + keys)))
    assert result.problem_kind == Problem.CORRUPT
    assert "invalid size" in result.problem_message


def test_matroska_width_beyond_a_database_integer_is_dropped(tmp_path: Path) -> None:
    tracks = ebml(
        0x1654AE6B, ebml(0xAE, ebml(0x83, b"\x01") + ebml(0xE0, ebml(0xB0, b"\xff" * 8) + ebml(0xBA, b"\x10")))
    )
    result = analyze(matroska(tmp_path / "clip.mkv", ebml(0x4489, struct.pack(">d", 2000.0)), tracks))
    assert result.width is None
    assert result.height == 16
    assert result.duration == 2.0


def test_matroska_nan_duration_is_dropped_everywhere(tmp_path: Path) -> None:
    result = analyze(matroska(tmp_path / "clip.mkv", ebml(0x4489, struct.pack(">d", float("nan")))))
    assert result.duration is None
    assert all(not (isinstance(v, float) and math.isnan(v)) for v in result.exif.values())


def test_thumbnail_folder_that_cannot_be_written_keeps_the_analysis(tmp_path: Path) -> None:
    from tests.conftest import make_jpeg

    photo = make_jpeg(tmp_path / "a.jpg", size=(80, 60))
    blocker = tmp_path / "thumbs"
    blocker.write_text("a file where the thumbnail folder should be")

    result = analyze_file(str(photo), AnalyzeOptions(thumbnails_root=str(blocker / "inner")))

    assert result.problem_kind == ""  # the photo is fine; the catalog's disk is not
    assert result.note.startswith("cannot write thumbnails")
    assert result.dhash is not None and result.phash is not None
    assert (result.width, result.height) == (80, 60)
