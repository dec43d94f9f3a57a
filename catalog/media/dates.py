"""Capture dates from ranked sources, each with a confidence, with suspicious results flagged.

All datetimes here are naive and mean the camera's wall-clock time. A source that records a UTC instant (a
video's creation time) is turned into wall-clock time with the offset it carries, or one inferred from the file
name, or else the server's zone (with a lower confidence). A file name in epoch milliseconds is an instant too,
shown in the library's zone.
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
    "video_created_utc": 0.7,
    # Google Takeout's photoTakenTime: an exact UTC instant Google kept (from the file or from the phone), below
    # EXIF DateTimeOriginal and above file names; lower when the wall-clock time comes from the server's zone.
    "takeout": 0.88,
    "takeout_utc": 0.82,
    # XMP/IPTC DateCreated without a time of day: what a person or a tool wrote, but only the day.
    "metadata_date": 0.6,  # UTC instant shown in the server's zone: the hour may be off
    "filename": 0.8,
    # A 14-digit stamp run on into a counter (201801261147521000): a full date and time, but so long a digit run
    # may also be an ID that happens to start like one (about 4 in 100,000 random runs pass every check).
    "filename_stamp_counter": 0.75,
    # Unix epoch milliseconds (BURST1723801037429): an exact instant, but every 13-digit number from 2001-09-09
    # to now passes, IDs included, and the wall-clock time comes from the library's zone, not the camera's.
    "filename_epoch_ms": 0.65,
    "filename_date": 0.6,  # date without a time of day
    # 22-04-06 15-21-03 (Nextcloud): has a time, but the century and the order (YY-MM-DD) are assumed.
    "filename_short_year": 0.55,
    "folder_day": 0.5,
    # 20221109, 20221109T2030: no separators, so less clearly a date than 2022-11-09 is.
    "folder_day_compact": 0.45,
    # 2019/5/3: one-digit folders also number parts ("2019/1", "2019/2") more often than padded ones do.
    "folder_day_unpadded": 0.45,
    # 2016/08/18 iPhone, Trip 2011-05-11 Rome: the date shares the name with a label, and may be what the label is
    # about (a birthday, a letter) rather than when the photos were taken.
    "folder_day_label": 0.4,
    "folder_date_in_name": 0.4,
    "folder_month": 0.35,
    "folder_year": 0.2,
    "exif_modified": 0.3,
    "mtime": 0.1,
}
RANK = [
    "exif_original",
    "exif_digitized",
    "video_created",
    "takeout",
    "filename",
    "metadata_date",
    "folder",
    "exif_modified",
    "mtime",
]
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
# Tried only when the patterns above find nothing, so that a name they read keeps its date.
# 201801261147521000: YYYYMMDDhhmmss and a 4- to 6-digit counter (1 to 3 digits are milliseconds, read above)
_STAMP_COUNTER = re.compile(r"(?<!\d)(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})\d{4,6}(?!\d)")
# 1723801037429, IMG_1723801037429, …BURST1723801037429: 13 digits, not part of a longer run; a 1 and twelve
# digits is 2001-09-09 or later. Ten-digit epoch seconds are not read: three in four ten-digit numbers that start
# with a 1 would pass (phone numbers, order and photo IDs), and nothing in such a name says it is a time.
_EPOCH_MS = re.compile(r"(?<!\d)1\d{12}(?!\d)")
_EPOCH = datetime(1970, 1, 1)
# 22-04-06 15-21-03 (Nextcloud's auto-upload): YY-MM-DD hh-mm-ss, always read in that order
_SHORT_YEAR = re.compile(r"(?<!\d)(\d{2})-(\d{2})-(\d{2})[ _](\d{2})[-.](\d{2})[-.](\d{2})(?!\d)")

# What every pattern above needs: a digit run starting 19 or 20 (a year from FILENAME_MIN_YEAR to 2099, or an
# epoch that is a 1 and twelve digits) or a short date. One search here spares the others on plain counters.
_MAY_HOLD_A_DATE = re.compile(r"(?<!\d)(?:19|20)\d\d|(?<!\d)1\d{12}|\d\d-\d\d-\d\d")


def _plausible_year(year: int, now: datetime) -> bool:
    return FILENAME_MIN_YEAR <= year <= now.year + 1


def date_from_filename(name: str, now: datetime) -> DateCandidate | None:
    """The date a file name carries, or None; a plain counter (IMG_0001, DSC01234) carries none.

    A name made of epoch milliseconds gives a UTC instant (``utc`` set): ``capture_date`` shows it in the
    library's zone.
    """
    stem = _stem(name)
    if not _MAY_HOLD_A_DATE.search(stem):
        return None  # IMG_0001, DSC01234, P1000123: most camera names stop here
    return _written_date(stem, now) or _stamp_with_counter(stem, now) or _epoch_ms(stem, now) or _short_year(stem, now)


def _stem(name: str) -> str:
    """The name without its last suffix, as PurePath's stem gives it, eight times faster."""
    base = name.rpartition("/")[2]
    dot = base.rfind(".")
    return base[:dot] if 0 < dot < len(base) - 1 else base


def _written_date(stem: str, now: datetime) -> DateCandidate | None:
    """A four-digit-year date, with its time of day when it has a valid one."""
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


def _stamp_with_counter(stem: str, now: datetime) -> DateCandidate | None:
    """201801261147521000: the stamp's date and time; the counter after it is ignored."""
    for match in _STAMP_COUNTER.finditer(stem):
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        value = make_datetime(year, month, day, hour, minute, second)
        if value and _plausible_year(year, now):
            return DateCandidate(value, "filename", CONFIDENCE["filename_stamp_counter"])
    return None


def _epoch_ms(stem: str, now: datetime) -> DateCandidate | None:
    """1723801037429: the UTC instant, to the second, if it is not later than now (a day of slack for zones)."""
    for match in _EPOCH_MS.finditer(stem):
        value = _EPOCH + timedelta(seconds=int(match.group()) // 1000)
        if value <= now + timedelta(days=1):
            return DateCandidate(value, "filename", CONFIDENCE["filename_epoch_ms"], utc=True)
    return None


def _short_year(stem: str, now: datetime) -> DateCandidate | None:
    """22-04-06 15-21-03 is 2022-04-06 15:21:03, never 6 April 2022 read as DD-MM-YY; a two-digit year that would
    be after next year in the 2000s ("99") is one of the 1900s."""
    for match in _SHORT_YEAR.finditer(stem):
        short, month, day, hour, minute, second = (int(g) for g in match.groups())
        year = 2000 + short if 2000 + short <= now.year + 1 else 1900 + short
        value = make_datetime(year, month, day, hour, minute, second)
        if value:
            return DateCandidate(value, "filename", CONFIDENCE["filename_short_year"])
    return None


_FOLDER_DAY = re.compile(rf"^(\d{{4}}){_SEP}(\d{{2}}){_SEP}(\d{{2}})(?!\d)")
_FOLDER_MONTH = re.compile(rf"^(\d{{4}}){_SEP}(\d{{2}})(?![\d]|{_SEP}\d)")
_FOLDER_YEAR = re.compile(r"^(\d{4})(?![\d])(?!" + _SEP + r"\d)")
_TWO_DIGITS = re.compile(r"^(\d{2})$")
# Tried only when the patterns above find nothing in a folder's name, so that a name they read keeps its date.
# 20221109, 20221109T2030, 20221109_2030, 20221109-203015: the whole name; a time that is not one rules it out
_FOLDER_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:[T_\- ]?(\d{2})(\d{2})(\d{2})?)?")
# the day of a YYYY/MM/DD chain: "3" (unpadded), or "18 iPhone", "3 - Zoo" (a label after it)
_ONE_DIGIT = re.compile(r"\d")
_DAY_AND_LABEL = re.compile(r"(\d{1,2})[ _.\-]+[^\W\d_]")
_YEAR_NAME = re.compile(r"\d{4}")
_MONTH_OR_DAY_NAME = re.compile(r"\d{1,2}")
# Trip 2011-05-11 Rome: a date anywhere in the name, with the same separator twice
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})([-_.])(\d{2})\2(\d{2})(?!\d)")


def date_from_folders(path: str, now: datetime) -> DateCandidate | None:
    """The date in the deepest folder name that has one: 2019/03/15, 2019/5/3, 2016/08/18 iPhone, 2019-03-15 Trip,
    Trip 2019-03-15 Rome, 20190315, 2019-03, 2019."""
    parts = _folder_names(path)
    for index in range(len(parts) - 1, -1, -1):
        found = _folder_date(parts, index, now)
        if found:
            return found
    return None


def _folder_names(path: str) -> tuple[str, ...]:
    """The folders of a POSIX path, outermost first ("/a//b/./c.jpg" -> a, b): PurePath's, ten times faster."""
    return tuple(name for name in path.split("/")[:-1] if name and name != ".")


def _folder_date(parts: tuple[str, ...], index: int, now: datetime) -> DateCandidate | None:
    """The date that the folder ``parts[index]`` stands for (with its parents for a YYYY/MM/DD chain), or None."""
    name = parts[index]
    if match := _FOLDER_DAY.match(name):
        return _folder_day(now, "folder_day", *match.groups())
    if match := _FOLDER_MONTH.match(name):
        value = make_datetime(int(match.group(1)), int(match.group(2)))
        if value and _plausible_folder_year(value.year, now):
            return DateCandidate(value, "folder", CONFIDENCE["folder_month"], granularity="month")
        return None
    if _TWO_DIGITS.match(name):
        return _nested_date(parts[: index + 1], now) if index >= 1 else None
    if match := _FOLDER_YEAR.match(name):
        year = int(match.group(1))
        if _plausible_folder_year(year, now):
            return DateCandidate(datetime(year, 1, 1), "folder", CONFIDENCE["folder_year"], granularity="year")
        return None
    if match := _FOLDER_COMPACT.fullmatch(name):
        hour, minute, second = match.group(4, 5, 6)
        if hour and not (int(hour) < 24 and int(minute) < 60 and int(second or 0) < 60):
            return None
        return _folder_day(now, "folder_day_compact", *match.group(1, 2, 3))
    day_in_chain = index >= 2 and (_ONE_DIGIT.fullmatch(name) or _DAY_AND_LABEL.match(name))
    if day_in_chain and (found := _nested_date(parts[: index + 1], now)):
        return found
    if match := _DATE_IN_NAME.search(name):
        return _folder_day(now, "folder_date_in_name", *match.group(1, 3, 4))
    return None


def _plausible_folder_year(year: int, now: datetime) -> bool:
    return FIRST_PHOTO_YEAR <= year <= now.year + 1


def _folder_day(now: datetime, kind: str, year: str, month: str, day: str) -> DateCandidate | None:
    """A day from a folder name, with the confidence of ``kind``; None for an impossible or implausible date."""
    value = make_datetime(int(year), int(month), int(day))
    if value and _plausible_folder_year(value.year, now):
        return DateCandidate(value, "folder", CONFIDENCE[kind], granularity="day")
    return None


def _nested_date(parts: tuple[str, ...], now: datetime) -> DateCandidate | None:
    """YYYY/MM/DD (YYYY/M/D too, and a day with a label: 2016/08/18 iPhone) or YYYY/MM as separate folders, ending
    at the last of ``parts``."""
    tail = parts[-3:]
    if len(tail) == 3 and _YEAR_NAME.fullmatch(tail[0]) and _MONTH_OR_DAY_NAME.fullmatch(tail[1]):
        year, month, day = tail
        if _MONTH_OR_DAY_NAME.fullmatch(day):
            kind = "folder_day" if len(month) == len(day) == 2 else "folder_day_unpadded"
        elif label := _DAY_AND_LABEL.match(day):
            day, kind = label.group(1), "folder_day_label"
        else:
            return None
        found = _folder_day(now, kind, year, month, day)
        if found:
            return found
    if len(parts) >= 2 and _YEAR_NAME.fullmatch(parts[-2]) and _TWO_DIGITS.match(parts[-1]):
        value = make_datetime(int(parts[-2]), int(parts[-1]))
        if value and _plausible_folder_year(value.year, now):
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


def _in_zone(instant: DateCandidate, zone: tzinfo | None) -> DateCandidate:
    """A UTC instant as wall-clock time in ``zone`` (None: this process's zone)."""
    value = instant.value + timedelta(minutes=_local_offset_minutes(instant.value, zone))
    return replace(instant, value=value, utc=False)


def _video_wall_clock(
    video: DateCandidate, from_name: DateCandidate | None, zone: tzinfo | None
) -> tuple[DateCandidate, str]:
    """Turn a UTC creation time (a video's, or Google Takeout's photoTakenTime) into wall-clock time.

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
    what = "Google Takeout" if video.source == "takeout" else "video"
    note = f"{what} UTC time shown in the server's time zone"
    confidence = CONFIDENCE["takeout_utc" if video.source == "takeout" else "video_created_utc"]
    return replace(video, value=value, utc=False, confidence=confidence), note


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
    # A name in epoch milliseconds is a UTC instant itself: it says nothing of the camera's offset.
    name_clock = from_name if from_name is not None and not from_name.utc else None
    candidates = list(embedded)
    for index, candidate in enumerate(candidates):
        if candidate.source in ("video_created", "takeout"):
            candidates[index], note = _video_wall_clock(candidate, name_clock, zone)
            if note:
                notes.append(note)
    if from_name is not None and from_name.utc:
        from_name = _in_zone(from_name, zone)
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
        "takeout": "Google Takeout time",
        "metadata_date": "XMP/IPTC date",
        "filename": "file name",
        "folder": "folder name",
        "mtime": "file modification time",
    }[candidate.source]
