"""Exports in the contract formats of DESIGN.md, streamed so a million rows never sit in memory at once."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import Any, TextIO

from django.db.models import F

from catalog.models import Asset, Catalog, DuplicateGroup, hash_hex
from catalog.selectors import asset_list, asset_problem_list, duplicate_group_list

ASSET_FIELDS = [
    "path", "size", "sha256", "media_type", "format", "width", "height", "taken_at", "date_source",
    "date_confidence", "date_suspicious", "camera_make", "camera_model", "gps", "orientation", "dhash", "phash",
    "status", "problem", "lens_model", "iso", "keywords", "rating", "title", "description", "sidecars",
    "paired_with", "pair_kind",
]  # fmt: skip
PROBLEM_FIELDS = ["path", "kind", "message"]
DUPLICATE_FIELDS = ["id", "kind", "primary", "path", "sha256", "distance", "quality_score"]
KINDS = ("assets", "duplicates", "problems")


class ExportError(Exception):
    pass


def asset_record(asset: Asset) -> dict[str, Any]:
    has_gps = asset.gps_latitude is not None and asset.gps_longitude is not None
    return {
        "path": asset.path,
        "size": asset.size,
        "sha256": asset.sha256,
        "media_type": asset.media_type,
        "format": asset.format,
        "width": asset.width,
        "height": asset.height,
        # Wall-clock time as recorded: no offset, never converted to another zone.
        "taken_at": asset.taken_at.replace(tzinfo=None).isoformat() if asset.taken_at else None,
        "date_source": asset.date_source,
        "date_confidence": asset.date_confidence,
        "date_suspicious": asset.date_suspicious,
        "camera_make": asset.camera_make,
        "camera_model": asset.camera_model,
        "gps": [asset.gps_latitude, asset.gps_longitude] if has_gps else None,
        "orientation": asset.orientation,
        "dhash": hash_hex(asset.dhash),
        "phash": hash_hex(asset.phash),
        "status": asset.status,
        "problem": asset.problem_message if asset.problem_kind else "",
        "lens_model": asset.lens_model,
        "iso": asset.iso,
        "keywords": list(asset.keywords or []),
        "rating": asset.rating,
        "title": asset.title,
        "description": asset.description,
        "sidecars": [{"path": sidecar.path, "kind": sidecar.kind} for sidecar in asset.sidecars.all()],
        # The file this one goes with (a RAW's JPEG points at the RAW, a Live Photo's video at its picture).
        "paired_with": asset.paired_with.path if asset.paired_with_id and asset.paired_with else None,
        "pair_kind": asset.pair_kind,
    }


def problem_record(asset: Asset) -> dict[str, Any]:
    return {"path": asset.path, "kind": asset.problem_kind, "message": asset.problem_message}


def group_record(group: DuplicateGroup) -> dict[str, Any]:
    return {
        "id": group.pk,
        "kind": group.kind,
        "primary": group.primary.path if group.primary else None,
        "members": [
            {"path": m.asset.path, "sha256": m.asset.sha256, "distance": m.distance, "quality_score": m.quality_score}
            for m in group.members.all()
        ],
    }


def _group_rows(record: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """CSV: one row per member, the group's fields repeated."""
    for member in record["members"]:
        yield {"id": record["id"], "kind": record["kind"], "primary": record["primary"], **member}


def _records(catalog: Catalog, kind: str) -> tuple[str, list[str], Iterator[dict[str, Any]]]:
    if kind == "assets":
        return (
            "assets",
            ASSET_FIELDS,
            (
                asset_record(a)
                for a in asset_list(catalog)
                .select_related("paired_with")
                .prefetch_related("sidecars")
                .iterator(chunk_size=2000)
            ),
        )
    if kind == "duplicates":
        groups = duplicate_group_list(catalog).iterator(chunk_size=500)
        return "groups", DUPLICATE_FIELDS, (group_record(g) for g in groups)
    if kind == "problems":
        rows = asset_problem_list(catalog).iterator(chunk_size=2000)
        return "problems", PROBLEM_FIELDS, (problem_record(a) for a in rows)
    raise ExportError(f"unknown export {kind!r}: choose one of {', '.join(KINDS)}")


def catalog_export_chunks(*, catalog: Catalog, kind: str, fmt: str) -> Iterator[str]:
    """The export as text chunks, for a streaming HTTP response; ExportError at once for a bad kind or format."""
    key, fields, records = _records(catalog, kind)
    return export_chunks(fmt, {"catalog": catalog.path}, key, fields, records)


def catalog_export(*, catalog: Catalog, kind: str, fmt: str, stream: TextIO) -> int:
    """Write the export to ``stream``; returns the number of records."""
    key, fields, records = _records(catalog, kind)
    return _write(stream, fmt, {"catalog": catalog.path}, key, fields, records)


PLAN_FIELDS = [
    "seq", "operation", "state", "source", "target", "already_present", "conflict", "reason", "sha256", "size",
    "rollback_note", "kind", "goes_with",
]  # fmt: skip


def plan_export(*, journal, fmt: str, stream: TextIO, state: str | None = None) -> int:
    """An organize job's plan and journal: one record per file, in plan order (``state`` keeps one state)."""
    head, records = _plan_records(journal, state)
    return _write(stream, fmt, head, "steps", PLAN_FIELDS, records)


def plan_chunks(*, journal, fmt: str, state: str | None = None) -> Iterator[str]:
    """The plan export as text chunks, for a streaming HTTP response."""
    head, records = _plan_records(journal, state)
    return export_chunks(fmt, head, "steps", PLAN_FIELDS, records)


def _plan_records(journal, state: str | None) -> tuple[dict[str, Any], Iterator[dict[str, Any]]]:
    # ``goes_with``: the seq of the step a sidecar or a pair's other file goes with (None for a file of its own).
    steps = journal.organize_steps.annotate(goes_with=F("follows__seq")).order_by("seq")
    if state:
        steps = steps.filter(state=state)
    records = ({name: getattr(step, name) for name in PLAN_FIELDS} for step in steps.iterator(chunk_size=2000))
    return {"job": str(journal.pk), "catalog": journal.catalog.path if journal.catalog else None}, records


class _Counted:
    def __init__(self, records: Iterator[dict[str, Any]]) -> None:
        self.records, self.count = records, 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for record in self.records:
            self.count += 1
            yield record


def _write(
    stream: TextIO, fmt: str, head: dict[str, Any], key: str, fields: list[str], records: Iterator[dict[str, Any]]
) -> int:
    counted = _Counted(records)
    for chunk in export_chunks(fmt, head, key, fields, iter(counted)):
        stream.write(chunk)
    return counted.count


class _Line:
    """What csv writes to when each row is wanted as a string."""

    def write(self, value: str) -> str:
        return value


def export_chunks(
    fmt: str, head: dict[str, Any], key: str, fields: list[str], records: Iterator[dict[str, Any]]
) -> Iterator[str]:
    """An export as text chunks: a JSON object (``head``'s fields, then ``key``: the records) or CSV rows."""
    if fmt not in ("json", "csv"):
        raise ExportError(f"unknown format {fmt!r}: choose json or csv")
    return _json_chunks(head, key, records) if fmt == "json" else _csv_chunks(key, fields, records)


def _json_chunks(head: dict[str, Any], key: str, records: Iterator[dict[str, Any]]) -> Iterator[str]:
    yield "{" + "".join(f"{json.dumps(name)}: {json.dumps(value)}, " for name, value in head.items())
    yield '"' + key + '": ['
    separator = ""
    for record in records:
        yield separator + "\n  " + json.dumps(record, ensure_ascii=False)
        separator = ","
    yield "\n]}\n"


def _csv_chunks(key: str, fields: list[str], records: Iterator[dict[str, Any]]) -> Iterator[str]:
    writer = csv.DictWriter(_Line(), fieldnames=fields)
    yield writer.writeheader()
    for record in records:
        if record.get("gps"):
            record["gps"] = f"{record['gps'][0]},{record['gps'][1]}"
        if isinstance(record.get("keywords"), list):
            record["keywords"] = "; ".join(record["keywords"])
        if isinstance(record.get("sidecars"), list):
            record["sidecars"] = "; ".join(sidecar["path"] for sidecar in record["sidecars"])
        for row in _group_rows(record) if key == "groups" else [record]:
            yield writer.writerow(row)
