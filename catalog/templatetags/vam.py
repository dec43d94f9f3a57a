"""Words for numbers on the pages (counted nouns, video durations, exposures, camera names), and who may change a
catalog."""

from __future__ import annotations

from fractions import Fraction

from django import template

from catalog.media import dihedral, words
from catalog.media.exif import camera_label
from catalog.permissions import may_change

register = template.Library()


@register.filter
def counted(count, noun: str) -> str:
    """``3|counted:"file"`` is "3 files", ``1|counted:"file"`` "1 file"; ``"copy,copies"`` for irregular plurals."""
    singular, _, plural = noun.partition(",")
    try:
        number = int(count or 0)
    except (TypeError, ValueError):
        return f"{count} {plural or singular + 's'}"
    return words.counted(number, singular, plural)


@register.filter
def changeable_by(catalog, user) -> bool:
    """``catalog|changeable_by:user``: may this user change its folders, delete it and move its files?"""
    return may_change(user, catalog)


@register.filter
def clock(seconds) -> str:
    """A video's length as a player shows it: 0:07, 12:30, 1:02:03."""
    if seconds is None or seconds == "":
        return ""
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def exposure(seconds) -> str:
    """1/250 s for short exposures, 2.5 s for long ones."""
    if not seconds or not 0 < float(seconds) <= 3600:  # (sentinels such as 4294967295 s are no exposure)
        return ""
    value = float(seconds)
    if value < 0.5:
        return f"1/{round(1 / value)} s"
    fraction = Fraction(value).limit_denominator(10)
    return f"{float(fraction):g} s"


@register.filter
def camera(asset_or_row) -> str:
    """The camera's name without the maker said twice ("Canon EOS 5D", never "Canon Canon EOS 5D")."""
    if isinstance(asset_or_row, dict):
        return camera_label(asset_or_row.get("make", ""), asset_or_row.get("model", ""))
    return camera_label(asset_or_row.camera_make, asset_or_row.camera_model)


PROBLEM_LABELS = {
    "empty": "empty file",
    "unsupported": "not a picture",
    "corrupt": "damaged",
    "truncated": "cut short",
    "decompression_bomb": "too many pixels",
    "bad_exif": "broken metadata",
    "wrong_extension": "wrong extension",
    "unreadable": "unreadable",
    "broken_link": "broken link",
    "symlink_loop": "link loop",
    "undecodable_name": "unreadable name",
    "out_of_memory": "out of memory",
    "crashed": "crashed the reader",
    "unstorable": "not storable",
    "too_large": "too large",
    "timed_out": "took too long",
    "outside_roots": "outside the library roots",
}


@register.filter
def problem_label(kind: str) -> str:
    """A problem kind in words for tiles and headings ("bad_exif" is "broken metadata")."""
    return PROBLEM_LABELS.get(kind, kind.replace("_", " ")) if kind else "problem"


@register.filter
def facing_primary(turn) -> str:
    """The class that shows a member's picture the way its group's primary faces (``facing-N`` undoes the turn by
    applying ``Image.Transpose`` N; see vam.css), "" when it faces that way already."""
    if turn is None or int(turn) == dihedral.IDENTITY:
        return ""
    undo = dihedral.inverse(int(turn))
    square = " square" if undo in dihedral.SWAPS_AXES else ""  # a quarter turn keeps its box inside the card
    return f"facing-{undo}{square}"
