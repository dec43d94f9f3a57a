"""Which copy of a picture is the best one: the primary of a duplicate group.

The primary is the copy a user keeps, so it must be the original, not the export or re-encode that happens to
sit in a better container. The order, most important first (for videos, the longest copy comes before all of
these, within ``DURATION_TOLERANCE``: a trimmed copy is never the original):

1. more pixels. Pixel counts within ``PIXEL_TOLERANCE`` (1 %) of the largest copy count as the same size, so a
   4000×3000 original and a 4000×2999 crop of it tie here and the next rules decide (see ``best``); a RAW
   counts its sensor size, which analysis stores as its width and height (LibRaw's visible area, never the
   embedded preview's);
2. an original's camera metadata: a camera make or model, or an EXIF capture date (DateTimeOriginal or
   CreateDate) as the chosen date. Exports and messenger re-encodes lose both. Then no photo editor's name in
   EXIF Software (``EDITORS``: an editor writes its name there when it saves, a camera its firmware);
3. format: RAW (4) beats lossless TIFF, PNG, BMP (3) beats lossy HEIC, JPEG, MPO, AVIF (2) beats WebP, GIF (1);
   other formats and videos are 0;
4. a larger file (less compressed);
5. a more reliable capture date (date confidence), then GPS;
6. the shorter path, then the older modification time, then the path itself (so there is never a tie).

``quality_score`` (``Candidate.score``) is the copy's size in megapixels, two decimals ("12.0" for 4000×3000):
the rule that decides first, readable on its own. The primary's score is within the tolerance of the group's
highest; copies that close (a RAW and its camera's JPEG, an original and its PNG export) score alike, and the
later rules, which the score does not show, chose between them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

FORMAT_RANK = {"TIFF": 3, "PNG": 3, "BMP": 3, "HEIC": 2, "HEIF": 2, "JPEG": 2, "MPO": 2, "AVIF": 2, "WEBP": 1, "GIF": 1}
PIXEL_TOLERANCE = 0.01
DURATION_TOLERANCE = 0.1  # seconds: re-encodes of one video differ by a frame or two in length
# Photo editors that write their name into EXIF Software when they save (cameras write their firmware there).
EDITORS = (
    "photoshop", "lightroom", "gimp", "snapseed", "pixelmator", "affinity", "darktable", "rawtherapee", "capture one",
    "luminar", "paint.net", "picasa", "digikam", "shotwell", "acdsee", "paintshop", "photoscape", "photo gallery",
    "fotor", "vsco", "picsart", "facetune",
)  # fmt: skip


def edited_by(software: str | None) -> bool:
    """Whether an EXIF Software value names a photo editor."""
    text = (software or "").lower()
    return any(editor in text for editor in EDITORS)


def format_rank(fmt: str, media_type: str = "image") -> int:
    if media_type != "image":
        return 0
    if fmt.startswith("RAW"):
        return 4
    return FORMAT_RANK.get(fmt.upper(), 0)


@dataclass(frozen=True)
class Candidate:
    """The facts about one asset that decide its quality."""

    path: str
    format: str = ""
    media_type: str = "image"
    width: int | None = None
    height: int | None = None
    size: int = 0
    mtime_ns: int = 0
    date_confidence: float | None = None
    has_camera: bool = False  # a camera make or model
    has_exif_date: bool = False  # the capture date comes from EXIF DateTimeOriginal or CreateDate
    has_gps: bool = False
    edited: bool = False  # EXIF Software names a photo editor
    duration: float | None = None  # seconds, for videos: the longest copy is the original, not a trimmed one

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    @property
    def from_camera(self) -> bool:
        return self.has_camera or self.has_exif_date

    def key(self) -> tuple:
        """Sorts best first with pixels compared exactly: for ordering pictures that are not copies of each other.

        ``best`` picks among copies, where nearly equal sizes tie.
        """
        return (-(self.duration or 0.0), -self.pixels, *self._same_size_key)

    @cached_property
    def _same_size_key(self) -> tuple:
        return (
            not self.from_camera,
            self.edited,
            -format_rank(self.format, self.media_type),
            -self.size,
            -(self.date_confidence or 0.0),
            not self.has_gps,
            len(self.path),
            self.mtime_ns,
            self.path,
        )

    @property
    def score(self) -> float:
        return round(self.pixels / 1e6, 2)


def best(candidates: list[Candidate]) -> Candidate:
    """The primary: the best, by the rules after pixels, of the copies within PIXEL_TOLERANCE of the largest.

    The band is measured from the largest copy rather than cut on a fixed grid, so two nearly equal sizes never
    fall on either side of a boundary, and the choice does not depend on the order of the candidates.
    """
    longest = max(c.duration or 0.0 for c in candidates)
    if longest:  # videos: the longest first (a trimmed copy is not the original), within a frame or two
        candidates = [c for c in candidates if (c.duration or 0.0) >= longest - DURATION_TOLERANCE]
    floor = max(c.pixels for c in candidates) * (1 - PIXEL_TOLERANCE)
    return min((c for c in candidates if c.pixels >= floor), key=lambda c: c._same_size_key)
