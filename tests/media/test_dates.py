"""Capture dates: file and folder name patterns, source ranking, confidence, sentinels and disagreements."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

import pytest

from catalog.media.dates import (
    CONFIDENCE,
    DateCandidate,
    capture_date,
    date_from_filename,
    date_from_folders,
    parse_exif_datetime,
    parse_offset,
    trailing_offset,
)

NOW = datetime(2024, 6, 1, 12, 0, 0)
WHEN = datetime(2019, 3, 15, 14, 22, 33)


def exif_original(value: datetime, offset: int | None = None) -> DateCandidate:
    return DateCandidate(value, "exif_original", CONFIDENCE["exif_original"], offset_minutes=offset)


def mtime_ns(value: datetime) -> int:
    return int(value.timestamp()) * 1_000_000_000


# File names ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "IMG_20190315_142233.jpg",
        "PXL_20190315_142233123.jpg",
        "PXL_20190315_142233123.MP.jpg",
        "VID_20190315_142233.mp4",
        "20190315_142233.jpg",
        "20190315142233.jpg",
        "2019-03-15 14.22.33.jpg",
        "2019-03-15_14-22-33.jpg",
        "Screenshot_2019-03-15-14-22-33.png",
        "Screenshot_20190315-142233_Chrome.jpg",
        "signal-2019-03-15-142233.jpg",
        "Screenshot 2019-03-15 at 14.22.33.png",
    ],
)
def test_file_name_with_date_and_time(name: str) -> None:
    found = date_from_filename(name, NOW)
    assert found is not None
    assert found.value == WHEN
    assert found.source == "filename"
    assert found.granularity == "second"
    assert found.confidence == CONFIDENCE["filename"]


@pytest.mark.parametrize("name", ["IMG-20190315-WA0001.jpg", "VID-20190315-WA0007.mp4", "scan 2019-03-15.png"])
def test_file_name_with_date_only(name: str) -> None:
    found = date_from_filename(name, NOW)
    assert found is not None
    assert found.value == datetime(2019, 3, 15)
    assert found.granularity == "day"
    assert found.confidence == CONFIDENCE["filename_date"]
    assert found.confidence < CONFIDENCE["filename"]


@pytest.mark.parametrize(
    "name",
    [
        "IMG_20191315_142233.jpg",  # month 13
        "IMG_20190230_101010.jpg",  # Feb 30
        "IMG-20190230-WA0001.jpg",
        "2019-02-30 10.00.00.jpg",
        "IMG_20190001_101010.jpg",  # month 0
        "IMG_1234.jpg",
        "DSC01234.JPG",
        "IMG_18500315_101010.jpg",  # before 1900
        "IMG_20990315_101010.jpg",  # far future
    ],
)
def test_file_name_without_valid_date_gives_nothing(name: str) -> None:
    assert date_from_filename(name, NOW) is None


def test_invalid_time_of_day_falls_back_to_the_date() -> None:
    found = date_from_filename("IMG_20190315_256199.jpg", NOW)
    assert found is not None
    assert found.value == datetime(2019, 3, 15)
    assert found.granularity == "day"


# Folders ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "value", "granularity"),
    [
        ("/photos/2019/03/15/IMG_1.jpg", datetime(2019, 3, 15), "day"),
        ("/photos/2019/2019-03-15/IMG_1.jpg", datetime(2019, 3, 15), "day"),
        ("/photos/2019-03-15 Trip/IMG_1.jpg", datetime(2019, 3, 15), "day"),
        ("/photos/2019_03_15/IMG_1.jpg", datetime(2019, 3, 15), "day"),
        ("/photos/2019-03/IMG_1.jpg", datetime(2019, 3, 1), "month"),
        ("/photos/2019/03/IMG_1.jpg", datetime(2019, 3, 1), "month"),
        ("/photos/2019/IMG_1.jpg", datetime(2019, 1, 1), "year"),
        ("/photos/2019 Summer/misc/IMG_1.jpg", datetime(2019, 1, 1), "year"),
    ],
)
def test_folder_dates(path: str, value: datetime, granularity: str) -> None:
    found = date_from_folders(path, NOW)
    assert found is not None
    assert (found.value, found.granularity, found.source) == (value, granularity, "folder")


def test_folder_confidence_falls_with_precision() -> None:
    day = date_from_folders("/p/2019/03/15/a.jpg", NOW)
    month = date_from_folders("/p/2019/03/a.jpg", NOW)
    year = date_from_folders("/p/2019/a.jpg", NOW)
    assert day and month and year
    assert day.confidence == CONFIDENCE["folder_day"]
    assert month.confidence == CONFIDENCE["folder_month"]
    assert year.confidence == CONFIDENCE["folder_year"]
    assert day.confidence > month.confidence > year.confidence


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p/2019/13/01/a.jpg", datetime(2019, 1, 1)),  # month 13: only the year folder is valid
        ("/p/2019/02/30/a.jpg", datetime(2019, 2, 1)),  # Feb 30: the month folder still is
        ("/p/2019-02-30 Trip/a.jpg", None),
        ("/p/2019-13/a.jpg", None),
        ("/p/Holiday/a.jpg", None),
        ("/p/1080p/a.jpg", None),
        ("/p/3000/a.jpg", None),
    ],
)
def test_folder_names_never_give_impossible_dates(path: str, expected: datetime | None) -> None:
    found = date_from_folders(path, NOW)
    assert (found.value if found else None) == expected


def test_deepest_folder_wins() -> None:
    found = date_from_folders("/p/2018/2019-03-15 Trip/a.jpg", NOW)
    assert found is not None
    assert found.value == datetime(2019, 3, 15)


# EXIF strings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019:03:15 14:22:33", WHEN),
        ("2019-03-15T14:22:33", WHEN),
        ("2019:03:15 14:22:33+02:00", WHEN),
        ("2019:03:15", datetime(2019, 3, 15)),
        ("0000:00:00 00:00:00", None),
        ("2019:13:15 14:22:33", None),
        ("2019:02:30 14:22:33", None),
        ("2019:03:15 25:22:33", None),
        ("    :  :     :  :  ", None),
        ("", None),
        (None, None),
        ("1700:01:01 00:00:00", None),
    ],
)
def test_parse_exif_datetime(text: str | None, expected: datetime | None) -> None:
    assert parse_exif_datetime(text) == expected


@pytest.mark.parametrize(
    ("text", "minutes"),
    [
        ("+02:00", 120),
        ("-05:00", -300),
        ("+0530", 330),
        ("-03:30", -210),
        ("+15:00", None),
        ("bogus", None),
        ("", None),
    ],
)
def test_parse_offset(text: str, minutes: int | None) -> None:
    assert parse_offset(text) == minutes


# Ranking ---------------------------------------------------------------------------------------------------------


def test_exif_beats_file_name_beats_folder_beats_mtime() -> None:
    path = "/photos/2019/03/15/IMG_20190315_142233.jpg"
    mtime = mtime_ns(datetime(2019, 3, 15, 18, 0, 0))
    exif = exif_original(datetime(2019, 3, 15, 14, 22, 30))

    chosen = capture_date([exif], path, mtime, NOW)
    assert (chosen.source, chosen.taken_at, chosen.suspicious) == ("exif_original", exif.value, False)
    assert chosen.confidence == CONFIDENCE["exif_original"]

    chosen = capture_date([], path, mtime, NOW)
    assert (chosen.source, chosen.taken_at, chosen.confidence) == ("filename", WHEN, CONFIDENCE["filename"])

    chosen = capture_date([], "/photos/2019/03/15/IMG_1234.jpg", mtime, NOW)
    assert (chosen.source, chosen.taken_at, chosen.confidence) == (
        "folder",
        datetime(2019, 3, 15),
        CONFIDENCE["folder_day"],
    )

    chosen = capture_date([], "/photos/misc/IMG_1234.jpg", mtime, NOW)
    assert chosen.source == "mtime"
    assert chosen.taken_at == datetime(2019, 3, 15, 18, 0, 0)
    assert chosen.confidence == CONFIDENCE["mtime"]


def test_nothing_known_gives_no_date() -> None:
    chosen = capture_date([], "/photos/misc/IMG_1234.jpg", None, NOW)
    assert chosen.taken_at is None
    assert chosen.source == ""


def test_date_time_original_beats_create_date_and_modify_date() -> None:
    embedded = [
        DateCandidate(datetime(2020, 1, 1, 10), "exif_modified", CONFIDENCE["exif_modified"]),
        DateCandidate(datetime(2019, 3, 15, 14, 22, 40), "exif_digitized", CONFIDENCE["exif_digitized"]),
        exif_original(WHEN),
    ]
    chosen = capture_date(embedded, "/p/IMG_1.jpg", None, NOW)
    assert (chosen.source, chosen.taken_at) == ("exif_original", WHEN)
    # An edit years later (ModifyDate) is not a reason to doubt the capture date.
    assert not chosen.suspicious

    chosen = capture_date(embedded[:2], "/p/IMG_1.jpg", None, NOW)
    assert (chosen.source, chosen.confidence) == ("exif_digitized", CONFIDENCE["exif_digitized"])


def test_modify_date_ranks_below_folder() -> None:
    embedded = [DateCandidate(datetime(2019, 7, 1, 9), "exif_modified", CONFIDENCE["exif_modified"])]
    chosen = capture_date(embedded, "/p/2019-06/IMG_1.jpg", None, NOW)
    assert chosen.source == "folder"
    chosen = capture_date(embedded, "/p/misc/IMG_1.jpg", mtime_ns(datetime(2023, 1, 1)), NOW)
    assert (chosen.source, chosen.confidence) == ("exif_modified", CONFIDENCE["exif_modified"])


def test_offset_travels_with_the_chosen_date() -> None:
    chosen = capture_date([exif_original(WHEN, offset=120)], "/p/IMG_1.jpg", None, NOW)
    assert chosen.offset_minutes == 120


# Suspicious results ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "sentinel",
    [datetime(1970, 1, 1, 0, 0, 0), datetime(1970, 1, 1, 8, 0, 0), datetime(1980, 1, 1, 0, 0, 0), datetime(2000, 1, 1)],
)
def test_sentinel_exif_date_is_flagged_and_a_real_source_preferred(sentinel: datetime) -> None:
    alone = capture_date([exif_original(sentinel)], "/p/IMG_1.jpg", None, NOW)
    assert alone.taken_at == sentinel  # nothing better is known
    assert alone.suspicious
    assert alone.confidence == pytest.approx(CONFIDENCE["exif_original"] / 2)
    assert "placeholder" in alone.note

    with_name = capture_date([exif_original(sentinel)], "/p/IMG_20190315_142233.jpg", None, NOW)
    assert (with_name.source, with_name.taken_at) == ("filename", WHEN)
    assert with_name.suspicious


def test_new_year_2000_with_a_time_of_day_is_not_a_sentinel() -> None:
    value = datetime(2000, 1, 1, 0, 12, 5)
    chosen = capture_date([exif_original(value)], "/p/IMG_1.jpg", None, NOW)
    assert (chosen.taken_at, chosen.suspicious) == (value, False)


def test_future_date_is_flagged() -> None:
    future = datetime(2099, 9, 29, 10, 10, 10)
    alone = capture_date([exif_original(future)], "/p/IMG_1.jpg", None, NOW)
    assert alone.taken_at == future
    assert alone.suspicious
    assert "future" in alone.note

    with_folder = capture_date([exif_original(future)], "/p/2019/03/15/IMG_1.jpg", None, NOW)
    assert (with_folder.source, with_folder.taken_at, with_folder.suspicious) == (
        "folder",
        datetime(2019, 3, 15),
        True,
    )


def test_a_bad_mtime_alone_is_not_suspicious() -> None:
    chosen = capture_date([exif_original(WHEN)], "/p/IMG_1.jpg", mtime_ns(datetime(1980, 1, 1, 0, 0, 0)), NOW)
    assert (chosen.taken_at, chosen.suspicious) == (WHEN, False)


def test_exif_and_file_name_more_than_a_day_apart_are_suspicious() -> None:
    exif = exif_original(datetime(2019, 3, 20, 9, 0, 0))
    chosen = capture_date([exif], "/p/IMG_20190315_142233.jpg", None, NOW)
    assert chosen.source == "exif_original"
    assert chosen.suspicious
    assert chosen.confidence == pytest.approx(CONFIDENCE["exif_original"] * 0.5)
    assert "2019-03-15" in chosen.note


def test_exif_and_file_name_within_a_day_agree() -> None:
    # A camera in another time zone: hours apart, but the same moment.
    exif = exif_original(datetime(2019, 3, 15, 23, 30, 0))
    chosen = capture_date([exif], "/p/IMG_20190315_142233.jpg", None, NOW)
    assert (chosen.suspicious, chosen.confidence) == (False, CONFIDENCE["exif_original"])


def test_exif_disagreeing_with_folder_is_suspicious() -> None:
    chosen = capture_date([exif_original(WHEN)], "/p/2017/IMG_1.jpg", None, NOW)
    assert chosen.suspicious
    chosen = capture_date([exif_original(WHEN)], "/p/2019/IMG_1.jpg", None, NOW)
    assert not chosen.suspicious


def test_mtime_far_from_exif_does_not_make_it_suspicious() -> None:
    # Copying files resets the mtime: that says nothing about the capture date.
    chosen = capture_date([exif_original(WHEN)], "/p/IMG_1.jpg", mtime_ns(datetime(2023, 5, 5)), NOW)
    assert not chosen.suspicious


# Video creation times --------------------------------------------------------------------------------------------


def test_video_utc_time_becomes_wall_clock_with_the_file_name_offset() -> None:
    video = DateCandidate(datetime(2019, 12, 20, 20, 8, 34), "video_created", CONFIDENCE["video_created"], utc=True)
    chosen = capture_date([video], "/videos/VID_20191220_170832.mp4", None, NOW)
    assert chosen.source == "video_created"
    assert chosen.taken_at == datetime(2019, 12, 20, 17, 8, 34)
    assert chosen.offset_minutes == -180
    assert chosen.confidence == CONFIDENCE["video_created"]
    assert not chosen.suspicious


def test_video_utc_time_east_of_utc_with_a_half_hour_zone() -> None:
    video = DateCandidate(datetime(2021, 7, 1, 5, 0, 10), "video_created", CONFIDENCE["video_created"], utc=True)
    chosen = capture_date([video], "/videos/VID_20210701_103000.mp4", None, NOW)
    assert chosen.taken_at == datetime(2021, 7, 1, 10, 30, 10)
    assert chosen.offset_minutes == 330


@pytest.fixture
def server_zone():
    """Run with the server's local zone set to a fixed, DST-free UTC+3."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "Etc/GMT-3"  # POSIX sign: this is UTC+3
    time.tzset()
    yield
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.mark.usefixtures("server_zone")
def test_video_utc_time_without_a_usable_name_uses_the_server_zone_at_lower_confidence() -> None:
    video = DateCandidate(datetime(2019, 12, 20, 20, 8, 34), "video_created", CONFIDENCE["video_created"], utc=True)
    chosen = capture_date([video], "/videos/clip.mp4", None, NOW)
    assert chosen.taken_at == datetime(2019, 12, 20, 23, 8, 34)
    assert chosen.confidence == CONFIDENCE["video_created_utc"]
    assert chosen.confidence < CONFIDENCE["video_created"]
    assert "server" in chosen.note


def test_video_wall_clock_time_is_kept_as_is() -> None:
    video = DateCandidate(
        datetime(2019, 12, 20, 17, 8, 32), "video_created", CONFIDENCE["video_created"], offset_minutes=-180
    )
    chosen = capture_date([video], "/videos/IMG_0001.MOV", None, NOW)
    assert (chosen.taken_at, chosen.offset_minutes) == (datetime(2019, 12, 20, 17, 8, 32), -180)


def test_confidence_differs_by_source() -> None:
    values = [
        capture_date([exif_original(WHEN)], "/p/x.jpg", None, NOW).confidence,
        capture_date([], "/p/IMG_20190315_142233.jpg", None, NOW).confidence,
        capture_date([], "/p/IMG-20190315-WA0001.jpg", None, NOW).confidence,
        capture_date([], "/p/2019-03-15 Trip/x.jpg", None, NOW).confidence,
        capture_date([], "/p/2019-03/x.jpg", None, NOW).confidence,
        capture_date([], "/p/2019/x.jpg", None, NOW).confidence,
        capture_date([], "/p/x.jpg", mtime_ns(WHEN), NOW).confidence,
    ]
    assert values == sorted(values, reverse=True)
    assert len(set(values)) == len(values)


@pytest.mark.parametrize(
    ("text", "suffix"),
    [
        ("2019-03-15T14:22:33+02:00", "+02:00"),
        ("2019-03-15T14:22:33.123+02:00", "+02:00"),
        ("2019-03-15T14:22:33.5-0530", "-0530"),
        ("2019-03-15T14:22:33Z", "+00:00"),
        ("2019-03-15T14:22:33", ""),
        ("2019-03-15T14:22:33.123", ""),
    ],
)
def test_zone_suffix_survives_fractional_seconds(text: str, suffix: str) -> None:
    assert trailing_offset(text) == suffix


def test_mtime_is_read_in_the_library_time_zone_not_the_process_one() -> None:
    from zoneinfo import ZoneInfo

    instant = int(datetime(2020, 6, 2, 3, 30).replace(tzinfo=ZoneInfo("UTC")).timestamp()) * 1_000_000_000
    new_york = capture_date([], "/photos/scan.jpg", instant, NOW, zone=ZoneInfo("America/New_York"))
    tokyo = capture_date([], "/photos/scan.jpg", instant, NOW, zone=ZoneInfo("Asia/Tokyo"))
    assert new_york.taken_at == datetime(2020, 6, 1, 23, 30)
    assert tokyo.taken_at == datetime(2020, 6, 2, 12, 30)


# Dates peers read from names (Immich, PhotoPrism, digiKam, Nextcloud) ------------------------------------------

LATER = datetime(2025, 1, 1, 12, 0, 0)  # after the epoch examples below (August 2024)
BURST = datetime(2024, 8, 16, 9, 37, 17)  # 1723801037429 ms, in UTC


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("201801261147521000.jpg", datetime(2018, 1, 26, 11, 47, 52), "filename_stamp_counter"),
        ("20180126114752000001.jpg", datetime(2018, 1, 26, 11, 47, 52), "filename_stamp_counter"),
        ("22-04-06 15-21-03.jpg", datetime(2022, 4, 6, 15, 21, 3), "filename_short_year"),
        ("22-04-06 15-21-03(1).jpg", datetime(2022, 4, 6, 15, 21, 3), "filename_short_year"),
        ("Photo 22-04-06_15.21.03.jpg", datetime(2022, 4, 6, 15, 21, 3), "filename_short_year"),
        # Always YY-MM-DD, as Nextcloud writes it: never read as DD-MM-YY.
        ("06-04-22 15-21-03.jpg", datetime(2006, 4, 22, 15, 21, 3), "filename_short_year"),
        # A two-digit year after next year in the 2000s is one of the 1900s.
        ("99-12-31 23-59-59.jpg", datetime(1999, 12, 31, 23, 59, 59), "filename_short_year"),
        ("1723801037429.jpg", BURST, "filename_epoch_ms"),
        ("IMG_1723801037429.jpg", BURST, "filename_epoch_ms"),
        ("BURST1723801037429.jpg", BURST, "filename_epoch_ms"),
        ("Screenshot_1723801037429_Chrome.png", BURST, "filename_epoch_ms"),
        ("1000000000000.jpg", datetime(2001, 9, 9, 1, 46, 40), "filename_epoch_ms"),  # the first 13-digit one
    ],
)
def test_file_names_peers_read(name: str, value: datetime, kind: str) -> None:
    found = date_from_filename(name, LATER)
    assert found is not None
    assert (found.value, found.source, found.confidence, found.granularity) == (
        value,
        "filename",
        CONFIDENCE[kind],
        "second",
    )
    assert found.utc == (kind == "filename_epoch_ms")  # epoch milliseconds are a UTC instant


@pytest.mark.parametrize(
    "name",
    [
        # plain counters
        "IMG_0001.jpg",
        "DSC01234.JPG",
        "P1000123.JPG",
        "100_0001.JPG",
        "DSCF1234.JPG",
        "MVI_1234.MOV",
        "DSC_123456.jpg",  # six-digit counter
        "12345678.jpg",  # eight-digit counter (year 1234)
        "IMG_20001234.jpg",  # eight digits that are not a date (month 12, day 34)
        # epoch milliseconds: out of range, or part of a longer run of digits
        "0999999999999.jpg",  # before 2001-09-09
        "999999999999.jpg",  # twelve digits
        "1800000000000.jpg",  # 2027: after now
        "9723801037429.jpg",
        "17238010374291.jpg",  # fourteen digits
        "IMG_17238010374290.jpg",
        "1723801037.jpg",  # ten-digit epoch seconds are not read (see dates.py)
        # impossible stamps before a counter
        "201813261147521000.jpg",  # month 13
        "201802311147521000.jpg",  # 31 February
        "201801262547521000.jpg",  # hour 25
        "185001261147521000.jpg",  # before 1900
        "209901261147521000.jpg",  # after now
        # impossible or incomplete two-digit-year names
        "22-13-06 15-21-03.jpg",  # month 13
        "22-02-31 15-21-03.jpg",  # 31 February
        "22-04-06 25-21-03.jpg",  # hour 25
        "22-04-06 15-61-03.jpg",  # minute 61
        "22-04-06.jpg",  # no time of day: too ambiguous alone
        "22-04-06 15-21.jpg",
        "122-04-06 15-21-03.jpg",
    ],
)
def test_counters_and_impossible_names_give_no_date(name: str) -> None:
    assert date_from_filename(name, NOW) is None
    assert date_from_filename(name, LATER) is None


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        # Each is also matched by a new pattern, but the pattern that read it before still wins.
        ("IMG_20190315_142233_1723801037429.jpg", WHEN, "filename"),
        ("IMG-20190315-WA0001 1723801037429.jpg", datetime(2019, 3, 15), "filename_date"),
        ("2019-03-15 14.22.33 22-04-06 15-21-03.jpg", WHEN, "filename"),
        ("20190315142233123.jpg", WHEN, "filename"),  # 1 to 3 digits after the stamp are milliseconds
        ("2019-03-15 22-04-06 15-21-03.jpg", datetime(2019, 3, 15, 22, 4, 6), "filename"),
    ],
)
def test_patterns_read_before_still_win_in_file_names(name: str, value: datetime, kind: str) -> None:
    found = date_from_filename(name, LATER)
    assert found is not None
    assert (found.value, found.confidence) == (value, CONFIDENCE[kind])


def test_an_epoch_name_after_now_is_not_a_date() -> None:
    assert date_from_filename("IMG_1723801037429.jpg", BURST - timedelta(days=2)) is None
    found = date_from_filename("IMG_1723801037429.jpg", BURST - timedelta(hours=12))  # a day of slack for zones
    assert found is not None
    assert found.value == BURST


def test_an_epoch_name_is_shown_in_the_library_zone() -> None:
    from zoneinfo import ZoneInfo

    chosen = capture_date([], "/p/IMG_1723801037429.jpg", None, LATER, zone=ZoneInfo("Europe/Rome"))
    assert (chosen.source, chosen.taken_at) == ("filename", datetime(2024, 8, 16, 11, 37, 17))
    assert chosen.confidence == CONFIDENCE["filename_epoch_ms"]
    assert chosen.offset_minutes is None  # the library's zone is an assumption, not the camera's offset


def test_an_epoch_name_says_nothing_of_a_videos_offset() -> None:
    from zoneinfo import ZoneInfo

    video = DateCandidate(BURST, "video_created", CONFIDENCE["video_created"], utc=True)
    chosen = capture_date([video], "/v/VID_1723801037429.mp4", None, LATER, zone=ZoneInfo("Asia/Tokyo"))
    assert (chosen.source, chosen.taken_at) == ("video_created", datetime(2024, 8, 16, 18, 37, 17))
    assert chosen.offset_minutes is None
    assert chosen.confidence == CONFIDENCE["video_created_utc"]
    assert not chosen.suspicious


@pytest.mark.parametrize(
    ("path", "value", "kind"),
    [
        ("/p/20221109/IMG_1.jpg", datetime(2022, 11, 9), "folder_day_compact"),
        ("/p/20221109T2030/IMG_1.jpg", datetime(2022, 11, 9), "folder_day_compact"),
        ("/p/20221109_2030/IMG_1.jpg", datetime(2022, 11, 9), "folder_day_compact"),
        ("/p/20221109-203015/IMG_1.jpg", datetime(2022, 11, 9), "folder_day_compact"),
        ("/p/2019/5/3/IMG_1.jpg", datetime(2019, 5, 3), "folder_day_unpadded"),
        ("/p/2019/05/3/IMG_1.jpg", datetime(2019, 5, 3), "folder_day_unpadded"),
        ("/p/2019/5/18/IMG_1.jpg", datetime(2019, 5, 18), "folder_day_unpadded"),
        ("/p/2016/08/18 iPhone/IMG_1.jpg", datetime(2016, 8, 18), "folder_day_label"),
        ("/p/2016/08/18_iPhone/IMG_1.jpg", datetime(2016, 8, 18), "folder_day_label"),
        ("/p/2016/8/3 - Zoo/IMG_1.jpg", datetime(2016, 8, 3), "folder_day_label"),
        ("/p/Trip 2011-05-11 Rome/IMG_1.jpg", datetime(2011, 5, 11), "folder_date_in_name"),
        ("/p/Holiday_2011.05.11/IMG_1.jpg", datetime(2011, 5, 11), "folder_date_in_name"),
        ("/p/2011-05-11 Rome/IMG_1.jpg", datetime(2011, 5, 11), "folder_day"),  # read before, as a pure date
        ("/p/2019/03/Trip 2019-03-15/IMG_1.jpg", datetime(2019, 3, 15), "folder_date_in_name"),  # deepest wins
        ("relative/2019/5/3/IMG_1.jpg", datetime(2019, 5, 3), "folder_day_unpadded"),
        ("/p//2019/./5/3/IMG_1.jpg", datetime(2019, 5, 3), "folder_day_unpadded"),
    ],
)
def test_folder_names_peers_read(path: str, value: datetime, kind: str) -> None:
    found = date_from_folders(path, NOW)
    assert found is not None
    assert (found.value, found.source, found.confidence, found.granularity) == (
        value,
        "folder",
        CONFIDENCE[kind],
        "day",
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/p/20221309/a.jpg", None),  # month 13
        ("/p/20220230/a.jpg", None),  # 30 February
        ("/p/20221109T2530/a.jpg", None),  # hour 25
        ("/p/20221109_2099/a.jpg", None),  # minute 99
        ("/p/18001109/a.jpg", None),  # before the first photograph
        ("/p/20991109/a.jpg", None),  # after now
        ("/p/12345678/a.jpg", None),  # an eight-digit counter
        ("/p/100_0001/a.jpg", None),
        ("/p/DCIM/100CANON/a.jpg", None),
        ("/p/DSCF1234/a.jpg", None),
        ("/p/Trip 20110511 Rome/a.jpg", None),  # compact dates only as the whole name
        ("/p/Trip 2011-02-30 Rome/a.jpg", None),
        ("/p/Trip 2011-05_11 Rome/a.jpg", None),  # two different separators inside a label
        ("/p/Trip 1700-05-11/a.jpg", None),
        ("/p/Album 3 - Zoo/a.jpg", None),
        ("/p/2019/5/a.jpg", datetime(2019, 1, 1)),  # a one-digit folder alone may number a part
        ("/p/2019/2/30/a.jpg", datetime(2019, 1, 1)),  # 30 February
        ("/p/2019/13/5/a.jpg", datetime(2019, 1, 1)),  # month 13
        ("/p/2019/0/5/a.jpg", datetime(2019, 1, 1)),  # month 0
        ("/p/2016/08/32 iPhone/a.jpg", datetime(2016, 8, 1)),  # day 32: the month folder still counts
        ("/p/2016/18 iPhone/a.jpg", datetime(2016, 1, 1)),  # a labelled day needs a year and a month above it
        ("/p/1700/5/3/a.jpg", None),
    ],
)
def test_new_folder_patterns_never_give_counters_or_impossible_dates(path: str, expected: datetime | None) -> None:
    found = date_from_folders(path, NOW)
    assert (found.value if found else None) == expected


@pytest.mark.parametrize(
    ("path", "value", "kind"),
    [
        # Each is also matched by a new pattern, but the pattern that read it before still wins.
        ("/p/2019-03-15 Trip 2020-01-01/a.jpg", datetime(2019, 3, 15), "folder_day"),
        ("/p/2019 Trip 2019-05-11/a.jpg", datetime(2019, 1, 1), "folder_year"),
        ("/p/2019/03/15/a.jpg", datetime(2019, 3, 15), "folder_day"),
        ("/p/2019/03/a.jpg", datetime(2019, 3, 1), "folder_month"),
        ("/p/2019-03 Trip 2019-03-15/a.jpg", datetime(2019, 3, 1), "folder_month"),
    ],
)
def test_patterns_read_before_still_win_in_folder_names(path: str, value: datetime, kind: str) -> None:
    found = date_from_folders(path, NOW)
    assert found is not None
    assert (found.value, found.confidence) == (value, CONFIDENCE[kind])


def test_less_certain_name_patterns_have_lower_confidence() -> None:
    c = CONFIDENCE
    # A compact, two-digit-year or epoch name is less certain than a full YYYY-MM-DD one with a time.
    assert c["filename"] > c["filename_stamp_counter"] > c["filename_epoch_ms"] > c["filename_short_year"]
    assert c["filename_date"] > c["filename_short_year"]
    # A compact or unpadded folder, or a date inside a label, is less certain than a pure date folder.
    assert c["folder_day"] > c["folder_day_compact"] > c["folder_day_label"] > c["folder_month"]
    assert c["folder_day"] > c["folder_day_unpadded"] > c["folder_date_in_name"] > c["folder_month"]


def test_a_labelled_day_folder_dates_a_photo_without_exif() -> None:
    chosen = capture_date([], "/photos/2016/08/18 iPhone/IMG_0042.JPG", None, NOW)
    assert (chosen.source, chosen.taken_at, chosen.confidence) == (
        "folder",
        datetime(2016, 8, 18),
        CONFIDENCE["folder_day_label"],
    )
