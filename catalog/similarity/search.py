"""All pairs of 64-bit hashes within a Hamming radius, without comparing every pair.

A near-duplicate pair must satisfy dHash distance ≤ T_d AND pHash distance ≤ T_p. Every such pair is found by a
radius-T_p search on the pHash alone; the dHash bound is then a filter on the candidates.

Multi-index hashing (Norouzi et al., "Fast Search in Hamming Space with Multi-Index Hashing", 2012): split the
64 bits into m chunks and give chunk i a radius r_i with Σ(r_i + 1) > r. Two hashes within distance r then agree
within r_i on at least one chunk i (pigeonhole), so it is enough to look, for every hash and chunk, at the
hashes whose chunk lies within r_i of its own. Chunks are 21–22 bits, so a table of bucket offsets indexed by
the chunk value finds a bucket with one array lookup; the XOR masks of up to r_i bits enumerate the buckets to
look in. A pair found through several chunks is kept only at the first chunk that can find it, so the output
has each pair once without a global de-duplication.

Everything is done on numpy arrays in blocks of hashes, so memory is bounded by the block's candidates, never
by n². ``brute_force_pairs`` and ``faiss_pairs`` are the references the tests and the benchmark compare with;
``tiled`` (``catalog.similarity.tiled``) is brute force as matrix products, for a GPU and wide radii.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import combinations

import numpy as np

HASH_BITS = 64
MAX_CANDIDATES = 4_000_000  # per block and thread: bounds memory to ~150 MB each whatever the clustering
MAX_WORKERS = 4


@dataclass(frozen=True)
class Pairs:
    """Index pairs (i < j) into the input arrays, with both distances."""

    i: np.ndarray  # int64
    j: np.ndarray  # int64
    d: np.ndarray  # uint8, dHash distance
    p: np.ndarray  # uint8, pHash distance

    def __len__(self) -> int:
        return len(self.i)

    @classmethod
    def empty(cls) -> Pairs:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint8))

    def sorted(self) -> Pairs:
        order = np.lexsort((self.j, self.i))
        return Pairs(self.i[order], self.j[order], self.d[order], self.p[order])

    def as_set(self) -> set[tuple[int, int]]:
        return set(zip(self.i.tolist(), self.j.tolist(), strict=True))


def popcount(values: np.ndarray) -> np.ndarray:
    """Set bits of each uint64 (never pass int64: numpy counts the bits of the absolute value)."""
    assert values.dtype == np.uint64, values.dtype
    return np.bitwise_count(values)


def as_uint64(values: np.ndarray) -> np.ndarray:
    """Hashes stored as signed 64-bit integers, viewed as unsigned."""
    values = np.ascontiguousarray(values)
    return values.view(np.uint64) if values.dtype == np.int64 else values.astype(np.uint64)


def _chunks(radius: int) -> list[tuple[int, int, int]]:
    """(shift, bits, chunk radius) for three chunks of 21–22 bits whose radii satisfy Σ(r_i + 1) > radius.

    Few chunks with a radius each beat many exact-match chunks: with 1M hashes a 7-bit chunk puts ~8,000 hashes
    in every bucket, a 21-bit one half a hash; and 22 bits is as wide as a table of bucket offsets can be.
    """
    m = 3
    widths = [HASH_BITS // m + (1 if k < HASH_BITS % m else 0) for k in range(m)]
    budget = max(0, radius + 1 - m)  # radius to share out beyond the first exact-match level
    radii = [budget // m + (1 if k < budget % m else 0) for k in range(m)]
    chunks, shift = [], HASH_BITS
    for width, r in zip(widths, radii, strict=True):
        shift -= width
        chunks.append((shift, width, r))
    return chunks


def _masks(bits: int, radius: int) -> np.ndarray:
    masks = [0]
    for r in range(1, radius + 1):
        for positions in combinations(range(bits), r):
            masks.append(sum(1 << b for b in positions))
    return np.array(masks, dtype=np.int64)


def mih_pairs(dhash: np.ndarray, phash: np.ndarray, max_d: int, max_p: int, workers: int | None = None) -> Pairs:
    """Every pair with dHash distance ≤ max_d and pHash distance ≤ max_p (exact, not approximate).

    The masks of a chunk are shared out between ``workers`` threads (numpy releases the GIL in the array
    operations, so two cores give about 1.5x); the pairs are the same for any number of workers.
    """
    d64, p64 = as_uint64(dhash), as_uint64(phash)
    n = len(p64)
    if n < 2 or max_d < 0 or max_p < 0:
        return Pairs.empty()
    workers = max(1, min(workers or os.cpu_count() or 1, MAX_WORKERS))
    chunks = _chunks(max_p)
    keys = [((p64 >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int64) for shift, bits, _ in chunks]
    found: list[Pairs] = []
    with ThreadPoolExecutor(workers) as pool:
        for index, (_, bits, radius) in enumerate(chunks):
            table = _ChunkTable(keys[index], bits, p64)
            earlier = [(keys[k], chunks[k][2]) for k in range(index)]
            masks = _masks(bits, radius)

            def probe_all(share: np.ndarray, table=table, earlier=earlier) -> list[Pairs]:
                return [pairs for mask in share for pairs in table.probe(int(mask), d64, p64, earlier, max_d, max_p)]

            for result in pool.map(probe_all, [masks[k::workers] for k in range(workers)]):
                found.extend(result)
    return _concat(found)


class _ChunkTable:
    """The hashes sorted by one chunk, with the offset of every chunk value's bucket (a direct-address table)."""

    def __init__(self, key: np.ndarray, bits: int, p64: np.ndarray):
        self.order = np.argsort(key, kind="stable")
        self.key = key[self.order]  # sorted: a bucket is a contiguous run, and lookups stay close in memory
        self.p = p64[self.order]
        self.starts = np.zeros((1 << bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount(key, minlength=1 << bits), out=self.starts[1:])

    def probe(self, mask, d64, p64, earlier, max_d, max_p) -> list[Pairs]:
        """Pairs whose chunk values differ by exactly ``mask``, in blocks of bounded candidate count."""
        if mask == 0:
            rows = np.arange(len(self.key), dtype=np.int64)
            target = self.key
        else:
            # key ^ mask ≠ key: look from the smaller key only, so each pair of buckets is visited once.
            target = self.key ^ mask
            rows = np.flatnonzero(self.key < target)
            target = target[rows]
        lo = self.starts[target]
        counts = self.starts[target + 1] - lo
        if mask == 0:
            # Inside one bucket: only the later rows, so each pair once and no pair of a row with itself.
            counts = counts - (rows - lo) - 1
            lo = rows + 1
        has = counts > 0
        rows, lo, counts = rows[has], lo[has], counts[has]
        out = []
        cumulative = np.cumsum(counts)
        block_start = 0
        while block_start < len(rows):
            base = cumulative[block_start - 1] if block_start else 0
            block_end = max(int(np.searchsorted(cumulative, base + MAX_CANDIDATES, side="right")), block_start + 1)
            block_counts = counts[block_start:block_end]
            total = int(block_counts.sum())
            a = np.repeat(rows[block_start:block_end], block_counts)
            starts = np.repeat(lo[block_start:block_end] - (np.cumsum(block_counts) - block_counts), block_counts)
            b = starts + np.arange(total, dtype=np.int64)
            p_dist = popcount(self.p[a] ^ self.p[b])
            close = p_dist <= max_p
            a, b, p_dist = self.order[a[close]], self.order[b[close]], p_dist[close]
            d_dist = popcount(d64[a] ^ d64[b])
            keep = d_dist <= max_d
            # A pair an earlier chunk can find was already reported there.
            for earlier_key, radius in earlier:
                keep &= popcount((earlier_key[a] ^ earlier_key[b]).astype(np.uint64)) > radius
            if keep.any():
                a, b = a[keep], b[keep]
                swap = a > b
                a, b = np.where(swap, b, a), np.where(swap, a, b)
                out.append(Pairs(a, b, d_dist[keep].astype(np.uint8), p_dist[keep].astype(np.uint8)))
            block_start = block_end
        return out


def concat_pairs(found: list[Pairs]) -> Pairs:
    """The pairs of several searches as one, sorted."""
    return _concat(found)


def _concat(found: list[Pairs]) -> Pairs:
    if not found:
        return Pairs.empty()
    return Pairs(
        np.concatenate([f.i for f in found]),
        np.concatenate([f.j for f in found]),
        np.concatenate([f.d for f in found]),
        np.concatenate([f.p for f in found]),
    ).sorted()


def brute_force_pairs(dhash: np.ndarray, phash: np.ndarray, max_d: int, max_p: int) -> Pairs:
    """The O(n²) reference, in blocks of rows (about 16M distances at a time): for tests and benchmarks."""
    d64, p64 = as_uint64(dhash), as_uint64(phash)
    n = len(p64)
    block = max(1, (1 << 24) // max(n, 1))
    found = []
    for start in range(0, n, block):
        rows = np.arange(start, min(start + block, n))
        p_dist = popcount(p64[rows, None] ^ p64[None, :])
        d_dist = popcount(d64[rows, None] ^ d64[None, :])
        a, b = np.nonzero((p_dist <= max_p) & (d_dist <= max_d))
        a = a + start
        keep = a < b
        a, b = a[keep], b[keep]
        d_dist, p_dist = popcount(d64[a] ^ d64[b]), popcount(p64[a] ^ p64[b])
        found.append(Pairs(a, b, d_dist.astype(np.uint8), p_dist.astype(np.uint8)))
    return _concat(found)


def faiss_pairs(dhash: np.ndarray, phash: np.ndarray, max_d: int, max_p: int) -> Pairs:
    """The same pairs with faiss: an exact range search of the pHash in an IndexBinaryFlat, then the dHash filter.

    Brute force inside faiss (no approximation), so it is a second exact reference. Needs faiss-cpu.
    """
    import faiss  # optional: pip install faiss-cpu

    d64, p64 = as_uint64(dhash), as_uint64(phash)
    n = len(p64)
    if n < 2:
        return Pairs.empty()
    # faiss reads binary codes as bytes; big-endian bytes keep bit order irrelevant to the Hamming distance.
    codes = p64.astype(">u8").view(np.uint8).reshape(n, 8)
    index = faiss.IndexBinaryFlat(HASH_BITS)
    index.add(codes)
    # range_search keeps distances strictly below the radius.
    limits, _, labels = index.range_search(codes, max_p + 1)
    a = np.repeat(np.arange(n, dtype=np.int64), np.diff(limits).astype(np.int64))
    b = labels.astype(np.int64)
    keep = a < b
    a, b = a[keep], b[keep]
    d_dist = popcount(d64[a] ^ d64[b])
    keep = d_dist <= max_d
    a, b = a[keep], b[keep]
    return Pairs(a, b, d_dist[keep].astype(np.uint8), popcount(p64[a] ^ p64[b]).astype(np.uint8)).sorted()


def _tiled_pairs(dhash: np.ndarray, phash: np.ndarray, max_d: int, max_p: int) -> Pairs:
    """``tiled.tiled_pairs`` on the GPU when torch sees one, imported only when called: torch is optional."""
    from .tiled import tiled_pairs

    return tiled_pairs(dhash, phash, max_d, max_p)


METHODS = {"mih": mih_pairs, "faiss": faiss_pairs, "brute": brute_force_pairs, "tiled": _tiled_pairs}


def candidate_pairs(dhash: np.ndarray, phash: np.ndarray, max_d: int, max_p: int, method: str = "mih") -> Pairs:
    try:
        search = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown search method {method!r}: choose one of {', '.join(METHODS)}") from None
    return search(dhash, phash, max_d, max_p)
