"""Grouping from hashes alone: thresholds, flat pictures, the 256-bit check, no chains, order independence."""

from __future__ import annotations

from itertools import combinations, permutations

import numpy as np
import pytest

from catalog.similarity.grouping import MAX_THRESHOLD, Thresholds, build_groups, components, degenerate, similar_pairs
from catalog.similarity.search import Pairs, as_uint64
from tests.similarity.helpers import clustered_hashes, distance, fine_near, flip_int, normal_hash

DEFAULT = Thresholds.scaled()


def arrays(*values: int) -> np.ndarray:
    """Unsigned hashes as the signed int64 array the service builds from the database."""
    return np.array([v & 0xFFFFFFFFFFFFFFFF for v in values], dtype=np.uint64).view(np.int64)


def groups_of(dhash, phash, fine=None, rank=None, thresholds=DEFAULT) -> list[list[int]]:
    n = len(dhash)
    rank = np.arange(n) if rank is None else np.asarray(rank)
    return build_groups(n, similar_pairs(dhash, phash, fine, thresholds), rank)


# Thresholds ----------------------------------------------------------------------------------------------------


def test_one_threshold_scales_every_bound():
    assert Thresholds.scaled() == Thresholds(dhash=16, phash=8, fine_dhash=56, fine_phash=56)
    assert Thresholds.scaled(None) == Thresholds.scaled(16)
    assert Thresholds.scaled(0) == Thresholds(0, 0, 0, 0)
    assert Thresholds.scaled(10) == Thresholds(10, 5, 35, 35)
    assert Thresholds.scaled(24) == Thresholds(24, 12, 84, 84)
    top = MAX_THRESHOLD
    assert top >= 24
    assert Thresholds.scaled(top) == Thresholds(top, (top + 1) // 2, int(top * 3.5 + 0.5), int(top * 3.5 + 0.5))


@pytest.mark.parametrize("threshold", [-1, MAX_THRESHOLD + 1, 99])
def test_threshold_out_of_range_is_refused(threshold):
    with pytest.raises(ValueError, match=f"between 0 and {MAX_THRESHOLD}"):
        Thresholds.scaled(threshold)


# Flat pictures -------------------------------------------------------------------------------------------------


def test_flat_picture_hashes_are_flagged_and_normal_ones_are_not():
    rng = np.random.default_rng(1)
    normal = [normal_hash(rng) for _ in range(200)]
    d, p = normal[0], normal[1]
    rows_repeat = 0x5A5A5A5A5A5A5A5A  # 32 bits set, but every 8-bit row alike: a horizontal gradient
    flat_dhash = [0, 0xFFFFFFFFFFFFFFFF, 0b111, 0xFFFFFFFFFFFFFFFF ^ 0b111, rows_repeat, 0x8181818181818181]
    flat_phash = [0, 0xFFFFFFFFFFFFFFFF, 1 << 40, 0xFFFFFFFFFFFFFFFF ^ (1 << 63)]

    assert not degenerate(arrays(*normal), arrays(*reversed(normal))).any()
    assert not degenerate(arrays(flip_int(rows_repeat, [9])), arrays(p))[0]  # one row differs: not flat
    assert degenerate(arrays(*flat_dhash), arrays(*[p] * len(flat_dhash))).all()
    assert degenerate(arrays(*[d] * len(flat_phash)), arrays(*flat_phash)).all()


def test_flat_pictures_never_pair_even_when_their_hashes_are_identical():
    rng = np.random.default_rng(2)
    d, p = normal_hash(rng), normal_hash(rng)
    dhash = arrays(0, 0, 0x5A5A5A5A5A5A5A5A, 0x5A5A5A5A5A5A5A5A, d, d)
    phash = arrays(p, p, p, p, 0, 0)
    assert len(similar_pairs(dhash, phash, None, DEFAULT)) == 0


# The 256-bit check ---------------------------------------------------------------------------------------------


def test_fine_hashes_confirm_or_reject_64_bit_candidates():
    rng = np.random.default_rng(3)
    d, p = normal_hash(rng), normal_hash(rng)
    fine = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    dhash, phash = arrays(d, flip_int(d, range(5)), d, d), arrays(p, flip_int(p, range(3)), p, p)
    rows = [fine, fine_near(fine, 50, 50), fine_near(fine, 57, 10, start=60), fine_near(fine, 10, 57, start=130)]
    found = similar_pairs(dhash, phash, np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(4, 64), DEFAULT)

    # 0–1: fine distances (50, 50) ≤ 56. 0–2 and 0–3: one half 57 bits apart; the others further still.
    assert found.as_set() == {(0, 1)}
    assert (found.d.tolist(), found.p.tolist()) == ([5], [3])  # the 64-bit distances of the pair


def test_rows_without_fine_hashes_are_decided_by_the_64_bit_hashes():
    rng = np.random.default_rng(4)
    d, p = normal_hash(rng), normal_hash(rng)
    fine = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    rows = [fine, fine_near(fine, 100, 100), bytes(64)]  # the third: analyzed before fine hashes existed
    found = similar_pairs(
        arrays(d, d, d), arrays(p, p, p), np.frombuffer(b"".join(rows), dtype=np.uint8).reshape(3, 64), DEFAULT
    )
    assert found.as_set() == {(0, 2), (1, 2)}


# No chains -----------------------------------------------------------------------------------------------------


def chain() -> tuple[np.ndarray, np.ndarray]:
    """a–b and b–c are 10 dHash bits apart (similar), a–c 20 (not)."""
    rng = np.random.default_rng(5)
    a, p = normal_hash(rng), normal_hash(rng)
    b = flip_int(a, range(10))
    c = flip_int(b, range(20, 30))
    return arrays(a, b, c), arrays(p, flip_int(p, [3]), flip_int(p, [3, 40]))


def test_chain_is_two_similar_pairs():
    dhash, phash = chain()
    found = similar_pairs(dhash, phash, None, DEFAULT)
    assert found.as_set() == {(0, 1), (1, 2)}
    assert distance(int(dhash[0]), int(dhash[2])) == 20


@pytest.mark.parametrize("rank", list(permutations(range(3))))
def test_chain_ends_are_never_grouped_whatever_the_ranking(rank):
    dhash, phash = chain()
    groups = groups_of(dhash, phash, rank=rank)

    assert len(groups) == 1 and len(groups[0]) == 2
    assert set(groups[0]) != {0, 2}
    assert 1 in groups[0]  # the middle is similar to both ends: it always joins one of them
    assert groups[0][0] == min(groups[0], key=lambda node: rank[node])  # the best-ranked member comes first


def test_groups_are_cliques_on_a_large_clustered_set():
    rng = np.random.default_rng(6)
    dhash, phash = clustered_hashes(rng, 5000)
    rank = rng.permutation(5000)
    pairs = similar_pairs(dhash, phash, None, DEFAULT)
    groups = build_groups(5000, pairs, rank)

    # The set has chains: some connected components are not cliques, so greedy grouping is exercised.
    labels = components(5000, pairs.i, pairs.j)
    sizes = np.bincount(labels[pairs.i], minlength=5000)
    nodes = np.bincount(labels, minlength=5000)
    assert (sizes[nodes > 2] < nodes[nodes > 2] * (nodes[nodes > 2] - 1) // 2).sum() >= 20

    d64, p64 = as_uint64(dhash), as_uint64(phash)
    seen: set[int] = set()
    for group in groups:
        assert len(group) >= 2
        assert not seen & set(group), "a picture in two groups"
        seen |= set(group)
        assert group[0] == min(group, key=lambda node: rank[node])
        for x, y in combinations(group, 2):
            assert int(np.bitwise_count(d64[x] ^ d64[y])) <= DEFAULT.dhash, (x, y)
            assert int(np.bitwise_count(p64[x] ^ p64[y])) <= DEFAULT.phash, (x, y)
    assert [rank[g[0]] for g in groups] == sorted(rank[g[0]] for g in groups)
    # Every similar pair whose two pictures are both still ungrouped would have been a group: none is left.
    loose = [(x, y) for x, y in pairs.as_set() if x not in seen and y not in seen]
    assert loose == []


# Order independence --------------------------------------------------------------------------------------------


def test_groups_do_not_depend_on_input_order():
    rng = np.random.default_rng(8)
    n = 4000
    dhash, phash = clustered_hashes(rng, n)
    fine = np.frombuffer(rng.integers(0, 256, 64, dtype=np.uint8).tobytes() * n, dtype=np.uint8).reshape(n, 64)
    rank = rng.permutation(n)  # a quality ranking that belongs to the pictures, not to their positions
    expected = groups_of(dhash, phash, fine, rank)
    assert len(expected) > 100

    for _ in range(3):
        order = rng.permutation(n)  # new position k holds picture order[k]
        shuffled = groups_of(dhash[order], phash[order], fine[order], rank[order])
        assert [[int(order[k]) for k in group] for group in shuffled] == expected


def test_no_pairs_no_groups():
    assert build_groups(3, Pairs.empty(), np.arange(3)) == []
    assert groups_of(arrays(), arrays()) == []
