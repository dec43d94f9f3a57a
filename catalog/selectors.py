"""Reads shared by commands, exports, admin and (later) the API."""

from __future__ import annotations

from pathlib import Path

from django.db.models import Prefetch, QuerySet

from catalog.models import Asset, AssetStatus, Catalog, DuplicateGroup, DuplicateMember


def catalog_by_path(path: str) -> Catalog | None:
    return Catalog.objects.filter(path=str(Path(path).expanduser().resolve())).first()


def asset_list(catalog: Catalog) -> QuerySet[Asset]:
    return Asset.objects.filter(catalog=catalog).order_by("path")


def asset_problem_list(catalog: Catalog) -> QuerySet[Asset]:
    return asset_list(catalog).filter(status=AssetStatus.PROBLEM)


def duplicate_group_list(catalog: Catalog) -> QuerySet[DuplicateGroup]:
    """Groups with their primary and members (closest to the primary first), exact groups first."""
    members = DuplicateMember.objects.select_related("asset").only(
        "group_id", "distance", "phash_distance", "quality_score", "asset__path", "asset__sha256"
    )
    return (
        DuplicateGroup.objects.filter(catalog=catalog)
        .select_related("primary")
        .prefetch_related(Prefetch("members", queryset=members.order_by("distance", "-quality_score", "asset__path")))
        .order_by("kind", "id")
    )
