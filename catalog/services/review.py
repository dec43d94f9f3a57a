"""What a user decides while reviewing a catalog: capture dates set by hand (duplicate decisions live in
``catalog.services.duplicates``). Every decision is kept by later analyze runs."""

from __future__ import annotations

from datetime import UTC, datetime

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from catalog.media.exif import dates_from_exif_subset
from catalog.models import Asset, Catalog, DateSource
from catalog.services.analyze import MANUAL_CONFIDENCE, apply_capture_date
from catalog.services.stats import catalog_stats_refresh


def assets_set_date(*, assets: QuerySet[Asset], taken_at: datetime | None) -> int:
    """Set the capture date of these assets by hand (wall-clock time, any zone label dropped), or with None go
    back to the date their files and names give. Returns how many assets changed."""
    catalogs = list(Catalog.objects.filter(pk__in=assets.values("catalog_id")))
    changed = _set_date(assets, taken_at)
    for catalog in catalogs:  # the timeline and the undated count move
        catalog_stats_refresh(catalog, duplicates=False)
    return changed


def _set_date(assets: QuerySet[Asset], taken_at: datetime | None) -> int:
    if taken_at is not None:
        wall_clock = taken_at.replace(tzinfo=UTC)  # stored like every taken_at: wall clock labelled UTC
        return assets.update(
            taken_at=wall_clock, taken_at_offset=None, date_source=DateSource.MANUAL,
            date_confidence=MANUAL_CONFIDENCE, date_suspicious=False, date_note="set by hand",
            updated_at=timezone.now(),
        )  # fmt: skip
    changed = []
    for asset in assets.filter(date_source=DateSource.MANUAL):
        apply_capture_date(asset, dates_from_exif_subset(asset.exif or {}), asset.mtime_ns)
        changed.append(asset)
    fields = ["taken_at", "taken_at_offset", "date_source", "date_confidence", "date_suspicious", "date_note"]
    with transaction.atomic():
        Asset.objects.bulk_update(changed, fields, batch_size=500)
    return len(changed)
