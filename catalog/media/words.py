"""Counts and durations in words for what people read (terminal lines, summaries, pages): "1 file", "3 min 4 s"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str = "") -> str:
    """``counted(1, "file")`` is "1 file", ``counted(3, "copy", "copies")`` is "3 copies"; thousands grouped."""
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"


def duration_words(seconds: float) -> str:
    """``under 1 s``, ``4.2 s``, ``12 s``, ``3 min 4 s``, ``1 h 2 min``, ``2 d 3 h`` (live.js says the same)."""
    if seconds < 1:
        return "under 1 s"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    for big, big_unit, small, small_unit in ((86400, "d", 3600, "h"), (3600, "h", 60, "min"), (60, "min", 1, "s")):
        if whole >= big:
            rest = (whole % big) // small
            return f"{whole // big} {big_unit}" + (f" {rest} {small_unit}" if rest else "")
    return f"{whole} s"
