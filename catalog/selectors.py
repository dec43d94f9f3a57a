"""Reads shared by commands, exports, admin and (later) the API."""

from __future__ import annotations

from pathlib import Path

from django.db.models import Count, Prefetch, Q, QuerySet

from catalog.models import (
    Asset,
    AssetStatus,
    Catalog,
    DuplicateGroup,
    DuplicateMember,
    OrganizeStep,
    PairKind,
    StepState,
)


def catalog_by_path(path: str) -> Catalog | None:
    return Catalog.objects.filter(path=str(Path(path).expanduser().resolve())).first()


def asset_list(catalog: Catalog) -> QuerySet[Asset]:
    return Asset.objects.filter(catalog=catalog).order_by("path")


def asset_partners(asset: Asset) -> list[tuple[Asset, str]]:
    """The files an asset goes with, each with the kind of pair in words: its lead (the RAW of a JPEG, the picture
    of a Live Photo's video) and the files that go with it or with that lead."""
    lead_id = asset.paired_with_id or asset.pk
    found = Asset.objects.filter(Q(pk=lead_id) | Q(paired_with_id=lead_id)).exclude(pk=asset.pk).order_by("path")
    kind = dict(PairKind.choices)
    mine = asset.pair_kind
    return [(other, kind.get(other.pair_kind or mine, "")) for other in found]


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
    steps = journal.organize_steps.select_related("follows").order_by("seq")
    return steps.filter(state=state) if state else steps
