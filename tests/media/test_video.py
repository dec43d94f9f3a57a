"""Video metadata (MP4/MOV/MKV/AVI parsed in Python, .mts via ffprobe) and poster frames via ffmpeg."""

from __future__ import annotations

import shutil
import struct
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

from catalog.media.analyze import AnalyzeOptions, FileAnalysis, Problem, analyze_file
from catalog.media.dates import capture_date
from catalog.media.thumbnails import thumbnail_path
from catalog.media.video import MP4_EPOCH, parse_iso6709, video_info
from tests.conftest import FIXTURES

FFMPEG = shutil.which("ffmpeg")
FFPROBE = shutil.which("ffprobe")


def analyze(path: Path, **options) -> FileAnalysis:
    return analyze_file(str(path), AnalyzeOptions(**options))


# A minimal ISO BMFF writer, so each header field can be set exactly -------------------------------------------------


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def mvhd(created: datetime | None, timescale: int = 1000, duration: int = 12_500) -> bytes:
    seconds = int((created - MP4_EPOCH).total_seconds()) if created else 0
    return box(b"mvhd", struct.pack(">IIIII", 0, seconds, seconds, timescale, duration) + b"\x00" * 80)


ROTATE_90 = (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
IDENTITY = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def tkhd(width: int, height: int, matrix: tuple[int, ...] = IDENTITY) -> bytes:
    head = struct.pack(">IIIIII", 0, 0, 0, 1, 0, 0) + b"\x00" * 16
    return box(b"tkhd", head + struct.pack(">9i", *matrix) + struct.pack(">II", width << 16, height << 16))


def udta_text(kind: bytes, text: str) -> bytes:
    data = text.encode()
    return box(kind, struct.pack(">HH", len(data), 0x15C7) + data)


def quicktime_meta(items: dict[str, str]) -> bytes:
    keys = b"".join(struct.pack(">I4s", 8 + len(key), b"mdta") + key.encode() for key in items)
    ilst = b"".join(
        box(struct.pack(">I", index), box(b"data", struct.pack(">II", 1, 0) + value.encode()))
        for index, value in enumerate(items.values(), start=1)
    )
    hdlr = box(b"hdlr", b"\x00" * 8 + b"mdta" + b"\x00" * 13)
    return box(b"meta", hdlr + box(b"keys", struct.pack(">II", 0, len(items)) + keys) + box(b"ilst", ilst))


def mp4(*moov_children: bytes, brand: bytes = b"isom", mdat: bytes = b"\x00" * 64) -> bytes:
    ftyp = box(b"ftyp", brand + b"\x00\x00\x02\x00" + brand + b"mp41")
    return ftyp + box(b"moov", b"".join(moov_children)) + box(b"mdat", mdat)


# Real fixture files ------------------------------------------------------------------------------------------------


def test_pentax_mov() -> None:
    result = analyze(FIXTURES / "pentax_320x240.mov")
    assert result.problem_kind == ""
    assert (result.media_type, result.format) == ("video", "MOV")
    assert (result.width, result.height) == (320, 240)
    assert result.duration == pytest.approx(4.967, abs=0.01)
    assert result.exif["CreationTime"] == "2005-08-11T14:03:54Z"


def test_bluesquare_mov() -> None:
    result = analyze(FIXTURES / "BlueSquare.mov")
    assert result.problem_kind == ""
    assert (result.width, result.height) == (720, 480)
    assert result.duration == pytest.approx(3.003, abs=0.01)
    assert result.exif["CreationTime"] == "2006-03-01T13:38:44Z"


def test_mts_without_ffprobe_is_a_note_not_a_problem() -> None:
    result = analyze(FIXTURES / "Panasonic_AG_HMC_151.MTS", ffprobe=None)
    assert result.problem_kind == ""
    assert "no ffprobe" in result.note
    assert result.sha256
    assert result.media_type == "video"


def test_mts_with_ffprobe() -> None:
    assert FFPROBE, "the media tests need ffprobe (make test installs ffmpeg)"
    result = analyze(FIXTURES / "Panasonic_AG_HMC_151.MTS", ffprobe=FFPROBE)
    assert result.problem_kind == ""
    assert result.note == "no maker-note, XMP or RAW-only metadata: exiftool is not installed"  # (camcorder tags)
    assert (result.width, result.height) == (1920, 1080)
    assert result.duration == pytest.approx(0.04, abs=0.01)


# Built MP4 headers ------------------------------------------------------------------------------------------------


def test_built_mp4_dimensions_duration_and_utc_creation(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4(mvhd(datetime(2019, 3, 15, 14, 22, 33)), box(b"trak", tkhd(1920, 1080))))
    result = analyze(path)
    assert result.problem_kind == ""
    assert (result.width, result.height, result.duration) == (1920, 1080, 12.5)
    assert result.exif["CreationTime"] == "2019-03-15T14:22:33Z"


def test_phone_clip_utc_time_becomes_local_with_the_file_name_offset(tmp_path: Path) -> None:
    path = tmp_path / "VID_20191220_170832.mp4"
    path.write_bytes(mp4(mvhd(datetime(2019, 12, 20, 20, 8, 34)), box(b"trak", tkhd(1280, 720))))
    result = analyze(path)
    chosen = capture_date(result.dates, result.path, result.mtime_ns)
    assert chosen.source == "video_created"
    assert chosen.taken_at == datetime(2019, 12, 20, 17, 8, 34)
    assert chosen.offset_minutes == -180
    assert not chosen.suspicious


def test_rotated_clip_reports_displayed_size(tmp_path: Path) -> None:
    path = tmp_path / "portrait.mp4"
    path.write_bytes(mp4(mvhd(datetime(2020, 1, 1, 9)), box(b"trak", tkhd(1920, 1080, ROTATE_90))))
    result = analyze(path)
    assert (result.width, result.height) == (1080, 1920)


def test_apple_metadata_local_time_gps_make_and_model(tmp_path: Path) -> None:
    meta = quicktime_meta(
        {
            "com.apple.quicktime.creationdate": "2019-12-20T17:08:32-0300",
            "com.apple.quicktime.location.ISO6709": "-22.9519-043.2105+030.000/",
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone 11",
        }
    )
    path = tmp_path / "IMG_0001.MOV"
    path.write_bytes(mp4(mvhd(datetime(2019, 12, 20, 20, 8, 33)), box(b"trak", tkhd(1920, 1080)), meta, brand=b"qt  "))
    result = analyze(path)
    assert result.problem_kind == ""
    assert (result.camera_make, result.camera_model) == ("Apple", "iPhone 11")
    assert result.gps == pytest.approx((-22.9519, -43.2105))
    assert result.exif["CreationTime"] == "2019-12-20T17:08:32"
    assert result.exif["CreationTimeOffset"] == -180
    chosen = capture_date(result.dates, result.path, None)
    assert (chosen.taken_at, chosen.offset_minutes) == (datetime(2019, 12, 20, 17, 8, 32), -180)


def test_udta_gps_make_and_model(tmp_path: Path) -> None:
    udta = box(
        b"udta",
        udta_text(b"\xa9xyz", "+48.8584+002.2945/")
        + udta_text(b"\xa9mak", "Samsung")
        + udta_text(b"\xa9mod", "SM-G991B"),
    )
    path = tmp_path / "20210704_101500.mp4"
    path.write_bytes(mp4(mvhd(datetime(2021, 7, 4, 8, 15)), box(b"trak", tkhd(3840, 2160)), udta))
    result = analyze(path)
    assert result.gps == pytest.approx((48.8584, 2.2945))
    assert (result.camera_make, result.camera_model) == ("Samsung", "SM-G991B")


def test_unset_creation_time_gives_no_date(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4(mvhd(None), box(b"trak", tkhd(640, 480))))
    result = analyze(path)
    assert result.problem_kind == ""
    assert "CreationTime" not in result.exif
    assert all(candidate.source != "video_created" for candidate in result.dates)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+48.8584+002.2945/", (48.8584, 2.2945)),
        ("-33.8688+151.2093+010.000/", (-33.8688, 151.2093)),
        ("+00.0000+000.0000/", None),
        ("+95.0000+010.0000/", None),
        ("nowhere", None),
    ],
)
def test_parse_iso6709(text: str, expected: tuple[float, float] | None) -> None:
    found = parse_iso6709(text)
    assert found == (pytest.approx(expected) if expected else None)


# Broken videos ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"this is not a video at all" * 20,
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00\x00\x10\x00mdat",  # no moov
        b"\x00\x00\x00\x04ftypisom",  # box smaller than its header
    ],
)
@pytest.mark.parametrize("extension", ["mp4", "mov", "mkv"])
def test_garbage_video_is_a_problem_not_an_exception(tmp_path: Path, data: bytes, extension: str) -> None:
    path = tmp_path / f"broken.{extension}"
    path.write_bytes(data)
    result = analyze(path)
    assert result.problem_kind == Problem.CORRUPT
    assert result.problem_message.startswith("cannot read video metadata")
    assert result.sha256


def test_garbage_with_ffprobe_is_a_problem_too(tmp_path: Path) -> None:
    path = tmp_path / "broken.mts"
    path.write_bytes(b"\x47" + b"\x00" * 500)
    result = analyze(path, ffprobe=FFPROBE)
    assert result.problem_kind == Problem.CORRUPT
    assert "ffprobe" in result.problem_message


# ffmpeg-made clips: parsing and poster frames -------------------------------------------------------------------


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    assert FFMPEG, "the media tests need ffmpeg (make test installs it)"
    folder = tmp_path_factory.mktemp("clips")
    made = {}
    for name in ("red.mp4", "red.mkv", "red.avi"):
        made[name] = folder / name
        subprocess.run(
            [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=160x120:d=3:r=10"]
            + ["-c:v", "mpeg4", "-metadata", "creation_time=2019-03-15T14:22:33Z", str(made[name])],
            check=True,
            timeout=60,
        )
    return made


@pytest.mark.parametrize("name", ["red.mp4", "red.mkv", "red.avi"])
def test_ffmpeg_made_clip_is_parsed_without_ffprobe(clips: dict[str, Path], name: str) -> None:
    result = analyze(clips[name], ffprobe=None)
    assert result.problem_kind == ""
    assert (result.width, result.height) == (160, 120)
    assert result.duration == pytest.approx(3.0, abs=0.1)


@pytest.mark.parametrize("name", ["red.mp4", "red.mkv"])
def test_ffmpeg_made_clip_creation_time(clips: dict[str, Path], name: str) -> None:
    assert analyze(clips[name]).exif["CreationTime"] == "2019-03-15T14:22:33Z"


@pytest.mark.parametrize("name", ["red.mp4", "red.mkv", "red.avi"])
def test_poster_thumbnail_with_ffmpeg(tmp_path: Path, clips: dict[str, Path], name: str) -> None:
    root = tmp_path / "thumbs"
    result = analyze(clips[name], thumbnails_root=str(root), sizes=(128,), ffmpeg=FFMPEG)
    assert result.problem_kind == ""
    assert result.note == ""
    assert result.thumbnails == [128]
    with Image.open(thumbnail_path(root, 128, result.sha256)) as poster:
        assert poster.size == (128, 96)
        red, green, blue = poster.convert("RGB").getpixel((64, 48))
    assert red > 200 and green < 60 and blue < 60


def test_no_poster_without_ffmpeg_is_a_note(tmp_path: Path, clips: dict[str, Path]) -> None:
    root = tmp_path / "thumbs"
    result = analyze(clips["red.mp4"], thumbnails_root=str(root), ffmpeg=None)
    assert result.problem_kind == ""
    assert result.note == "no poster frame: ffmpeg is not installed"
    assert result.thumbnails == []
    assert (result.width, result.height) == (160, 120)
    assert not root.exists()


def one_frame_clip(path: Path) -> Path:
    subprocess.run(
        [FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x48:d=0.04", "-c:v", "mpeg4", str(path)],
        check=True,
        timeout=60,
    )
    return path


def assert_red_poster(root: Path, result: FileAnalysis) -> None:
    assert (result.note, result.thumbnails) == ("", [128])
    with Image.open(thumbnail_path(root, 128, result.sha256)) as poster:
        assert poster.size == (64, 48)  # thumbnails never enlarge
        red, green, blue = poster.convert("RGB").getpixel((32, 24))
    assert red > 200 and green < 60 and blue < 60


def test_one_frame_clip_gets_a_poster(tmp_path: Path) -> None:
    root = tmp_path / "thumbs"
    result = analyze(one_frame_clip(tmp_path / "one.mp4"), thumbnails_root=str(root), sizes=(128,), ffmpeg=FFMPEG)
    assert result.duration == pytest.approx(0.04, abs=0.01)
    assert_red_poster(root, result)


def test_clip_shorter_than_its_header_says_gets_a_poster_from_its_first_frame(tmp_path: Path) -> None:
    # The header claims 12 s, so the poster is looked for at 1 s, where this one-frame clip has nothing.
    data = bytearray(one_frame_clip(tmp_path / "one.mp4").read_bytes())
    at = data.index(b"mvhd") + 4  # version 0: flags, creation, modification, timescale, duration
    (timescale,) = struct.unpack(">I", data[at + 12 : at + 16])
    data[at + 16 : at + 20] = struct.pack(">I", 12 * timescale)
    path = tmp_path / "long.mp4"
    path.write_bytes(bytes(data))
    root = tmp_path / "thumbs"
    result = analyze(path, thumbnails_root=str(root), sizes=(128,), ffmpeg=FFMPEG)
    assert result.duration == 12.0
    assert_red_poster(root, result)


def test_undecodable_video_gets_a_note_saying_why(tmp_path: Path, clips: dict[str, Path]) -> None:
    # Its header is intact (the metadata is read), its frames are garbage.
    data = bytearray(clips["red.mp4"].read_bytes())
    at = data.index(b"mdat")
    (length,) = struct.unpack(">I", data[at - 4 : at])
    data[at + 4 : at - 4 + length] = b"\xff" * (length - 8)
    path = tmp_path / "garbled.mp4"
    path.write_bytes(bytes(data))
    result = analyze(path, thumbnails_root=str(tmp_path / "thumbs"), ffmpeg=FFMPEG)
    assert result.problem_kind == ""
    assert (result.width, result.height) == (160, 120)
    assert result.thumbnails == []
    # ffmpeg's own words, without its log tags: "(invalid data found when processing input)" from ffmpeg 5.
    lead, reason = result.note.split(" (", 1)
    assert lead == "no poster frame: ffmpeg could not decode this video"
    assert reason.endswith(")") and 3 < len(reason) < 125
    assert "[" not in reason and "@ 0x" not in reason and str(path) not in reason


def test_video_without_a_stream_and_a_missing_ffmpeg_get_notes(tmp_path: Path) -> None:
    path = tmp_path / "header_only.mp4"
    path.write_bytes(mp4(mvhd(datetime(2019, 3, 15, 14, 22, 33)), box(b"trak", tkhd(640, 480))))
    thumbs = str(tmp_path / "thumbs")
    result = analyze(path, thumbnails_root=thumbs, ffmpeg=FFMPEG)
    assert result.note == "no poster frame: ffmpeg could not decode this video (it has no video stream)"
    gone = analyze(path, thumbnails_root=thumbs, ffmpeg=str(tmp_path / "uninstalled" / "ffmpeg"))
    assert gone.note == "no poster frame: ffmpeg is not installed"


def test_rotated_clip_poster_is_portrait(tmp_path: Path, clips: dict[str, Path]) -> None:
    data = bytearray(clips["red.mp4"].read_bytes())
    at = data.index(b"tkhd") + 4 + 40  # version 0 tkhd: the matrix starts 40 bytes into the payload
    data[at : at + 36] = struct.pack(">9i", *ROTATE_90)
    path = tmp_path / "portrait.mp4"
    path.write_bytes(bytes(data))
    root = tmp_path / "thumbs"
    result = analyze(path, thumbnails_root=str(root), sizes=(128,), ffmpeg=FFMPEG)
    assert (result.width, result.height) == (120, 160)
    with Image.open(thumbnail_path(root, 128, result.sha256)) as poster:
        assert poster.size == (96, 128)


def test_interrupted_recording_without_moov_is_a_problem(tmp_path: Path, clips: dict[str, Path]) -> None:
    # ffmpeg, like most phones, writes the movie header last: a cut file has none.
    data = clips["red.mp4"].read_bytes()
    assert data.index(b"moov") > data.index(b"mdat")
    path = tmp_path / "VID_20190315_142233.mp4"
    path.write_bytes(data[: len(data) // 2])
    result = analyze(path, ffmpeg=FFMPEG, thumbnails_root=str(tmp_path / "thumbs"))
    assert result.problem_kind == Problem.CORRUPT
    assert "moov" in result.problem_message


def test_truncated_clip_with_header_first_is_a_problem(tmp_path: Path) -> None:
    # A fast-start file (header first) cut short: its media data box claims far more bytes than the file holds.
    whole = mp4(mvhd(datetime(2019, 3, 15, 14, 22, 33)), box(b"trak", tkhd(640, 480)), mdat=b"\x01" * 4000)
    path = tmp_path / "download.mp4"
    path.write_bytes(whole[:1000])
    result = analyze(path)
    assert result.problem_kind in (Problem.TRUNCATED, Problem.CORRUPT)


@pytest.mark.skipif(FFMPEG is None or FFPROBE is None, reason="needs ffmpeg and ffprobe")
def test_a_fragmented_mp4_gets_its_duration_from_ffprobe(tmp_path: Path) -> None:
    """A fragmented MP4 (streamed recordings, some cameras) has no duration in its header: ffprobe counts it, so
    its frames can be sampled for the near-duplicate search."""
    path = tmp_path / "fragmented.mp4"
    command = [FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=3"]
    subprocess.run([*command, "-c:v", "libx264", "-movflags", "frag_keyframe+empty_moov", str(path)], check=True)
    with path.open("rb") as handle:
        assert video_info(handle, str(path), "mp4", path.stat().st_size, None).duration is None
        assert video_info(handle, str(path), "mp4", path.stat().st_size, FFPROBE).duration == pytest.approx(3.0)
    result = analyze_file(str(path), AnalyzeOptions(ffmpeg=FFMPEG, ffprobe=FFPROBE))
    assert result.duration == pytest.approx(3.0) and result.video_signature
