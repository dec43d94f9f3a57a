"""Video metadata (creation time, duration, dimensions, GPS) and poster frames.

MP4/MOV (ISO BMFF), Matroska/WebM and AVI headers are parsed here in pure Python, so the common formats need no
external tool. ffprobe, when installed, covers the rest (MPEG-TS/AVCHD .mts, WMV, ...), and ffmpeg extracts
the poster frame.
"""

from __future__ import annotations

import io
import json
import re
import shutil
import struct
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import BinaryIO

from .dates import parse_exif_datetime, parse_offset, trailing_offset
from .exif import content_identifier
from .isobmff import boxes as _boxes

MP4_EPOCH = datetime(1904, 1, 1)
MKV_EPOCH = datetime(2001, 1, 1)
MP4_MAX_SECONDS = 6_000_000_000  # about the year 2094: larger creation times are garbage
MAX_HEADER_BOX = 64 << 20  # a moov box larger than this is not metadata we want to read into memory


class VideoParseError(Exception):
    pass


class VideoToolMissing(VideoParseError):
    """The file may be fine; reading it needs ffprobe, which is not installed."""


@dataclass
class VideoInfo:
    format: str = ""
    width: int | None = None
    height: int | None = None
    duration: float | None = None
    created: datetime | None = None  # naive
    created_is_utc: bool = True
    created_offset: int | None = None  # minutes east of UTC, when the file says
    rotation: int = 0
    gps: tuple[float, float] | None = None
    make: str = ""
    model: str = ""
    content_id: str = ""  # Apple's Live Photo pairing key, shared with the still of the same Live Photo
    truncated_by: int = 0  # bytes the container says it has beyond the end of the file


_ISO6709 = re.compile(r"([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)")


def parse_iso6709(text: str) -> tuple[float, float] | None:
    match = _ISO6709.match(text.strip())
    if not match:
        return None
    latitude, longitude = float(match.group(1)), float(match.group(2))
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180) or (latitude == 0 and longitude == 0):
        return None
    return round(latitude, 7), round(longitude, 7)


def _set_local_creation(info: VideoInfo, text: str) -> None:
    """Apple's creationdate ("2019-12-20T17:08:32-0300") is wall-clock time with its offset."""
    value = parse_exif_datetime(text)
    if value:
        info.created = value
        info.created_is_utc = False
        info.created_offset = parse_offset(trailing_offset(text))


# ISO BMFF --------------------------------------------------------------------------------------------------------

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"udta", b"edts"}


def _read(handle: BinaryIO, offset: int, size: int) -> bytes:
    if size < 0:
        raise VideoParseError(f"metadata box at {offset} is smaller than its own header")
    if size > MAX_HEADER_BOX:
        raise VideoParseError(f"metadata box of {size} bytes is implausibly large")
    handle.seek(offset)
    return handle.read(size)


def _parse_mvhd(data: bytes, info: VideoInfo) -> None:
    version = data[0]
    if version == 1:
        created, _modified, timescale, duration = struct.unpack(">QQIQ", data[4:32])
    else:
        created, _modified, timescale, duration = struct.unpack(">IIII", data[4:20])
    if created and info.created is None and created < MP4_MAX_SECONDS:
        value = MP4_EPOCH + timedelta(seconds=created)
        if value.year >= 1971:  # 0 and small values mean "never set"
            info.created = value
    if timescale and duration and duration < 0xFFFFFFFF:
        info.duration = round(duration / timescale, 3)


def _parse_tkhd(data: bytes, info: VideoInfo) -> None:
    version = data[0]
    base = 4 + (32 if version == 1 else 20)  # times, track id, reserved, duration
    matrix_at = base + 8 + 8  # reserved, layer/alternate/volume/reserved
    if len(data) < matrix_at + 36 + 8:
        return
    a, b, _u, c, d = struct.unpack(">iiiii", data[matrix_at : matrix_at + 20])
    width, height = struct.unpack(">II", data[matrix_at + 36 : matrix_at + 44])
    width, height = width >> 16, height >> 16
    if width and height and info.width is None:
        info.width, info.height = width, height
        if a == 0 and d == 0:
            info.rotation = 90 if b > 0 else 270
        elif a < 0 and d < 0:
            info.rotation = 180


def _parse_udta_text(data: bytes) -> str:
    """QuickTime international text: 2-byte length, 2-byte language, then the string."""
    if len(data) >= 4:
        (length,) = struct.unpack(">H", data[:2])
        return data[4 : 4 + length].decode("utf-8", "replace")
    return ""


CONTENT_IDENTIFIER_KEY = "com.apple.quicktime.content.identifier"


def _parse_keys_and_ilst(handle: BinaryIO, offset: int, size: int, info: VideoInfo) -> None:
    """QuickTime metadata: ``keys`` names the entries, ``ilst`` holds them by 1-based index."""
    keys: list[str] = []
    items: dict[int, bytes] = {}
    start = offset + (4 if _read(handle, offset + 4, 4) not in (b"hdlr", b"keys") else 0)
    for kind, payload, length in _boxes(handle, start, offset + size):
        if kind == b"keys":
            data = _read(handle, payload, length)
            (count,) = struct.unpack(">I", data[4:8])
            at = 8
            while len(keys) < count and at + 8 <= len(data):  # the box bounds the count, whatever it claims
                (entry_size,) = struct.unpack(">I", data[at : at + 4])
                if entry_size < 8:
                    raise VideoParseError(f"QuickTime metadata key of invalid size {entry_size}")
                keys.append(data[at + 8 : at + entry_size].decode("utf-8", "replace"))
                at += entry_size
        elif kind == b"ilst":
            for index, item_payload, item_length in _boxes(handle, payload, payload + length):
                for data_kind, data_payload, data_length in _boxes(handle, item_payload, item_payload + item_length):
                    if data_kind == b"data" and data_length >= 8:
                        items[struct.unpack(">I", index)[0]] = _read(handle, data_payload + 8, data_length - 8)
    for number, value in items.items():
        if not 1 <= number <= len(keys):
            continue
        key, text = keys[number - 1], value.decode("utf-8", "replace")
        if key == "com.apple.quicktime.creationdate":
            _set_local_creation(info, text)
        elif key == "com.apple.quicktime.location.ISO6709":
            info.gps = info.gps or parse_iso6709(text)
        elif key == "com.apple.quicktime.make":
            info.make = text.strip()
        elif key == "com.apple.quicktime.model":
            info.model = text.strip()
        elif key == CONTENT_IDENTIFIER_KEY:
            info.content_id = content_identifier(text)


def parse_bmff(handle: BinaryIO, file_size: int) -> VideoInfo:
    info = VideoInfo(format="mp4")
    found_moov = False

    def walk(start: int, end: int, depth: int) -> None:
        nonlocal found_moov
        for kind, payload, length in _boxes(handle, start, end):
            if kind == b"ftyp" and depth == 0:
                brand = _read(handle, payload, 4)
                info.format = "mov" if brand == b"qt  " else "mp4"
            elif kind in _CONTAINERS and depth < 6:
                found_moov = found_moov or kind == b"moov"
                walk(payload, payload + length, depth + 1)
            elif kind == b"mvhd":
                _parse_mvhd(_read(handle, payload, min(length, 120)), info)
            elif kind == b"tkhd":
                _parse_tkhd(_read(handle, payload, min(length, 120)), info)
            elif kind == b"meta" and depth >= 1:
                _parse_keys_and_ilst(handle, payload, length, info)
            elif kind == b"\xa9xyz":
                info.gps = info.gps or parse_iso6709(_parse_udta_text(_read(handle, payload, min(length, 256))))
            elif kind == b"\xa9day" and info.created_is_utc:
                text = _parse_udta_text(_read(handle, payload, min(length, 256)))
                if trailing_offset(text):
                    _set_local_creation(info, text)
            elif kind == b"\xa9mak":
                info.make = info.make or _parse_udta_text(_read(handle, payload, min(length, 256))).strip()
            elif kind == b"\xa9mod":
                info.model = info.model or _parse_udta_text(_read(handle, payload, min(length, 256))).strip()

    walk(0, file_size, 0)
    if not found_moov:
        raise VideoParseError("no movie header (moov box): the file is truncated or not a video")
    info.truncated_by = _bmff_missing_bytes(handle, file_size)
    return info


def _bmff_missing_bytes(handle: BinaryIO, file_size: int) -> int:
    """How far the top-level boxes claim to reach past the end of the file (0 for a complete file)."""
    offset = 0
    while offset + 8 <= file_size:
        handle.seek(offset)
        size, _kind = struct.unpack(">I4s", handle.read(8))
        if size == 1:
            size = struct.unpack(">Q", handle.read(8))[0]
        elif size == 0:
            return 0
        if size < 8:
            return 0
        offset += size
    return max(0, offset - file_size)


# Matroska / WebM -------------------------------------------------------------------------------------------------


def _vint(handle: BinaryIO, keep_marker: bool) -> tuple[int, int]:
    first = handle.read(1)
    if not first:
        raise VideoParseError("unexpected end of Matroska data")
    byte = first[0]
    length = 1
    mask = 0x80
    while length <= 8 and not byte & mask:
        mask >>= 1
        length += 1
    if length > 8:
        raise VideoParseError("invalid Matroska element header")
    value = byte if keep_marker else byte & (mask - 1)
    rest = handle.read(length - 1)
    for extra in rest:
        value = (value << 8) | extra
    unknown = not keep_marker and value == (1 << (7 * length)) - 1
    return (-1 if unknown else value), length


_MKV_MASTERS = {0x18538067, 0x1549A966, 0x1654AE6B, 0xAE, 0xE0}


def parse_matroska(handle: BinaryIO, file_size: int) -> VideoInfo:
    info = VideoInfo(format="mkv")
    scale = 1_000_000
    raw_duration = None
    track_type = None

    def walk(start: int, end: int, depth: int) -> None:
        nonlocal scale, raw_duration, track_type
        offset = start
        while offset < end:
            handle.seek(offset)
            element, id_len = _vint(handle, keep_marker=True)
            size, size_len = _vint(handle, keep_marker=False)
            payload = offset + id_len + size_len
            stop = end if size < 0 else min(payload + size, end)
            if element == 0x1F43B675:  # Cluster: media data starts, headers are done
                return
            if element in _MKV_MASTERS and depth < 5:
                if element == 0xAE:
                    track_type = None
                walk(payload, stop, depth + 1)
            elif element in (0x2AD7B1, 0x4489, 0x4461, 0x83, 0xB0, 0xBA):
                data = _read(handle, payload, stop - payload)
                if element == 0x2AD7B1:
                    scale = int.from_bytes(data, "big")
                elif element == 0x4489:
                    raw_duration = struct.unpack(">f" if len(data) == 4 else ">d", data)[0]
                elif element == 0x4461 and len(data) == 8:
                    info.created = MKV_EPOCH + timedelta(microseconds=struct.unpack(">q", data)[0] // 1000)
                elif element == 0x83:
                    track_type = int.from_bytes(data, "big")
                elif element == 0xB0 and info.width is None and track_type in (None, 1):
                    info.width = int.from_bytes(data, "big")
                elif element == 0xBA and info.height is None and track_type in (None, 1):
                    info.height = int.from_bytes(data, "big")
            if size < 0:
                return
            offset = stop

    handle.seek(0)
    element, _ = _vint(handle, keep_marker=True)
    if element != 0x1A45DFA3:
        raise VideoParseError("not a Matroska file")
    walk(0, file_size, 0)
    if raw_duration is not None:
        info.duration = round(raw_duration * scale / 1e9, 3)
    return info


# AVI -------------------------------------------------------------------------------------------------------------


def parse_avi(handle: BinaryIO, file_size: int) -> VideoInfo:
    handle.seek(0)
    header = handle.read(12)
    if header[:4] != b"RIFF" or header[8:12] != b"AVI ":
        raise VideoParseError("not an AVI file")
    info = VideoInfo(format="avi")

    def walk(start: int, end: int, depth: int) -> None:
        offset = start
        while offset + 8 <= end:
            handle.seek(offset)
            kind, size = struct.unpack("<4sI", handle.read(8))
            if kind == b"LIST" and depth < 3:
                list_type = handle.read(4)
                if list_type != b"movi":
                    walk(offset + 12, min(offset + 8 + size, end), depth + 1)
            elif kind == b"avih" and size >= 40:
                data = handle.read(40)
                usec, _rate, _pad, _flags, frames = struct.unpack("<IIIII", data[:20])
                info.width, info.height = struct.unpack("<II", data[32:40])
                if usec and frames:
                    info.duration = round(usec * frames / 1e6, 3)
            elif kind in (b"IDIT", b"ICRD") and size < 256:
                text = handle.read(size).split(b"\x00")[0].decode("latin-1").strip()
                value = _parse_avi_date(text)
                if value:
                    info.created, info.created_is_utc = value, False
            offset += 8 + size + (size & 1)

    walk(12, file_size, 0)
    return info


def _parse_avi_date(text: str) -> datetime | None:
    for pattern in ("%a %b %d %H:%M:%S %Y", "%Y-%m-%d", "%Y:%m:%d %H:%M:%S"):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    return parse_exif_datetime(text)


# ffprobe / ffmpeg ------------------------------------------------------------------------------------------------


def tool_path(name: str) -> str | None:
    return shutil.which(name)


def ffprobe_info(ffprobe: str, path: str, timeout: float = 60) -> VideoInfo:
    try:
        completed = subprocess.run(
            [ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise VideoParseError(f"ffprobe took longer than {timeout:.0f} s") from exc
    if completed.returncode != 0:
        message = completed.stderr.decode("utf-8", "replace").strip().splitlines()
        raise VideoParseError(f"ffprobe: {message[-1] if message else 'failed'}")
    probe = json.loads(completed.stdout or b"{}")
    fmt = probe.get("format", {})
    info = VideoInfo(format=(fmt.get("format_name") or "").split(",")[0])
    try:
        info.duration = round(float(fmt.get("duration")), 3)
    except (TypeError, ValueError):
        pass
    for stream in probe.get("streams", []):
        if stream.get("codec_type") == "video" and stream.get("width"):
            info.width, info.height = int(stream["width"]), int(stream["height"])
            rotate = stream.get("tags", {}).get("rotate")
            for side in stream.get("side_data_list", []):
                rotate = side.get("rotation", rotate)
            try:
                info.rotation = int(float(rotate or 0)) % 360
            except (TypeError, ValueError):
                pass
            break
    tags = {key.lower(): value for key, value in fmt.get("tags", {}).items()}
    if text := tags.get("com.apple.quicktime.creationdate"):
        _set_local_creation(info, text)
    elif text := tags.get("creation_time"):
        value = parse_exif_datetime(text)
        if value and value.year >= 1971:
            info.created = value
    location = tags.get("com.apple.quicktime.location.iso6709") or tags.get("location")
    if location:
        info.gps = parse_iso6709(location)
    info.make = tags.get("com.apple.quicktime.make", "")
    info.model = tags.get("com.apple.quicktime.model", "")
    info.content_id = content_identifier(tags.get(CONTENT_IDENTIFIER_KEY, ""))
    return info


NO_FFMPEG = "no poster frame: ffmpeg is not installed"


class PosterError(Exception):
    """No poster frame could be made; the message says why in words for the asset's note."""


def poster_frame(ffmpeg: str, path: str, at_seconds: float, timeout: float = 60):
    """One frame as a Pillow image, rotated as players show it, from ``at_seconds`` or else from the start.

    A clip shorter than the seek point (one frame, a header that overstates the duration) gives nothing there,
    so the start is tried before giving up. Raises PosterError when neither gives a frame.
    """
    from PIL import Image

    reason = ""
    for at in dict.fromkeys([at_seconds, 0.0]):
        command = [ffmpeg, "-v", "error", "-nostdin", "-ss", f"{at:.3f}", "-i", path]
        command += ["-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"]
        try:
            completed = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
        except FileNotFoundError as exc:
            raise PosterError(NO_FFMPEG) from exc
        except OSError as exc:  # not executable, say: the tool's problem, not the video's
            raise PosterError(f"no poster frame: ffmpeg cannot be run ({exc.strerror or exc})") from exc
        except subprocess.TimeoutExpired:
            reason = f"it took longer than {timeout:.0f} s"
            continue
        if completed.returncode == 0 and completed.stdout:
            image = Image.open(io.BytesIO(completed.stdout))
            image.load()
            return image
        reason = _ffmpeg_reason(completed.stderr) if completed.returncode else "it holds no video frame"
    raise PosterError(f"no poster frame: ffmpeg could not decode this video ({reason})")


_TAG = re.compile(r"^(\[[^]]*\]\s*)+")  # "[h264 @ 0x55d0c1]": which part of ffmpeg speaks


def _ffmpeg_reason(stderr: bytes) -> str:
    """The cause ffmpeg gives, short: its own summary ("…: Invalid data found when processing input") rather than
    a decoder's details ("[h264 @ 0x…] Invalid NAL unit size"), without what comes before the cause."""
    lines = [line.strip() for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    if any("does not contain any stream" in line for line in lines):
        return "it has no video stream"
    summaries = [line for line in lines if not _TAG.match(line) and not line.startswith("Last message repeated")]
    line = (summaries or [_TAG.sub("", line) for line in lines] or ["no error message"])[0]
    cause = line.rsplit(": ", 1)[-1].rstrip(".")[:120]
    return cause[:1].lower() + cause[1:]


PARSERS = {
    "mp4": parse_bmff,
    "m4v": parse_bmff,
    "mov": parse_bmff,
    "qt": parse_bmff,
    "3gp": parse_bmff,
    "3g2": parse_bmff,
    "mkv": parse_matroska,
    "webm": parse_matroska,
    "avi": parse_avi,
}


def video_info(handle: BinaryIO, path: str, extension: str, file_size: int, ffprobe: str | None) -> VideoInfo:
    """Parse the header ourselves where we can; fall back to ffprobe; raise VideoParseError when neither can."""
    parser = PARSERS.get(extension)
    error: Exception | None = None
    if parser is not None:
        try:
            info = parser(handle, file_size)
            if info.width or info.duration or info.created:
                if not info.duration and ffprobe:
                    _duration_from_ffprobe(info, ffprobe, path)  # a fragmented MP4's header says 0
                return info
        except (VideoParseError, struct.error, ValueError, OSError) as exc:
            error = exc
    if ffprobe:
        return ffprobe_info(ffprobe, path)
    if error is not None:
        raise VideoParseError(str(error)) from error
    raise VideoToolMissing(f"no ffprobe: install ffmpeg to read .{extension} video metadata")


def _duration_from_ffprobe(info: VideoInfo, ffprobe: str, path: str) -> None:
    """The duration of a video whose header leaves it out (fragmented MP4s count it in their fragments)."""
    try:
        info.duration = ffprobe_info(ffprobe, path).duration or info.duration
    except VideoParseError:
        pass
