"""Counts in words for the messages people read (terminal lines, summaries, pages): "1 file", "2 files"."""

from __future__ import annotations


def counted(count: int, singular: str, plural: str = "") -> str:
    """``counted(1, "file")`` is "1 file", ``counted(3, "copy", "copies")`` is "3 copies"; thousands grouped."""
    return f"{count:,} {singular if count == 1 else (plural or singular + 's')}"
