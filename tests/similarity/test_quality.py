"""Which copy is the primary: pixels (within a tolerance), then an original's camera metadata, format, file size,
date confidence, GPS, then the shorter path and the older file."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from catalog.similarity.quality import PIXEL_TOLERANCE, Candidate, best, format_rank

# A 12 MP camera JPEG with every bit of metadata; each case changes one thing.
BASE = Candidate(
    path="/photos/2019/IMG_0001.jpg",
    format="JPEG",
    width=4000,
    height=3000,
    size=4_000_000,
    mtime_ns=1_600_000_000 * 10**9,
    date_confidence=0.95,
    has_camera=True,
    has_exif_date=True,
    has_gps=True,
)
# What an export or a messenger keeps of it: the pixels, none of the camera's metadata.
STRIPPED = {"has_camera": False, "has_exif_date": False, "has_gps": False, "date_confidence": 0.5}


def test_format_ranks():
    assert format_rank("RAW/CR2") == format_rank("RAW/NEF") == 4
    assert format_rank("TIFF") == format_rank("PNG") == format_rank("BMP") == 3
    assert format_rank("HEIC") == format_rank("JPEG") == format_rank("MPO") == format_rank("AVIF") == 2
    assert format_rank("WEBP") == format_rank("GIF") == 1
    assert format_rank("JPEG", "video") == format_rank("MOV", "video") == 0


# (better, worse): the better one wins although it is worse on every later criterion.
CASES = {
    "more pixels beat format and metadata": (
        replace(BASE, format="WEBP", width=4100, size=1, path=BASE.path * 2, **STRIPPED),
        replace(BASE, format="RAW/CR2", size=90_000_000),
    ),
    "a camera make or model beats format": (
        replace(BASE, has_exif_date=False, size=1, path=BASE.path * 2),
        replace(BASE, format="PNG", has_camera=False, has_exif_date=False, size=90_000_000),
    ),
    "an EXIF capture date beats format": (
        replace(BASE, has_camera=False, size=1, path=BASE.path * 2),
        replace(BASE, format="PNG", has_camera=False, has_exif_date=False, size=90_000_000),
    ),
    "RAW beats TIFF": (replace(BASE, format="RAW/CR2", size=1), replace(BASE, format="TIFF", size=90_000_000)),
    "PNG beats HEIC": (replace(BASE, format="PNG", size=1), replace(BASE, format="HEIC")),
    "TIFF beats JPEG": (replace(BASE, format="TIFF", size=1), BASE),
    "JPEG beats WebP": (replace(BASE, size=1), replace(BASE, format="WEBP")),
    "HEIC beats GIF": (replace(BASE, format="HEIC", size=1), replace(BASE, format="GIF")),
    "a larger file beats date confidence": (
        replace(BASE, size=BASE.size + 1, date_confidence=None, has_gps=False),
        BASE,
    ),
    "date confidence beats GPS": (
        replace(BASE, has_gps=False),
        replace(BASE, date_confidence=0.5, path="/a.jpg", mtime_ns=0),
    ),
    "GPS beats a shorter path": (BASE, replace(BASE, has_gps=False, path="/a.jpg")),
    "a shorter path beats an older file": (replace(BASE, path="/p/a.jpg"), replace(BASE, path="/p/ab.jpg", mtime_ns=0)),
    "an older file wins last": (replace(BASE, mtime_ns=5), replace(BASE, path="/photos/2019/IMG_0000.jpg")),
}


@pytest.mark.parametrize(("better", "worse"), CASES.values(), ids=CASES.keys())
def test_primary_rules_in_order(better, worse):
    assert best([better, worse]) is better
    assert best([worse, better]) is better


# What users keep: the original, whatever container the other copies are in.


def test_camera_jpeg_beats_its_png_export():
    export = replace(BASE, path="/exports/IMG_0001__converted.png", format="PNG", size=18_000_000, **STRIPPED)
    assert best([export, BASE]) is BASE


def test_larger_jpeg_beats_a_smaller_tiff_of_the_same_picture():
    tiff = Candidate(path="/scans/picture.tif", format="TIFF", width=300, height=400, size=360_000)
    jpeg = Candidate(path="/scans/picture.jpg", format="JPEG", width=500, height=667, size=90_000)
    assert best([tiff, jpeg]) is jpeg


def test_raw_beats_the_cameras_jpeg_of_the_same_shot():
    # tests/fixtures/canon.raw.cr2 (Canon EOS REBEL T5i, 5184×3456) has no raw data left and no JPEG of the same
    # shot exists, so this is the facts analysis stores for the pair: the RAW's width and height are its sensor
    # size (LibRaw), the same as the camera's full-size JPEG.
    shot = {"width": 5184, "height": 3456, "has_camera": True, "has_exif_date": True, "date_confidence": 0.95}
    raw = Candidate(path="/photos/IMG_2462.CR2", format="RAW/CR2", size=25_000_000, **shot)
    jpeg = Candidate(path="/photos/IMG_2462.JPG", format="JPEG", size=7_000_000, **shot)
    assert best([jpeg, raw]) is raw
    # A sensor a few rows and columns larger or smaller than the JPEG changes nothing.
    assert best([jpeg, replace(raw, width=5202, height=3465)]).format == "RAW/CR2"
    assert best([jpeg, replace(raw, width=5168, height=3448)]).format == "RAW/CR2"


def test_original_beats_a_messenger_re_encode():
    whatsapp = replace(BASE, path="/WhatsApp/IMG-20190315-WA0001.jpg", width=1600, height=1200, size=250_000)
    assert best([whatsapp, BASE]) is BASE
    # Even at the original's size (some messengers keep it), the stripped copy loses.
    same_size = replace(whatsapp, width=4000, height=3000, size=BASE.size * 2, **STRIPPED)
    assert best([same_size, BASE]) is BASE


def test_pixels_within_the_tolerance_tie_so_a_crop_by_one_row_does_not_win():
    crop = replace(BASE, path="/edits/IMG_0001.png", format="PNG", height=2999, size=BASE.size * 5, **STRIPPED)
    original = replace(BASE, height=2999)
    assert best([replace(crop, height=3000), original]) is original
    # The band is measured from the largest copy: 1 % fewer pixels still ties, more than that does not.
    edge = int(3000 * (1 - PIXEL_TOLERANCE))
    assert best([replace(crop, height=3000), replace(BASE, height=edge)]).path == BASE.path
    assert best([replace(crop, height=3000), replace(BASE, height=edge - 1)]).path == crop.path


def test_choice_does_not_depend_on_the_order_of_the_copies():
    rng = random.Random(3)
    copies = [
        replace(
            BASE,
            path=f"/p/{k}.jpg",
            format=rng.choice(["JPEG", "PNG", "RAW/CR2", "WEBP"]),
            height=rng.choice([2960, 2980, 2990, 2999, 3000]),
            has_camera=rng.random() < 0.3,
            has_exif_date=False,
            size=rng.randrange(1, 10**7),
        )
        for k in range(40)
    ]
    chosen = best(copies)
    for _ in range(20):
        rng.shuffle(copies)
        assert best(copies) is chosen


def test_score_is_megapixels():
    assert replace(BASE, format="RAW/ARW", width=6000, height=4000).score == 24.0
    assert BASE.score == 12.0
    assert replace(BASE, format="PNG", width=480, height=360).score == 0.17
    assert replace(BASE, media_type="video", width=1920, height=1080).score == 2.07
    assert Candidate(path="/broken.jpg").score == 0.0


def test_the_primary_scores_within_the_tolerance_of_the_highest():
    rng = random.Random(9)
    formats = ["RAW/CR2", "TIFF", "PNG", "HEIC", "JPEG", "WEBP", "GIF", "BMP", "XCF"]
    for _ in range(200):
        group = [
            Candidate(
                path=f"/p/{k}.jpg",
                format=rng.choice(formats),
                width=rng.choice([100, 3000, 3990, 4000, 6000]),
                height=rng.choice([100, 2990, 3000, 4000]),
                size=rng.randrange(1, 10**8),
                has_camera=rng.random() < 0.5,
            )
            for k in range(rng.randrange(2, 8))
        ]
        top = max(c.pixels for c in group)
        assert best(group).pixels >= top * (1 - PIXEL_TOLERANCE)
        assert best(group).score >= round(top * (1 - PIXEL_TOLERANCE) / 1e6, 2)
