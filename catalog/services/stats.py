"""The dashboard's figures of a catalog, computed when it changes and kept on its row, so that a dashboard over a
million assets is one row read. The asset figures take three scans (about a second at a million assets); the
duplicate figures read only the groups, and are refreshed alone after a review decision."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from catalog.models import (
    NEAR_KINDS,
    RELIABLE_DATE,
    AssetStatus,
    Catalog,
    DateSource,
    DuplicateGroup,
    GroupKind,
    MediaType,
)

CAMERAS_SHOWN = 50


def catalog_stats_refresh(catalog: Catalog, *, assets: bool = True, duplicates: bool = True) -> dict[str, Any]:
    if not catalog.stats_at:  # never computed: a part alone would leave the other empty
        assets = duplicates = True
    stats = dict(catalog.stats or {})
    if assets:
        stats |= _asset_figures(catalog)
    if duplicates:
        stats |= _duplicate_figures(catalog)
    catalog.stats, catalog.stats_at = stats, timezone.now()
    Catalog.objects.filter(pk=catalog.pk).update(stats=stats, stats_at=catalog.stats_at)
    return stats


def catalog_stats(catalog: Catalog) -> dict[str, Any]:
    """The figures as last computed (computed now if they never were, or lack a figure this version shows)."""
    if not catalog.stats_at or "no_reliable_date" not in catalog.stats:
        return catalog_stats_refresh(catalog)
    return catalog.stats


def _asset_figures(catalog: Catalog) -> dict[str, Any]:
    rows = catalog.assets.order_by()
    totals = rows.aggregate(
        assets=Count("id"),
        images=Count("id", filter=Q(media_type=MediaType.IMAGE)),
        videos=Count("id", filter=Q(media_type=MediaType.VIDEO)),
        bytes=Sum("size"),
        problems=Count("id", filter=Q(status=AssetStatus.PROBLEM)),
        missing=Count("id", filter=Q(status=AssetStatus.MISSING)),
        undated=Count("id", filter=Q(taken_at__isnull=True)),
        # Dated only by the file's modification time: a guess, counted with the undated as "no reliable date".
        mtime_dated=Count("id", filter=Q(taken_at__isnull=False, date_source=DateSource.MTIME)),
        suspicious=Count("id", filter=Q(date_suspicious=True)),
    )
    months = (  # real months only: a modification time is no capture date
        rows.filter(RELIABLE_DATE)
        .annotate(month=TruncMonth("taken_at", tzinfo=UTC))  # wall clock labelled UTC: never converted
        .values("month")
        .annotate(count=Count("id"))
        .order_by("month")
    )
    cameras = (
        rows.exclude(camera_model="")
        .values("camera_make", "camera_model")
        .annotate(count=Count("id"))
        .order_by("-count", "camera_model")[:CAMERAS_SHOWN]
    )
    return totals | {
        "no_reliable_date": totals["undated"] + totals["mtime_dated"],
        "bytes": totals["bytes"] or 0,
        "timeline": [{"month": row["month"].strftime("%Y-%m"), "count": row["count"]} for row in months],
        "cameras": [{"make": c["camera_make"], "model": c["camera_model"], "count": c["count"]} for c in cameras],
    }


def _duplicate_figures(catalog: Catalog) -> dict[str, Any]:
    groups = DuplicateGroup.objects.filter(catalog=catalog).order_by()
    figures = groups.aggregate(
        exact_groups=Count("id", filter=Q(kind=GroupKind.EXACT)),
        similar_groups=Count("id", filter=Q(kind=GroupKind.SIMILAR)),
        video_groups=Count("id", filter=Q(kind=GroupKind.VIDEO)),
        exact_redundant_bytes=Sum("redundant_bytes", filter=Q(kind=GroupKind.EXACT)),
        # A similar group's copies include its exact groups' ones: what a review could free (videos too).
        similar_redundant_bytes=Sum("redundant_bytes", filter=Q(kind__in=NEAR_KINDS)),
        unreviewed_groups=Count("id", filter=Q(reviewed_at__isnull=True, cluster__isnull=True)),
    )
    return {key: value or 0 for key, value in figures.items()}
