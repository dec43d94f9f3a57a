"""Helpers for the service and command tests: photos with EXIF, one-call analyze and export."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from django.core.management import call_command

from catalog.models import Asset, Catalog
from catalog.services.analyze import AnalyzeSummary, catalog_analyze, catalog_get_or_create
from tests.conftest import make_jpeg

MAKE, MODEL = 0x010F, 0x0110
GPS_IFD = 0x8825
DATETIME_ORIGINAL, OFFSET_TIME_ORIGINAL = 0x9003, 0x9011

# The export contract of DESIGN.md ("Export formats"), spelled out here so a renamed field fails the tests.
ASSET_KEYS = [
    "path", "size", "sha256", "media_type", "format", "width", "height", "taken_at", "date_source",
    "date_confidence", "date_suspicious", "camera_make", "camera_model", "gps", "orientation", "dhash", "phash",
    "status", "problem", "lens_model", "iso", "keywords", "rating", "title", "description", "sidecars",
    "paired_with", "pair_kind",
]  # fmt: skip
PROBLEM_KEYS = ["path", "kind", "message"]
HEX16 = r"[0-9a-f]{16}"

# Fields that depend only on a file's bytes: what a moved or copied file must carry over.
DERIVED_FIELDS = [
    "size", "sha256", "media_type", "format", "width", "height", "orientation", "camera_make", "camera_model",
    "gps_latitude", "gps_longitude", "exif", "dhash", "phash", "taken_at", "date_source",
]  # fmt: skip


def camera_photo(
    path: Path,
    taken: str | None = "2019:03:15 14:22:33",
    *,
    make: str = "Canon",
    model: str = "EOS 5D Mark IV",
    gps: tuple[tuple[float, float, float], str, tuple[float, float, float], str] | None = None,
    offset: str | None = None,
    size: tuple[int, int] = (96, 64),
    color: tuple[int, int, int] = (200, 40, 40),
) -> Path:
    """A JPEG as a camera writes it: Make/Model, DateTimeOriginal (EXIF text) and optionally GPS and an offset."""
    base: dict[int, object] = {MAKE: make, MODEL: model}
    if gps is not None:
        latitude, latitude_ref, longitude, longitude_ref = gps
        base[GPS_IFD] = {1: latitude_ref, 2: latitude, 3: longitude_ref, 4: longitude}
    exif_ifd: dict[int, object] = {}
    if taken is not None:
        exif_ifd[DATETIME_ORIGINAL] = taken
    if offset is not None:
        exif_ifd[OFFSET_TIME_ORIGINAL] = offset
    return make_jpeg(path, size=size, color=color, exif=base, exif_ifd=exif_ifd or None)


def plain_photo(path: Path, color: tuple[int, int, int] = (30, 120, 200), size: tuple[int, int] = (80, 60)) -> Path:
    """A JPEG without any EXIF."""
    return make_jpeg(path, size=size, color=color)


def analyze(catalog_dir: Path, *sources: Path, workers: int = 1, **options) -> tuple[Catalog, AnalyzeSummary]:
    catalog = catalog_get_or_create(path=catalog_dir)
    summary = catalog_analyze(catalog=catalog, sources=[str(s) for s in sources], workers=workers, **options)
    catalog.refresh_from_db()
    return catalog, summary


def asset_at(catalog: Catalog, path: Path) -> Asset:
    return Asset.objects.get(catalog=catalog, path=str(path))


def export_file(catalog_dir: Path, kind: str, fmt: str, out: Path) -> str:
    """Run ``manage.py export`` into ``out`` and return the text it wrote."""
    call_command("export", str(catalog_dir), kind, "--format", fmt, "-o", str(out), stderr=io.StringIO())
    return out.read_text(encoding="utf-8")


def export_json(catalog_dir: Path, kind: str, out: Path) -> dict:
    return json.loads(export_file(catalog_dir, kind, "json", out))


def export_csv(catalog_dir: Path, kind: str, out: Path) -> tuple[list[str], list[dict[str, str]]]:
    text = export_file(catalog_dir, kind, "csv", out)
    reader = csv.DictReader(io.StringIO(text, newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows
