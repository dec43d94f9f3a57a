"""Near-duplicate groups that never chain, built from hashes alone (no Django here).

The unit is a *content* (one sha256), so byte-identical copies always land in the same group and an exact group
is never split. Two contents are similar when

1. their 64-bit dHash and pHash are within ``Thresholds.dhash`` and ``Thresholds.phash`` (found fast by
   ``search``), and
2. their 256-bit dHash and pHash are within ``Thresholds.fine_dhash`` and ``Thresholds.fine_phash`` (checked on
   those candidates only), and
3. nobody marked the pair "not duplicates".

Defaults, measured on the shared corpus (``bench/duplicates.py quality``): every resized, recompressed,
re-encoded, brightened, grayscale or watermarked copy is within 64-bit distances (14, 6) and 256-bit distances
(32, 46); the closest different pictures (a stereo pair, the same scene 22 minutes apart) are within 64-bit
(9, 4) but 256-bit (91, 76) or more. A threshold T sets the bounds (T, T/2, 3.5T, 3.5T); T = 16 leaves room on
both sides: (16, 8, 56, 56).

Grouping is complete-linkage by greedy stars: contents are ranked by quality (best first, sha256 breaking ties).
The best content not yet grouped seeds a group; its similar neighbours are taken closest first (then by rank),
each only if it is similar to *every* member already taken. Repeat until every content is placed. So every
member of a group is within the thresholds of every other (no chains: a–b and b–c similar but a–c not never
puts a and c together), the seed is the group's best content, and the result depends only on the hashes and the
quality ranking, never on the order the rows arrive in. Connected components that are already cliques (nearly
all of them) skip the greedy step.

Flat or near-uniform pictures (all-equal rows, almost no set or clear bits) have hashes that match any other
flat picture; they are kept out of near groups.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from catalog.media.device import DeviceError, resolve

from .search import Pairs, as_uint64, candidate_pairs, popcount
from .tiled import TILED_FROM_THRESHOLD, gpu_search_wanted

DEFAULT_THRESHOLD = 16
# Above 24 the 256-bit bounds (3.5T) reach the distances measured between different pictures (a stereo pair is
# 91/76 bits apart), and the pHash search radius makes the candidate search ~20x slower than at the default.
MAX_THRESHOLD = 24
FINE_BYTES = 64  # 256-bit dHash then 256-bit pHash
LOW_ENTROPY_BITS = 6  # a 64-bit hash with this few set (or clear) bits says "flat picture"


@dataclass(frozen=True)
class Thresholds:
    dhash: int
    phash: int
    fine_dhash: int
    fine_phash: int

    @classmethod
    def scaled(cls, threshold: int | None = None) -> Thresholds:
        """The bounds for one user-facing number: dHash ≤ T, pHash ≤ T/2, 256-bit hashes ≤ 3.5T each."""
        t = DEFAULT_THRESHOLD if threshold is None else int(threshold)
        if not 0 <= t <= MAX_THRESHOLD:
            raise ValueError(f"threshold must be between 0 and {MAX_THRESHOLD}, got {t}")
        fine = int(t * 3.5 + 0.5)
        return cls(dhash=t, phash=int(t / 2 + 0.5), fine_dhash=fine, fine_phash=fine)


def degenerate(dhash: np.ndarray, phash: np.ndarray) -> np.ndarray:
    """True for hashes of flat or near-uniform pictures, which match each other whatever the picture."""
    d64, p64 = as_uint64(dhash), as_uint64(phash)
    low, high = LOW_ENTROPY_BITS, 64 - LOW_ENTROPY_BITS
    d_bits, p_bits = popcount(d64), popcount(p64)
    # dHash rows all the same: vertical stripes, a horizontal gradient, or a flat picture.
    rows_repeat = ((d64 >> np.uint64(8)) | (d64 << np.uint64(56))) == d64
    return (d_bits <= low) | (d_bits >= high) | (p_bits <= low) | (p_bits >= high) | rows_repeat


def fine_distances(fine: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """256-bit dHash and pHash distances of pairs (a, b); ``fine`` is (n, 64) uint8."""
    words = np.ascontiguousarray(fine).view(">u8").astype(np.uint64)  # (n, 8): 4 words of dHash, 4 of pHash
    diff = words[a] ^ words[b]
    bits = popcount(diff)
    return bits[:, :4].sum(axis=1), bits[:, 4:].sum(axis=1)


def similar_pairs(
    dhash: np.ndarray,
    phash: np.ndarray,
    fine: np.ndarray | None,
    thresholds: Thresholds,
    *,
    method: str | None = None,
) -> Pairs:
    """Similar pairs of contents (indices into the arrays), degenerate hashes left out.

    ``fine`` rows of all zeros mean "no fine hash" (rows analyzed before it existed): those pairs are decided by
    the 64-bit hashes alone.
    """
    return similar_and_refused(dhash, phash, fine, thresholds, method=method)[0]


def similar_and_refused(
    dhash: np.ndarray,
    phash: np.ndarray,
    fine: np.ndarray | None,
    thresholds: Thresholds,
    *,
    method: str | None = None,
) -> tuple[Pairs, Pairs]:
    """``similar_pairs``, and the candidates whose 64-bit hashes were close but whose fine hashes refused them
    (a crop of a few percent, a frame, or a different picture: ``catalog.similarity.confirm`` tells).

    ``method`` names a ``search.METHODS`` entry; None chooses (``search_method``).
    """
    keep = np.flatnonzero(~degenerate(dhash, phash))
    if len(keep) < 2:
        return Pairs.empty(), Pairs.empty()
    method = method or search_method(thresholds.dhash)
    pairs = candidate_pairs(dhash[keep], phash[keep], thresholds.dhash, thresholds.phash, method=method)
    a, b = keep[pairs.i], keep[pairs.j]
    ok = np.ones(len(a), dtype=bool)
    if fine is not None and len(a):
        has_fine: np.ndarray = np.asarray(fine.any(axis=1))
        fine_d, fine_p = fine_distances(fine, a, b)
        checked = has_fine[a] & has_fine[b]
        ok = ~checked | ((fine_d <= thresholds.fine_dhash) & (fine_p <= thresholds.fine_phash))
    return Pairs(a[ok], b[ok], pairs.d[ok], pairs.p[ok]), Pairs(a[~ok], b[~ok], pairs.d[~ok], pairs.p[~ok])


def search_method(threshold: int) -> str:
    """The multi-index search, or the tiled brute force where ``VAM_DEVICE`` gives a GPU and the threshold is wide
    enough for the GPU to win. Below that threshold the device is not looked up, which would import torch."""
    if threshold < TILED_FROM_THRESHOLD:
        return "mih"
    try:
        device = resolve(os.environ.get("VAM_DEVICE", "auto"))
    except DeviceError:
        return "mih"
    return "tiled" if gpu_search_wanted(threshold, device) else "mih"


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected-component label (smallest member index) of each of n nodes: label propagation with pointer jumping."""
    labels = np.arange(n, dtype=np.int64)
    if not len(a):
        return labels
    while True:
        low = np.minimum(labels[a], labels[b])
        before = labels.copy()
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        while True:  # pointer jumping: every node points at its label's label
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels, before):
            return labels


def build_groups(n: int, pairs: Pairs, rank: np.ndarray) -> list[list[int]]:
    """Groups (lists of node indices, best-ranked first, size ≥ 2) in which every two members are a pair.

    ``rank[i]`` orders nodes by quality: 0 is the best; ranks are distinct. See the module docstring.
    """
    if not len(pairs):
        return []
    a, b = pairs.i, pairs.j
    labels = components(n, a, b)
    edge_label = labels[a]
    order = np.argsort(edge_label, kind="stable")
    a, b, edge_label = a[order], b[order], edge_label[order]
    distance = (pairs.d.astype(np.int64) + pairs.p.astype(np.int64))[order]
    bounds = np.flatnonzero(np.diff(edge_label)) + 1
    groups: list[list[int]] = []
    for edges in np.split(np.arange(len(a)), bounds):
        nodes = np.unique(np.concatenate([a[edges], b[edges]]))
        k = len(nodes)
        if len(edges) == k * (k - 1) // 2:  # already a clique
            groups.append(sorted(nodes.tolist(), key=lambda node: rank[node]))
            continue
        groups.extend(_stars(nodes, a[edges], b[edges], distance[edges], rank))
    groups.sort(key=lambda group: rank[group[0]])
    return groups


def _stars(nodes: np.ndarray, a: np.ndarray, b: np.ndarray, distance: np.ndarray, rank: np.ndarray) -> list[list[int]]:
    """Greedy complete-linkage partition of one connected component (see the module docstring)."""
    neighbours: dict[int, dict[int, int]] = {int(node): {} for node in nodes}
    for x, y, dist in zip(a.tolist(), b.tolist(), distance.tolist(), strict=True):
        neighbours[x][y] = dist
        neighbours[y][x] = dist
    placed: set[int] = set()
    groups = []
    for seed in sorted(neighbours, key=lambda node: rank[node]):
        if seed in placed:
            continue
        placed.add(seed)
        group = [seed]
        around = neighbours[seed]
        for candidate in sorted(around, key=lambda node: (around[node], rank[node])):
            if candidate in placed:
                continue
            if all(member in neighbours[candidate] for member in group):
                group.append(candidate)
                placed.add(candidate)
        if len(group) > 1:
            groups.append([group[0], *sorted(group[1:], key=lambda node: rank[node])])
    return groups
