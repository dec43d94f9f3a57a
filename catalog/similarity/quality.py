"""Which copy of a picture is the best one: the primary of a duplicate group.

The order, most important first:

1. format: RAW (4) beats TIFF, PNG, BMP (3) beats HEIC, JPEG, MPO, AVIF (2) beats WebP, GIF (1); other formats
   and videos are 0;
2. more pixels;
3. a larger file (less compressed);
4. richer metadata: a more reliable capture date (date confidence), then a camera make or model, then GPS;
5. the shorter path, then the older modification time, then the path itself (so there is never a tie).

``quality_score`` condenses the first two into one number for display: format × 1000 + megapixels (a 24 MP
RAW scores 4024.0, a 12 MP JPEG 2012.0). The full order above decides; the score never contradicts it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

FORMAT_RANK = {"TIFF": 3, "PNG": 3, "BMP": 3, "HEIC": 2, "HEIF": 2, "JPEG": 2, "MPO": 2, "AVIF": 2, "WEBP": 1, "GIF": 1}


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
    has_camera: bool = False
    has_gps: bool = False

    @property
    def pixels(self) -> int:
        return (self.width or 0) * (self.height or 0)

    def key(self) -> tuple:
        """Sorts best first."""
        return self._key

    @cached_property
    def _key(self) -> tuple:
        return (
            -format_rank(self.format, self.media_type),
            -self.pixels,
            -self.size,
            -(self.date_confidence or 0.0),
            not self.has_camera,
            not self.has_gps,
            len(self.path),
            self.mtime_ns,
            self.path,
        )

    @property
    def score(self) -> float:
        return format_rank(self.format, self.media_type) * 1000 + round(min(self.pixels / 1e6, 999.99), 2)


def best(candidates: list[Candidate]) -> Candidate:
    return min(candidates, key=Candidate.key)
