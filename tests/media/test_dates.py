"""Capture dates: file and folder name patterns, source ranking, confidence, sentinels and disagreements."""

from __future__ import annotations

import os
import time
from datetime import datetime

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
