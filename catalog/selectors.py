"""Reads shared by commands, exports, admin and (later) the API."""

from __future__ import annotations

from pathlib import Path

from django.db.models import Count, Prefetch, QuerySet

from catalog.models import Asset, AssetStatus, Catalog, DuplicateGroup, DuplicateMember, OrganizeStep, StepState


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


def organize_step_counts(journal) -> dict[str, int]:
    """How many files of an organize job are in each state (the states it has, in protocol order)."""
    rows = dict(journal.organize_steps.order_by().values_list("state").annotate(count=Count("id")))
    return {state: rows[state] for state in StepState.values if state in rows}


def organize_steps(journal, state: str | None = None) -> QuerySet[OrganizeStep]:
    steps = journal.organize_steps.order_by("seq")
    return steps.filter(state=state) if state else steps
