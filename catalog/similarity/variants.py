"""Turned and mirrored copies: pairs whose hashes match once one picture is turned (no Django here).

Each picture has the hashes of its seven turns and mirrors (``catalog.media.dihedral``). A copy whose pixels an
editor turned has its own plain hashes within a bit or two of one of the original's variants (recompression is
all that differs), so the search looks up every variant among the plain hashes within a small radius:
``max_p`` bits of pHash and ``max_d`` of dHash, where a near duplicate needs T/2 and T. With the pHash split in
three chunks, a radius of 2 means an exact match of one chunk (pigeonhole), so 7n lookups of 3 buckets each:
a fraction of the plain search's cost, whatever the catalog's size.

The candidates still go to ``confirm.turned_alike`` before they join a group.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from catalog.media.dihedral import TURNS, inverse

from .search import MAX_CANDIDATES, _chunks, _masks, as_uint64, popcount


@dataclass(frozen=True)
class TurnedPairs:
    """Pairs (i < j) of indices whose pictures match once picture i is turned by ``turn`` (``Image.Transpose``):
    picture j ≈ picture i turned."""

    i: np.ndarray  # int64
    j: np.ndarray  # int64
    turn: np.ndarray  # uint8
    d: np.ndarray  # uint8, dHash distance of the matching variant
    p: np.ndarray  # uint8

    def __len__(self) -> int:
        return len(self.i)


def turned_pairs(
    dhash: np.ndarray, phash: np.ndarray, variant_d: np.ndarray, variant_p: np.ndarray, max_d: int, max_p: int
) -> TurnedPairs:
    """Every (i, j, turn) with dHash(j) within ``max_d`` of variant ``turn`` of i's dHash and the same for pHash
    within ``max_p``; rows of ``variant_*`` (n × 7, ``TURNS`` order) that are all zero have no variants.

    A pair is reported once, as i < j: when j is i turned by t, i is j turned back (the inverse of t)."""
    d64, p64 = as_uint64(dhash), as_uint64(phash)
    n = len(p64)
    if n < 2:
        return _empty()
    vd, vp = as_uint64(variant_d).reshape(n, len(TURNS)), as_uint64(variant_p).reshape(n, len(TURNS))
    # Query q is row q // 7's variant q % 7 (row-major: no gather); rows without variants (all zero) ask nothing.
    qd, qp = vd.reshape(-1), vp.reshape(-1)
    empty = ~((vd != 0).any(axis=1) | (vp != 0).any(axis=1))
    asking = np.flatnonzero(~np.repeat(empty, len(TURNS))) if empty.any() else None
    if asking is not None:
        qd, qp = qd[asking], qp[asking]
    query_row = (asking if asking is not None else np.arange(len(qp), dtype=np.int64)) // len(TURNS)
    query_turn = (asking if asking is not None else np.arange(len(qp), dtype=np.int64)) % len(TURNS)
    layout = _chunks(max_p)
    found_q, found_j = [], []
    for index, (shift, bits, radius) in enumerate(layout):
        mask_bits = np.uint64((1 << bits) - 1)
        key = ((p64 >> np.uint64(shift)) & mask_bits).view(np.int64)  # below 2**22: the same value signed
        qkey = ((qp >> np.uint64(shift)) & mask_bits).view(np.int64)
        order = np.argsort(key, kind="stable")
        starts = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=1 << bits), out=starts[1:])
        earlier = layout[:index]
        for mask in _masks(bits, radius).tolist():
            target = qkey ^ mask
            lo = starts[target]
            counts = starts[target + 1] - lo
            rows = np.flatnonzero(counts > 0)
            for block in _blocks(counts[rows]):
                q = np.repeat(rows[block], counts[rows[block]])
                offsets = np.arange(len(q), dtype=np.int64) - np.repeat(
                    np.cumsum(counts[rows[block]]) - counts[rows[block]], counts[rows[block]]
                )
                j = order[np.repeat(lo[rows[block]], counts[rows[block]]) + offsets]
                close = (popcount(qp[q] ^ p64[j]) <= max_p) & (popcount(qd[q] ^ d64[j]) <= max_d)
                close &= query_row[q] != j
                for e_shift, e_bits, e_radius in earlier:  # found through an earlier chunk already
                    e_mask = np.uint64((1 << e_bits) - 1)
                    e_diff = ((qp[q] ^ p64[j]) >> np.uint64(e_shift)) & e_mask
                    close &= popcount(e_diff) > e_radius
                found_q.append(q[close])
                found_j.append(j[close])
    if not found_q:
        return _empty()
    q = np.concatenate(found_q)
    j = np.concatenate(found_j)
    i, turn = query_row[q], np.asarray(TURNS, dtype=np.uint8)[query_turn[q]]
    # Report each pair once, from the smaller index: j = i turned by t is i = j turned by t⁻¹.
    inverse_of = np.array([inverse(t) for t in range(len(TURNS))], dtype=np.uint8)
    swap = i > j
    i, j = np.where(swap, j, i), np.where(swap, i, j)
    turn = np.where(swap, inverse_of[turn], turn).astype(np.int64)
    d = popcount(vd[i, turn] ^ d64[j]).astype(np.int64)
    p = popcount(vp[i, turn] ^ p64[j]).astype(np.int64)
    # One turn per pair, the closest (a symmetric picture matches under several); ties to the smaller code.
    order = np.lexsort((turn, d + p, j, i))
    i, j, turn, d, p = i[order], j[order], turn[order], d[order], p[order]
    first = np.ones(len(i), dtype=bool)
    first[1:] = (i[1:] != i[:-1]) | (j[1:] != j[:-1])
    return TurnedPairs(i[first], j[first], turn[first].astype(np.uint8), d[first].astype(np.uint8),
                       p[first].astype(np.uint8))  # fmt: skip


def _blocks(counts: np.ndarray):
    """Slices of ``counts`` whose sums stay under MAX_CANDIDATES (one row at least)."""
    cumulative = np.cumsum(counts)
    start = 0
    while start < len(counts):
        base = cumulative[start - 1] if start else 0
        end = max(int(np.searchsorted(cumulative, base + MAX_CANDIDATES, side="right")), start + 1)
        yield slice(start, end)
        start = end


def _empty() -> TurnedPairs:
    none = np.zeros(0, dtype=np.int64)
    small = np.zeros(0, dtype=np.uint8)
    return TurnedPairs(none, none, small, small, small)
