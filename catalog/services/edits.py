"""Edited copies for the duplicate groups: the candidates the plain hashes cannot decide, confirmed on thumbnails.

``catalog.services.duplicates`` finds the plain near duplicates; this module adds three kinds of candidates, each
of which joins only when ``catalog.similarity.confirm`` says the two pictures show the same pixels:

- **turned or mirrored** copies, from the hash variants (``catalog.similarity.variants``);
- **near misses**: plain hashes close enough, fine hashes not (a crop of a few percent, a frame);
- **the same capture**: two contents with the same camera and EXIF capture time to the second but other pixel
  sizes (a crop, a frame or a straightened copy that kept the camera's EXIF, as editors do). Frames of a burst
  share their size, so they are never candidates here (a burst is grouped by the plain rule alone).

Confirmation reads the catalog's thumbnails (512 px, else 256). A pair without thumbnails stays apart. Each
confirmed pair comes with its relation: the turn from the first picture to the second and the edit in words.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image

from catalog.media.dihedral import FLIP_LEFT_RIGHT, IDENTITY, WORDS, compose, inverse, variant_hashes
from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, AssetStatus, Catalog, EditCheck
from catalog.similarity.confirm import Alignment, align, turned_alike
from catalog.similarity.grouping import Thresholds
from catalog.similarity.search import Pairs, as_uint64, popcount
from catalog.similarity.variants import turned_pairs

logger = logging.getLogger(__name__)

SAME_CAPTURE_LIMIT = 40  # contents per capture second looked at pairwise (more is a burst, or a robot)
CONFIRM_LIMIT = 20_000  # candidate pairs looked at per run; more are left for the next run (logged)
CHECKS_VERSION = "v1"  # of the tests: stored results of another version are asked again
THUMBNAIL_SIZES = (512, 256)
THUMBNAILS_KEPT = 256  # thumbnails kept open (about 60 MB of 512 px grey pictures)


@dataclass(frozen=True)
class Relation:
    """How one picture relates to another: the turn that gives it from the other, and the edit in words;
    ``derived``: it is an edit of the other (cropped, framed, straightened from it), never its original."""

    turn: int = IDENTITY
    words: str = ""
    derived: bool = False

    def reversed(self) -> Relation:
        """How the other picture relates to this one."""
        words = {"cropped": "less cropped", "framed": "without the frame"}.get(self.words, self.words)
        if self.turn != IDENTITY:
            words = words.replace(WORDS[self.turn], WORDS[inverse(self.turn)])
        return Relation(inverse(self.turn) if self.turn != IDENTITY else IDENTITY, words, False)


# (i, j) with i < j → (first, how the other of the two relates to ``first``)
Relations = dict[tuple[int, int], tuple[int, Relation]]


@dataclass
class Contents:
    """The catalog's picture contents as the duplicate search loads them (one row per sha256)."""

    shas: list[str]
    dhash: np.ndarray
    phash: np.ndarray
    fine: np.ndarray
    variant_d: np.ndarray  # (n, 7) uint64, zeros where a content has no variants
    variant_p: np.ndarray
    capture: list[tuple | None]  # (EXIF capture time, camera) or None
    size: list[tuple[int, int]]  # pixels (width, height)


class Confirmer:
    """Thumbnails of one catalog, opened once each, and the two tests of ``catalog.similarity.confirm``."""

    def __init__(self, catalog: Catalog, shas: list[str], thresholds: Thresholds) -> None:
        self.catalog = catalog
        self.root = catalog.thumbnails_dir
        self.shas = shas
        self.thresholds = thresholds
        self.bounds = f"{CHECKS_VERSION}/{thresholds.fine_dhash}/{thresholds.fine_phash}"
        rows = EditCheck.objects.filter(catalog=catalog, test__endswith=self.bounds)
        self.checked = {(row.sha256_a, row.sha256_b, row.test): row for row in rows.iterator(chunk_size=5000)}
        self.new: list[EditCheck] = []
        self.cache: OrderedDict[int, Image.Image | None] = OrderedDict()  # the last THUMBNAILS_KEPT opened

    def picture(self, node: int) -> Image.Image | None:
        if node in self.cache:
            self.cache.move_to_end(node)
        else:
            if len(self.cache) >= THUMBNAILS_KEPT:
                self.cache.popitem(last=False)
            self.cache[node] = None
            for size in THUMBNAIL_SIZES:
                for fmt in ("webp", "jpeg"):
                    path = thumbnail_path(self.root, size, self.shas[node], fmt)
                    if path.is_file():
                        try:
                            with Image.open(path) as image:
                                self.cache[node] = image.convert("L")
                        except (OSError, ValueError):
                            continue
                        break
                if self.cache[node] is not None:
                    break
        return self.cache[node]

    def check(self, i: int, j: int, turn: int | None) -> tuple[int, Relation] | None:
        """The relation of contents i < j by the turn test (``turn``) or the keypoint test (None), as (the content
        it is measured from, relation), or None when they are not the same picture; each pair is tested once
        per catalog, bounds and version of the tests (``EditCheck``)."""
        test = f"{'align' if turn is None else f'turn {turn}'}/{self.bounds}"
        a, b = self.shas[i], self.shas[j]
        if a > b:
            i, j, a, b = j, i, b, a
        row = self.checked.get((a, b, test))
        if row is not None:
            return ((i if row.first_is_a else j), Relation(row.turn, row.words, row.derived)) if row.same else None
        found = self._test(i, j, turn)
        first, relation = found if found is not None else (i, Relation())
        self.new.append(EditCheck(
            catalog=self.catalog, sha256_a=a, sha256_b=b, test=test, same=found is not None, first_is_a=first == i,
            turn=relation.turn, words=relation.words[:64], derived=relation.derived,
        ))  # fmt: skip
        return found

    def _test(self, i: int, j: int, turn: int | None) -> tuple[int, Relation] | None:
        if turn is not None:
            relation = self.turned(i, j, turn)
            return (i, relation) if relation is not None else None
        # Either may hold more of the picture: the way round where the second is the edit (or, for two different
        # crops of one picture, where neither is) says what was done.
        partial = None
        for first, second in ((i, j), (j, i)):
            aligned = self.aligned(first, second)
            if aligned is not None and not aligned[0].wider:
                return first, _aligned_relation(*aligned)
            partial = partial or (aligned and (first, aligned))
        if partial:
            first, (alignment, found_turn) = partial
            return first, _aligned_relation(alignment, found_turn)
        return None

    def save(self) -> None:
        """Keep the new test results; forget those of contents the catalog no longer has."""
        EditCheck.objects.bulk_create(self.new, batch_size=1000, ignore_conflicts=True)
        self.new = []
        live = Asset.objects.filter(catalog=self.catalog).exclude(status=AssetStatus.MISSING).values("sha256")
        gone = EditCheck.objects.filter(catalog=self.catalog)
        gone.exclude(sha256_a__in=live).delete()
        gone.exclude(sha256_b__in=live).delete()
        EditCheck.objects.filter(catalog=self.catalog).exclude(test__endswith=self.bounds).delete()

    def turned(self, first: int, second: int, turn: int) -> Relation | None:
        a, b = self.picture(first), self.picture(second)
        if a is None or b is None:
            return None
        t = self.thresholds
        return Relation(turn, WORDS[turn]) if turned_alike(a, b, turn, t.fine_dhash, t.fine_phash) else None

    def aligned(self, first: int, second: int) -> tuple[Alignment, int] | None:
        """The alignment of ``second`` onto ``first`` and the turn or mirror it includes, or None."""
        a, b = self.picture(first), self.picture(second)
        if a is None or b is None:
            return None
        t = self.thresholds
        found = align(a, b, t.fine_dhash, t.fine_phash)
        if found is not None:
            return found, found.turn
        # Keypoints do not match across a mirror: try the first one mirrored.
        found = align(a.transpose(Image.Transpose.FLIP_LEFT_RIGHT), b, t.fine_dhash, t.fine_phash)
        return (found, compose(FLIP_LEFT_RIGHT, found.turn)) if found is not None else None


def _aligned_relation(found: Alignment, turn: int) -> Relation:
    words = found.words()
    if turn != IDENTITY:
        words = WORDS[turn] if words == "recompressed" else f"{WORDS[turn]}, {words}"
    return Relation(turn, words, derived=found.derived)


def edited_pairs(contents: Contents, plain: Pairs, refused: Pairs, degenerate: np.ndarray, confirmer: Confirmer,
                 thresholds: Thresholds) -> tuple[Pairs, Relations]:  # fmt: skip
    """The confirmed pairs that the plain rule missed, and the relation of each."""
    known = set(zip(plain.i.tolist(), plain.j.tolist(), strict=True))
    relations: Relations = {}
    candidates: list[tuple[int, int, int | None]] = []  # (i, j, turn or None for "align")
    keep = np.flatnonzero(~degenerate)
    if len(keep) > 1:
        turned = turned_pairs(
            contents.dhash[keep], contents.phash[keep], contents.variant_d[keep], contents.variant_p[keep],
            max_d=max(4, thresholds.dhash * 3 // 8), max_p=max(2, thresholds.phash // 4),
        )  # fmt: skip
        for i, j, turn in zip(keep[turned.i].tolist(), keep[turned.j].tolist(), turned.turn.tolist(), strict=True):
            candidates.append((i, j, int(turn)))
    # Refused pairs of one pixel size are look-alikes (a burst, a stereo rig): a crop, a frame or a straightened
    # copy changes the size. Only the others are worth keypoints.
    candidates += [
        (i, j, None)
        for i, j in zip(refused.i.tolist(), refused.j.tolist(), strict=True)
        if contents.size[i] != contents.size[j]
    ]
    candidates += [(i, j, None) for i, j in _same_capture(contents, degenerate)]
    tried: set[tuple[int, int, bool]] = set()
    _confirm(candidates, known, tried, relations, confirmer)
    # An edited copy must pair with every member of its group, also with copies that have no EXIF and plain hashes
    # too far off (a crop and the original's EXIF-less export): the neighbours (plain or confirmed) of the files a
    # copy was confirmed with are candidates too, each confirmed like the others. Never a chain: only what is
    # confirmed joins.
    for _ in range(2):
        neighbours = _neighbours(plain, relations)
        found = [
            (min(x, z), max(x, z), None)
            for (i, j) in list(relations)
            for y, z in ((i, j), (j, i))
            for x in neighbours[y]
            if x != z
        ]
        before = len(relations)
        _confirm(found, known, tried, relations, confirmer)
        if len(relations) == before:
            break
    if not relations:
        return Pairs.empty(), relations
    keys = sorted(relations)
    a = np.array([key[0] for key in keys], dtype=np.int64)
    b = np.array([key[1] for key in keys], dtype=np.int64)
    d64, p64 = as_uint64(contents.dhash), as_uint64(contents.phash)
    d = popcount(d64[a] ^ d64[b]).astype(np.uint8)
    p = popcount(p64[a] ^ p64[b]).astype(np.uint8)
    return Pairs(a, b, d, p), relations


def _neighbours(plain: Pairs, relations: Relations) -> dict[int, set[int]]:
    """The plain and confirmed neighbours of the contents in ``relations`` (only the plain pairs that touch them)."""
    neighbours: dict[int, set[int]] = defaultdict(set)
    involved = np.array(sorted({node for pair in relations for node in pair}), dtype=np.int64)
    near = np.isin(plain.i, involved) | np.isin(plain.j, involved)
    for i, j in [*zip(plain.i[near].tolist(), plain.j[near].tolist(), strict=True), *relations]:
        neighbours[i].add(j)
        neighbours[j].add(i)
    return neighbours


def _confirm(candidates, known: set, tried: set, relations: Relations, confirmer: Confirmer) -> None:
    """Confirm each candidate (i, j, turn or None) not decided yet; the confirmed ones go into ``relations``."""
    for i, j, turn in candidates:
        # A pair the turn test refused may still be a crop of a turned copy: the keypoint test gets its own try.
        attempt = (i, j, turn is None)
        if (i, j) in known or (i, j) in relations or attempt in tried:
            continue
        if len(tried) >= CONFIRM_LIMIT:
            logger.warning("duplicates: more than %s candidate pairs to confirm; the rest wait", CONFIRM_LIMIT)
            return
        tried.add(attempt)
        found = confirmer.check(i, j, turn)
        if found is not None:
            relations[(i, j)] = found


def relation_of(relations: Relations, primary: int, member: int) -> Relation:
    """How ``member`` relates to ``primary`` (content indices); a plain pair has the empty relation."""
    found = relations.get((min(primary, member), max(primary, member)))
    if primary == member or found is None:
        return Relation()
    first, relation = found
    return relation if first == primary else relation.reversed()


def derived_of(relations: Relations, nodes: list[int]) -> set[int]:
    """The contents of a group that are an edit of another of its members (cropped, framed, straightened)."""
    derived = set()
    for i, j in combinations(sorted(nodes), 2):
        found = relations.get((i, j))
        if found is not None and found[1].derived:
            derived.add(j if found[0] == i else i)
    return derived


def turn_minority(relations: Relations, nodes: list[int]) -> set[int]:
    """The contents of a group turned or mirrored from the way most of its pictures face (ties: as the first)."""
    facing = {node: relation_of(relations, nodes[0], node).turn for node in nodes}
    counts: dict[int, int] = defaultdict(int)
    for turn in facing.values():
        counts[turn] += 1
    majority = max(counts, key=lambda turn: (counts[turn], turn == IDENTITY))
    return {node for node, turn in facing.items() if turn != majority}


def _same_capture(contents: Contents, degenerate: np.ndarray) -> list[tuple[int, int]]:
    by_capture: dict[tuple, list[int]] = defaultdict(list)
    for node, capture in enumerate(contents.capture):
        if capture is not None and not degenerate[node]:
            by_capture[capture].append(node)
    pairs = []
    for nodes in by_capture.values():
        if len(nodes) < 2 or len(nodes) > SAME_CAPTURE_LIMIT:
            continue
        for index, a in enumerate(nodes):
            for b in nodes[index + 1 :]:
                if contents.size[a] != contents.size[b]:
                    pairs.append((min(a, b), max(a, b)))
    return pairs


def backfill_variants(catalog: Catalog, limit: int = 200_000) -> int:
    """Hash variants for pictures analyzed before they existed, from their 256 px thumbnail (the very picture
    the hashes are taken from); pictures without one get them when they are analyzed again."""
    rows = (
        Asset.objects.filter(catalog=catalog, media_type="image", dhash__isnull=False, hash_variants__isnull=True)
        .exclude(sha256="")
        .values_list("sha256", flat=True)
        .distinct()
    )
    done = 0
    for sha in rows[:limit].iterator(chunk_size=2000):
        path: Path | None = next(
            (p for fmt in ("webp", "jpeg") if (p := thumbnail_path(catalog.thumbnails_dir, 256, sha, fmt)).is_file()),
            None,
        )
        if path is None:
            continue
        try:
            with Image.open(path) as image:
                variants = variant_hashes(image.convert("L"))
        except (OSError, ValueError):
            continue
        Asset.objects.filter(catalog=catalog, sha256=sha, hash_variants__isnull=True).update(hash_variants=variants)
        done += 1
    return done
