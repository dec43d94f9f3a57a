"""Which copy is the primary: format, then resolution, size, metadata, then the shorter path and the older file."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from catalog.similarity.quality import Candidate, best, format_rank

# A 12 MP JPEG with every bit of metadata; each case changes one thing.
BASE = Candidate(
    path="/photos/2019/IMG_0001.jpg",
    format="JPEG",
    width=4000,
    height=3000,
    size=4_000_000,
    mtime_ns=1_600_000_000 * 10**9,
    date_confidence=0.95,
    has_camera=True,
    has_gps=True,
)


def test_format_ranks():
    assert format_rank("RAW/CR2") == format_rank("RAW/NEF") == 4
    assert format_rank("TIFF") == format_rank("PNG") == 3
    assert format_rank("HEIC") == format_rank("JPEG") == format_rank("MPO") == 2
    assert format_rank("WEBP") == format_rank("GIF") == 1
    assert format_rank("JPEG", "video") == format_rank("MOV", "video") == 0


# (better, worse): the better one wins although it is worse on every later criterion.
CASES = {
    "RAW beats TIFF": (
        replace(BASE, format="RAW/CR2", width=2000, height=1500, size=1, path=BASE.path * 2),
        replace(BASE, format="TIFF", width=6000, height=4000, size=90_000_000),
    ),
    "PNG beats HEIC": (replace(BASE, format="PNG", width=100), replace(BASE, format="HEIC", size=10**9)),
    "TIFF beats JPEG": (replace(BASE, format="TIFF", width=100), replace(BASE, format="JPEG")),
    "JPEG beats WebP": (replace(BASE, format="JPEG", width=100), replace(BASE, format="WEBP", size=10**9)),
    "HEIC beats GIF": (replace(BASE, format="HEIC", width=100), replace(BASE, format="GIF")),
    "more pixels beat a larger file": (replace(BASE, width=4001, size=1), BASE),
    "a larger file beats metadata": (
        replace(BASE, size=BASE.size + 1, date_confidence=None, has_camera=False, has_gps=False),
        BASE,
    ),
    "date confidence beats camera and GPS": (
        BASE,
        replace(BASE, date_confidence=0.5, path="/a.jpg", mtime_ns=0),
    ),
    "a camera beats GPS": (replace(BASE, has_gps=False), replace(BASE, has_camera=False)),
    "GPS beats a shorter path": (BASE, replace(BASE, has_gps=False, path="/a.jpg")),
    "a shorter path beats an older file": (replace(BASE, path="/p/a.jpg"), replace(BASE, path="/p/ab.jpg", mtime_ns=0)),
    "an older file wins last": (replace(BASE, mtime_ns=5), replace(BASE, path="/photos/2019/IMG_0000.jpg")),
}


@pytest.mark.parametrize(("better", "worse"), CASES.values(), ids=CASES.keys())
def test_primary_rules_in_order(better, worse):
    assert best([better, worse]) is better
    assert best([worse, better]) is better
    assert better.key() < worse.key()


def test_score_condenses_format_and_megapixels():
    assert replace(BASE, format="RAW/ARW", width=6000, height=4000).score == 4024.0
    assert BASE.score == 2012.0
    assert replace(BASE, format="PNG", width=480, height=360).score == 3000.17
    assert replace(BASE, media_type="video").score == 12.0


def test_score_never_contradicts_the_order():
    rng = random.Random(9)
    formats = ["RAW/CR2", "TIFF", "PNG", "HEIC", "JPEG", "WEBP", "GIF", "BMP", "XCF"]
    candidates = [
        Candidate(
            path=f"/p/{k}.jpg",
            format=rng.choice(formats),
            width=rng.choice([100, 3000, 4000, 6000, 90_000]),
            height=rng.choice([100, 2000, 3000, 4000]),
            size=rng.randrange(1, 10**8),
        )
        for k in range(500)
    ]
    scores = [c.score for c in sorted(candidates, key=Candidate.key)]
    assert scores == sorted(scores, reverse=True)
