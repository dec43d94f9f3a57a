"""EXIF and XMP metadata: camera, exposure, GPS, orientation, embedded dates, and structural EXIF checks.

Pillow's ``getexif`` is the fast reader for every format Pillow opens; exifread covers RAW files (TIFF-based
CR2/NEF/ARW/DNG/...) that Pillow cannot open. Both produce the same ``ImageMetadata``.
"""

from __future__ import annotations

import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .dates import CONFIDENCE, DateCandidate, parse_exif_datetime, parse_offset, trailing_offset

# Tag numbers (EXIF 2.32).
MAKE, MODEL, ORIENTATION, DATETIME, SOFTWARE = 0x010F, 0x0110, 0x0112, 0x0132, 0x0131
EXIF_IFD, GPS_IFD, INTEROP_IFD = 0x8769, 0x8825, 0xA005
EXPOSURE_TIME, F_NUMBER, ISO, FOCAL_LENGTH, LENS_MODEL = 0x829A, 0x829D, 0x8827, 0x920A, 0xA434
FOCAL_LENGTH_35 = 0xA405
MAKER_NOTE, IPTC_TAG = 0x927C, 0x83BB
DATETIME_ORIGINAL, DATETIME_DIGITIZED = 0x9003, 0x9004
OFFSET_TIME, OFFSET_TIME_ORIGINAL, OFFSET_TIME_DIGITIZED = 0x9010, 0x9011, 0x9012
SUBSEC_ORIGINAL = 0x9291

EXIF_SUBSET = {
    MAKE: "Make",
    MODEL: "Model",
    ORIENTATION: "Orientation",
    DATETIME: "ModifyDate",
    SOFTWARE: "Software",
}
EXIF_IFD_SUBSET = {
    DATETIME_ORIGINAL: "DateTimeOriginal",
    DATETIME_DIGITIZED: "CreateDate",
    OFFSET_TIME: "OffsetTime",
    OFFSET_TIME_ORIGINAL: "OffsetTimeOriginal",
    OFFSET_TIME_DIGITIZED: "OffsetTimeDigitized",
    SUBSEC_ORIGINAL: "SubSecTimeOriginal",
    EXPOSURE_TIME: "ExposureTime",
    F_NUMBER: "FNumber",
    ISO: "ISO",
    FOCAL_LENGTH: "FocalLength",
    LENS_MODEL: "LensModel",
    FOCAL_LENGTH_35: "FocalLengthIn35mmFormat",
    0x9209: "Flash",
    0xA002: "ExifImageWidth",
    0xA003: "ExifImageHeight",
}


@dataclass
class ImageMetadata:
    camera_make: str = ""
    camera_model: str = ""
    lens_model: str = ""
    exposure_time: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length: float | None = None
    gps: tuple[float, float] | None = None
    gps_altitude: float | None = None
    orientation: int | None = None
    exif: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    rating: int | None = None
    title: str = ""
    description: str = ""
    maker_note: bool = False  # EXIF holds a maker note (which may name the lens or the ISO)
    content_id: str = ""  # Apple's Live Photo pairing key (see ``apple_content_id``)
    iptc: bool = False  # the file holds an IPTC block (keywords, caption, date), which only ExifTool reads

    @property
    def dates(self) -> list[DateCandidate]:
        return dates_from_exif_subset(self.exif)


def dates_from_exif_subset(subset: dict[str, Any]) -> list[DateCandidate]:
    """Embedded date candidates from the stored EXIF subset (also used for files whose content was seen before)."""
    dates: list[DateCandidate] = []
    default_offset = parse_offset(subset.get("OffsetTime"))
    for key, source, offset_key in (
        ("DateTimeOriginal", "exif_original", "OffsetTimeOriginal"),
        ("CreateDate", "exif_digitized", "OffsetTimeDigitized"),
        ("ModifyDate", "exif_modified", "OffsetTime"),
    ):
        value = parse_exif_datetime(subset.get(key))
        if value:
            offset = parse_offset(subset.get(offset_key))
            dates.append(
                DateCandidate(
                    value, source, CONFIDENCE[source], offset_minutes=offset if offset is not None else default_offset
                )
            )
    day = subset.get("DateCreated")  # XMP/IPTC date without a time of day: a day, not midnight
    if isinstance(day, str) and (value := parse_exif_datetime(day)):
        dates.append(DateCandidate(value, "metadata_date", CONFIDENCE["metadata_date"], granularity="day"))
    created = subset.get("CreationTime")
    if isinstance(created, str) and (value := parse_exif_datetime(created)):
        offset = subset.get("CreationTimeOffset")
        dates.append(
            DateCandidate(
                value,
                "video_created",
                CONFIDENCE["video_created"],
                offset_minutes=offset if isinstance(offset, int) else None,
                utc=created.endswith("Z"),
            )
        )
    taken = subset.get("TakeoutTakenTime")  # Google Takeout's photoTakenTime, from a sidecar (UTC)
    if isinstance(taken, str) and (value := parse_exif_datetime(taken)):
        dates.append(DateCandidate(value, "takeout", CONFIDENCE["takeout"], utc=True))
    return dates


def clean_text(value: Any, limit: int = 128) -> str:
    """A metadata string as a person would read it: cut at the first NUL, padding trimmed, never invalid UTF-8."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        value = value.split(b"\x00", 1)[0]
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError:
            value = value.decode("cp1252", errors="replace")
    elif isinstance(value, (tuple, list)):
        return ""
    text = str(value).split("\x00", 1)[0]
    text = "".join(ch for ch in text if ch.isprintable())
    return text.strip()[:limit]


# Words makers append to their name in the Make tag ("NIKON CORPORATION", "OLYMPUS IMAGING CORP.").
_MAKE_SUFFIXES = {
    "ag", "camera", "co", "company", "computer", "corp", "corporation", "electronics", "gmbh", "imaging", "inc",
    "limited", "ltd", "optical",
}  # fmt: skip


def camera_label(make: str, model: str) -> str:
    """The camera as a person names it: "Canon EOS 5D", "NIKON D800", "OLYMPUS E-M1", "samsung Galaxy S24 Ultra".

    The make loses its company suffixes, and is left out when the model already names it (most makers repeat
    it there). Case is kept as the camera wrote it.
    """
    words, model = [word for word in re.split(r"[\s,]+", make) if word], " ".join(model.split())
    while len(words) > 1 and words[-1].lower().rstrip(".") in _MAKE_SUFFIXES:
        words.pop()
    short = " ".join(words)
    if not short or not model:
        return model or short
    names = {part.lower() for part in re.split(r"[\s_-]+", short)}
    return model if re.split(r"[\s_-]", model, maxsplit=1)[0].lower() in names else f"{short} {model}"


# What writers put in a 32-bit field for "unknown" (all bits set, read unsigned or as the largest signed value).
SENTINELS = {0xFFFFFFFF, 0x7FFFFFFF, 0x80000000}


def rational(numerator: Any, denominator: Any) -> float | None:
    """numerator / denominator; None for a zero denominator or a sentinel on either side (1/4294967295 s is not
    an exposure a camera made)."""
    if not denominator or numerator in SENTINELS or denominator in SENTINELS:
        return None
    return to_float(float(numerator) / float(denominator))


def to_float(value: Any) -> float | None:
    """A rational, int or float as a finite float; None for 0/0, sentinels, NaN and junk."""
    if isinstance(value, (tuple, list)):
        if len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
            return rational(*value)
        return to_float(value[0]) if len(value) == 1 else None
    numerator, denominator = getattr(value, "numerator", None), getattr(value, "denominator", None)
    if isinstance(numerator, int) and isinstance(denominator, int):  # int, Fraction, Pillow's IFDRational
        return rational(numerator, denominator)
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if math.isfinite(number) and number not in SENTINELS else None


# What a camera can record; a value outside is a broken or "unknown" one and is stored as None.
PLAUSIBLE: dict[str, Callable[[float], bool]] = {
    "exposure_time": lambda seconds: 0 < seconds <= 3600,
    "f_number": lambda f: 0.5 <= f <= 128,
    "iso": lambda iso: 0 < iso < 10_000_000,
    "focal_length": lambda mm: 0 < mm <= 10_000,
    "gps_altitude": lambda metres: -12_000 <= metres <= 100_000,  # the deepest sea floor to where space begins
}


def _plausible(name: str, value: Any) -> int | float | None:
    return value if isinstance(value, (int, float)) and PLAUSIBLE[name](value) else None


def _json_value(value: Any) -> Any:
    if isinstance(value, (bytes, str)):
        return clean_text(value, limit=256)
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value][:16]
    if isinstance(value, int):
        return value
    number = to_float(value)
    return round(number, 6) if number is not None else None


def _gps_coordinate(value: Any, ref: Any) -> float | None:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        return None
    parts = [to_float(v) for v in value]
    if any(p is None for p in parts):
        return None
    degrees = parts[0] + parts[1] / 60 + parts[2] / 3600  # type: ignore[operator]
    if clean_text(ref).upper() in {"S", "W"}:
        degrees = -degrees
    return degrees


def gps_from_tags(gps: dict) -> tuple[tuple[float, float] | None, float | None]:
    latitude = _gps_coordinate(gps.get(2), gps.get(1))
    longitude = _gps_coordinate(gps.get(4), gps.get(3))
    altitude = to_float(gps.get(6))
    if altitude is not None and gps.get(5) in (1, b"\x01"):
        altitude = -altitude
    altitude = _plausible("gps_altitude", altitude)
    if latitude is None or longitude is None:
        return None, altitude
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180) or (latitude == 0 and longitude == 0):
        return None, altitude
    return (round(latitude, 7), round(longitude, 7)), altitude


def gps_from_decimal(
    latitude: float, longitude: float, altitude: float | None
) -> tuple[tuple[float, float] | None, float | None]:
    """Signed decimal degrees (ExifTool's numeric GPS) checked like ``gps_from_tags``."""
    altitude = _plausible("gps_altitude", altitude)
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180) or (latitude == 0 and longitude == 0):
        return None, altitude
    return (round(latitude, 7), round(longitude, 7)), altitude


def metadata_from_tags(base: dict, exif_ifd: dict, gps_ifd: dict) -> ImageMetadata:
    """Build metadata from three tag dicts (tag number -> value), whatever reader produced them."""
    meta = ImageMetadata()
    meta.camera_make = clean_text(base.get(MAKE))
    meta.camera_model = clean_text(base.get(MODEL))
    meta.lens_model = clean_text(exif_ifd.get(LENS_MODEL))
    meta.exposure_time = _plausible("exposure_time", to_float(exif_ifd.get(EXPOSURE_TIME)))
    meta.f_number = _plausible("f_number", to_float(exif_ifd.get(F_NUMBER)))
    iso = exif_ifd.get(ISO)
    iso = iso[0] if isinstance(iso, (tuple, list)) and iso else iso
    meta.iso = iso if isinstance(iso, int) and _plausible("iso", iso) else None
    meta.focal_length = _plausible("focal_length", to_float(exif_ifd.get(FOCAL_LENGTH)))
    orientation = base.get(ORIENTATION)
    if isinstance(orientation, (tuple, list)) and orientation:
        orientation = orientation[0]
    if isinstance(orientation, int):
        # 0 is a common "unset"; anything above 8 is a broken tag.
        meta.orientation = orientation if 1 <= orientation <= 8 else None
        if orientation > 8:
            meta.problems.append(f"invalid EXIF Orientation value {orientation}")
    meta.gps, meta.gps_altitude = gps_from_tags(gps_ifd)

    subset: dict[str, Any] = {}
    for tags, names in ((base, EXIF_SUBSET), (exif_ifd, EXIF_IFD_SUBSET)):
        for tag, name in names.items():
            if tag in tags:
                value = _json_value(tags[tag])
                if value not in (None, "", []):
                    subset[name] = value
    # The subset is read too (the asset page, exports): it holds the checked values, not the raw ones.
    for name, checked in (
        ("ExposureTime", meta.exposure_time),
        ("FNumber", meta.f_number),
        ("ISO", meta.iso),
        ("FocalLength", meta.focal_length),
        ("FocalLengthIn35mmFormat", _plausible("focal_length", _json_value(exif_ifd.get(FOCAL_LENGTH_35)))),
    ):
        if checked is None:
            subset.pop(name, None)
        else:
            subset[name] = checked if isinstance(checked, int) else round(checked, 6)
    if meta.gps:
        subset["GPSLatitude"], subset["GPSLongitude"] = meta.gps
    if meta.gps_altitude is not None:
        subset["GPSAltitude"] = round(meta.gps_altitude, 2)
    meta.exif = subset
    return meta


def metadata_from_pillow(image: Any) -> ImageMetadata:
    """Metadata of an opened (not necessarily loaded) Pillow image, EXIF first, XMP as a fallback."""
    exif = image.getexif()
    try:
        exif_ifd = dict(exif.get_ifd(EXIF_IFD))
    except Exception:  # Pillow raises assorted errors on broken sub-IFDs
        exif_ifd = {}
    try:
        gps_ifd = dict(exif.get_ifd(GPS_IFD))
    except Exception:
        gps_ifd = {}
    meta = metadata_from_tags(dict(exif), exif_ifd, gps_ifd)
    maker_note = exif_ifd.get(MAKER_NOTE)
    meta.maker_note = MAKER_NOTE in exif_ifd
    if isinstance(maker_note, bytes) and maker_note.startswith(APPLE_MAKER_NOTE):
        meta.content_id = apple_content_id(maker_note)
    applist = getattr(image, "applist", None) or []
    tags = getattr(image, "tag_v2", None)
    meta.iptc = any(marker == "APP13" for marker, _ in applist) or bool(tags is not None and IPTC_TAG in tags)
    raw = image.info.get("exif")
    if isinstance(raw, bytes) and raw:
        meta.problems.extend(exif_structure_problems(raw))
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if xmp:
        apply_xmp(meta, xmp)
    return meta


APPLE_MAKER_NOTE = b"Apple iOS\x00"
APPLE_CONTENT_IDENTIFIER = 0x0011  # ExifTool's MediaGroupUUID (ContentIdentifier before ExifTool 12.19)
_UUID = re.compile(r"[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}")


def content_identifier(value: str | bytes) -> str:
    """A Live Photo pairing key as the catalog keeps it: the UUID upper-cased, "" for anything that is not one
    (a key of garbage would pair files that have nothing to do with each other)."""
    text = clean_text(value, limit=64).upper()
    return text if _UUID.fullmatch(text) else ""


def apple_content_id(maker_note: bytes) -> str:
    """The ContentIdentifier an iPhone writes into its maker note, shared with the video of the same Live Photo.

    The maker note is "Apple iOS\\0", a 2-byte version and a byte-order mark, then one TIFF IFD whose value
    offsets count from the start of the maker note (ExifTool's MakerNotes.pm: ``Start => $valuePtr + 14``,
    ``Base => $start - 14``). Anything malformed gives "".
    """
    order = {b"MM": ">", b"II": "<"}.get(maker_note[12:14])
    if order is None or len(maker_note) < 16:
        return ""
    (count,) = struct.unpack(order + "H", maker_note[14:16])
    entries = maker_note[16 : 16 + 12 * min(count, (len(maker_note) - 16) // 12)]
    for index, (tag, kind, size, pointer) in enumerate(struct.iter_unpack(order + "HHII", entries)):
        if tag != APPLE_CONTENT_IDENTIFIER:
            continue
        at = 16 + 12 * index
        if kind not in (2, 7):  # ASCII, or UNDEFINED from a careless writer
            return ""
        value = maker_note[at + 8 : at + 8 + size] if size <= 4 else maker_note[pointer : pointer + size]
        return content_identifier(value) if size <= 64 and len(value) == size else ""
    return ""


_XMP_ORIENTATION = re.compile(rb"tiff:Orientation(?:=\"|>)(\d)")
_XMP_DATES = [
    (re.compile(rb"exif:DateTimeOriginal(?:=\"|>)([^\"<]+)"), "DateTimeOriginal"),
    (re.compile(rb"(?:xmp:CreateDate|photoshop:DateCreated)(?:=\"|>)([^\"<]+)"), "CreateDate"),
]


_XMP_RATING = re.compile(rb"xmp:Rating(?:=\"|>)\s*(-?\d+(?:\.0+)?)\s*[\"<]")
_XMP_ITEM = re.compile(rb"<rdf:li(?:\s[^>]*)?>(.*?)</rdf:li>", re.DOTALL)


def _xmp_list(data: bytes, name: bytes) -> list[str]:
    """The items of an XMP bag/alt (``dc:subject``, ``dc:title``), or its attribute form, as text."""
    import html

    match = re.search(rb"<" + name + rb">(.*?)</" + name + rb">", data, re.DOTALL)
    if match:
        items = _XMP_ITEM.findall(match.group(1))
    elif attribute := re.search(rb"\s" + name + rb"=\"([^\"]*)\"", data):
        items = [attribute.group(1)]
    else:
        return []
    words = [clean_text(html.unescape(item.decode("utf-8", "replace")), limit=255) for item in items]
    return list(dict.fromkeys(word for word in words if word))[:200]


_DATE_ONLY = re.compile(r"^\s*\d{4}[:-]\d{2}[:-]\d{2}\s*$")


def apply_xmp(meta: ImageMetadata, xmp: bytes | str) -> None:
    """Orientation and dates from XMP, where EXIF gave none (PNG and AVIF often carry only XMP)."""
    data = xmp.encode("utf-8", "replace") if isinstance(xmp, str) else xmp
    if meta.orientation is None and (match := _XMP_ORIENTATION.search(data)):
        value = int(match.group(1))
        if 1 <= value <= 8:
            meta.orientation = value
            meta.exif.setdefault("Orientation", value)
    meta.keywords = meta.keywords or _xmp_list(data, b"dc:subject")
    if meta.rating is None and (match := _XMP_RATING.search(data)):
        rating = to_float(match.group(1).decode("ascii"))
        meta.rating = (
            int(rating) if rating is not None and rating.is_integer() and -1 <= rating <= 5 and rating else None
        )
    meta.title = meta.title or " ".join(_xmp_list(data, b"dc:title")[:1])
    meta.description = meta.description or " ".join(_xmp_list(data, b"dc:description")[:1])
    for pattern, key in _XMP_DATES:
        if key in meta.exif or not (match := pattern.search(data)):
            continue
        text = match.group(1).decode("ascii", "replace")
        if _DATE_ONLY.match(text):  # "2004-02-26": a day, not midnight of it
            meta.exif.setdefault("DateCreated", text.strip()[:10].replace(":", "-"))
        elif parse_exif_datetime(text):
            meta.exif[key] = text[:19]
            suffix = trailing_offset(text)
            if parse_offset(suffix) is not None:
                meta.exif["OffsetTimeOriginal" if key == "DateTimeOriginal" else "OffsetTimeDigitized"] = suffix


def metadata_from_exifread(tags: dict) -> ImageMetadata:
    """Metadata from exifread's tag dict (used for RAW files)."""

    def value(key: str) -> Any:
        tag = tags.get(key)
        if tag is None:
            return None
        values = tag.values
        if isinstance(values, list):
            converted = [to_float((v.num, v.den)) if hasattr(v, "num") else v for v in values]
            return converted[0] if len(converted) == 1 else tuple(converted)
        return values

    base = {MAKE: value("Image Make"), MODEL: value("Image Model"), ORIENTATION: value("Image Orientation")}
    base[DATETIME] = value("Image DateTime")
    exif_ifd = {
        DATETIME_ORIGINAL: value("EXIF DateTimeOriginal"),
        DATETIME_DIGITIZED: value("EXIF DateTimeDigitized"),
        OFFSET_TIME_ORIGINAL: value("EXIF OffsetTimeOriginal"),
        EXPOSURE_TIME: value("EXIF ExposureTime"),
        F_NUMBER: value("EXIF FNumber"),
        ISO: value("EXIF ISOSpeedRatings"),
        FOCAL_LENGTH: value("EXIF FocalLength"),
        LENS_MODEL: value("EXIF LensModel"),
    }
    gps_ifd = {
        1: value("GPS GPSLatitudeRef"),
        2: value("GPS GPSLatitude"),
        3: value("GPS GPSLongitudeRef"),
        4: value("GPS GPSLongitude"),
        5: value("GPS GPSAltitudeRef"),
        6: value("GPS GPSAltitude"),
    }
    return metadata_from_tags(
        {k: v for k, v in base.items() if v is not None},
        {k: v for k, v in exif_ifd.items() if v is not None},
        {k: v for k, v in gps_ifd.items() if v is not None},
    )


_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
_SUB_IFDS = {EXIF_IFD: "Exif", GPS_IFD: "GPS", INTEROP_IFD: "Interop"}
_TYPE_NAMES = {2: "ASCII", 3: "SHORT", 4: "LONG", 5: "RATIONAL"}
# Tags whose type readers rely on; a wrong type means the writer was broken and the value is garbage.
_EXPECTED_TYPES = {
    ("IFD0", 0x011A): ("XResolution", (5,)),
    ("IFD0", 0x011B): ("YResolution", (5,)),
    ("IFD0", ORIENTATION): ("Orientation", (3, 4)),
    ("IFD0", DATETIME): ("ModifyDate", (2,)),
    ("Exif", DATETIME_ORIGINAL): ("DateTimeOriginal", (2,)),
    ("Exif", DATETIME_DIGITIZED): ("CreateDate", (2,)),
    ("Exif", EXPOSURE_TIME): ("ExposureTime", (5,)),
    ("Exif", F_NUMBER): ("FNumber", (5,)),
}


def exif_structure_problems(raw: bytes) -> list[str]:
    """Check the TIFF structure of an EXIF block: every IFD and value offset must lie inside the block.

    Readers skip what they cannot follow, so a broken EXIF block loses data silently; this says what broke.
    """
    data = raw[6:] if raw.startswith(b"Exif\x00\x00") else raw
    if len(data) < 8:
        return ["EXIF block is too short to hold a TIFF header"]
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        return ["EXIF block has no valid TIFF header"]
    problems: list[str] = []
    seen: set[int] = set()

    def walk(offset: int, name: str, depth: int) -> None:
        if offset in seen or depth > 3:
            return
        seen.add(offset)
        if offset < 8 or offset + 2 > len(data):
            problems.append(f"EXIF {name} IFD offset {offset} lies outside the {len(data)}-byte EXIF block")
            return
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        end = offset + 2 + count * 12
        if end > len(data):
            problems.append(f"EXIF {name} IFD at {offset} claims {count} entries, which do not fit")
            return
        for index in range(count):
            entry = offset + 2 + index * 12
            tag, kind, number = struct.unpack(order + "HHI", data[entry : entry + 8])
            size = _TYPE_SIZES.get(kind, 1) * number
            (pointer,) = struct.unpack(order + "I", data[entry + 8 : entry + 12])
            expected = _EXPECTED_TYPES.get((name, tag))
            if expected and kind not in expected[1]:
                wrong = _TYPE_NAMES.get(kind, f"type {kind}")
                problems.append(f"EXIF {expected[0]} is stored as {wrong}, not {_TYPE_NAMES[expected[1][0]]}")
            if tag in _SUB_IFDS and name in ("IFD0", "Exif"):
                walk(pointer, _SUB_IFDS[tag], depth + 1)
            elif size > 4 and pointer + size > len(data) and kind in _TYPE_SIZES and tag != 0x927C:
                problems.append(f"EXIF {name} tag 0x{tag:04X} points past the end of the EXIF block")
        if name == "IFD0" and end + 4 <= len(data):
            (next_ifd,) = struct.unpack(order + "I", data[end : end + 4])
            if next_ifd:
                walk(next_ifd, "IFD1", depth + 1)

    (first,) = struct.unpack(order + "I", data[4:8])
    walk(first, "IFD0", 0)
    return list(dict.fromkeys(problems))[:5]
