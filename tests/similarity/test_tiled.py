"""The tiled brute force (matrix products in torch) finds exactly the pairs and distances of the numpy searches."""

from __future__ import annotations

import functools
import subprocess
import sys

import numpy as np
import pytest

from bench.duplicates import synthetic_hashes
from catalog.media.device import DeviceError
from catalog.similarity import grouping, tiled
from catalog.similarity.grouping import Thresholds, similar_pairs
from catalog.similarity.search import Pairs, brute_force_pairs, candidate_pairs, mih_pairs
from catalog.similarity.tiled import gpu_search_wanted, tiled_pairs
from tests.similarity.helpers import clustered_hashes, flip, random_hashes

torch = pytest.importorskip("torch")

N = 3000
# (max dHash, max pHash): exact matches only, the default threshold T=16, T=24, and wider than any threshold.
COMBOS = [(16, 0), (16, 8), (24, 12), (32, 16)]
MIH_MAX_P = 12  # mih at pHash radius 16 takes seconds even here; brute force is the reference there


def table(pairs: Pairs) -> np.ndarray:
    """The pairs as rows (i, j, dHash distance, pHash distance) in the order the search returned them."""
    assert pairs.i.dtype == pairs.j.dtype == np.int64
    assert pairs.d.dtype == pairs.p.dtype == np.uint8
    return np.stack([pairs.i, pairs.j, pairs.d.astype(np.int64), pairs.p.astype(np.int64)], axis=1)


@functools.cache
def dataset(kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(dhash, phash), int64 as stored: the test helpers' clusters and chains, or the benchmark's library."""
    if kind == "clustered":
        return clustered_hashes(np.random.default_rng(20240611), N)
    synthetic = synthetic_hashes(N, seed=4)
    return synthetic.dhash, synthetic.phash


@functools.cache
def reference(kind: str, max_d: int, max_p: int) -> np.ndarray:
    return table(brute_force_pairs(*dataset(kind), max_d, max_p))


@pytest.mark.parametrize("kind", ["clustered", "library"])
@pytest.mark.parametrize(("max_d", "max_p"), COMBOS)
@pytest.mark.parametrize("tile", [None, 700, N])
def test_same_pairs_as_brute_force_and_mih(kind, max_d, max_p, tile):
    """The default tile (one diagonal tile here), a tile that leaves a short last row and column of tiles, and
    one tile of exactly n."""
    dhash, phash = dataset(kind)
    expected = reference(kind, max_d, max_p)
    assert len(expected) > 0

    assert np.array_equal(table(tiled_pairs(dhash, phash, max_d, max_p, device="cpu", tile=tile)), expected)
    if max_p <= MIH_MAX_P and tile is None:
        assert np.array_equal(table(mih_pairs(dhash, phash, max_d, max_p)), expected)


def test_data_has_pairs_of_every_kind():
    """The comparison above means something: identical hashes, pairs found only at the wider radii, pairs the
    dHash bound removes, and pairs in tiles off the diagonal."""
    exact = reference("clustered", 16, 0)
    assert (exact[:, 3] == 0).all() and len(exact) >= 20
    assert len(exact) < len(reference("clustered", 16, 8)) < len(reference("clustered", 24, 12))
    wide = reference("clustered", 32, 16)
    assert (wide[:, 2] > 24).any() and (wide[:, 3] > 12).any()
    assert ((wide[:, 0] // 700) != (wide[:, 1] // 700)).sum() > len(wide) // 2


@pytest.mark.parametrize("radius", [0, 1, 8, 12, 16, 31])
def test_pairs_exactly_at_the_bounds(radius):
    """A pHash exactly ``radius`` bits away is found, one ``radius`` + 1 away is not; the same for the dHash."""
    rng = np.random.default_rng(radius)
    base = int(random_hashes(rng, 1)[0]) & 0xFFFF_FFFF_FFFF_FFFF

    def bits(first: int, count: int) -> int:
        return sum(1 << bit for bit in range(first, first + count))

    far = random_hashes(rng, 5).view(np.uint64).tolist()  # unrelated hashes in between, so pairs span tiles
    # 0: base; 1: pHash radius away; 2: pHash radius + 1 away; 3: dHash radius away; 4: dHash radius + 1 away.
    p = [base, base ^ bits(0, radius), base ^ bits(radius, radius + 1), base, base]
    d = [base, base, base, base ^ bits(0, radius), base ^ bits(radius, radius + 1)]
    phash = np.array(p[:2] + far[:2] + p[2:4] + far[2:] + p[4:], dtype=np.uint64)
    dhash = np.array(d[:2] + far[:2] + d[2:4] + far[2:] + d[4:], dtype=np.uint64)
    at = [0, 1, 4, 5, 9]  # where hashes 0-4 went

    for tile in (2, 3, None):
        found = table(tiled_pairs(dhash.view(np.int64), phash.view(np.int64), radius, radius, tile=tile))
        assert np.array_equal(found, table(brute_force_pairs(dhash, phash, radius, radius)))
        pairs = {(i, j): (dd, pp) for i, j, dd, pp in found.tolist()}
        assert pairs[at[0], at[1]] == (0, radius)
        assert pairs[at[0], at[3]] == (radius, 0)
        assert pairs[at[1], at[3]] == (radius, radius)
        assert (at[0], at[2]) not in pairs and (at[0], at[4]) not in pairs
        if radius <= 16:  # wider, random hashes are often that close
            assert len(pairs) == 3


def test_small_and_repeated_sets():
    rng = np.random.default_rng(11)
    one = random_hashes(rng, 1)

    def find(dhash, phash, max_d=16, max_p=8, tile=None):
        return table(tiled_pairs(np.asarray(dhash, dtype=np.int64), np.asarray(phash, dtype=np.int64), max_d, max_p,
                                 device="cpu", tile=tile))  # fmt: skip

    assert len(find([], [])) == 0
    assert len(find(one, one)) == 0
    assert len(find(one, one, 64, 64)) == 0  # never a hash with itself
    assert find(np.repeat(one, 2), np.repeat(one, 2), 0, 0).tolist() == [[0, 1, 0, 0]]
    far = np.array([0x0F0F_0F0F_0F0F_0F0F, 0x70F0_F0F0_F0F0_F0F0], dtype=np.int64)
    assert len(find(far, far)) == 0
    assert len(find(one, one, -1, 8)) == len(find(np.repeat(one, 2), np.repeat(one, 2), 8, -1)) == 0
    # 30 copies of one hash and 20 of another 3 bits away, shuffled: every pair once, with tiles of 1 to 64.
    a = random_hashes(rng, 1)
    many = np.concatenate([np.repeat(a, 30), np.repeat(flip(a, 3, rng), 20)])[rng.permutation(50)]
    for tile in (1, 7, 49, 50, 64):
        rows = find(many, many, 3, 3, tile)
        assert len(rows) == 50 * 49 // 2
        assert (rows[:, 0] < rows[:, 1]).all()
        assert len({(i, j) for i, j, _, _ in rows.tolist()}) == len(rows)
        assert sorted(set(rows[:, 2].tolist())) == sorted(set(rows[:, 3].tolist())) == [0, 3]
        assert len(find(many, many, 2, 2, tile)) == 30 * 29 // 2 + 20 * 19 // 2


def test_dense_tiles_in_steps_and_flushes(monkeypatch):
    """Half of all pairs are candidates at pHash radius 32: many steps of rows per tile, many flushes to the
    host, and still the same pairs as brute force."""
    dhash, phash = dataset("clustered")
    dhash, phash = dhash[:800], phash[:800]
    monkeypatch.setattr(tiled, "ROWS_PER_STEP", 37)
    monkeypatch.setattr(tiled, "FLUSH_PAIRS", 1000)
    expected = table(brute_force_pairs(dhash, phash, 40, 32))
    assert len(expected) > 100_000
    assert np.array_equal(table(tiled_pairs(dhash, phash, 40, 32, device="cpu", tile=300)), expected)


def test_signed_and_unsigned_hashes_give_the_same_pairs():
    dhash, phash = dataset("clustered")
    assert (dhash < 0).any() and (phash < 0).any()
    signed = table(tiled_pairs(dhash, phash, 16, 8, tile=1000))
    assert len(signed) > 0
    assert np.array_equal(signed, table(tiled_pairs(dhash.view(np.uint64), phash.view(np.uint64), 16, 8, tile=1000)))


def test_candidate_pairs_route():
    dhash, phash = dataset("library")
    assert np.array_equal(table(candidate_pairs(dhash, phash, 24, 12, method="tiled")), reference("library", 24, 12))


def test_gpu_search_wanted_from_threshold_20_on_cuda_only():
    assert gpu_search_wanted(20, "cuda") and gpu_search_wanted(24, "cuda")
    assert not gpu_search_wanted(19, "cuda") and not gpu_search_wanted(16, "cuda")
    assert not gpu_search_wanted(24, "cpu") and not gpu_search_wanted(24, None)


def test_grouping_searches_on_the_gpu_from_threshold_20(monkeypatch):
    """The search the grouping runs when the caller names none: mih on the CPU and below T=20 (without even
    looking up the device, which imports torch), tiled on a GPU, mih where ``VAM_DEVICE`` cannot be honoured."""
    asked: list[str] = []
    device: dict[str, str | None] = {"answer": "cuda"}

    def resolve(choice: str) -> str | None:
        asked.append(choice)
        if device["answer"] == "error":
            raise DeviceError("VAM_DEVICE=cuda, but torch sees no CUDA device on this machine")
        return device["answer"]

    monkeypatch.setattr(grouping, "resolve", resolve)
    monkeypatch.setenv("VAM_DEVICE", "cuda")
    assert grouping.search_method(16) == "mih"
    assert asked == []
    assert grouping.search_method(20) == "tiled" and asked == ["cuda"]
    for answer in ("cpu", None, "error"):
        device["answer"] = answer
        assert grouping.search_method(24) == "mih", answer
    monkeypatch.delenv("VAM_DEVICE")
    grouping.search_method(24)
    assert asked[-1] == "auto"

    # similar_pairs takes that choice, and a method the caller names wins.
    used: list[str] = []
    search = grouping.candidate_pairs

    def spy(*args, method):
        used.append(method)
        return search(*args, method=method)

    monkeypatch.setattr(grouping, "candidate_pairs", spy)
    dhash, phash = dataset("library")
    device["answer"] = "cuda"
    on_gpu = similar_pairs(dhash, phash, None, Thresholds.scaled(24))
    device["answer"] = "cpu"
    on_cpu = similar_pairs(dhash, phash, None, Thresholds.scaled(24))
    forced = similar_pairs(dhash, phash, None, Thresholds.scaled(24), method="brute")
    assert used == ["tiled", "mih", "brute"]
    assert len(on_gpu) > 0 and on_gpu.as_set() == on_cpu.as_set() == forced.as_set()


def test_search_modules_load_without_torch():
    """The base install has no torch: importing the search and the grouping must not import it."""
    code = "import sys, catalog.similarity.grouping, catalog.similarity.tiled; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
