"""Apple's Live Photo pairing key (ContentIdentifier): the still keeps it in its maker note, the video in its
QuickTime metadata, so the two can be linked whatever their names."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from catalog.media.analyze import AnalyzeOptions, FileAnalysis, analyze_file
from catalog.media.exif import apple_content_id
from catalog.media.video import ffprobe_info
from tests.conftest import FIXTURES, make_jpeg
from tests.media.test_video import mp4, mvhd, quicktime_meta, tkhd

EXIFTOOL = shutil.which("exiftool")
FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")
UUID = "8f6c2f6e-1a2b-4c3d-9e8f-0123456789ab"
KEY = UUID.upper()
APPLE = {0x010F: "Apple", 0x0110: "iPhone 14 Pro"}
MAKER_NOTE = 0x927C


def analyze(path: Path) -> FileAnalysis:
    return analyze_file(str(path), AnalyzeOptions())


def apple_maker_note(entries: list[tuple[int, int, int, bytes]], order: str = ">") -> bytes:
    """An iPhone maker note: "Apple iOS\\0", version 1, a byte-order mark, then one IFD of (tag, type, count,
    value) whose longer values follow it, at offsets counted from the start of the maker note."""
    header = b"Apple iOS\x00\x00\x01" + (b"MM" if order == ">" else b"II")
    values_at = len(header) + 2 + 12 * len(entries) + 4
    ifd, values = struct.pack(order + "H", len(entries)), b""
    for tag, kind, count, value in entries:
        if len(value) <= 4:
            ifd += struct.pack(order + "HHI", tag, kind, count) + value.ljust(4, b"\x00")
        else:
            ifd += struct.pack(order + "HHII", tag, kind, count, values_at + len(values))
            values += value
    return header + ifd + b"\x00\x00\x00\x00" + values


def live_photo_note(content_id: str = UUID, order: str = ">") -> bytes:
    """What iPhones write around the key: MakerNoteVersion before it, LivePhotoVideoIndex (an offset) after."""
    return apple_maker_note(
        [
            (0x0001, 9, 1, struct.pack(order + "i", 14)),
            (0x0011, 2, len(content_id) + 1, content_id.encode() + b"\x00"),
            (0x0017, 16, 1, struct.pack(order + "Q", 5_251_076)),
        ],
        order,
    )


def live_photo_video(path: Path, items: dict[str, str]) -> Path:
    path.write_bytes(mp4(mvhd(None), tkhd(1920, 1080), quicktime_meta(items), brand=b"qt  "))
    return path


def test_live_photo_jpeg_and_its_video_share_the_key(tmp_path: Path) -> None:
    still = make_jpeg(tmp_path / "IMG_0001.JPG", exif=APPLE, exif_ifd={MAKER_NOTE: live_photo_note()})
    video = live_photo_video(
        tmp_path / "IMG_0001 (edited).MOV",
        {"com.apple.quicktime.make": "Apple", "com.apple.quicktime.content.identifier": UUID},
    )
    still_result, video_result = analyze(still), analyze(video)
    assert (still_result.problem_kind, video_result.problem_kind) == ("", "")
    assert still_result.content_id == video_result.content_id == KEY
    assert video_result.camera_make == "Apple"  # the same metadata pass reads both keys


def test_live_photo_heic_key(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.update(APPLE)
    exif.get_ifd(0x8769)[MAKER_NOTE] = live_photo_note()
    path = tmp_path / "IMG_0002.HEIC"
    Image.new("RGB", (64, 48), (20, 120, 200)).save(path, exif=exif.tobytes())
    result = analyze(path)
    assert (result.format, result.problem_kind, result.content_id) == ("HEIC", "", KEY)


def test_little_endian_maker_note_and_padded_key(tmp_path: Path) -> None:
    note = live_photo_note(f"  {UUID}  ", order="<")
    assert analyze(make_jpeg(tmp_path / "a.jpg", exif=APPLE, exif_ifd={MAKER_NOTE: note})).content_id == KEY


def test_files_without_an_apple_key_have_none(tmp_path: Path) -> None:
    assert analyze(FIXTURES / "r_canon.jpg").content_id == ""  # a Canon maker note
    assert analyze(make_jpeg(tmp_path / "plain.jpg")).content_id == ""
    not_live = apple_maker_note([(0x0001, 9, 1, struct.pack(">i", 14))])  # an iPhone still that is no Live Photo
    assert analyze(make_jpeg(tmp_path / "still.jpg", exif=APPLE, exif_ifd={MAKER_NOTE: not_live})).content_id == ""
    assert analyze(live_photo_video(tmp_path / "clip.mov", {"com.apple.quicktime.make": "Apple"})).content_id == ""


GARBAGE_NOTES = {
    "header only": b"Apple iOS\x00\x00\x01MM",
    "no byte-order mark": b"Apple iOS\x00\x00\x01XX" + live_photo_note()[14:],
    "entry count past the end": b"Apple iOS\x00\x00\x01MM\xff\xff" + b"\x00\x11\x00\x02",
    "value offset past the end": apple_maker_note([(0x0011, 2, 37, struct.pack(">I", 0xFFFFFF00))])[:28],
    "value cut short": live_photo_note()[:-20],
    "key stored as a number": apple_maker_note([(0x0011, 4, 1, struct.pack(">I", 7))]),
    "key that is no UUID": live_photo_note("not-a-uuid-at-all"),
    "key of bytes that are no text": apple_maker_note([(0x0011, 2, 37, b"\xff\xfe" * 18 + b"\x00")]),
    "huge count": apple_maker_note([(0x0011, 2, 0xFFFFFFFF, struct.pack(">I", 40))]),
}


@pytest.mark.parametrize("note", GARBAGE_NOTES.values(), ids=GARBAGE_NOTES.keys())
def test_broken_maker_note_gives_no_key_and_the_file_still_analyzes(tmp_path: Path, note: bytes) -> None:
    result = analyze(make_jpeg(tmp_path / "broken.jpg", exif=APPLE, exif_ifd={MAKER_NOTE: note}))
    assert (result.problem_kind, result.content_id) == ("", "")
    assert (result.width, result.camera_model) == (64, "iPhone 14 Pro")


def test_every_truncation_of_a_maker_note_is_read_or_refused_never_raises() -> None:
    note = live_photo_note()
    found = {apple_content_id(note[:length]) for length in range(len(note) + 1)}
    assert found == {"", KEY}
    assert apple_content_id(note) == KEY


def test_video_key_that_is_no_uuid_is_dropped(tmp_path: Path) -> None:
    path = live_photo_video(tmp_path / "clip.mov", {"com.apple.quicktime.content.identifier": "\x00garbage\xff"})
    result = analyze(path)
    assert (result.problem_kind, result.content_id, result.width) == ("", "", 1920)


def test_ffmpeg_written_video_key_is_read_by_the_parser_and_by_ffprobe(tmp_path: Path) -> None:
    assert FFMPEG and FFPROBE, "the media tests need ffmpeg and ffprobe (make test installs ffmpeg)"
    path = tmp_path / "IMG_0003.MOV"
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x48:d=0.5", "-c:v", "mpeg4"]
        + ["-metadata", f"com.apple.quicktime.content.identifier={UUID}", "-movflags", "use_metadata_tags", str(path)],
        check=True,
        timeout=60,
    )
    assert analyze(path).content_id == KEY
    assert ffprobe_info(FFPROBE, str(path)).content_id == KEY  # the reader for containers we do not parse


def test_exiftool_reads_the_same_key_from_these_files(tmp_path: Path) -> None:
    """The files built here are laid out as ExifTool expects real ones (it calls the still's key MediaGroupUUID)."""
    assert EXIFTOOL, "this test needs ExifTool: `make test` installs it (apt install libimage-exiftool-perl)"
    still = make_jpeg(tmp_path / "still.jpg", exif=APPLE, exif_ifd={MAKER_NOTE: live_photo_note()})
    video = live_photo_video(tmp_path / "video.mov", {"com.apple.quicktime.content.identifier": UUID})
    completed = subprocess.run(
        [EXIFTOOL or "", "-j", "-MediaGroupUUID", "-ContentIdentifier", str(still), str(video)],
        capture_output=True,
        check=True,
    )
    found = [entry.get("MediaGroupUUID") or entry.get("ContentIdentifier") for entry in json.loads(completed.stdout)]
    assert [value.upper() for value in found] == [analyze(still).content_id, analyze(video).content_id]
