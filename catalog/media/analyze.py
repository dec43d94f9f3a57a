"""Analyze one file: read it once and derive everything the catalog keeps about it.

From the same bytes: sha256, metadata, a decode only as large as the biggest thumbnail needs (JPEG DCT scaling via
Pillow's draft mode), the EXIF orientation transpose, dHash and pHash after orientation, and every thumbnail.
Nothing here touches Django or the database, and nothing raises for bad input: every failure becomes a
``problem_kind`` with a clear ``problem_message`` and whatever could still be read is kept.
"""

from __future__ import annotations

import hashlib
import io
import logging
import math
import os
import re
import struct
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import PurePath
from typing import Any

import numpy as np
from PIL import Image

from . import exif as exif_meta
from . import exiftool
from .dates import DateCandidate
from .hashing import hash_inputs, picture_hashes, sha256_stream
from .isobmff import BoxError, items_outside
from .sidecars import SidecarEntry, apply_sidecars
from .thumbnails import DEFAULT_QUALITY, DEFAULT_SIZES, displayable, shrink_chain, write_thumbnail
from .video import NO_FFMPEG, PARSERS, PosterError, VideoParseError, VideoToolMissing, poster_frame, video_info
from .videohash import VideoSignatureError, video_signature

try:
    import pillow_heif

    pillow_heif.register_heif_opener()
    HEIF_SUPPORTED = True
except ImportError:  # pragma: no cover - pillow-heif is in requirements.txt
    HEIF_SUPPORTED = False

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = {
    "jpg", "jpeg", "jpe", "jfif", "mpo", "png", "gif", "tif", "tiff", "webp",
    "avif", "bmp", "heic", "heif", "hif",
}  # fmt: skip
RAW_EXTENSIONS = {
    "dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "orf", "rw2",
    "raf", "pef", "srw", "x3f", "3fr", "iiq", "rwl", "erf", "kdc", "mrw",
}  # fmt: skip
VIDEO_EXTENSIONS = {
    "mp4", "m4v", "mov", "qt", "mkv", "webm", "mts", "m2ts", "ts", "avi",
    "wmv", "3gp", "3g2", "mpg", "mpeg", "flv",
}  # fmt: skip
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | RAW_EXTENSIONS | VIDEO_EXTENSIONS

# What each Pillow format may be named; a mismatch is reported (the file is still analyzed).
FORMAT_EXTENSIONS = {
    "JPEG": {"jpg", "jpeg", "jpe", "jfif"},
    "MPO": {"mpo", "jpg", "jpeg"},
    "PNG": {"png"},
    "GIF": {"gif"},
    "TIFF": {"tif", "tiff"},
    "WEBP": {"webp"},
    "AVIF": {"avif", "heic", "heif"},
    "BMP": {"bmp"},
    "HEIF": {"heic", "heif", "hif", "avif"},
}
TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
MAX_IMAGE_BYTES = 2 << 30  # larger "images" are hashed as a stream and not decoded
HASH_DECODE_SIZE = 512
HASH_BASIS = 256  # hashes are computed from the picture fitted into this many pixels
# A JPEG may be decoded this much (a 32nd) short of the largest thumbnail, where that lets the DCT scaling go one
# step further: a 12 MP photo decodes at 1/8 (500 px) instead of 1/4 (1000 px) for a 512 px thumbnail.
DRAFT_SLACK = 32


class Problem:
    """Problem kinds recorded on assets."""

    UNREADABLE = "unreadable"
    EMPTY = "empty"
    UNSUPPORTED = "unsupported"
    CORRUPT = "corrupt"
    TRUNCATED = "truncated"
    BOMB = "decompression_bomb"
    BAD_EXIF = "bad_exif"
    WRONG_EXTENSION = "wrong_extension"
    UNDECODABLE_NAME = "undecodable_name"
    SYMLINK_LOOP = "symlink_loop"
    BROKEN_LINK = "broken_link"
    TOO_LARGE = "too_large"
    OUT_OF_MEMORY = "out_of_memory"
    CRASHED = "crashed"
    TIMED_OUT = "timed_out"
    UNSTORABLE = "unstorable"
    OUTSIDE_ROOTS = "outside_roots"


@dataclass(frozen=True)
class AnalyzeOptions:
    thumbnails_root: str | None = None  # None: make no thumbnails
    sizes: tuple[int, ...] = DEFAULT_SIZES
    quality: int = DEFAULT_QUALITY
    thumbnail_format: str = "webp"
    max_image_pixels: int = 120_000_000
    ffmpeg: str | None = None
    ffprobe: str | None = None
    exiftool: str | None = None  # None: maker notes, XMP/IPTC, CR3/RAF/MRW/X3F/CRW and camcorder tags are not read
    force_thumbnails: bool = False  # rewrite thumbnails that exist
    defer_pixels: bool = False  # leave the decode, hashes and thumbnails of plain JPEGs to the caller (GPU path)
    file_timeout: float = 300.0  # seconds one file may take in a worker process before it is given up

    @property
    def decode_size(self) -> int:
        """Longest side the decode must reach: the biggest thumbnail, and never below HASH_DECODE_SIZE.

        JPEG's DCT scaling moves pHash by a bit or two between scales, so the decode does not depend on whether
        thumbnails are made (nor does the chain of shrinks, ``chain_sizes``): ``--no-thumbnails`` and a default
        run give the same hashes.
        """
        return max([HASH_DECODE_SIZE, *self.sizes])


@dataclass
class FileAnalysis:
    path: str
    size: int
    mtime_ns: int
    sha256: str = ""
    media_type: str = ""
    format: str = ""
    width: int | None = None
    height: int | None = None
    orientation: int | None = None
    duration: float | None = None
    camera_make: str = ""
    camera_model: str = ""
    lens_model: str = ""
    exposure_time: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None
    gps: tuple[float, float] | None = None
    gps_altitude: float | None = None
    exif: dict[str, Any] = field(default_factory=dict)
    keywords: list[str] = field(default_factory=list)  # XMP dc:subject / IPTC Keywords (MWG rules)
    rating: int | None = None  # XMP Rating: -1 (rejected) to 5; None when unrated
    title: str = ""
    description: str = ""
    content_id: str = ""  # Apple's Live Photo pairing key: the still and its video share it, whatever their names
    dhash: int | None = None
    phash: int | None = None
    fine_hash: bytes | None = None  # 256-bit dHash + pHash that confirm near-duplicate candidates
    hash_variants: bytes | None = None  # dHash and pHash of the seven turns and mirrors (``dihedral``)
    # A video's sampled frames' hashes (``videohash``); b"" when they could not be taken, None when not tried.
    video_signature: bytes | None = None
    thumbnails: list[int] = field(default_factory=list)
    problem_kind: str = ""
    problem_message: str = ""
    note: str = ""
    reused: bool = False  # content already known to the catalog: derived data is copied, not recomputed
    sidecars: tuple[SidecarEntry, ...] = ()  # linked to this file; what they say is already applied
    deferred: bool = False  # everything but the pixels is done: ``defer_pixels`` left them to the caller

    @property
    def dates(self) -> list[DateCandidate]:
        """Embedded capture-date candidates; file and folder names and the mtime are added by ``capture_date``."""
        return exif_meta.dates_from_exif_subset(self.exif)

    def add_problem(self, kind: str, message: str) -> None:
        """Keep the first (most serious) kind; keep every message."""
        if not self.problem_kind:
            self.problem_kind = kind
        self.problem_message = f"{self.problem_message}; {message}" if self.problem_message else message

    def apply_metadata(self, meta: exif_meta.ImageMetadata) -> None:
        self.camera_make, self.camera_model, self.lens_model = meta.camera_make, meta.camera_model, meta.lens_model
        self.exposure_time, self.f_number, self.iso = meta.exposure_time, meta.f_number, meta.iso
        self.focal_length, self.gps, self.gps_altitude = meta.focal_length, meta.gps, meta.gps_altitude
        self.orientation, self.exif = meta.orientation, meta.exif
        self.keywords, self.rating, self.title, self.description = (
            meta.keywords, meta.rating, meta.title, meta.description)  # fmt: skip
        self.content_id = meta.content_id
        for message in meta.problems:
            self.add_problem(Problem.BAD_EXIF, message)


def extension_problem(fmt: str, extension: str) -> str:
    """A message when a file's content format does not match its extension ("" when it does)."""
    fmt = "HEIF" if fmt == "HEIC" else fmt
    allowed = FORMAT_EXTENSIONS.get(fmt)
    if allowed is None or extension in allowed:
        return ""
    return f"the file is {fmt} but its name ends in .{extension}"


def extension_of(path: str) -> str:
    return PurePath(path).suffix.lower().lstrip(".")


def analyze_file(
    path: str,
    options: AnalyzeOptions,
    known_sha256: frozenset[str] | set[str] = frozenset(),
    size: int | None = None,
    mtime_ns: int | None = None,
    sidecars: tuple[SidecarEntry, ...] = (),
) -> FileAnalysis:
    """Analyze one file and apply its sidecars. Never raises for bad input; see the module docstring.

    A file with sidecars is always read in full: what its sidecars say belongs to this path, not to its content.
    """
    if size is None or mtime_ns is None:
        try:
            stat = os.stat(path)
            size, mtime_ns = stat.st_size, stat.st_mtime_ns
        except OSError as exc:
            result = FileAnalysis(path=path, size=0, mtime_ns=0)
            result.add_problem(Problem.UNREADABLE, f"cannot read file: {exc.strerror or exc}")
            return result
    result = FileAnalysis(path=path, size=size, mtime_ns=mtime_ns, sidecars=tuple(sidecars))
    extension = extension_of(path)
    if size == 0:
        result.add_problem(Problem.EMPTY, "file is empty (0 bytes)")
        return result
    if sidecars:
        known_sha256 = frozenset()
    with contained(result):
        if extension in VIDEO_EXTENSIONS:
            _analyze_video(result, extension, options, known_sha256)
        else:
            _analyze_image(result, extension, options, known_sha256)
    if sidecars:
        try:
            apply_sidecars(result, sidecars)
        except Exception as exc:  # a hostile sidecar costs its own data only
            result.note = result.note or f"cannot use a sidecar: {_message(exc)}"[:255]
    sanitize(result)
    return result


@contextmanager
def contained(result: FileAnalysis) -> Iterator[None]:
    """Whatever goes wrong inside becomes the file's problem: a parser bug on hostile input, a decoder out of
    memory or a read error must cost this file only, never the run."""
    try:
        yield
    except MemoryError:
        result.add_problem(Problem.OUT_OF_MEMORY, "not enough memory to decode this file")
    except OSError as exc:
        result.add_problem(Problem.UNREADABLE, f"cannot read file: {exc.strerror or exc}")
    except Exception as exc:
        result.add_problem(Problem.CORRUPT, f"unexpected {type(exc).__name__} while reading the file: {_message(exc)}")


INT_MAX = 2**31 - 1
TEXT_LIMITS = {
    "camera_make": 128, "camera_model": 128, "lens_model": 128, "format": 16, "note": 255, "title": 255,
    "description": 2000,
}  # fmt: skip


def _finite(value: float | None, limit: float = 1e12) -> float | None:
    if value is None or not isinstance(value, (int, float)) or not math.isfinite(value) or abs(value) > limit:
        return None
    return float(value)


def _json_safe(value: Any) -> Any:
    """JSON every database accepts: no NaN or infinity, no NUL characters."""
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, float):
        return _finite(value, float("inf"))
    if isinstance(value, str):
        return value.replace("\x00", "")
    return value


def sanitize(result: FileAnalysis) -> None:
    """Bring every value read from the file within what the catalog's columns hold.

    Headers are attacker-controlled: a 200-character make, an 8-byte width or a NaN duration must not fail the
    database write of the whole batch.
    """
    for name, limit in TEXT_LIMITS.items():
        setattr(result, name, exif_meta.clean_text(getattr(result, name), limit=limit))
    result.keywords = [exif_meta.clean_text(word, limit=100) for word in result.keywords if isinstance(word, str)]
    result.keywords = [word for word in dict.fromkeys(result.keywords) if word][:200]
    if result.rating is not None and not (isinstance(result.rating, int) and -1 <= result.rating <= 5):
        result.rating = None
    for name in ("width", "height", "orientation", "iso"):
        value = getattr(result, name)
        if value is not None and not (isinstance(value, int) and 0 <= value <= INT_MAX):
            setattr(result, name, None)
    for name in ("duration", "exposure_time", "f_number", "focal_length", "gps_altitude"):
        setattr(result, name, _finite(getattr(result, name)))
    if result.gps is not None:
        latitude, longitude = (_finite(v, 180) for v in result.gps)
        result.gps = (latitude, longitude) if latitude is not None and longitude is not None else None
    result.exif = _json_safe(result.exif)
    result.problem_message = result.problem_message.replace("\x00", "")


def _analyze_image(result: FileAnalysis, extension: str, options: AnalyzeOptions, known: frozenset | set) -> None:
    result.media_type = "image"
    if result.size > MAX_IMAGE_BYTES:
        with open(result.path, "rb") as handle:
            result.sha256, result.size = sha256_stream(handle)
        result.add_problem(Problem.TOO_LARGE, f"{result.size / 2**30:.1f} GiB is too large to decode as an image")
        return
    with open(result.path, "rb") as handle:
        data = handle.read()
    result.size = len(data)
    result.sha256 = hashlib.sha256(data).hexdigest()
    if result.sha256 in known:
        result.reused = True
        return
    if extension in RAW_EXTENSIONS:
        _analyze_raw(result, data, options)
        return
    _analyze_pillow(result, data, extension, options)


def open_image(result: FileAnalysis, data: bytes, options: AnalyzeOptions) -> Image.Image | None:
    Image.MAX_IMAGE_PIXELS = options.max_image_pixels
    try:
        return Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        result.add_problem(Problem.BOMB, f"refused as a decompression bomb: {_bomb_message(exc)}")
    except Image.UnidentifiedImageError:
        result.add_problem(Problem.UNSUPPORTED, "not a readable image: the content matches no known image format")
    except (OSError, SyntaxError, ValueError, TypeError, struct.error, EOFError) as exc:
        result.add_problem(Problem.CORRUPT, f"cannot open image: {_message(exc)}")
    return None


def _analyze_pillow(result: FileAnalysis, data: bytes, extension: str, options: AnalyzeOptions) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        image = open_image(result, data, options)
        if image is None:
            return
        result.format = "HEIC" if image.format == "HEIF" else (image.format or extension.upper())
        if message := extension_problem(image.format or "", extension):
            result.add_problem(Problem.WRONG_EXTENSION, message)
        meta: exif_meta.ImageMetadata | None = None
        try:
            meta = exif_meta.metadata_from_pillow(image)
            result.apply_metadata(meta)
        except Exception as exc:  # metadata must never cost us the pixels
            if "truncated" not in str(exc):  # PNG reads trailing chunks: the decode below reports truncation
                result.add_problem(Problem.BAD_EXIF, f"unreadable metadata: {_message(exc)}")
        # ExifTool reads the file in its own process while this one decodes it: its answer is taken after.
        exiftool_answer = begin_exiftool(result, options) if meta is not None and needs_exiftool(meta) else None
        try:
            _check_mpo(result, image)
            _check_heif_items(result, image, data)
            width, height = image.size
            already_oriented = image.format == "HEIF"  # pillow-heif applies irot/imir itself; AVIF does not
            if (result.orientation or 1) >= 5 and not already_oriented:
                width, height = height, width
            result.width, result.height = width, height
            if options.defer_pixels and deferrable(image, data):
                result.deferred = True
            else:
                decode_and_derive(result, image, options)
        finally:
            if exiftool_answer is not None:
                exiftool_answer()
    for warning in caught:
        text = str(warning.message)
        if issubclass(warning.category, Image.DecompressionBombWarning) or "unclosed file" in text:
            continue
        if TAG_COUNT_WARNING.search(text):
            continue  # Pillow's strict count for a tag it does not use (IPTC's 33723 holds many): the file is fine
        if "EXIF" in text or "MPO" in text or "metadata" in text.lower():
            result.add_problem(Problem.BAD_EXIF, text.strip().rstrip("."))


TAG_COUNT_WARNING = re.compile(r"tag \d+ had too many entries")
HAS_TIME = re.compile(r"^\s*\d{4}[:-]\d{1,2}[:-]\d{1,2}[ T]+\d{1,2}:\d{2}")
DATE_ONLY = re.compile(r"^\s*(\d{4})[:-](\d{1,2})[:-](\d{1,2})\s*$")


# Makers whose maker notes name the lens or hold the ISO where EXIF does not (phones' maker notes do neither).
MAKER_NOTE_MAKES = (
    "canon", "nikon", "casio", "kodak", "eastman kodak", "olympus", "om digital", "pentax", "ricoh", "sony",
    "panasonic", "fujifilm", "minolta", "konica", "samsung", "leica", "sigma", "sanyo", "jvc", "hasselblad",
)  # fmt: skip


def needs_exiftool(meta: exif_meta.ImageMetadata) -> bool:
    """Whether ExifTool could add to what Pillow read from an image: an IPTC block, or a camera maker note
    where EXIF lacks the lens or the ISO. Other files (most phone pictures) are not sent to it: it costs ~5-10 ms
    a file, which is what keeps the full pass at Pillow's speed."""
    if meta.iptc:
        return True
    camera = meta.maker_note and meta.camera_make.lower().startswith(MAKER_NOTE_MAKES)
    return bool(camera and (not meta.lens_model or meta.iso is None))


def apply_exiftool(result: FileAnalysis, options: AnalyzeOptions) -> None:
    """Fill what the in-process readers left empty from ExifTool (see ``exiftool``): maker-note lens and ISO,
    XMP/IPTC keywords, rating, title, description and dates, RAW-only formats, camcorder tags."""
    begin_exiftool(result, options)()


def begin_exiftool(result: FileAnalysis, options: AnalyzeOptions) -> Callable[[], None]:
    """Ask ExifTool about this file now; the call returned waits for its answer and applies it (it must be made,
    so that the worker's ExifTool is free for the next file)."""
    if not options.exiftool:
        return partial(_without_exiftool, result)
    try:
        answer = exiftool.reader(options.exiftool).begin(result.path)
    except exiftool.ExifToolError as exc:
        return partial(_exiftool_failed, result, exc)

    def apply() -> None:
        try:
            found = exiftool.fields(answer())
        except exiftool.ExifToolError as exc:
            _exiftool_failed(result, exc)
            return
        _apply_exiftool_fields(result, found)

    return apply


def _without_exiftool(result: FileAnalysis) -> None:
    # Said where it matters most: RAW, and the videos whose camcorder tags only ExifTool reads (MTS, WMV, ...).
    if result.format.startswith("RAW/") or (result.media_type == "video" and result.format.lower() not in PARSERS):
        result.note = result.note or exiftool.NO_EXIFTOOL


def _exiftool_failed(result: FileAnalysis, exc: Exception) -> None:
    result.note = result.note or f"exiftool could not read this file: {exc}"[:255]


def _apply_exiftool_fields(result: FileAnalysis, found: dict[str, Any]) -> None:
    for name in ("camera_make", "camera_model", "lens_model"):
        if not getattr(result, name) and found[name]:
            setattr(result, name, exif_meta.clean_text(found[name], limit=TEXT_LIMITS[name]))
    subset = result.exif
    for name, key in (("exposure_time", "ExposureTime"), ("f_number", "FNumber"), ("focal_length", "FocalLength")):
        value = found[name]
        if getattr(result, name) is None and value is not None and exif_meta.PLAUSIBLE[name](value):
            setattr(result, name, value)
            subset.setdefault(key, round(value, 6))
    iso = found["iso"]
    if result.iso is None and iso is not None and iso.is_integer() and exif_meta.PLAUSIBLE["iso"](iso):
        result.iso = int(iso)
        subset.setdefault("ISO", result.iso)
    if result.lens_model:
        subset.setdefault("LensModel", result.lens_model)
    if result.gps is None and "gps" in found:
        latitude, longitude = found["gps"]
        gps, altitude = exif_meta.gps_from_decimal(latitude, longitude, found["gps_altitude"])
        result.gps = gps
        if result.gps_altitude is None:
            result.gps_altitude = altitude
    # ExifTool's keywords, rating, title and description follow the Metadata Working Group's rules across EXIF,
    # XMP and IPTC: where it found them they replace the XMP-only reading.
    result.keywords = found["keywords"] or result.keywords
    result.rating = found["rating"] or result.rating
    result.title = exif_meta.clean_text(found["title"], limit=TEXT_LIMITS["title"]) or result.title
    result.description = exif_meta.clean_text(found["description"], limit=2000) or result.description
    if result.width is None and result.height is None and "width" in found:
        result.width, result.height = found["width"], found["height"]
        orientation = found["orientation"]
        if result.media_type == "image" and orientation is not None and orientation >= 5:
            result.width, result.height = result.height, result.width
    if result.orientation is None and result.format.startswith("RAW/") and found["orientation"] in (3, 6, 8):
        result.orientation = int(found["orientation"])
    _exiftool_dates(result, found["dates"])


def _exiftool_dates(result: FileAnalysis, dates: dict[str, str]) -> None:
    """Dates ExifTool found where EXIF had none. A value without a time of day (IPTC DateCreated, a date-only
    XMP date) is kept as ``DateCreated``, a day at lower confidence, never as midnight."""
    subset = result.exif
    if result.media_type == "video":
        text = dates["DateTimeOriginal"] or dates["CreationDate"] or dates["CreateDate"]
        value = exif_meta.parse_exif_datetime(text) if HAS_TIME.match(text) else None
        if value is None or "CreationTime" in subset:
            return
        utc = text.rstrip().endswith("Z")
        subset["CreationTime"] = value.isoformat() + ("Z" if utc else "")
        offset = exif_meta.parse_offset(exif_meta.trailing_offset(text))
        if offset is not None and not utc:
            subset["CreationTimeOffset"] = offset
        return
    day_only = ""
    for key, offset_key in (
        ("DateTimeOriginal", "OffsetTimeOriginal"),
        ("CreateDate", "OffsetTimeDigitized"),
        ("ModifyDate", "OffsetTime"),
    ):
        text = dates[key]
        if key in subset or not text:
            continue
        if HAS_TIME.match(text) and exif_meta.parse_exif_datetime(text):
            subset[key] = text[:19]
            suffix = exif_meta.trailing_offset(text)
            if offset_key not in subset and exif_meta.parse_offset(suffix) is not None:
                subset[offset_key] = suffix
        elif key != "ModifyDate" and DATE_ONLY.match(text):
            day_only = day_only or text
    if dates["OffsetTimeOriginal"] and "DateTimeOriginal" in subset:
        subset.setdefault("OffsetTimeOriginal", dates["OffsetTimeOriginal"])
    created = dates["DateCreated"]
    day_only = day_only or (created if DATE_ONLY.match(created) else "")
    if day_only and "DateCreated" not in subset and (match := DATE_ONLY.match(day_only)):
        subset["DateCreated"] = "-".join((match.group(1), match.group(2).zfill(2), match.group(3).zfill(2)))


def deferrable(image: Image.Image, data: bytes) -> bool:
    """Whether the GPU path can decode this picture: a plain JPEG (not a multi-picture file) in YCbCr or
    grayscale that ends where a JPEG ends. Anything else (CMYK, a cut-off file, data after the picture) is
    decoded here, where every problem is reported the CPU engine's way."""
    return image.format == "JPEG" and image.mode in ("RGB", "L") and data.rstrip(b"\x00").endswith(b"\xff\xd9")


def decode_and_derive(result: FileAnalysis, image: Image.Image, options: AnalyzeOptions) -> None:
    """Decode an opened picture, then make its hashes and thumbnails (the CPU engine; ``deferred`` files of the
    GPU path that its device cannot decode come back here)."""
    upright = decode_upright(result, image, options)
    if upright is not None:
        _derive(result, upright, options)


def draft_request(width: int, height: int, target: int) -> tuple[int, int] | None:
    """The size to ask Pillow's JPEG ``draft`` for so that the decode covers ``target`` (within ``DRAFT_SLACK``)
    at the smallest DCT scale; None when the picture is not larger than that."""
    enough = target - target // DRAFT_SLACK
    if max(width, height) <= enough:
        return None
    scale = enough / max(width, height)
    return math.ceil(width * scale), math.ceil(height * scale)


def draft_scale(width: int, height: int, target: int) -> int:
    """The DCT scale denominator (1, 2, 4 or 8) Pillow's ``draft`` picks for ``draft_request``: the GPU path
    shrinks its full-size decode by the same factor."""
    request = draft_request(width, height, target)
    if request is None:
        return 1
    fits = min(width // request[0], height // request[1])
    return next(scale for scale in (8, 4, 2, 1) if fits >= scale)


def decode_upright(result: FileAnalysis, image: Image.Image, options: AnalyzeOptions) -> Image.Image | None:
    """Decode frame 0 at the smallest scale that still covers ``decode_size``, then apply the orientation."""
    width, height = image.size
    try:
        if image.format in ("JPEG", "MPO") and (request := draft_request(width, height, options.decode_size)):
            image.draft(image.mode, request)
        image.load()
    except Image.DecompressionBombError as exc:
        result.add_problem(Problem.BOMB, f"refused as a decompression bomb: {_bomb_message(exc)}")
        return None
    except OSError as exc:
        text = _message(exc)
        if "truncated" in text:
            result.add_problem(Problem.TRUNCATED, TRUNCATED_MESSAGE)
        else:
            result.add_problem(Problem.CORRUPT, f"cannot decode image: {text}")
        return None
    except (SyntaxError, ValueError, TypeError, EOFError, struct.error) as exc:
        result.add_problem(Problem.CORRUPT, f"cannot decode image: {_message(exc)}")
        return None
    if image.format != "HEIF" and result.orientation in TRANSPOSE:
        return image.transpose(TRANSPOSE[result.orientation])
    return image


def _derive(result: FileAnalysis, upright: Image.Image, options: AnalyzeOptions, with_hashes: bool = True) -> None:
    """Hashes and thumbnails from one chain of shrinks, largest first.

    dHash and pHash are taken from the image fitted into HASH_BASIS px: a fixed basis whatever thumbnail sizes
    are asked for, and 20x fewer pixels to convert and resample than the decode.
    """
    image = displayable(upright, options.thumbnail_format)
    made = thumbnail_sizes(result, options)
    for size, fitted in shrink_chain(image, chain_sizes(options) if with_hashes else made):
        if with_hashes and size == HASH_BASIS:
            store_hashes(result, hash_inputs(fitted.convert("L")))
        if size in made:
            store_thumbnail(result, size, fitted, options)


def thumbnail_sizes(result: FileAnalysis, options: AnalyzeOptions) -> set[int]:
    """The thumbnails this analysis makes (none without a thumbnails folder, or without content to name them)."""
    return set(options.sizes) if options.thumbnails_root and result.sha256 else set()


def chain_sizes(options: AnalyzeOptions) -> set[int]:
    """The fitted sizes a picture is shrunk to, largest first: every thumbnail size, then the hash basis. The
    basis comes down the same chain whether thumbnails are made or not, so ``--no-thumbnails`` gives the
    hashes of a default run."""
    return set(options.sizes) | {HASH_BASIS}


def store_hashes(result: FileAnalysis, resized: list[np.ndarray]) -> None:
    """Every hash of a picture, from its hash basis resized to each of ``hashing.HASH_SIZES``."""
    result.dhash, result.phash, result.hash_variants, result.fine_hash = picture_hashes(resized)


def store_thumbnail(result: FileAnalysis, size: int, fitted: Image.Image, options: AnalyzeOptions) -> None:
    """Write one fitted thumbnail; a failure to write (the catalog's disk, not the source file) keeps the
    analysis, says what failed, and makes no more thumbnails of this file."""
    if result.note.startswith(THUMBNAIL_FAILED):
        return
    try:
        written = write_thumbnail(
            fitted,
            result.sha256,
            options.thumbnails_root or "",
            size,
            options.quality,
            options.thumbnail_format,
            force=options.force_thumbnails,
        )
    except OSError as exc:
        result.note = f"{THUMBNAIL_FAILED}{exc.strerror or exc}"
        return
    if written:
        result.thumbnails.append(size)


THUMBNAIL_FAILED = "cannot write thumbnails: "


def _check_mpo(result: FileAnalysis, image: Image.Image) -> None:
    """Every frame a multi-picture file lists must lie inside the file."""
    if image.format != "MPO":
        return
    entries = (getattr(image, "mpinfo", None) or {}).get(0xB002) or []
    for index, entry in enumerate(entries[1:], start=2):
        offset, length = entry.get("DataOffset", 0), entry.get("Size", 0)
        if offset + length > result.size or length == 0:
            result.add_problem(Problem.TRUNCATED, f"MPO frame {index} lies outside the file (it has no data)")


def _check_heif_items(result: FileAnalysis, image: Image.Image, data: bytes) -> None:
    """Every item a HEIF/AVIF file lists (burst frames, thumbnails, depth maps) must lie inside the file."""
    if image.format not in ("HEIF", "AVIF"):
        return
    try:
        outside = items_outside(data)
    except (BoxError, struct.error) as exc:
        result.add_problem(Problem.CORRUPT, f"broken HEIF item table: {exc}")
        return
    if outside:
        items = ", ".join(str(item) for item, _ in outside[:5])
        result.add_problem(
            Problem.TRUNCATED,
            f"the file ends {_bytes(max(n for _, n in outside))} short: HEIF item{'s' if len(outside) > 1 else ''} "
            f"{items} {'lie' if len(outside) > 1 else 'lies'} outside it",
        )


def _analyze_raw(result: FileAnalysis, data: bytes, options: AnalyzeOptions) -> None:
    """RAW: metadata from exifread, pixels from the embedded preview JPEG (what cameras show on screen)."""
    import exifread

    result.format = f"RAW/{extension_of(result.path).upper()}"
    try:
        tags = exifread.process_file(io.BytesIO(data), details=False)
        result.apply_metadata(exif_meta.metadata_from_exifread(tags))
    except Exception as exc:  # exifread raises assorted errors on broken files
        result.add_problem(Problem.BAD_EXIF, f"unreadable metadata: {_message(exc)}")
    apply_exiftool(result, options)
    if not (result.camera_make or result.camera_model or result.dates):
        missing = "" if options.exiftool else " (exiftool, which reads more RAW formats, is not installed)"
        result.add_problem(
            Problem.BAD_EXIF, f"no metadata (camera, capture date) could be read from this RAW file{missing}"
        )
    try:
        import rawpy

        with rawpy.imread(io.BytesIO(data)) as raw:
            sizes = raw.sizes
            width, height = sizes.width, sizes.height
            flip = sizes.flip  # LibRaw: 3 = 180, 5 = 90 CCW, 6 = 90 CW
            try:
                thumb = raw.extract_thumb()
            except (rawpy.LibRawNoThumbnailError, rawpy.LibRawUnsupportedThumbnailError):
                thumb = None
            preview: Image.Image
            if thumb is not None and thumb.format == rawpy.ThumbFormat.JPEG:
                preview = Image.open(io.BytesIO(bytes(thumb.data)))
            elif thumb is not None:
                preview = Image.fromarray(np.asarray(thumb.data))
            else:
                preview = Image.fromarray(raw.postprocess(half_size=True, use_camera_wb=True))
    except Exception as exc:  # rawpy's LibRaw errors share no useful base class
        kind = type(exc).__name__
        if "Unsupported" in kind or "FileUnsupported" in kind:
            result.add_problem(Problem.CORRUPT, "RAW image data is missing or unsupported; metadata was kept")
        else:
            result.add_problem(Problem.CORRUPT, f"cannot decode RAW image: {_message(exc)}")
        return
    if result.orientation is None and flip in (3, 5, 6):
        result.orientation = {3: 3, 5: 8, 6: 6}[flip]
    if (result.orientation or 1) >= 5:
        width, height = height, width
    result.width, result.height = width, height
    upright = decode_upright(result, preview, options)
    if upright is None:
        return
    _derive(result, upright, options)


def _analyze_video(result: FileAnalysis, extension: str, options: AnalyzeOptions, known: frozenset | set) -> None:
    result.media_type = "video"
    result.format = extension.upper()
    with open(result.path, "rb") as handle:
        result.sha256, result.size = sha256_stream(handle)
        if result.sha256 in known:
            result.reused = True
            return
        try:
            info = video_info(handle, result.path, extension, result.size, options.ffprobe)
        except VideoToolMissing as exc:
            result.note = str(exc)
            apply_exiftool(result, options)
            return
        except (VideoParseError, ValueError) as exc:
            result.add_problem(Problem.CORRUPT, f"cannot read video metadata: {exc}")
            apply_exiftool(result, options)
            return
    if info.truncated_by:
        result.add_problem(
            Problem.TRUNCATED,
            f"the file ends {_bytes(info.truncated_by)} short of its last section; the metadata was kept",
        )
    width, height = info.width, info.height
    if info.rotation in (90, 270) and width and height:
        width, height = height, width
    result.width, result.height, result.duration, result.gps = width, height, info.duration, info.gps
    result.camera_make, result.camera_model, result.content_id = info.make, info.model, info.content_id
    if info.created:
        result.exif["CreationTime"] = info.created.isoformat() + ("Z" if info.created_is_utc else "")
        if info.created_offset is not None:
            result.exif["CreationTimeOffset"] = info.created_offset
    if info.duration is not None:
        result.exif["Duration"] = info.duration
    apply_exiftool(result, options)
    if options.ffmpeg and result.duration:
        _sample_frames(result, options.ffmpeg)
    if not options.thumbnails_root:
        return
    if not options.ffmpeg:
        result.note = NO_FFMPEG
        return
    try:
        frame = poster_frame(options.ffmpeg, result.path, 1.0 if (info.duration or 0) > 2 else 0.0)
    except PosterError as exc:
        result.note = str(exc)
        return
    _derive(result, frame, options, with_hashes=False)


def _sample_frames(result: FileAnalysis, ffmpeg: str) -> None:
    """The video's signature for near-duplicate videos. A video whose frames cannot be sampled (a header that
    overstates the duration, a stream ffmpeg cannot decode: the poster frame says which) is left out of the
    near-duplicate search, and not tried again until it changes."""
    assert result.duration
    size = (result.width, result.height) if result.width and result.height else None
    try:
        result.video_signature = video_signature(ffmpeg, result.path, result.duration, size=size).to_bytes()
    except VideoSignatureError as exc:
        result.video_signature = b""
        logger.debug("%s: %s", result.path, exc)


def _message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.replace(" of <_io.BytesIO object>", "")


def _bomb_message(exc: BaseException) -> str:
    """Pillow's "Image size (268435456 pixels) exceeds limit of 240000000 pixels, could be …" in plain words."""
    numbers = [int(n) for n in re.findall(r"\d+", _message(exc))]
    if len(numbers) >= 2:
        return f"{numbers[0]:,} pixels, more than the {numbers[1]:,} allowed (VAM_MAX_IMAGE_PIXELS)"
    return _message(exc).split(", could be")[0]


TRUNCATED_MESSAGE = "the picture data is cut short: the file ends before the picture does; the metadata was kept"


def _bytes(count: int) -> str:
    return f"{count:,} byte" if count == 1 else f"{count:,} bytes"
