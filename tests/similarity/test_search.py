"""The three ways to find near pairs (multi-index hashing, faiss, brute force) return the same pairs and distances."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from catalog.similarity import search
from catalog.similarity.search import Pairs, brute_force_pairs, candidate_pairs, faiss_pairs, mih_pairs
from tests.similarity.helpers import clustered_hashes, flip, random_hashes

# (max dHash, max pHash): the default threshold, exact matches only, a small radius, and radii that give every
# multi-index chunk a radius of 1 or 2 (pHash 6: chunk radii 2, 1, 1; pHash 8: 2, 2, 2).
COMBOS = [(16, 8), (0, 0), (4, 2), (32, 6), (64, 8)]
N = 10_000


def table(pairs: Pairs) -> np.ndarray:
    """The pairs as rows (i, j, dHash distance, pHash distance), i < j, sorted."""
    rows = np.stack([pairs.i, pairs.j, pairs.d.astype(np.int64), pairs.p.astype(np.int64)], axis=1)
    return rows[np.lexsort((rows[:, 1], rows[:, 0]))]


def within(reference: np.ndarray, max_d: int, max_p: int) -> np.ndarray:
    return reference[(reference[:, 2] <= max_d) & (reference[:, 3] <= max_p)]


def popcounts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(a.view(np.uint64) ^ b.view(np.uint64)).astype(np.int64)


@functools.cache
def dataset(kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dhash, phash, brute-force pairs at the widest combination) for 10,000 hashes."""
    rng = np.random.default_rng(20240611)
    if kind == "random":
        dhash, phash = random_hashes(rng, N), random_hashes(rng, N)
    else:
        dhash, phash = clustered_hashes(rng, N)
    widest = max(d for d, _ in COMBOS), max(p for _, p in COMBOS)
    return dhash, phash, table(brute_force_pairs(dhash, phash, *widest))


@pytest.fixture(params=["random", "clustered"])
def hashes(request) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return dataset(request.param)


def test_brute_force_reference_is_right(hashes):
    dhash, phash, reference = hashes
    i, j = reference[:, 0], reference[:, 1]
    assert (i < j).all()
    assert (reference[:, 2] == popcounts(dhash[i], dhash[j])).all()
    assert (reference[:, 3] == popcounts(phash[i], phash[j])).all()
    # Nothing missed: the same count as a plain all-pairs check on a sample of rows.
    rows = np.arange(0, N, 37)
    close = (popcounts(dhash[rows, None], dhash[None, :]) <= 64) & (popcounts(phash[rows, None], phash[None, :]) <= 8)
    close &= rows[:, None] != np.arange(N)[None, :]
    found = np.isin(reference[:, 0], rows).sum() + np.isin(reference[:, 1], rows).sum()
    assert found == close.sum()


@pytest.mark.parametrize(("max_d", "max_p"), COMBOS)
def test_mih_faiss_and_brute_force_agree(hashes, max_d, max_p):
    dhash, phash, reference = hashes
    expected = within(reference, max_d, max_p)

    assert np.array_equal(table(mih_pairs(dhash, phash, max_d, max_p)), expected)
    assert np.array_equal(table(faiss_pairs(dhash, phash, max_d, max_p)), expected)
    if (max_d, max_p) == (16, 8) and hashes is dataset("clustered"):  # the others: the reference filtered
        assert np.array_equal(table(brute_force_pairs(dhash, phash, max_d, max_p)), expected)


def test_clustered_set_has_pairs_of_every_kind():
    """The comparison above means something: the clustered set has identical, close and far pairs."""
    _, _, reference = dataset("clustered")
    default = within(reference, 16, 8)
    assert len(within(reference, 0, 0)) >= 20
    assert len(default) >= 2000
    assert len(within(reference, 4, 2)) < len(default) < len(within(reference, 64, 8))


def test_small_sets_against_brute_force_for_many_radii():
    """pHash radii up to 12 (chunk radii up to 4, 3, 3) on a smaller set."""
    rng = np.random.default_rng(7)
    dhash, phash = clustered_hashes(rng, 1500)
    for max_p in [0, 1, 2, 3, 5, 7, 9, 12]:
        expected = table(brute_force_pairs(dhash, phash, 20, max_p))
        assert np.array_equal(table(mih_pairs(dhash, phash, 20, max_p)), expected), max_p
        assert np.array_equal(table(faiss_pairs(dhash, phash, 20, max_p)), expected), max_p


def test_mih_pairs_do_not_depend_on_workers_or_block_size(monkeypatch):
    rng = np.random.default_rng(3)
    dhash, phash = clustered_hashes(rng, 3000)
    expected = table(brute_force_pairs(dhash, phash, 16, 8))
    assert np.array_equal(table(mih_pairs(dhash, phash, 16, 8, workers=1)), expected)
    assert np.array_equal(table(mih_pairs(dhash, phash, 16, 8, workers=3)), expected)
    monkeypatch.setattr(search, "MAX_CANDIDATES", 50)  # many small blocks per mask
    assert np.array_equal(table(mih_pairs(dhash, phash, 16, 8)), expected)


@pytest.mark.parametrize("method", ["mih", "faiss", "brute"])
def test_edge_cases(method):
    rng = np.random.default_rng(11)
    one = random_hashes(rng, 1)

    def find(dhash, phash, max_d=16, max_p=8):
        return candidate_pairs(
            np.asarray(dhash, dtype=np.int64), np.asarray(phash, dtype=np.int64), max_d, max_p, method
        )

    assert len(find([], [])) == 0
    assert len(find(one, one)) == 0
    # Two identical hashes, at radius 0: one pair at distance 0.
    assert table(find(np.repeat(one, 2), np.repeat(one, 2), 0, 0)).tolist() == [[0, 1, 0, 0]]
    # Two far apart: none.
    far = np.array([0x0F0F_0F0F_0F0F_0F0F, 0x70F0_F0F0_F0F0_F0F0], dtype=np.int64)
    assert len(find(far, far)) == 0
    # 30 copies of one hash and 20 of another 3 bits away: every pair, each once.
    a = random_hashes(rng, 1)
    b = flip(a, 3, rng)
    many = np.concatenate([np.repeat(a, 30), np.repeat(b, 20)])
    order = rng.permutation(50)
    rows = table(find(many[order], many[order], 3, 3))
    assert len(rows) == 50 * 49 // 2
    assert len({(i, j) for i, j, _, _ in rows.tolist()}) == len(rows)
    assert sorted(set(rows[:, 2].tolist())) == [0, 3]
    assert len(find(many, many, 2, 2)) == 30 * 29 // 2 + 20 * 19 // 2


def test_signed_and_unsigned_hashes_give_the_same_pairs():
    """The database stores hashes as int64; the search must read the same 64 bits as the uint64 view."""
    rng = np.random.default_rng(5)
    dhash, phash = clustered_hashes(rng, 2000)
    assert (dhash < 0).any() and (phash < 0).any()
    signed = table(mih_pairs(dhash, phash, 16, 8))
    unsigned = table(mih_pairs(dhash.view(np.uint64), phash.view(np.uint64), 16, 8))
    assert len(signed) > 0
    assert np.array_equal(signed, unsigned)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="unknown search method"):
        candidate_pairs(np.zeros(2, dtype=np.int64), np.zeros(2, dtype=np.int64), 1, 1, method="annoy")
