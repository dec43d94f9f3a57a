"""Reads shared by commands, exports, admin and (later) the API."""

from __future__ import annotations

from pathlib import Path

from django.db.models import QuerySet

from catalog.models import Asset, AssetStatus, Catalog


def catalog_by_path(path: str) -> Catalog | None:
    return Catalog.objects.filter(path=str(Path(path).expanduser().resolve())).first()


def asset_list(catalog: Catalog) -> QuerySet[Asset]:
    return Asset.objects.filter(catalog=catalog).order_by("path")


def asset_problem_list(catalog: Catalog) -> QuerySet[Asset]:
    return asset_list(catalog).filter(status=AssetStatus.PROBLEM)
