"""Sidecars: the small files beside a photo that describe it (XMP, Google Takeout JSON, Apple AAE, video THM).

A sidecar is never an asset of its own: the walk links it to its media file from the folder's listing (no extra
read of the folder, one stat per sidecar found), and analyze uses what it says. A sidecar with no media file
beside it is not cataloged.

Matching, for a media file ``NAME.EXT`` (the sidecar's own extension in any case):

- ``NAME.EXT.xmp`` (darktable, digiKam) and ``NAME.xmp`` (Lightroom, Capture One): XMP. ``NAME.xmp`` belongs to
  one file only when several share the name: the RAW, else the picture, else the video.
- ``NAME.EXT.json``, ``NAME.EXT.supplemental-metadata.json`` and, for ``NAME(1).EXT``, ``NAME.EXT(1).json``:
  Google Takeout, whose names are cut at 46 characters before ``.json`` (a long name's JSON is linked when no other
  long name of the folder is cut the same). Its data is used only when it holds Takeout's ``photoTakenTime`` or
  ``creationTime``.
- ``NAME.AAE``: Apple's edit instructions, linked to the picture (not the RAW) that shares the name.
- ``NAME.THM``: a camera's video thumbnail, linked to the video only.

What is used: an XMP sidecar's keywords, rating, title, description and capture dates replace the embedded ones
(digiKam and Lightroom write edits there, so it is the newer word); ``NAME.EXT.xmp`` wins over ``NAME.xmp``.
Takeout's ``photoTakenTime`` becomes a date source of its own, and its ``geoData`` fills GPS where the file has
none (0, 0 means none).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import exif as exif_meta

if TYPE_CHECKING:
    from .analyze import FileAnalysis

XMP, TAKEOUT, AAE, THM = "xmp", "takeout", "aae", "thm"
SIDECAR_EXTENSIONS = {"xmp", "json", "aae", "thm"}
MAX_SIDECAR_BYTES = 4 << 20  # larger "sidecars" are linked but not read
TAKEOUT_KEY = "TakeoutTakenTime"  # where the Takeout time is kept in the asset's EXIF subset (UTC, "…Z")


@dataclass(frozen=True)
class SidecarEntry:
    path: str
    kind: str
    size: int = 0
    mtime_ns: int = 0


def split_extension(name: str) -> tuple[str, str]:
    """``IMG_1234.CR2.xmp`` -> (``IMG_1234.CR2``, ``xmp``); a name without a dot has no extension."""
    base, dot, extension = name.rpartition(".")
    return (base, extension.lower()) if dot and base else (name, "")


def is_sidecar_name(name: str) -> bool:
    return split_extension(name)[1] in SIDECAR_EXTENSIONS


_COPY_NUMBER = re.compile(r"^(.*)(\(\d+\))$")


TAKEOUT_NAME_LIMIT = 46  # Takeout cuts a JSON's name before ``.json`` to this many characters (51 in all)


def _takeout_names(media: str, base: str, extension: str) -> list[tuple[str, str]]:
    names = [(media, "json"), (f"{media}.supplemental-metadata", "json")]
    if match := _COPY_NUMBER.match(base):  # IMG(1).jpg -> IMG.jpg(1).json
        names.append((f"{match.group(1)}.{extension}{match.group(2)}", "json"))
    return names


def _truncated_takeout_names(media: str) -> list[str]:
    """The names before ``.json`` that Takeout gives a long file's JSON: ``NAME.EXT`` or
    ``NAME.EXT.supplemental-metadata`` cut at 46 characters (one name when both are cut there)."""
    names = (media, f"{media}.supplemental-metadata")
    return list(dict.fromkeys(name[:TAKEOUT_NAME_LIMIT] for name in names if len(name) > TAKEOUT_NAME_LIMIT))


def _owner_rank(media_kind: str, sidecar_kind: str) -> int | None:
    """Which of the media files sharing a name owns a ``NAME.xmp``/``NAME.AAE``/``NAME.THM`` (lowest first)."""
    order = {XMP: ("raw", "image", "video"), AAE: ("image", "raw"), THM: ("video",)}[sidecar_kind]
    return order.index(media_kind) if media_kind in order else None


def folder_sidecars(
    media_names: Iterable[str], other_names: Iterable[str], kind_of
) -> dict[str, list[tuple[str, str]]]:
    """The sidecars of each media file of one folder: ``{media name: [(sidecar name, kind), ...]}``.

    ``kind_of`` maps a lower-case media extension to "raw", "image" or "video".
    """
    by_key: dict[tuple[str, str], str] = {}
    for name in sorted(other_names):
        base, extension = split_extension(name)
        if extension in SIDECAR_EXTENSIONS:
            by_key.setdefault((base, extension), name)
    found: dict[str, list[tuple[str, str]]] = {}
    if not by_key:
        return found
    shared: dict[tuple[str, str], tuple[int, str]] = {}  # (NAME, ext) -> (rank, owner) for NAME.xmp/AAE/THM
    medias = sorted(media_names)
    truncated: dict[str, list[str]] = {}  # a cut Takeout name → the long media names it may stand for
    for media in medias:
        for cut in _truncated_takeout_names(media):
            if (cut, "json") in by_key and media not in truncated.setdefault(cut, []):
                truncated[cut].append(media)
    for media in medias:
        base, extension = split_extension(media)
        links = []
        if (own := by_key.get((media, "xmp"))) is not None:
            links.append((own, XMP))
        for key in _takeout_names(media, base, extension):
            if (takeout := by_key.get(key)) is not None:
                links.append((takeout, TAKEOUT))
        for cut in _truncated_takeout_names(media):
            if truncated.get(cut) == [media]:  # only when no other long name of the folder is cut the same
                links.append((by_key[(cut, "json")], TAKEOUT))
        if links:
            found[media] = links
        for extension_key, sidecar_kind in (("xmp", XMP), ("aae", AAE), ("thm", THM)):
            if (base, extension_key) not in by_key:
                continue
            rank = _owner_rank(kind_of(extension), sidecar_kind)
            if rank is not None and ((base, extension_key) not in shared or rank < shared[(base, extension_key)][0]):
                shared[(base, extension_key)] = (rank, media)
    for (base, extension), (_, media) in shared.items():
        kind = {"xmp": XMP, "aae": AAE, "thm": THM}[extension]
        found.setdefault(media, []).append((by_key[(base, extension)], kind))
    return found


def renamed_sidecar(media: str, sidecar: str, new_media: str) -> str:
    """The name ``sidecar`` (of the media file named ``media``) takes when that file is renamed ``new_media``, so
    that ``folder_sidecars`` links it to the renamed file the same way: ``IMG_1.CR2.xmp`` follows ``IMG_1.CR2`` to
    ``S.CR2.xmp``, ``IMG_1.xmp`` and ``IMG_1.AAE`` become ``S.xmp`` and ``S.AAE``, and Takeout's ``IMG.jpg(1).json``
    of ``IMG(1).jpg`` becomes ``S.jpg.json``."""
    base, extension = split_extension(sidecar)
    if base == media or base == f"{media}.supplemental-metadata":  # NAME.EXT.xmp, NAME.EXT(.supplemental…).json
        return new_media + sidecar[len(media) :]
    if extension == "json":  # NAME.EXT(1).json
        return f"{new_media}.json"
    stem, new_stem = split_extension(media)[0], split_extension(new_media)[0]
    return new_stem + sidecar[len(stem) :]  # NAME.xmp, NAME.AAE, NAME.THM


# Reading -------------------------------------------------------------------------------------------------------


def apply_sidecars(result: FileAnalysis, sidecars: Iterable[SidecarEntry]) -> None:
    """Use what the sidecars say on top of what the file itself holds (see the module docstring)."""
    media_name = result.path.rpartition("/")[2]
    for sidecar in sorted(sidecars, key=lambda sidecar: _precedence(sidecar, media_name)):
        try:
            with open(sidecar.path, "rb") as handle:
                data = handle.read(MAX_SIDECAR_BYTES + 1)
        except OSError as exc:
            result.note = result.note or f"cannot read the sidecar {sidecar.path}: {exc.strerror or exc}"[:255]
            continue
        if len(data) > MAX_SIDECAR_BYTES:
            continue
        if sidecar.kind == XMP:
            apply_xmp_sidecar(result, data)
        elif sidecar.kind == TAKEOUT:
            apply_takeout(result, data)


def _precedence(sidecar: SidecarEntry, media_name: str) -> tuple[int, str]:
    """Applied in this order, each replacing the one before: ``NAME.xmp`` first, then ``NAME.EXT.xmp``."""
    own = split_extension(sidecar.path.rpartition("/")[2])[0] == media_name
    return (1 if own else 0, sidecar.path)


def apply_xmp_sidecar(result: FileAnalysis, data: bytes) -> None:
    """An XMP sidecar's keywords, rating, title, description and dates replace the file's own."""
    meta = exif_meta.ImageMetadata()
    exif_meta.apply_xmp(meta, data)
    if meta.keywords:
        result.keywords = meta.keywords
    if meta.rating is not None:
        result.rating = meta.rating
    result.title = meta.title or result.title
    result.description = meta.description or result.description
    subset = result.exif
    for key, offset_key in (("DateTimeOriginal", "OffsetTimeOriginal"), ("CreateDate", "OffsetTimeDigitized")):
        if key in meta.exif:
            subset[key] = meta.exif[key]
            subset.pop(offset_key, None)
            if offset_key in meta.exif:
                subset[offset_key] = meta.exif[offset_key]
    if "DateCreated" in meta.exif:
        subset["DateCreated"] = meta.exif["DateCreated"]


def takeout_data(data: bytes) -> dict[str, Any] | None:
    """The JSON object of a Google Takeout sidecar, or None when the file is not one."""
    try:
        found = json.loads(data)
    except (ValueError, RecursionError):
        return None
    if not isinstance(found, dict) or not ("photoTakenTime" in found or "creationTime" in found):
        return None
    return found


def takeout_time(found: dict[str, Any]) -> datetime | None:
    """``photoTakenTime.timestamp`` (UTC epoch seconds, as text) as a naive UTC datetime; None when absent."""
    taken = found.get("photoTakenTime")
    stamp = taken.get("timestamp") if isinstance(taken, dict) else None
    try:
        seconds = int(str(stamp))
        if seconds <= 0:
            return None
        return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def takeout_gps(found: dict[str, Any]) -> tuple[float, float, float | None] | None:
    """``geoData`` (else ``geoDataExif``) as latitude, longitude, altitude; None for none or 0, 0."""
    for key in ("geoData", "geoDataExif"):
        geo = found.get(key)
        if not isinstance(geo, dict):
            continue
        latitude, longitude = exif_meta.to_float(geo.get("latitude")), exif_meta.to_float(geo.get("longitude"))
        if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
            continue
        if abs(latitude) > 90 or abs(longitude) > 180:
            continue
        return latitude, longitude, exif_meta.to_float(geo.get("altitude"))
    return None


def apply_takeout(result: FileAnalysis, data: bytes) -> None:
    """Takeout's time as a date source (kept in the EXIF subset), and its place where the file has no GPS."""
    found = takeout_data(data)
    if found is None:
        return
    if (taken := takeout_time(found)) is not None:
        result.exif[TAKEOUT_KEY] = taken.isoformat() + "Z"
    if result.gps is None and (place := takeout_gps(found)) is not None:
        latitude, longitude, altitude = place
        result.gps = (latitude, longitude)
        if result.gps_altitude is None and altitude:
            result.gps_altitude = altitude
