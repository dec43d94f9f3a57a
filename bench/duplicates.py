"""Benchmark duplicate detection: speed on synthetic hashes, quality on the shared corpus.

Usage (from the repository root)::

    python -m bench.duplicates speed [--sizes 100000,1000000] [--methods mih,faiss,tiled] [--seed 1] [--threshold 16]
                                     [--flat-max 1000000]
    python -m bench.duplicates quality --corpus ../shared/corpus [--threshold 16] [--keep]

``speed`` generates N hashes clustered like a real photo library (numpy, vectorised, one seed): about 69 %
random singletons; 20 % in tight clusters of 2–20 copies (each copy 0–3 bits away from the cluster's base in
both 64-bit hashes and 1–5 % of the bits of the 256-bit fine hashes); 8 % in near-duplicate chains of 3–12
pictures (each step 3 dHash bits, 2 pHash bits and 4 % of the fine bits, so a chain's ends drift out of reach
and the grouping has to split it); 1 % look-alike pairs (64-bit hashes within the bounds, unrelated fine hashes:
a stereo pair, a burst, which the fine check must reject); 2 % degenerate hashes of flat pictures (all-zero or
all-one dHash, repeated dHash rows, almost empty pHash), many of them identical; and 5 % of rows without a fine
hash (all zeros). Rows are shuffled. Each method then runs ``similar_pairs`` + ``build_groups`` (rank: a random
permutation) in a fresh child process, so the peak RSS it reports (``VmHWM``) is that method's alone; the
hashes are handed over in ``.npy`` files, so generating them is not counted. Times: *search* is the 64-bit
pair search (``candidate_pairs``: pHash radius search + dHash filter), *verify* the rest of ``similar_pairs``
(degenerate filter, fine-hash check), *group* is ``build_groups`` (components, then greedy stars where a
component is not a clique); *candidates* are the pairs within both 64-bit bounds, *pairs* those left after
the fine check. ``faiss`` is IndexBinaryFlat (brute force, on every core faiss's OpenMP uses); ``tiled`` is
brute force as matrix products in torch (``catalog.similarity.tiled``), on the GPU when torch sees one, else on
torch's CPU threads; above ``--flat-max`` hashes both are skipped with a note (pass a larger one on a GPU). When
several methods ran on one N, their pairs and groups are compared (count and digest).

``quality`` analyzes the corpus folder into a fresh temporary catalog (``manage.py analyze TMP -s CORPUS``, so a new
catalog row every run, with thumbnails: edited copies are confirmed on them), exports the duplicate groups and
scores them against ``CORPUS/dupes/GROUND_TRUTH.tsv`` the way ``shared/tools/corpus_score.py`` does: recall by
``expect`` class over the pairs of each ground-truth group (both files not ``distinct``; the class is the harder of
the two), wrong pairs (both files in the ground truth, different groups: this counts every pair that joins a hard
negative to the group it must stay out of), those hard-negative pairs on their own, and, for information, found
pairs with a file outside the ground truth (listed: they are often copies the ground truth does not name). To show
where the misses come from, it reads the hashes analyze stored (``manage.py shell -c``) and prints, per class and
transform, the missed pairs with the first bound each one fails (64-bit, fine, or none: split by the grouping), and
how close each hard negative comes to the group it must stay out of. With ``DATABASE_URL`` set the run uses that
database (and needs ``SECRET_KEY``) and deletes its catalog row at the end (``manage.py shell -c``) unless
``--keep``; without it the embedded SQLite default is created and migrated in the temporary folder
(``VAM_DATA_DIR``), never in the repository's ``var/``.

The last lines of each command's output are ``key=value`` pairs for scripts.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import itertools
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_SIZES = "100000,1000000"
FLAT_MAX = 1_000_000

# Shares of the synthetic library (the rest are singletons).
CLUSTERED = 0.20
CHAINED = 0.08
LOOKALIKE = 0.01
DEGENERATE = 0.02
NO_FINE = 0.05
CLUSTER_MAX = 20
CLUSTER_FLIPS = 3  # at most this many bits per 64-bit hash, per copy, from the cluster's base
CLUSTER_FINE = (0.01, 0.05)  # share of fine bits a copy flips, drawn per copy
CHAIN_LENGTH = (3, 12)
CHAIN_STEP = (3, 2, 0.04)  # dHash bits, pHash bits, share of fine bits per step
LOOKALIKE_FLIPS = (10, 5)  # fewer dHash, pHash bits than this between the two (within the 64-bit bounds)
FINE_BYTES = 64
FLIP_BLOCK = 65_536  # rows of fine flips drawn at once (bounds the generator's memory)

OUTSIDE_SHOWN = 30
ARRAYS = ("dhash", "phash", "fine", "cluster", "lookalike")
ORDER = ["exact", "pixel", "pixel_or_near", "near", "hard"]


# --------------------------------------------------------------------------------------------------------------
# Synthetic hashes


@dataclass
class Synthetic:
    dhash: np.ndarray  # int64, as stored in the database
    phash: np.ndarray  # int64
    fine: np.ndarray  # (n, 64) uint8; all-zero rows have no fine hash
    cluster: np.ndarray  # int64: tight cluster id, -1 for other rows
    lookalike: np.ndarray  # int64: look-alike pair id, -1 for other rows
    counts: dict[str, int]


def _random64(rng: np.random.Generator, size: int) -> np.ndarray:
    return rng.integers(0, np.iinfo(np.uint64).max, size=size, dtype=np.uint64, endpoint=True)


def _bit_masks(rng: np.random.Generator, flips: np.ndarray, most: int) -> np.ndarray:
    """One uint64 per row with ``flips[row]`` (≤ most) random bits set (colliding positions give fewer)."""
    positions = rng.integers(0, 64, size=(len(flips), max(most, 1)), dtype=np.uint64)
    bits = np.uint64(1) << positions
    bits[np.arange(max(most, 1)) >= flips[:, None]] = 0
    return np.bitwise_or.reduce(bits, axis=1)


def _fine_masks(rng: np.random.Generator, share: np.ndarray) -> np.ndarray:
    """(rows, 64) uint8: each of the 512 bits set with the row's probability ``share[row]``."""
    out = np.empty((len(share), FINE_BYTES), dtype=np.uint8)
    for start in range(0, len(share), FLIP_BLOCK):
        block = share[start : start + FLIP_BLOCK].astype(np.float32)
        bits = rng.random((len(block), FINE_BYTES * 8), dtype=np.float32) < block[:, None]
        out[start : start + len(block)] = np.packbits(bits, axis=1)
    return out


def _sizes(rng: np.random.Generator, total: int, low: int, high: int, geometric: float | None) -> np.ndarray:
    """Unit sizes in [low, high] adding up to ``total`` (the last one cut; a remainder below ``low`` dropped)."""
    if total < low:
        return np.zeros(0, dtype=np.int64)
    count = total // low + 1
    if geometric:
        sizes = np.minimum(low - 1 + rng.geometric(geometric, size=count), high)
    else:
        sizes = rng.integers(low, high, size=count, endpoint=True)
    ends = np.cumsum(sizes)
    keep = int(np.searchsorted(ends, total, side="left")) + 1
    sizes = sizes[:keep].copy()
    sizes[-1] -= int(ends[keep - 1]) - total
    if sizes[-1] < low:
        sizes = sizes[:-1]
    return sizes.astype(np.int64)


def synthetic_hashes(n: int, seed: int) -> Synthetic:
    """Hashes of a library of n pictures clustered like real photos (see the module docstring)."""
    rng = np.random.default_rng(seed)
    d = np.empty(n, dtype=np.uint64)
    p = np.empty(n, dtype=np.uint64)
    fine = np.empty((n, FINE_BYTES), dtype=np.uint8)
    cluster = np.full(n, -1, dtype=np.int64)
    lookalike = np.full(n, -1, dtype=np.int64)
    at = 0

    # Tight clusters: copies of a base, each a few bits away from it.
    sizes = _sizes(rng, int(n * CLUSTERED), 2, CLUSTER_MAX, geometric=0.3)
    rows = int(sizes.sum())
    owner = np.repeat(np.arange(len(sizes)), sizes)
    base_d, base_p = _random64(rng, len(sizes)), _random64(rng, len(sizes))
    base_fine = rng.integers(0, 256, size=(len(sizes), FINE_BYTES), dtype=np.uint8)
    sl = slice(at, at + rows)
    d[sl] = base_d[owner] ^ _bit_masks(rng, rng.integers(0, CLUSTER_FLIPS, rows, endpoint=True), CLUSTER_FLIPS)
    p[sl] = base_p[owner] ^ _bit_masks(rng, rng.integers(0, CLUSTER_FLIPS, rows, endpoint=True), CLUSTER_FLIPS)
    fine[sl] = base_fine[owner] ^ _fine_masks(rng, rng.uniform(*CLUSTER_FINE, size=rows))
    cluster[sl] = owner
    counts = {"clusters": len(sizes), "clustered": rows}
    at += rows

    # Chains: every picture a step away from the previous one, so the ends drift apart.
    lengths = _sizes(rng, int(n * CHAINED), CHAIN_LENGTH[0], CHAIN_LENGTH[1], geometric=None)
    rows = int(lengths.sum())
    first = np.zeros(rows, dtype=bool)
    first[np.cumsum(lengths) - lengths] = True
    chain = np.cumsum(first) - 1
    step_d = _bit_masks(rng, np.full(rows, CHAIN_STEP[0]), CHAIN_STEP[0])
    step_p = _bit_masks(rng, np.full(rows, CHAIN_STEP[1]), CHAIN_STEP[1])
    step_fine = _fine_masks(rng, np.full(rows, CHAIN_STEP[2]))
    step_d[first], step_p[first], step_fine[first] = 0, 0, 0
    # Segmented cumulative XOR: the global prefix XOR, undone at each chain's first row.
    start_row = (np.cumsum(lengths) - lengths)[chain]
    sl = slice(at, at + rows)
    for out, step, base in (
        (d, step_d, _random64(rng, len(lengths))),
        (p, step_p, _random64(rng, len(lengths))),
        (fine, step_fine, rng.integers(0, 256, size=(len(lengths), FINE_BYTES), dtype=np.uint8)),
    ):
        prefix = np.bitwise_xor.accumulate(step, axis=0)
        out[sl] = base[chain] ^ prefix ^ prefix[start_row]
    counts |= {"chains": len(lengths), "chained": rows}
    at += rows

    # Look-alikes (a stereo pair, a burst): 64-bit hashes close enough to be candidates, fine hashes unrelated.
    pairs = int(n * LOOKALIKE) // 2
    sl = slice(at, at + 2 * pairs)
    twin_d, twin_p = _random64(rng, pairs), _random64(rng, pairs)
    d[sl] = np.concatenate([twin_d, twin_d ^ _bit_masks(rng, rng.integers(0, LOOKALIKE_FLIPS[0], pairs), 12)])
    p[sl] = np.concatenate([twin_p, twin_p ^ _bit_masks(rng, rng.integers(0, LOOKALIKE_FLIPS[1], pairs), 12)])
    fine[sl] = rng.integers(0, 256, size=(2 * pairs, FINE_BYTES), dtype=np.uint8)
    lookalike[sl] = np.tile(np.arange(pairs), 2)
    counts["lookalikes"] = 2 * pairs
    at += 2 * pairs

    # Flat or near-uniform pictures: the degenerate hashes grouping must keep out.
    rows = min(int(n * DEGENERATE), n - at)
    kind = rng.integers(0, 4, size=rows)
    sl = slice(at, at + rows)
    row_byte = rng.integers(1, 255, size=rows, dtype=np.uint64)
    d[sl] = np.select(
        [kind == 0, kind == 1, kind == 2],
        [np.uint64(0), ~np.uint64(0), row_byte * np.uint64(0x0101010101010101)],
        _random64(rng, rows),
    )
    few = _bit_masks(rng, rng.integers(0, 3, rows, endpoint=True), 3)
    p[sl] = np.where(kind == 3, few, _random64(rng, rows))
    fine[sl] = 0
    counts["degenerate"] = rows
    at += rows

    # Singletons.
    rows = n - at
    sl = slice(at, n)
    d[sl], p[sl] = _random64(rng, rows), _random64(rng, rows)
    fine[sl] = rng.integers(0, 256, size=(rows, FINE_BYTES), dtype=np.uint8)
    counts["singletons"] = rows

    fine[rng.random(n) < NO_FINE] = 0
    order = rng.permutation(n)
    counts["no_fine"] = int((~fine.any(axis=1)).sum())
    return Synthetic(
        d[order].view(np.int64), p[order].view(np.int64), fine[order], cluster[order], lookalike[order], counts
    )


# --------------------------------------------------------------------------------------------------------------
# One method in one process


def peak_rss_mb() -> float:
    """Peak resident memory of this process image, in MB.

    Linux's ``VmHWM`` starts afresh at exec; ``ru_maxrss`` would not: a child started from a big parent keeps the
    parent's resident size at fork as its floor (the hashes the parent generated would count in every method).
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux, bytes on macOS


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_method(data: str, method: str, threshold: int, seed: int) -> dict:
    """similar_pairs + build_groups on the saved hashes, timed phase by phase (run in a fresh process)."""
    from catalog.similarity import grouping

    # One .npy per array: np.load reads each straight into its array (an .npz would hold a second copy at once).
    arrays = {name: np.load(os.path.join(data, f"{name}.npy")) for name in ARRAYS}
    dhash, phash, fine = arrays["dhash"], arrays["phash"], arrays["fine"]
    cluster, lookalike = arrays["cluster"], arrays["lookalike"]
    n = len(dhash)
    rank = np.random.default_rng(seed + 1).permutation(n).astype(np.int64)
    extra: dict = {}
    if method == "faiss":
        import faiss

        extra["threads"] = f"faiss OpenMP threads {faiss.omp_get_max_threads()}"
    if method == "tiled":  # imported and the GPU initialised here, so that the search time is the search's
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        torch.zeros(1, device=device)
        where = torch.cuda.get_device_name() if device == "cuda" else f"{torch.get_num_threads()} CPU threads"
        extra["threads"] = f"torch {torch.__version__} on {where}"
    rss_loaded = peak_rss_mb()

    timings = {"search": 0.0, "components": 0.0, "stars": 0.0, "stars_calls": 0, "candidates": 0}

    def timed(name, function, count=None):
        def wrapper(*args, **kwargs):
            began = time.perf_counter()
            result = function(*args, **kwargs)
            timings[name] += time.perf_counter() - began
            if count:
                timings[count] += 1 if count.endswith("calls") else len(result)
            return result

        return wrapper

    grouping.candidate_pairs = timed("search", grouping.candidate_pairs, "candidates")
    grouping.components = timed("components", grouping.components)
    grouping._stars = timed("stars", grouping._stars, "stars_calls")

    thresholds = grouping.Thresholds.scaled(threshold)
    cpu = cpu_seconds()
    began = time.perf_counter()
    pairs = grouping.similar_pairs(dhash, phash, fine, thresholds, method=method)
    similar_s = time.perf_counter() - began
    # Turned and mirrored copies: every row's seven variants looked up among the plain hashes.
    from catalog.similarity.variants import turned_pairs

    variant_d, variant_p, planted_turns = _variants(dhash, phash, seed)
    began = time.perf_counter()
    turned = turned_pairs(dhash, phash, variant_d, variant_p, max(4, thresholds.dhash * 3 // 8),
                          max(2, thresholds.phash // 4))  # fmt: skip
    turned_s = time.perf_counter() - began
    rss_pairs = peak_rss_mb()
    began = time.perf_counter()
    groups = grouping.build_groups(n, pairs, rank)
    group_s = time.perf_counter() - began
    cpu = cpu_seconds() - cpu

    digest = hashlib.sha256(pairs.i.tobytes() + pairs.j.tobytes()).hexdigest()[:16]
    groups_digest = hashlib.sha256(repr(sorted(sorted(g) for g in groups)).encode()).hexdigest()[:16]
    # Planted tight clusters: every pair of copies is within the 64-bit bounds, and far within the fine ones.
    planted = np.bincount(cluster[cluster >= 0])
    inside = (cluster[pairs.i] == cluster[pairs.j]) & (cluster[pairs.i] >= 0)
    # Planted look-alikes: found only when one of the two has no fine hash to tell them apart.
    has_fine = fine.any(axis=1)
    twins = (lookalike[pairs.i] == lookalike[pairs.j]) & (lookalike[pairs.i] >= 0)
    sizes = np.array([len(g) for g in groups], dtype=np.int64)
    return {
        "method": method,
        "n": n,
        "search_s": timings["search"],
        "verify_s": similar_s - timings["search"],
        "group_s": group_s,
        "components_s": timings["components"],
        "stars_s": timings["stars"],
        "stars_components": timings["stars_calls"],
        "total_s": similar_s + group_s,
        "turned_s": turned_s,
        "turned_pairs": len(turned),
        "turned_planted": planted_turns,
        "cpu_s": cpu,
        "candidates": timings["candidates"],
        "pairs": len(pairs),
        "groups": len(groups),
        "grouped": int(sizes.sum()),
        "largest_group": int(sizes.max()) if len(sizes) else 0,
        "cluster_pairs_found": int(inside.sum()),
        "cluster_pairs": int((planted * (planted - 1) // 2).sum()),
        "lookalikes_found": int(twins.sum()),
        "lookalikes_wrong": int((twins & has_fine[pairs.i] & has_fine[pairs.j]).sum()),
        "rss_loaded_mb": rss_loaded,
        "rss_after_pairs_mb": rss_pairs,
        "peak_rss_mb": peak_rss_mb(),
        "pairs_digest": digest,
        "groups_digest": groups_digest,
        **extra,
    }


def _variants(dhash: np.ndarray, phash: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Seven random variant hashes per row, except that 0.5 % of the rows get, as one variant, another row's
    hashes with 0–2 bits changed (a copy an editor turned, which the search must find)."""
    rng = np.random.default_rng(seed + 2)
    n = len(dhash)
    variant_d = rng.integers(1, np.iinfo(np.uint64).max, size=(n, 7), dtype=np.uint64, endpoint=True)
    variant_p = rng.integers(1, np.iinfo(np.uint64).max, size=(n, 7), dtype=np.uint64, endpoint=True)
    planted = rng.choice(n, size=n // 200, replace=False)
    partner = rng.integers(0, n, size=len(planted))
    column = rng.integers(0, 7, size=len(planted))
    d64, p64 = dhash.view(np.uint64), phash.view(np.uint64)
    variant_d[planted, column] = d64[partner] ^ _bit_masks(rng, rng.integers(0, 2, len(planted), endpoint=True), 2)
    variant_p[planted, column] = p64[partner] ^ _bit_masks(rng, rng.integers(0, 2, len(planted), endpoint=True), 2)
    return variant_d, variant_p, len(set(zip(np.minimum(planted, partner).tolist(),
                                             np.maximum(planted, partner).tolist(), strict=True)))  # fmt: skip


def run_child(data: str, method: str, threshold: int, seed: int) -> dict:
    command = [sys.executable, "-m", "bench.duplicates", "_run", data, method, str(threshold), str(seed)]
    completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{method} failed (exit {completed.returncode}):\n{completed.stderr}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------------------------------
# speed


def _file_digest(path: str) -> str:
    """Short sha256 of a source file: ties the figures to the code they measured."""
    with open(path, "rb") as stream:
        return hashlib.sha256(stream.read()).hexdigest()[:12]


def speed(args: argparse.Namespace) -> list[tuple[str, str]]:
    from catalog.similarity.grouping import DEFAULT_THRESHOLD, Thresholds

    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    for method in methods:
        if method not in ("mih", "faiss", "brute", "tiled"):
            raise SystemExit(f"unknown method {method!r}: choose among mih, faiss, brute, tiled")
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold
    t = Thresholds.scaled(threshold)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}; load average {os.getloadavg()[0]:.2f} at start"
    )
    engine = os.path.join(REPO, "catalog", "similarity")
    print(
        "engine: "
        + ", ".join(
            f"{name} {_file_digest(os.path.join(engine, name))}" for name in ("search.py", "grouping.py", "tiled.py")
        )
    )
    print(
        f"threshold {threshold}: 64-bit dHash ≤ {t.dhash} and pHash ≤ {t.phash}; "
        f"256-bit dHash ≤ {t.fine_dhash} and pHash ≤ {t.fine_phash}"
    )
    figures: list[tuple[str, str]] = []
    agree_all: list[bool] = []
    with tempfile.TemporaryDirectory(prefix="vam-bench-dupes-") as folder:
        for n in sizes:
            began = time.perf_counter()
            synthetic = synthetic_hashes(n, args.seed)
            generated = time.perf_counter() - began
            data = os.path.join(folder, f"hashes-{n}")
            os.makedirs(data)
            for name in ARRAYS:
                np.save(os.path.join(data, f"{name}.npy"), getattr(synthetic, name))
            c = synthetic.counts
            print()
            print(
                f"N={n:,} (seed {args.seed}, generated in {generated:.1f} s): {c['singletons']:,} singletons, "
                f"{c['clustered']:,} in {c['clusters']:,} tight clusters, {c['chained']:,} in {c['chains']:,} chains, "
                f"{c['lookalikes']:,} look-alikes, {c['degenerate']:,} degenerate, {c['no_fine']:,} without a fine hash"
            )
            header = (
                f"{'method':<7}{'search_s':>10}{'verify_s':>10}{'group_s':>9}{'total_s':>9}{'cpu_s':>9}"
                f"{'candidates':>12}{'pairs':>10}{'groups':>9}{'grouped':>9}{'rss_load_MB':>12}{'peak_MB':>9}"
            )
            print(header)
            results: dict[str, dict] = {}
            for method in methods:
                if method in ("faiss", "brute", "tiled") and n > args.flat_max:
                    print(f"{method:<7}skipped: brute force above --flat-max {args.flat_max:,} (N={n:,})")
                    figures.append((f"{method}_{n}_skipped", "yes"))
                    continue
                r = run_child(data, method, threshold, args.seed)
                results[method] = r
                print(
                    f"{method:<7}{r['search_s']:>10.2f}{r['verify_s']:>10.2f}{r['group_s']:>9.2f}{r['total_s']:>9.2f}"
                    f"{r['cpu_s']:>9.2f}{r['candidates']:>12,}{r['pairs']:>10,}{r['groups']:>9,}{r['grouped']:>9,}"
                    f"{r['rss_loaded_mb']:>12.0f}{r['peak_rss_mb']:>9.0f}"
                )
                for key in ("search_s", "verify_s", "group_s", "total_s", "cpu_s", "turned_s"):
                    figures.append((f"{method}_{n}_{key}", f"{r[key]:.3f}"))
                figures.append((f"{method}_{n}_turned_pairs", str(r["turned_pairs"])))
                figures.append((f"{method}_{n}_turned_planted", str(r["turned_planted"])))
                for key in ("candidates", "pairs", "groups"):
                    figures.append((f"{method}_{n}_{key}", str(r[key])))
                figures.append((f"{method}_{n}_peak_rss_mb", f"{r['peak_rss_mb']:.0f}"))
            for method, r in results.items():
                print(
                    f"  {method}: cpu/wall {r['cpu_s'] / max(r['total_s'], 1e-9):.2f}"
                    f"{'; ' + r['threads'] if 'threads' in r else ''}; "
                    f"grouping = components {r['components_s']:.2f} s + "
                    f"greedy stars {r['stars_s']:.2f} s on {r['stars_components']:,} non-clique components + "
                    f"{r['group_s'] - r['components_s'] - r['stars_s']:.2f} s other; largest group "
                    f"{r['largest_group']}; planted cluster pairs found {r['cluster_pairs_found']:,}/"
                    f"{r['cluster_pairs']:,}; look-alike pairs let through {r['lookalikes_found']:,} "
                    f"({r['lookalikes_wrong']} with both fine hashes); RSS after pairs "
                    f"{r['rss_after_pairs_mb']:.0f} MB; "
                    f"turned copies: {r['turned_s']:.2f} s for the 7 variants of every row, {r['turned_pairs']:,} "
                    f"pairs for {r['turned_planted']:,} planted"
                )
            if len(results) > 1:
                reference = next(iter(results.values()))
                agree = all(
                    r["pairs"] == reference["pairs"]
                    and r["pairs_digest"] == reference["pairs_digest"]
                    and r["groups_digest"] == reference["groups_digest"]
                    for r in results.values()
                )
                agree_all.append(agree)
                print(f"  {' and '.join(results)} agree on pairs and groups: {'yes' if agree else 'NO'}")
                figures.append((f"pairs_agree_{n}", "yes" if agree else "no"))
    figures.append(("pairs_agree", ("yes" if all(agree_all) else "no") if agree_all else "n/a"))
    return figures


# --------------------------------------------------------------------------------------------------------------
# quality


def manage(arguments: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess:
    command = [sys.executable, os.path.join(REPO, "manage.py"), *arguments]
    completed = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if completed.returncode != 0:
        raise SystemExit(f"{what} failed (exit {completed.returncode}): {' '.join(command)}\n{completed.stderr}")
    return completed


def load_ground_truth(corpus: str) -> list[dict[str, str]]:
    path = os.path.join(corpus, "dupes", "GROUND_TRUTH.tsv")
    if not os.path.isfile(path):
        raise SystemExit(f"--corpus {corpus}: no dupes/GROUND_TRUTH.tsv")
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream, delimiter="\t"))


@dataclass
class Score:
    recall: dict[str, tuple[int, int]]  # class -> (found, total)
    pairs: list[tuple[str, str, str, bool]]  # every ground-truth pair: class, file, file, found
    wrong: list[tuple[str, str]]
    hard_negative: list[tuple[str, str]]
    outside: int
    found: int


def score(ground_truth: list[dict[str, str]], found: set[tuple[str, str]]) -> Score:
    """The figures of shared/tools/corpus_score.py (pairs are sorted tuples of corpus-relative paths)."""
    group = {r["file"]: r["group_id"] for r in ground_truth}
    expect = {r["file"]: r["expect"] for r in ground_truth}
    confusable = {r["file"]: r["confusable_with"] for r in ground_truth if r["expect"] == "distinct"}
    recall: dict[str, list[int]] = {}
    pairs = []
    for gid in sorted(set(group.values())):
        members = sorted(f for f, g in group.items() if g == gid and expect[f] != "distinct")
        for x, y in itertools.combinations(members, 2):
            c = max(expect[x], expect[y], key=ORDER.index)
            hit = (x, y) in found
            recall.setdefault(c, [0, 0])
            recall[c][0] += hit
            recall[c][1] += 1
            pairs.append((c, x, y, hit))
    wrong = sorted((x, y) for x, y in found if x in group and y in group and group[x] != group[y])
    negative = sorted(
        (x, y)
        for x, y in found
        if (x in confusable and group.get(y) == confusable[x]) or (y in confusable and group.get(x) == confusable[y])
    )
    outside = sum(1 for x, y in found if x not in group or y not in group)
    ordered = {c: (h, t) for c, (h, t) in sorted(recall.items(), key=lambda item: ORDER.index(item[0]))}
    return Score(ordered, pairs, wrong, negative, outside, len(found))


@dataclass
class StoredHashes:
    """The hashes analyze stored for one file (64-bit as unsigned, fine as 64 bytes or empty)."""

    dhash: int
    phash: int
    fine: bytes


def pair_distances(x: StoredHashes | None, y: StoredHashes | None) -> tuple[int, int, int | None, int | None] | None:
    """64-bit dHash and pHash distances, then the 256-bit ones (None without both fine hashes)."""
    if x is None or y is None:
        return None
    d, p = (x.dhash ^ y.dhash).bit_count(), (x.phash ^ y.phash).bit_count()
    if len(x.fine) != FINE_BYTES or len(y.fine) != FINE_BYTES or not any(x.fine) or not any(y.fine):
        return d, p, None, None
    fx, fy = int.from_bytes(x.fine, "big"), int.from_bytes(y.fine, "big")
    diff = fx ^ fy
    return d, p, (diff >> 256).bit_count(), (diff & ((1 << 256) - 1)).bit_count()


def why_apart(distances, degenerate: bool, thresholds) -> str:
    """Why a ground-truth pair was not grouped: the first bound it fails, else the grouping itself."""
    if distances is None:
        return "no hashes"
    if degenerate:
        return "flat"
    d, p, fd, fp = distances
    if d > thresholds.dhash or p > thresholds.phash:
        return "64-bit"
    if fd is not None and (fd > thresholds.fine_dhash or fp > thresholds.fine_phash):
        return "fine"
    return "grouping"


def show(distances) -> str:
    if distances is None:
        return "no hashes"
    d, p, fd, fp = distances
    return f"d={d} p={p} " + ("no fine" if fd is None else f"fine d={fd} p={fp}")


STORED_HASHES = """
import json
from catalog.models import Asset
from catalog.selectors import catalog_by_path
rows = Asset.objects.filter(catalog=catalog_by_path({path!r})).values_list("path", "dhash", "phash", "fine_hash")
print(json.dumps([[p, d, h, bytes(f).hex() if f else ""] for p, d, h, f in rows]))
"""


def quality(args: argparse.Namespace) -> list[tuple[str, str]]:
    from catalog.similarity.grouping import Thresholds, degenerate

    corpus = os.path.realpath(args.corpus)
    if not os.path.isdir(corpus):
        raise SystemExit(f"--corpus {args.corpus}: not a folder")
    ground_truth = load_ground_truth(corpus)
    thresholds = Thresholds.scaled(args.threshold)
    absent = [r["file"] for r in ground_truth if not os.path.isfile(os.path.join(corpus, r["file"]))]
    folder = tempfile.mkdtemp(prefix="vam-bench-quality-")
    catalog = os.path.join(folder, "catalog")
    env = dict(os.environ)
    embedded = not env.get("DATABASE_URL")
    if embedded:
        env["VAM_DATA_DIR"] = os.path.join(folder, "data")
    print(f"corpus {corpus}: {len(ground_truth)} ground-truth files ({len(absent)} absent on disk)")
    print(
        f"database: {'embedded SQLite in ' + env['VAM_DATA_DIR'] if embedded else 'DATABASE_URL'}; "
        f"fresh catalog {catalog}; threshold {thresholds.dhash}: 64-bit dHash ≤ {thresholds.dhash}, "
        f"pHash ≤ {thresholds.phash}; 256-bit ≤ {thresholds.fine_dhash}, ≤ {thresholds.fine_phash}"
    )
    try:
        if embedded:
            manage(["migrate", "--noinput", "-v", "0"], env, "migrate")
        analyze = ["analyze", catalog, "-s", corpus]
        if args.threshold is not None:
            analyze += ["--threshold", str(args.threshold)]
        began = time.perf_counter()
        completed = manage(analyze, env, "analyze")
        analyze_s = time.perf_counter() - began
        for line in completed.stdout.splitlines():
            print(f"  {line}")
        groups_file = os.path.join(folder, "duplicates.json")
        manage(["export", catalog, "duplicates", "-o", groups_file], env, "export duplicates")
        with open(groups_file, encoding="utf-8") as stream:
            exported = json.load(stream)
        dump = manage(["shell", "-c", STORED_HASHES.format(path=catalog)], env, "reading the stored hashes")
        stored_rows = json.loads(dump.stdout.strip().splitlines()[-1])
    finally:
        if not embedded and not args.keep:
            code = f"from catalog.selectors import catalog_by_path\nc = catalog_by_path({catalog!r})\nc and c.delete()"
            manage(["shell", "-c", code], env, "deleting the catalog row")
        if args.keep:
            print(f"kept {folder}" + ("" if embedded else " and its catalog row"))
        else:
            shutil.rmtree(folder, ignore_errors=True)

    def rel(path: str) -> str:
        return os.path.relpath(os.path.realpath(path), corpus)

    found: set[tuple[str, str]] = set()
    kinds: dict[str, int] = {}
    for g in exported["groups"]:
        kinds[g["kind"]] = kinds.get(g["kind"], 0) + 1
        found.update(itertools.combinations(sorted(rel(m["path"]) for m in g["members"]), 2))
    stored = {
        rel(path): StoredHashes(d & 0xFFFFFFFFFFFFFFFF, p & 0xFFFFFFFFFFFFFFFF, bytes.fromhex(fine))
        for path, d, p, fine in stored_rows
        if d is not None and p is not None
    }
    flat = {}
    if stored:
        names = list(stored)
        marks = degenerate(
            np.array([stored[f].dhash for f in names], dtype=np.uint64),
            np.array([stored[f].phash for f in names], dtype=np.uint64),
        )
        flat = dict(zip(names, marks.tolist(), strict=True))
    rows = {r["file"]: r for r in ground_truth}
    result = score(ground_truth, found)

    def distances(x: str, y: str):
        return pair_distances(stored.get(x), stored.get(y))

    print(
        f"analyze: {analyze_s:.1f} s for {len(stored_rows)} assets; {kinds.get('exact', 0)} exact and "
        f"{kinds.get('similar', 0)} similar groups; {result.found} pairs of paths in groups"
    )
    print("recall: " + ", ".join(f"{c} {h}/{t}" for c, (h, t) in result.recall.items()))
    print(
        f"wrong pairs: {len(result.wrong)} (of which {len(result.hard_negative)} join a hard negative to the group "
        f"it must stay out of); pairs with a file outside the ground truth: {result.outside}"
    )
    for x, y in result.wrong:
        print(f"  wrong: {x} ~ {y} ({show(distances(x, y))})")
    outside = sorted((x, y) for x, y in found if x not in rows or y not in rows)
    for x, y in outside[:OUTSIDE_SHOWN]:
        print(f"  outside the ground truth: {x} ~ {y} ({show(distances(x, y))})")
    if len(outside) > OUTSIDE_SHOWN:
        print(f"  ... and {len(outside) - OUTSIDE_SHOWN} more pairs outside the ground truth")

    # Misses by class and transform (the transform of the file that makes the pair that hard), with the reason.
    table: dict[tuple[str, str], dict] = {}
    for c, x, y, hit in result.pairs:
        transform = "+".join(sorted({rows[f]["transform"] for f in (x, y) if rows[f]["expect"] == c}))
        entry = table.setdefault((c, transform), {"total": 0, "missed": [], "why": {}})
        entry["total"] += 1
        if not hit:
            dist = distances(x, y)
            reason = why_apart(dist, flat.get(x, False) or flat.get(y, False), thresholds)
            entry["missed"].append((x, y, dist))
            entry["why"][reason] = entry["why"].get(reason, 0) + 1
    print("missed ground-truth pairs, by class and transform (why: the first bound the pair fails):")
    for (c, transform), entry in sorted(table.items(), key=lambda item: (ORDER.index(item[0][0]), item[0][1])):
        if not entry["missed"]:
            continue
        known = [dist for _, _, dist in entry["missed"] if dist is not None]
        spans = ""
        if known:
            spans = "; " + ", ".join(
                f"{name} {min(v)}–{max(v)}"
                for name, v in zip(("d", "p", "fine d", "fine p"), zip(*known, strict=True), strict=True)
                if all(value is not None for value in v)
            )
        why = ", ".join(f"{reason} {count}" for reason, count in sorted(entry["why"].items()))
        print(f"  {c} {transform}: {len(entry['missed'])}/{entry['total']} missed ({why}){spans}")
        for x, y, dist in entry["missed"][: args.show]:
            print(f"      {x} ~ {y} ({show(dist)})")

    # The negative side: how close each hard negative comes to the group it must stay out of.
    print("hard negatives, closest member of the group they must stay out of:")
    for r in ground_truth:
        if r["expect"] != "distinct":
            continue
        others = [f for f, o in rows.items() if o["group_id"] == r["confusable_with"] and o["expect"] != "distinct"]
        close = [(dist, f) for f in others if (dist := distances(r["file"], f)) is not None]
        if not close:
            print(f"  {r['file']} vs {r['confusable_with']}: no hashes")
            continue
        dist, other = min(close, key=lambda item: (item[0][0] + item[0][1], item[0][2] or 0))
        print(f"  {r['file']} vs {other}: {show(dist)}")

    figures = [("analyze_s", f"{analyze_s:.1f}"), ("assets", str(len(stored_rows))), ("found_pairs", str(result.found))]
    for c, (h, t) in result.recall.items():
        figures.append((f"recall_{c}", f"{h / t:.3f}" if t else "n/a"))
        figures.append((f"recall_{c}_pairs", f"{h}/{t}"))
    figures += [
        ("wrong_pairs", str(len(result.wrong))),
        ("hard_negative_pairs", str(len(result.hard_negative))),
        ("outside_pairs", str(result.outside)),
    ]
    return figures


# --------------------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["_run"]:  # one method in a fresh process, for the speed command (prints one JSON line)
        data, method, threshold, seed = argv[1:5]
        sys.stdout.write(json.dumps(run_method(data, method, int(threshold), int(seed))) + "\n")
        return
    parser = argparse.ArgumentParser(prog="python -m bench.duplicates", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    fast = commands.add_parser("speed", help="pairs and groups for synthetic hashes, per method")
    fast.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated N (default {DEFAULT_SIZES})")
    fast.add_argument(
        "--methods", default="mih,faiss", help="comma-separated: mih, faiss, brute, tiled (default mih,faiss)"
    )
    fast.add_argument("--seed", type=int, default=1)
    fast.add_argument("--threshold", type=int, default=None, help="the user-facing threshold T (default 16)")
    fast.add_argument(
        "--flat-max", type=int, default=FLAT_MAX, help=f"skip brute-force methods above this N (default {FLAT_MAX:,})"
    )
    good = commands.add_parser("quality", help="recall and wrong pairs on the shared corpus's ground truth")
    good.add_argument("--corpus", required=True, help="the shared corpus folder (holds dupes/GROUND_TRUTH.tsv)")
    good.add_argument("--threshold", type=int, default=None, help="passed to analyze --threshold")
    good.add_argument("--keep", action="store_true", help="keep the temporary folder (and the catalog row)")
    good.add_argument("--show", type=int, default=3, help="missed pairs to list per class and transform (default 3)")
    args = parser.parse_args(argv)
    figures = speed(args) if args.command == "speed" else quality(args)
    print()
    for key, value in figures:
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
