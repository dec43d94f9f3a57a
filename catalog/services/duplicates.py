"""Duplicate detection for a catalog: exact groups by sha256 and similar groups by perceptual hashes.

Groups are rebuilt from the current assets on every run; the decisions users made are kept: a primary chosen by
hand stays the primary of the group that holds it, and a pair marked "not duplicates" is never grouped again.
The engine (search, verification, grouping without chains, quality order) is ``catalog.similarity``; this
module loads its inputs as numpy arrays and writes its groups. A run with nothing changed changes nothing: group
ids are kept because groups are named by their contents (``DuplicateGroup.key``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from itertools import islice

import numpy as np
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from catalog.media.dihedral import IDENTITY, WORDS, compose, inverse, unpack_many
from catalog.media.progress import NullReporter, ProgressReporter
from catalog.media.videohash import VideoMatch, VideoSignature, video_pairs
from catalog.media.words import counted
from catalog.models import (
    NEAR_KINDS,
    Asset,
    AssetStatus,
    Catalog,
    DateSource,
    DuplicateGroup,
    DuplicateMember,
    GroupKind,
    NotDuplicate,
)
from catalog.services.edits import (
    Confirmer,
    Contents,
    Relation,
    Relations,
    backfill_variants,
    derived_of,
    edited_pairs,
    relation_of,
    turn_minority,
)
from catalog.services.locks import with_catalog_lock
from catalog.services.stats import catalog_stats_refresh
from catalog.similarity.grouping import FINE_BYTES, Thresholds, build_groups, degenerate, similar_and_refused
from catalog.similarity.quality import Candidate, best, edited_by
from catalog.similarity.search import Pairs, concat_pairs

CHUNK = 5000
TRIMMED_SECONDS = 0.5  # a video this much shorter than the primary was cut, not only re-encoded
MEMBER_FIELDS = (
    "id", "path", "sha256", "format", "media_type", "width", "height", "size", "mtime_ns", "date_confidence",
    "date_source", "camera_make", "camera_model", "gps_latitude", "dhash", "phash", "exif__Software", "duration",
)  # fmt: skip
EXIF_DATE_SOURCES = {DateSource.EXIF_ORIGINAL, DateSource.EXIF_DIGITIZED}


class DuplicatesError(Exception):
    pass


@dataclass
class DuplicatesSummary:
    threshold: int = 0
    contents: int = 0  # distinct pictures with hashes that were compared
    degenerate: int = 0  # of which flat or near-uniform, kept out of near groups
    similar_pairs: int = 0
    edited_pairs: int = 0  # of which turned, mirrored, cropped or framed copies confirmed on their thumbnails
    exact_groups: int = 0
    similar_groups: int = 0
    videos: int = 0  # distinct videos with sampled frames that were compared
    video_groups: int = 0
    grouped_files: int = 0
    elapsed: float = 0.0

    def as_dict(self) -> dict:
        return {name: getattr(self, name) for name in self.__dataclass_fields__} | {"elapsed": round(self.elapsed, 2)}

    def line(self) -> str:
        videos = f", {counted(self.video_groups, 'group')} of similar videos" if self.videos else ""
        compared = f" and {counted(self.videos, 'video')}" if self.videos else ""
        return (
            f"duplicates: {counted(self.exact_groups, 'exact group')}, "
            f"{counted(self.similar_groups, 'similar group')}{videos}, {counted(self.grouped_files, 'file')} in "
            f"groups; {counted(self.contents, 'picture')}{compared} compared at threshold {self.threshold} "
            f"({counted(self.degenerate, 'flat one')} left out); {self.elapsed:.1f} s"
        )


@dataclass
class _Member:
    id: int
    sha256: str
    dhash: int | None
    phash: int | None
    candidate: Candidate


@dataclass
class _GroupSpec:
    kind: str
    key: str
    members: list[_Member]
    shas: list[str] = field(default_factory=list)
    cluster_key: str = ""
    edits: set[str] = field(default_factory=set)  # contents that are edits of another member: not the primary
    relation: Callable[[str, str], Relation] = lambda primary, member: Relation()  # member's, from the primary
    # Videos: the distance of each pair of contents (sorted sha256s), from their sampled frames (shared by the
    # catalog's video groups).
    distances: dict[tuple[str, str], int] = field(default_factory=dict)


def _relation(relations: Relations, node_of: dict[str, int], primary: str, member: str) -> Relation:
    return relation_of(relations, node_of[primary], node_of[member])


@with_catalog_lock
def catalog_find_duplicates(
    *,
    catalog: Catalog,
    threshold: int | None = None,
    reporter: ProgressReporter | None = None,
    method: str | None = None,
) -> DuplicatesSummary:
    """Rebuild the catalog's duplicate groups; returns counts. ``threshold`` scales every bound (see Thresholds).

    ``method`` is the pair search (``search.METHODS``); by default the multi-index search, or the GPU's tiled
    search from threshold 20 where a GPU is at hand (``grouping.search_method``)."""
    reporter = reporter or NullReporter()
    started = time.monotonic()
    try:
        thresholds = Thresholds.scaled(threshold)
    except ValueError as exc:
        raise DuplicatesError(str(exc)) from exc
    summary = DuplicatesSummary(threshold=thresholds.dhash)

    reporter.update(phase="duplicates", current=0, total=None, message="loading hashes")
    backfill_variants(catalog)
    contents = _load_contents(catalog)
    shas, dhash, phash, fine = contents.shas, contents.dhash, contents.phash, contents.fine
    summary.contents = len(shas)
    flat = degenerate(dhash, phash) if len(shas) else np.zeros(0, dtype=bool)
    summary.degenerate = int(flat.sum())
    reporter.update(phase="duplicates", current=0, total=None, message=f"comparing {len(shas)} pictures")
    pairs, refused = (
        similar_and_refused(dhash, phash, fine, thresholds, method=method)
        if len(shas) > 1
        else (Pairs.empty(), Pairs.empty())
    )
    reporter.update(phase="duplicates", current=0, total=None, message="looking for edited copies")
    confirmer = Confirmer(catalog, shas, thresholds)
    edited, relations = edited_pairs(contents, pairs, refused, flat, confirmer, thresholds)
    confirmer.save()
    summary.edited_pairs = len(edited)
    pairs = _without_dismissed(catalog, concat_pairs([pairs, edited]), shas)
    summary.similar_pairs = len(pairs)

    exact = set(_exact_contents(catalog))
    near_nodes = np.unique(np.concatenate([pairs.i, pairs.j])) if len(pairs) else np.zeros(0, dtype=np.int64)
    involved = exact | {shas[node] for node in near_nodes.tolist()}
    reporter.update(phase="duplicates", current=0, total=None, message=f"grouping {len(involved)} pictures")
    members = _load_members(catalog, involved)

    chosen = _chosen_contents(catalog)
    rank = _ranks(shas, near_nodes, members, chosen)
    specs: list[_GroupSpec] = []
    cluster_of: dict[str, str] = {}
    related = {node for pair in relations for node in pair}  # contents with an edited copy's relation
    for nodes in build_groups(len(shas), pairs, rank):
        group_shas = [shas[node] for node in nodes]
        key = _key("similar", group_shas)
        # The primary keeps the original: never an edit of another member, nor a copy turned from the way most
        # of the group faces, when an original is there.
        edits = derived_of(relations, nodes) | turn_minority(relations, nodes) if related & set(nodes) else set()
        node_of = {shas[node]: node for node in nodes}
        specs.append(
            _GroupSpec(
                GroupKind.SIMILAR, key, [m for sha in group_shas for m in members[sha]], shas=group_shas,
                edits={shas[node] for node in edits}, relation=partial(_relation, relations, node_of),
            )
        )  # fmt: skip
        cluster_of.update(dict.fromkeys(group_shas, key))
    video_specs = _video_groups(catalog, thresholds, chosen, summary, reporter)
    specs += video_specs
    for spec in video_specs:
        cluster_of.update(dict.fromkeys(spec.shas, spec.key))
    for sha in sorted(exact):
        if len(members.get(sha, [])) > 1:
            key = _key("exact", [sha])
            specs.append(_GroupSpec(GroupKind.EXACT, key, members[sha], [sha], cluster_of.get(sha, "")))

    reporter.update(phase="duplicates", current=0, total=len(specs), message="saving groups")
    _save(catalog, specs)
    catalog_stats_refresh(catalog, assets=False)
    summary.exact_groups = sum(spec.kind == GroupKind.EXACT for spec in specs)
    summary.similar_groups = sum(spec.kind == GroupKind.SIMILAR for spec in specs)
    summary.video_groups = len(video_specs)
    summary.grouped_files = len({m.id for spec in specs for m in spec.members})
    summary.elapsed = time.monotonic() - started
    reporter.update(phase="duplicates", current=len(specs), total=len(specs), message="done")
    return summary


def _video_groups(
    catalog: Catalog, thresholds: Thresholds, chosen: set[str], summary: DuplicatesSummary, reporter: ProgressReporter
) -> list[_GroupSpec]:
    """Groups of near-duplicate videos (``catalog.media.videohash``), built like the pictures' groups: never
    chained, seeded by the best copy (the longest, then the pictures' rules), decisions of users kept."""
    signatures = _load_signatures(catalog)
    summary.videos = len(signatures)
    if len(signatures) < 2:
        return []
    reporter.update(phase="duplicates", current=0, total=None, message=f"comparing {len(signatures)} videos")
    shas = [sha for sha, _ in signatures]
    node_of = {sha: node for node, sha in enumerate(shas)}
    found = video_pairs(signatures, radius=thresholds.dhash)
    if not found:
        return []
    i = np.array([node_of[a] for a, _, _ in found], dtype=np.int64)
    j = np.array([node_of[b] for _, b, _ in found], dtype=np.int64)
    d = np.array([match.distance for _, _, match in found], dtype=np.uint8)
    pairs = _without_dismissed(catalog, Pairs(np.minimum(i, j), np.maximum(i, j), d, d), shas)
    if not len(pairs):
        return []
    matches = {(min(a, b), max(a, b)): match for a, b, match in found}
    nodes = np.unique(np.concatenate([pairs.i, pairs.j]))
    members = _load_members(catalog, {shas[node] for node in nodes.tolist()})
    distances = {pair: match.distance for pair, match in matches.items()}
    specs = []
    for group in build_groups(len(shas), pairs, _ranks(shas, nodes, members, chosen)):
        group_shas = [shas[node] for node in group]
        specs.append(
            _GroupSpec(
                GroupKind.VIDEO, _key("video", group_shas), [m for sha in group_shas for m in members[sha]],
                shas=group_shas, relation=partial(_video_relation, matches, members), distances=distances,
            )
        )  # fmt: skip
    return specs


def _load_signatures(catalog: Catalog) -> list[tuple[str, VideoSignature]]:
    """One signature per distinct video content (those whose frames could not be sampled left out)."""
    rows = (
        _live(catalog)
        .filter(media_type="video", video_signature__isnull=False)
        .exclude(sha256="")
        .order_by("sha256")
        .values_list("sha256", "video_signature")
    )
    signatures: list[tuple[str, VideoSignature]] = []
    for sha, data in rows.iterator(chunk_size=CHUNK):
        if not data or (signatures and signatures[-1][0] == sha):
            continue
        try:
            signatures.append((sha, VideoSignature.from_bytes(bytes(data))))
        except ValueError:
            continue  # written by another version: the next analyze of that file samples it again
    return signatures


def _video_relation(
    matches: dict[tuple[str, str], VideoMatch], members: dict[str, list[_Member]], primary: str, member: str
) -> Relation:
    """What a video is to the primary, in words: trimmed (at which end), scaled, framed, or re-encoded."""
    if primary == member:
        return Relation()
    match = matches.get((min(primary, member), max(primary, member)))
    a, b = members[member][0].candidate, members[primary][0].candidate
    if match is not None and (b.duration or 0.0) - (a.duration or 0.0) > TRIMMED_SECONDS:
        return Relation(words="trimmed at the end" if match.anchor == "start" else "trimmed at the start")
    if a.width and a.height and b.width and b.height:
        if abs(a.width / a.height - b.width / b.height) > 0.02 * (b.width / b.height):
            return Relation(words="letterboxed or cropped")
        if a.pixels < b.pixels:
            return Relation(words="scaled down")
    return Relation(words="re-encoded")


def _ranks(shas: list[str], nodes: np.ndarray, members: dict[str, list[_Member]], chosen: set[str]) -> np.ndarray:
    """The order in which ``nodes`` seed groups (0 first): primaries users chose first (a choice keeps its group
    around it), then the best content; the sha256 breaks ties, so the ranking never depends on row order."""
    rank = np.full(len(shas), np.iinfo(np.int64).max, dtype=np.int64)
    ordered = sorted(
        nodes.tolist(), key=lambda node: (shas[node] not in chosen, _content_key(members[shas[node]]), shas[node])
    )
    rank[ordered] = np.arange(len(ordered))
    return rank


def _content_key(members: list[_Member]) -> tuple:
    return best_member(members).candidate.key()


def best_member(members: list[_Member]) -> _Member:
    top = best([m.candidate for m in members])
    return next(m for m in members if m.candidate is top)


def _key(kind: str, shas: Iterable[str]) -> str:
    return hashlib.sha256("\n".join([kind, *sorted(shas)]).encode()).hexdigest()


# Loading -------------------------------------------------------------------------------------------------------


def _live(catalog: Catalog):
    return Asset.objects.filter(catalog=catalog).exclude(status=AssetStatus.MISSING)


def _load_contents(catalog: Catalog) -> Contents:
    """One row per distinct picture content: sha256, 64-bit hashes (as stored), fine hashes (zeros if none), the
    hash variants of its turns (zeros if none), and its EXIF capture second and camera and its pixel size."""
    rows = (
        _live(catalog)
        .filter(media_type="image", dhash__isnull=False, phash__isnull=False)
        .exclude(sha256="")
        .order_by("sha256")
        .values_list(
            "sha256", "dhash", "phash", "fine_hash", "hash_variants", "taken_at", "date_source", "camera_model",
            "width", "height",
        )
    )  # fmt: skip
    shas: list[str] = []
    dhash: list[int] = []
    phash: list[int] = []
    fine = bytearray()
    variants: list[bytes | None] = []
    capture: list[tuple | None] = []
    size: list[tuple[int, int]] = []
    for sha, d, p, f, v, taken, source, model, width, height in rows.iterator(chunk_size=CHUNK):
        if shas and shas[-1] == sha:
            continue
        shas.append(sha)
        dhash.append(d)
        phash.append(p)
        fine += bytes(f) if f and len(f) == FINE_BYTES else bytes(FINE_BYTES)
        variants.append(bytes(v) if v else None)
        capture.append((taken, model) if taken is not None and source in EXIF_DATE_SOURCES and model else None)
        size.append((width or 0, height or 0))
    fine_array = np.frombuffer(bytes(fine), dtype=np.uint8).reshape(len(shas), FINE_BYTES)
    variant_d, variant_p = unpack_many(variants)
    return Contents(
        shas, np.array(dhash, dtype=np.int64), np.array(phash, dtype=np.int64), fine_array, variant_d, variant_p,
        capture, size,
    )  # fmt: skip


def _exact_contents(catalog: Catalog) -> Iterator[str]:
    """Contents held by two or more paths (empty files left out: they are all alike and all problems)."""
    rows = _live(catalog).filter(size__gt=0).exclude(sha256="").values("sha256").annotate(copies=Count("id"))
    return iter(rows.filter(copies__gte=2).order_by().values_list("sha256", flat=True))


def _load_members(catalog: Catalog, shas: set[str]) -> dict[str, list[_Member]]:
    """The assets of these contents. Many contents: one pass over the catalog beats thousands of IN lists."""
    members: dict[str, list[_Member]] = {}
    live = _live(catalog).order_by()
    if len(shas) > 4 * CHUNK:
        batches = [live.values_list(*MEMBER_FIELDS).iterator(chunk_size=CHUNK)]
    else:
        wanted = sorted(shas)
        batches = [
            live.filter(sha256__in=wanted[start : start + CHUNK]).values_list(*MEMBER_FIELDS)
            for start in range(0, len(wanted), CHUNK)
        ]
    for rows in batches:
        for row in rows:
            if row[2] in shas:
                members.setdefault(row[2], []).append(_member(*row))
    return members


def _member(
    id, path, sha256, fmt, media_type, width, height, size, mtime_ns, confidence, date_source, make, model, latitude,
    dhash, phash, software, duration,
) -> _Member:  # fmt: skip
    candidate = Candidate(
        path=path,
        format=fmt,
        media_type=media_type,
        width=width,
        height=height,
        size=size,
        mtime_ns=mtime_ns,
        date_confidence=confidence,
        has_camera=bool(make or model),
        has_exif_date=date_source in EXIF_DATE_SOURCES,
        has_gps=latitude is not None,
        edited=edited_by(software if isinstance(software, str) else None),
        duration=duration if media_type == "video" else None,
    )
    return _Member(id, sha256, dhash, phash, candidate)


def _chosen_contents(catalog: Catalog) -> set[str]:
    groups = DuplicateGroup.objects.filter(catalog=catalog, kind__in=NEAR_KINDS, primary_chosen=True)
    return set(groups.exclude(primary=None).values_list("primary__sha256", flat=True))


def _without_dismissed(catalog: Catalog, pairs: Pairs, shas: list[str]) -> Pairs:
    marks = list(NotDuplicate.objects.filter(catalog=catalog).values_list("sha256_a", "sha256_b"))
    if not marks or not len(pairs):
        return pairs
    index = {sha: node for node, sha in enumerate(shas)}
    n = len(shas)
    codes = [min(index[a], index[b]) * n + max(index[a], index[b]) for a, b in marks if a in index and b in index]
    keep = ~np.isin(pairs.i * n + pairs.j, np.array(codes, dtype=np.int64))
    return Pairs(pairs.i[keep], pairs.j[keep], pairs.d[keep], pairs.p[keep])


# Saving --------------------------------------------------------------------------------------------------------


def _distance(a: int | None, b: int | None) -> int:
    return 0 if a is None or b is None else ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def _member_facts(spec: _GroupSpec, primary: _Member) -> set[tuple[int, int, int, float, int, str]]:
    """(asset id, dHash distance, pHash distance, quality score, turn, edit) of each member, from the primary (a
    video's distances: the median dHash distance of its sampled frames, for both)."""
    facts = set()
    for m in spec.members:
        same = m.sha256 == primary.sha256
        relation = Relation() if same or spec.kind == GroupKind.EXACT else spec.relation(primary.sha256, m.sha256)
        words = relation.words or ("" if same else _plain_edit(m, primary))
        if spec.kind == GroupKind.VIDEO:
            d = p = 0 if same else spec.distances.get((min(m.sha256, primary.sha256), max(m.sha256, primary.sha256)), 0)
        else:
            d = 0 if same else _distance(m.dhash, primary.dhash)
            p = 0 if same else _distance(m.phash, primary.phash)
        facts.add((m.id, d, p, m.candidate.score, relation.turn, words[:64]))
    return facts


def _plain_edit(member: _Member, primary: _Member) -> str:
    """What a plain near duplicate is to the primary, in words."""
    if member.sha256 == primary.sha256:
        return ""
    a, b = member.candidate, primary.candidate
    if (a.width, a.height) == (b.width, b.height):
        return "recompressed"
    if (
        a.width
        and a.height
        and b.width
        and b.height
        and abs(a.width / a.height - b.width / b.height) > 0.01 * (b.width / b.height)
    ):
        return "cropped"  # a small crop the plain rule already finds: the shape changed, not only the size
    return "resized"


def _save(catalog: Catalog, specs: list[_GroupSpec]) -> None:
    """Write the groups, touching only what changed: a re-run over an unchanged catalog writes nothing."""
    with transaction.atomic():
        Catalog.objects.select_for_update().filter(pk=catalog.pk).first()  # one detection per catalog at a time
        existing = {group.key: group for group in DuplicateGroup.objects.filter(catalog=catalog)}
        # A choice made in an exact group says which copy to keep, not which picture is best: kinds stay apart.
        chosen = {
            kind: {g.primary_id for g in existing.values() if g.kind == kind and g.primary_chosen and g.primary_id}
            for kind in GroupKind.values
        }
        wanted = {spec.key for spec in specs}
        _delete_in(DuplicateGroup, "pk", [g.pk for key, g in existing.items() if key not in wanted])
        stored: dict[int, set[tuple]] = {}
        members = DuplicateMember.objects.filter(group__catalog=catalog)
        fields = ("group_id", "asset_id", "distance", "phash_distance", "quality_score", "turn", "edit")
        for group_id, *row in members.values_list(*fields).iterator(chunk_size=CHUNK):
            stored.setdefault(group_id, set()).add(tuple(row))

        now = timezone.now()
        groups: dict[str, DuplicateGroup] = {}
        changed: list[DuplicateGroup] = []
        rewrite: list[tuple[DuplicateGroup, set[tuple[int, int, int, float, int, str]]]] = []
        new_primary: set[int] = set()  # reviewed with another copy kept: to be reviewed again
        # Similar groups come first in ``specs``, so an exact group's cluster already has its id when it is made.
        for kind in (GroupKind.SIMILAR, GroupKind.VIDEO, GroupKind.EXACT):
            created: list[DuplicateGroup] = []
            for spec in (spec for spec in specs if spec.kind == kind):
                old = existing.get(spec.key)
                primary, by_user = _primary(spec, old, chosen[spec.kind])
                if old is not None and not by_user and old.primary_id != primary.id:
                    new_primary.add(old.pk)
                group = old or DuplicateGroup(catalog=catalog, kind=spec.kind, key=spec.key)
                cluster = groups.get(spec.cluster_key)
                redundant = sum(m.candidate.size for m in spec.members) - primary.candidate.size
                state = (primary.id, by_user, len(spec.members), cluster.pk if cluster else None, redundant)
                if old is None or state != (
                    old.primary_id, old.primary_chosen, old.member_count, old.cluster_id, old.redundant_bytes
                ):  # fmt: skip
                    group.primary_id, group.primary_chosen, group.member_count = state[:3]
                    group.cluster, group.redundant_bytes, group.updated_at = cluster, redundant, now
                    (changed if old else created).append(group)
                groups[spec.key] = group
                facts = _member_facts(spec, primary)
                if old is None or stored.get(old.pk) != facts:
                    rewrite.append((group, facts))
            DuplicateGroup.objects.bulk_create(created, batch_size=1000)
        DuplicateGroup.objects.bulk_update(
            changed,
            ["primary", "primary_chosen", "member_count", "cluster", "redundant_bytes", "updated_at"],
            batch_size=500,
        )
        _delete_in(DuplicateMember, "group_id", [g.pk for g, _ in rewrite if g.pk in stored])
        # A group whose files or kept copy changed (a new copy, a better one) is to be reviewed again; new distances
        # or scores alone leave a review as it was.
        refiled = [g.pk for g, facts in rewrite if g.pk in stored and _assets(stored[g.pk]) != _assets(facts)]
        refiled += sorted(new_primary)
        DuplicateGroup.objects.filter(pk__in=refiled).update(reviewed_at=None)
        rows = (
            DuplicateMember(
                group_id=group.pk,
                asset_id=asset,
                distance=d,
                phash_distance=p,
                quality_score=score,
                turn=turn,
                edit=edit,
            )  # fmt: skip
            for group, facts in rewrite
            for asset, d, p, score, turn, edit in sorted(facts)
        )
        while batch := list(islice(rows, 2000)):
            DuplicateMember.objects.bulk_create(batch)


def _assets(facts: set[tuple]) -> set[int]:
    return {fact[0] for fact in facts}


def _primary(spec: _GroupSpec, old: DuplicateGroup | None, chosen: set[int]) -> tuple[_Member, bool]:
    """The user's choice if it is still a member (of this group, or else of any group it was chosen in)."""
    if old is not None and old.primary_chosen:
        kept = [m for m in spec.members if m.id == old.primary_id]
        if kept:
            return kept[0], True
    mine = [m for m in spec.members if m.id in chosen]
    if mine:
        return best_member(mine), True
    originals = [m for m in spec.members if m.sha256 not in spec.edits]
    return best_member(originals or spec.members), False


def _delete_in(model: type[DuplicateGroup] | type[DuplicateMember], field_name: str, values: list[int]) -> None:
    for start in range(0, len(values), CHUNK):
        model.objects.filter(**{f"{field_name}__in": values[start : start + CHUNK]}).delete()


# User decisions ------------------------------------------------------------------------------------------------


def group_set_primary(*, group: DuplicateGroup, asset: Asset) -> DuplicateGroup:
    """Make ``asset`` the group's primary, a choice later runs keep; distances are measured from it."""
    if not group.members.filter(asset=asset).exists():
        raise DuplicatesError(f"{asset.path} is not a member of group {group.pk}")
    with transaction.atomic():
        group.primary, group.primary_chosen = asset, True
        sizes = group.members.aggregate(total=Sum("asset__size"))["total"] or 0
        group.redundant_bytes = sizes - asset.size
        group.save(update_fields=["primary", "primary_chosen", "redundant_bytes", "updated_at"])
        catalog_stats_refresh(group.catalog, assets=False)
        rows = list(group.members.select_related("asset"))
        # Each member was its turn from the old primary; from the new one it is the new one's turn undone first.
        back = inverse(next((m.turn for m in rows if m.asset_id == asset.pk), IDENTITY))
        for member in rows:
            same = member.asset.sha256 == asset.sha256
            member.distance = 0 if same else _distance(member.asset.dhash, asset.dhash)
            member.phash_distance = 0 if same else _distance(member.asset.phash, asset.phash)
            turn = IDENTITY if same else compose(back, member.turn)
            if turn != member.turn or same:
                # What else an edit was (cropped, framed) is measured again by the next run from this primary.
                member.turn, member.edit = turn, WORDS[turn]
        DuplicateMember.objects.bulk_update(rows, ["distance", "phash_distance", "turn", "edit"])
    return group


def contents_mark_not_duplicates(*, catalog: Catalog, sha256s: Iterable[str]) -> int:
    """Mark every pair of these contents "not duplicates"; returns the number of new marks."""
    distinct = sorted(set(sha256s))
    marks = [
        NotDuplicate(catalog=catalog, sha256_a=a, sha256_b=b) for k, a in enumerate(distinct) for b in distinct[k + 1 :]
    ]
    before = NotDuplicate.objects.filter(catalog=catalog).count()
    NotDuplicate.objects.bulk_create(marks, ignore_conflicts=True, batch_size=1000)
    return NotDuplicate.objects.filter(catalog=catalog).count() - before


def group_mark_reviewed(*, group: DuplicateGroup, reviewed: bool = True) -> DuplicateGroup:
    """Mark a group reviewed (or not): the review list can leave it out. It stays marked while its files do."""
    group.reviewed_at = timezone.now() if reviewed else None
    group.save(update_fields=["reviewed_at", "updated_at"])
    catalog_stats_refresh(group.catalog, assets=False)
    return group


def group_dismiss(*, group: DuplicateGroup) -> int:
    """ "Not duplicates" for a similar group: its contents are never grouped together again; the group goes."""
    if group.kind not in NEAR_KINDS:
        raise DuplicatesError("the files of an exact group are byte-identical: they cannot be marked as different")
    shas = group.members.values_list("asset__sha256", flat=True)
    marked = contents_mark_not_duplicates(catalog=group.catalog, sha256s=shas)
    group.delete()
    catalog_stats_refresh(group.catalog, assets=False)
    return marked


def member_dismiss(*, member: DuplicateMember) -> None:
    """ "Not a duplicate of the primary": the pair is marked, and the member's content leaves the group now."""
    group = member.group
    primary = group.primary
    if group.kind not in NEAR_KINDS or primary is None:
        raise DuplicatesError("only a member of a similar group can be marked as a different picture or video")
    if member.asset.sha256 == primary.sha256:
        raise DuplicatesError("this file is a byte-identical copy of the primary")
    with transaction.atomic():
        contents_mark_not_duplicates(catalog=group.catalog, sha256s=[member.asset.sha256, primary.sha256])
        group.members.filter(asset__sha256=member.asset.sha256).delete()
        # The exact group of that content (its copies) is reviewed on its own again.
        DuplicateGroup.objects.filter(cluster=group, members__asset__sha256=member.asset.sha256).update(cluster=None)
        group.member_count = group.members.count()
        if len({sha for sha in group.members.values_list("asset__sha256", flat=True)}) < 2:
            group.delete()
        else:
            sizes = group.members.aggregate(total=Sum("asset__size"))["total"] or 0
            group.redundant_bytes = sizes - primary.size
            group.save(update_fields=["member_count", "redundant_bytes", "updated_at"])
    catalog_stats_refresh(group.catalog, assets=False)
