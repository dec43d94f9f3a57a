"""Capture dates from ranked sources, each with a confidence, with suspicious results flagged.

All datetimes here are naive and mean the camera's wall-clock time. A source that records a UTC instant (a
video's creation time) is turned into wall-clock time with the offset it carries, or one inferred from the file
name, or else the server's zone (with a lower confidence).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import PurePath

FIRST_PHOTO_YEAR = 1826  # nothing earlier can be a capture date
FILENAME_MIN_YEAR = 1900

# Confidence of each source when it stands alone and nothing disagrees with it.
CONFIDENCE = {
    "exif_original": 0.95,
    "exif_digitized": 0.9,
    "video_created": 0.85,
    "video_created_utc": 0.7,  # UTC instant shown in the server's zone: the hour may be off
    "filename": 0.8,
    "filename_date": 0.6,  # date without a time of day
    "folder_day": 0.5,
    "folder_month": 0.35,
    "folder_year": 0.2,
    "exif_modified": 0.3,
    "mtime": 0.1,
}
RANK = ["exif_original", "exif_digitized", "video_created", "filename", "folder", "exif_modified", "mtime"]
SUSPICIOUS_FACTOR = 0.5
SENTINELS = {datetime(1970, 1, 1).date(), datetime(1980, 1, 1).date()}
SENTINEL_INSTANTS = {datetime(2000, 1, 1, 0, 0, 0)}


@dataclass(frozen=True)
class DateCandidate:
    """One source's opinion. ``granularity`` is how precise it is: second, day, month or year."""

    value: datetime
    source: str
    confidence: float
    granularity: str = "second"
    offset_minutes: int | None = None
    utc: bool = False  # value is a UTC instant, not wall-clock

    def span(self) -> tuple[datetime, datetime]:
        """The interval of wall-clock time this candidate allows."""
        start = self.value
        if self.granularity == "day":
            return start, start + timedelta(days=1)
        if self.granularity == "month":
            year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
            return start, start.replace(year=year, month=month)
        if self.granularity == "year":
            return start, start.replace(year=start.year + 1)
        return start, start + timedelta(seconds=1)


@dataclass(frozen=True)
class CaptureDate:
    taken_at: datetime | None
    source: str = ""
    confidence: float | None = None
    suspicious: bool = False
    offset_minutes: int | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def note(self) -> str:
        return "; ".join(self.notes)


def make_datetime(year: int, month: int = 1, day: int = 1, hour: int = 0, minute: int = 0, second: int = 0):
    """A datetime, or None for impossible values (month 13, Feb 30, hour 25)."""
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        return None


_EXIF_DATE = re.compile(r"^\s*(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{1,2})(?::(\d{1,2}))?)?")
_OFFSET = re.compile(r"^\s*([+-])(\d{1,2}):?(\d{2})\s*$")


def parse_exif_datetime(text: str | None) -> datetime | None:
    """Parse an EXIF/XMP/QuickTime date string ("2019:03:15 14:22:33", "2019-03-15T14:22:33"); None if invalid."""
    if not text:
        return None
    match = _EXIF_DATE.match(text)
    if not match:
        return None
    parts = [int(g) if g else 0 for g in match.groups()]
    value = make_datetime(*parts)
    if value is None or value.year < FIRST_PHOTO_YEAR:
        return None
    return value


_TRAILING_OFFSET = re.compile(r"(Z|[+-]\d{2}:?\d{2})\s*$")


def trailing_offset(text: str) -> str:
    """The zone suffix of an ISO/XMP date ("…14:22:33.123+02:00" -> "+02:00"; "Z" -> "+00:00"), or ""."""
    match = _TRAILING_OFFSET.search(text[19:]) if len(text) > 19 else None
    if not match:
        return ""
    return "+00:00" if match.group(1) == "Z" else match.group(1)


def parse_offset(text: str | None) -> int | None:
    """EXIF OffsetTime ("+02:00", "-0530") in minutes east of UTC."""
    if not text:
        return None
    match = _OFFSET.match(text)
    if not match:
        return None
    sign, hours, minutes = match.groups()
    total = int(hours) * 60 + int(minutes)
    if total > 14 * 60:
        return None
    return -total if sign == "-" else total


# File name patterns, tried in order; the first that yields a valid date wins.
_SEP = r"[-_.]"
_FILENAME_DATETIME = [
    # IMG_20190315_142233, VID_20190315_142233, PXL_20190315_142233123, 20190315_142233, 20190315142233
    re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})[_\-T ]?(\d{2})(\d{2})(\d{2})(?:\d{1,3})?(?!\d)"),
    # 2019-03-15 14.22.33, 2019-03-15_14-22-33, Screenshot_2019-03-15-14-22-33, signal-2019-03-15-142233,
    # "Screenshot 2019-03-15 at 14.22.33" (macOS)
    re.compile(
        rf"(?<!\d)(\d{{4}}){_SEP}(\d{{2}}){_SEP}(\d{{2}})(?:[ _T\-.]|\s+at\s+)"
        r"(\d{2})[.\-:_h]?(\d{2})[.\-:_m]?(\d{2})(?!\d)"
    ),
]
_FILENAME_DATE = [
    # IMG-20190315-WA0001 (WhatsApp), 20190315, 2019-03-15, 2019_03_15
    re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(?!\d)"),
    re.compile(rf"(?<!\d)(\d{{4}}){_SEP}(\d{{2}}){_SEP}(\d{{2}})(?!\d)"),
]


def _plausible_year(year: int, now: datetime) -> bool:
    return FILENAME_MIN_YEAR <= year <= now.year + 1


def date_from_filename(name: str, now: datetime) -> DateCandidate | None:
    stem = PurePath(name).stem
    for pattern in _FILENAME_DATETIME:
        for match in pattern.finditer(stem):
            year, month, day, hour, minute, second = (int(g) for g in match.groups())
            value = make_datetime(year, month, day, hour, minute, second)
            if value and _plausible_year(year, now):
                return DateCandidate(value, "filename", CONFIDENCE["filename"])
    for pattern in _FILENAME_DATE:
        for match in pattern.finditer(stem):
            year, month, day = (int(g) for g in match.groups())
            value = make_datetime(year, month, day)
            if value and _plausible_year(year, now):
                return DateCandidate(value, "filename", CONFIDENCE["filename_date"], granularity="day")
    return None


_FOLDER_DAY = re.compile(rf"^(\d{{4}}){_SEP}(\d{{2}}){_SEP}(\d{{2}})(?!\d)")
_FOLDER_MONTH = re.compile(rf"^(\d{{4}}){_SEP}(\d{{2}})(?![\d]|{_SEP}\d)")
_FOLDER_YEAR = re.compile(r"^(\d{4})(?![\d])(?!" + _SEP + r"\d)")
_TWO_DIGITS = re.compile(r"^(\d{2})$")


def date_from_folders(path: str, now: datetime) -> DateCandidate | None:
    """Folder names, deepest first: 2019/03/15, 2019/2019-03-15, "2019-03-15 Trip", 2019-03, 2019."""
    parts = PurePath(path).parent.parts
    for index in range(len(parts) - 1, -1, -1):
        name = parts[index]
        if match := _FOLDER_DAY.match(name):
            value = make_datetime(*(int(g) for g in match.groups()))
            if value and FIRST_PHOTO_YEAR <= value.year <= now.year + 1:
                return DateCandidate(value, "folder", CONFIDENCE["folder_day"], granularity="day")
            continue
        if match := _FOLDER_MONTH.match(name):
            value = make_datetime(int(match.group(1)), int(match.group(2)))
            if value and FIRST_PHOTO_YEAR <= value.year <= now.year + 1:
                return DateCandidate(value, "folder", CONFIDENCE["folder_month"], granularity="month")
            continue
        if _TWO_DIGITS.match(name) and index >= 1:
            nested = _nested_date(parts[: index + 1], now)
            if nested:
                return nested
            continue
        if match := _FOLDER_YEAR.match(name):
            year = int(match.group(1))
            if FIRST_PHOTO_YEAR <= year <= now.year + 1:
                return DateCandidate(datetime(year, 1, 1), "folder", CONFIDENCE["folder_year"], granularity="year")
    return None


def _nested_date(parts: tuple[str, ...], now: datetime) -> DateCandidate | None:
    """YYYY/MM/DD or YYYY/MM as separate folders, ending at the last of ``parts``."""
    tail = parts[-3:]
    if len(tail) == 3 and re.fullmatch(r"\d{4}", tail[0]) and _TWO_DIGITS.match(tail[1]):
        value = make_datetime(int(tail[0]), int(tail[1]), int(tail[2]))
        if value and FIRST_PHOTO_YEAR <= value.year <= now.year + 1:
            return DateCandidate(value, "folder", CONFIDENCE["folder_day"], granularity="day")
    if re.fullmatch(r"\d{4}", parts[-2]):
        value = make_datetime(int(parts[-2]), int(parts[-1]))
        if value and FIRST_PHOTO_YEAR <= value.year <= now.year + 1:
            return DateCandidate(value, "folder", CONFIDENCE["folder_month"], granularity="month")
    return None


def date_from_mtime(mtime_ns: int, zone: tzinfo | None = None) -> DateCandidate | None:
    """The modification time as wall-clock time in ``zone`` (the library's zone; None: this process's zone)."""
    try:
        value = datetime.fromtimestamp(mtime_ns / 1e9, tz=zone).replace(microsecond=0, tzinfo=None)
    except (OverflowError, OSError, ValueError):
        return None
    return DateCandidate(value, "mtime", CONFIDENCE["mtime"])


def _local_offset_minutes(instant_utc: datetime, zone: tzinfo | None) -> int:
    local = instant_utc.replace(tzinfo=UTC).astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    return int(offset.total_seconds() // 60)


def _video_wall_clock(
    video: DateCandidate, from_name: DateCandidate | None, zone: tzinfo | None
) -> tuple[DateCandidate, str]:
    """Turn a UTC creation time into wall-clock time.

    Phones name clips after the local start time while the container stores UTC: when the file name's time is
    the UTC time shifted by a whole quarter hour (within ±14 h, ±2 min of slack), that shift is the offset.
    """
    if not video.utc:
        return video, ""
    if from_name is not None and from_name.granularity == "second":
        delta = (from_name.value - video.value).total_seconds()
        quarter = round(delta / 900) * 900
        if abs(quarter) <= 14 * 3600 and abs(delta - quarter) <= 120:
            offset = int(quarter // 60)
            value = video.value + timedelta(minutes=offset)
            return replace(video, value=value, offset_minutes=offset, utc=False), "UTC offset inferred from file name"
    offset = _local_offset_minutes(video.value, zone)
    value = video.value + timedelta(minutes=offset)
    note = "video UTC time shown in the server's time zone"
    return replace(video, value=value, utc=False, confidence=CONFIDENCE["video_created_utc"]), note


def _disagrees(chosen: DateCandidate, other: DateCandidate) -> bool:
    """True when two sources cannot describe the same moment (a day of slack covers time zones)."""
    slack = timedelta(days=1)
    start, end = chosen.span()
    other_start, other_end = other.span()
    return end + slack < other_start or other_end + slack < start


def capture_date(
    embedded: list[DateCandidate],
    path: str,
    mtime_ns: int | None,
    now: datetime | None = None,
    zone: tzinfo | None = None,
) -> CaptureDate:
    """Pick the best capture date among the embedded candidates, the file and folder names and the mtime.

    ``zone`` is the library's time zone: instants (the mtime, a video's UTC creation time) become wall-clock
    time there. None uses this process's zone.

    Sentinel dates (1970-01-01, 1980-01-01, 2000-01-01 00:00:00) and future dates are flagged and only used
    when nothing else is known. The result is flagged suspicious, and its confidence halved, when an
    independent source of at least folder rank disagrees by more than a day.
    """
    now = now or datetime.now()
    notes: list[str] = []
    from_name = date_from_filename(PurePath(path).name, now)
    candidates = list(embedded)
    for index, candidate in enumerate(candidates):
        if candidate.source == "video_created":
            candidates[index], note = _video_wall_clock(candidate, from_name, zone)
            if note:
                notes.append(note)
    for extra in (from_name, date_from_folders(path, now), date_from_mtime(mtime_ns, zone) if mtime_ns else None):
        if extra is not None:
            candidates.append(extra)
    if not candidates:
        return CaptureDate(None)

    usable: list[DateCandidate] = []
    flagged: list[DateCandidate] = []
    for candidate in candidates:
        problem = _implausible(candidate, now)
        if problem:
            notes.append(f"{_label(candidate)} {candidate.value.isoformat(sep=' ')} is {problem}")
            flagged.append(candidate)
        else:
            usable.append(candidate)
    pool = usable or flagged
    chosen = min(pool, key=lambda c: (RANK.index(c.source), -c.confidence))
    # A bad mtime or ModifyDate alone is noise; a bad capture date or name is worth a flag.
    suspicious = chosen in flagged or any(RANK.index(c.source) <= RANK.index("folder") for c in flagged)
    for other in usable:
        if other is chosen or other.source == chosen.source or RANK.index(other.source) > RANK.index("folder"):
            continue
        if chosen.source.startswith("exif") and other.source.startswith("exif"):
            continue  # a scan's DateTimeOriginal and CreateDate rightly differ
        if _disagrees(chosen, other):
            suspicious = True
            notes.append(f"{_label(other)} says {other.value.date().isoformat()}")
    confidence = round(chosen.confidence * SUSPICIOUS_FACTOR, 3) if suspicious else chosen.confidence
    return CaptureDate(
        taken_at=chosen.value,
        source=chosen.source,
        confidence=confidence,
        suspicious=suspicious,
        offset_minutes=chosen.offset_minutes,
        notes=tuple(dict.fromkeys(notes)),
    )


def _implausible(candidate: DateCandidate, now: datetime) -> str:
    value = candidate.value
    if candidate.granularity == "second" and (value.date() in SENTINELS or value in SENTINEL_INSTANTS):
        return "a known placeholder date"
    if value > now + timedelta(days=1):
        return "in the future"
    return ""


def _label(candidate: DateCandidate) -> str:
    return {
        "exif_original": "EXIF DateTimeOriginal",
        "exif_digitized": "EXIF CreateDate",
        "exif_modified": "EXIF ModifyDate",
        "video_created": "video creation time",
        "filename": "file name",
        "folder": "folder name",
        "mtime": "file modification time",
    }[candidate.source]
