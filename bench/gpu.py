"""The GPU path against the CPU engine, on one machine: one prepared run that needs only the Django-free core.

    python -m bench.gpu                                # on a GPU node: every figure below, a few minutes
    python -m bench.gpu --device cpu --files 8 --pairs 100000 --decode-files 4   # a quick try on a laptop
    python -m bench.gpu --corpus ~/Pictures --skip pairs,decode   # the agreement on your own photos

It prints:
1. **Analysis**: files/s on 12 MP JPEGs (made here, photo-like, with EXIF orientations) for the CPU engine on all
   the machine's cores and for the GPU path (``TorchEngine``) on the same files in the same run; thumbnails to a
   fresh folder each time, so every pass encodes them.
2. **Agreement**: how far the GPU path's dHash, pHash and 256-bit hashes are from the CPU engine's (mean and max
   bits), for the device decoder and for the ``draft`` decoder (which must be 0), and whether the near-duplicate
   pairs found among the files (every fourth one has a half-size recompressed copy) are the same.
3. **Pair search**: whether ``tiled_pairs`` on the device finds the numpy multi-index search's pairs (100k hashes
   at T=16 and T=24, 1M at T=16), and its time at 1M and 10M synthetic hashes, T=16 and T=24.
4. **CPU engine, 1/8-scale decode**: 12 MP JPEGs per second on one core with the ``DRAFT_SLACK`` that lets a 512 px
   thumbnail come from the 1/8-scale decode (500 px), against without it (1/4 scale).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from catalog.media import analyze as analyze_module
from catalog.media.analyze import AnalyzeOptions, FileAnalysis
from catalog.media.pool import analyze_many
from catalog.media.walk import WalkEntry, walk_media
from catalog.similarity.grouping import Thresholds
from catalog.similarity.search import mih_pairs

SIZE = (4000, 3000)  # 12 MP


def photo(seed: int, size: tuple[int, int] = SIZE) -> Image.Image:
    """A photo-like picture: smooth shapes at every scale plus sensor noise (pure noise hashes like nothing)."""
    rng = np.random.default_rng(seed)
    layers = np.zeros((size[1], size[0], 3), dtype=np.float32)
    for cells in (4, 16, 64):
        coarse = rng.uniform(0, 255, (cells * size[1] // size[0] + 1, cells, 3)).astype(np.uint8)
        layers += np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 3
    layers += rng.normal(0, 6, layers.shape).astype(np.float32)
    return Image.fromarray(np.clip(layers, 0, 255).astype(np.uint8))


def _make(args: tuple[int, str]) -> list[str]:
    index, folder = args
    picture = photo(index)
    exif = Image.Exif()
    exif[0x0112] = (1, 6, 3, 8)[index % 4]  # EXIF orientation
    path = Path(folder) / f"IMG_{index:04d}.jpg"
    picture.save(path, "JPEG", quality=90, exif=exif)
    made = [str(path)]
    if index % 4 == 0:  # a near duplicate: half the size, recompressed
        copy = Path(folder) / f"IMG_{index:04d}_small.jpg"
        picture.resize((SIZE[0] // 2, SIZE[1] // 2), Image.Resampling.LANCZOS).save(copy, "JPEG", quality=75, exif=exif)
        made.append(str(copy))
    return made


def make_library(folder: Path, count: int) -> list[WalkEntry]:
    folder.mkdir(parents=True, exist_ok=True)
    with ProcessPoolExecutor(os.cpu_count()) as pool:
        paths = [path for made in pool.map(_make, [(i, str(folder)) for i in range(count)]) for path in made]
    return [WalkEntry(path=p, size=os.stat(p).st_size, mtime_ns=os.stat(p).st_mtime_ns) for p in sorted(paths)]


def timed_pass(engine, entries: list[WalkEntry], workers: int, scratch: Path) -> tuple[float, dict[str, FileAnalysis]]:
    root = Path(tempfile.mkdtemp(dir=scratch, prefix="thumbs-"))
    options = AnalyzeOptions(thumbnails_root=str(root))
    started = time.perf_counter()
    results = {result.path: result for result in engine(entries, options, {}, workers)}
    seconds = time.perf_counter() - started
    shutil.rmtree(root)
    return seconds, results


def bits(a: int | None, b: int | None) -> int:
    return bin((a or 0) ^ (b or 0)).count("1")


def fine_bits(a: bytes | None, b: bytes | None) -> tuple[int, int]:
    x = np.frombuffer(a or bytes(64), dtype=np.uint8) ^ np.frombuffer(b or bytes(64), dtype=np.uint8)
    counts = np.unpackbits(x)
    return int(counts[:256].sum()), int(counts[256:].sum())


def pairs_of(results: dict[str, FileAnalysis], threshold: int = 16) -> set[tuple[str, str]]:
    paths = sorted(p for p, r in results.items() if r.dhash is not None)
    d = np.array([results[p].dhash for p in paths], dtype=np.uint64)
    p = np.array([results[q].phash for q in paths], dtype=np.uint64)
    bounds = Thresholds.scaled(threshold)
    found = mih_pairs(d, p, bounds.dhash, bounds.phash)
    return {(paths[i], paths[j]) for i, j in zip(found.i.tolist(), found.j.tolist(), strict=True)}


def agreement(label: str, cpu: dict[str, FileAnalysis], gpu: dict[str, FileAnalysis]) -> None:
    """Hash distances over the JPEGs (what the GPU path decodes), and the near-duplicate pairs over every file."""
    jpegs = [path for path, result in cpu.items() if result.format == "JPEG" and result.dhash is not None]
    d = [bits(cpu[p].dhash, gpu[p].dhash) for p in jpegs]
    p = [bits(cpu[q].phash, gpu[q].phash) for q in jpegs]
    fine = [fine_bits(cpu[q].fine_hash, gpu[q].fine_hash) for q in jpegs]
    fd, fp = [f[0] for f in fine], [f[1] for f in fine]
    same = sum(cpu[q].hash_variants == gpu[q].hash_variants for q in jpegs)
    print(f"  {label:<22} {len(jpegs)} JPEGs: dHash {statistics.mean(d):.2f} mean / {max(d)} max bits; "
          f"pHash {statistics.mean(p):.2f} / {max(p)}; fine dHash {statistics.mean(fd):.1f} / {max(fd)} of 256; "
          f"fine pHash {statistics.mean(fp):.1f} / {max(fp)}; turn hashes equal on {same}/{len(jpegs)}")  # fmt: skip
    cpu_pairs, gpu_pairs = pairs_of(cpu), pairs_of(gpu)
    print(f"  {'':<22} near-duplicate pairs: CPU {len(cpu_pairs)}, GPU path {len(gpu_pairs)}, "
          f"same: {cpu_pairs == gpu_pairs}")  # fmt: skip


def analysis(args: argparse.Namespace, scratch: Path) -> None:
    from catalog.media.gpu import TorchEngine

    cores = os.cpu_count() or 1
    if args.corpus:
        entries = list(walk_media([args.corpus]))
        print(f"Analysis: {len(entries)} files of {args.corpus}, {cores} cores")
    else:
        entries = make_library(scratch / "photos", args.files)
        made = f"{args.files} at 12 MP, {len(entries) - args.files} at 3 MP"
        print(f"Analysis: {len(entries)} JPEGs ({made}), {cores} cores")
    timed_pass(analyze_many, entries[:cores], cores, scratch)  # warm: page cache, forkserver, imports
    cpu_seconds, cpu = timed_pass(analyze_many, entries, cores, scratch)
    print(f"  CPU engine, {cores} processes: {len(entries) / cpu_seconds:7.1f} files/s")
    for decoder in ("device", "draft"):
        engine = TorchEngine(args.device, decoder)
        timed_pass(engine, entries[: 2 * cores], cores, scratch)  # warm: CUDA context, kernels, tables
        seconds, gpu = timed_pass(engine, entries, cores, scratch)
        rate, times = len(entries) / seconds, cpu_seconds / seconds
        print(f"  GPU path on {args.device}, {decoder} decoder: {rate:7.1f} files/s "
              f"({times:.2f}x the CPU engine; {engine.fell_back} finished on the CPU)")  # fmt: skip
        agreement(f"{decoder} decoder vs CPU", cpu, gpu)


def synthetic(n: int, seed: int, flips: int) -> tuple[np.ndarray, np.ndarray]:
    """Random hashes, a tenth of them copies of others with up to ``flips`` bits changed in each hash."""
    rng = np.random.default_rng(seed)
    d = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * 2 + rng.integers(0, 2, n).astype(np.uint64)
    p = rng.integers(0, 2**63, n, dtype=np.int64).astype(np.uint64) * 2 + rng.integers(0, 2, n).astype(np.uint64)
    copies = rng.choice(n, n // 10, replace=False)
    originals = rng.integers(0, n, n // 10)
    for values in (d, p):
        masks = np.zeros(len(copies), dtype=np.uint64)
        for _ in range(flips):
            masks |= np.uint64(1) << rng.integers(0, 64, len(copies)).astype(np.uint64)
        values[copies] = values[originals] ^ masks
    return d, p


def pair_search(args: argparse.Namespace) -> None:
    from catalog.similarity.tiled import tiled_pairs

    print(f"Pair search on {args.device} (tiled XOR-popcount over all pairs)")
    for threshold in (16, 24):  # the same pairs as the numpy multi-index search, at both radii
        bounds = Thresholds.scaled(threshold)
        d, p = synthetic(100_000, seed=threshold, flips=bounds.phash)
        found = tiled_pairs(d, p, bounds.dhash, bounds.phash, device=args.device)
        reference = mih_pairs(d, p, bounds.dhash, bounds.phash)
        same = found.as_set() == reference.as_set() and np.array_equal(found.p, reference.p)
        print(f"  {100_000:>11,} hashes, T={threshold}: {len(found):,} pairs, the multi-index search's: {same}")
    sizes = [int(size) for size in args.pairs.split(",")]
    for n in sizes:
        for threshold in (16, 24):
            bounds = Thresholds.scaled(threshold)
            d, p = synthetic(n, seed=n + threshold, flips=bounds.phash)
            tiled_pairs(d[:1000], p[:1000], bounds.dhash, bounds.phash, device=args.device)  # warm
            started = time.perf_counter()
            found = tiled_pairs(d, p, bounds.dhash, bounds.phash, device=args.device)
            seconds = time.perf_counter() - started
            line = f"  {n:>11,} hashes, T={threshold}: {seconds:7.2f} s, {len(found):,} pairs"
            if n <= 1_000_000 and threshold == 16:
                started = time.perf_counter()
                reference = mih_pairs(d, p, bounds.dhash, bounds.phash)
                line += (f"; numpy multi-index {time.perf_counter() - started:.2f} s, "
                         f"same pairs: {found.as_set() == reference.as_set()}")  # fmt: skip
            print(line, flush=True)


def draft_gain(args: argparse.Namespace, scratch: Path) -> None:
    entries = make_library(scratch / "decode", args.decode_files)
    entries = [entry for entry in entries if "_small" not in entry.path]
    print(f"CPU engine, one core, {len(entries)} 12 MP JPEGs, 256+512 px thumbnails")
    slack = analyze_module.DRAFT_SLACK
    rates = {}
    for label, value in (("1/4-scale decode (no slack)", 10**9), ("1/8-scale decode (DRAFT_SLACK)", slack)):
        analyze_module.DRAFT_SLACK = value
        runs = [timed_pass(analyze_many, entries, 1, scratch)[0] for _ in range(3)]
        rates[label] = len(entries) / statistics.median(runs)
        print(f"  {label:<32} {rates[label]:6.1f} files/s")
    analyze_module.DRAFT_SLACK = slack
    first, second = rates.values()
    print(f"  gain: {second / first:.2f}x")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda (default) or cpu")
    parser.add_argument("--files", type=int, default=192, help="12 MP JPEGs to analyze (plus a quarter as copies)")
    parser.add_argument("--pairs", default="1000000,10000000", help="hash counts for the pair search")
    parser.add_argument("--decode-files", type=int, default=16, help="12 MP JPEGs for the one-core decode figure")
    parser.add_argument("--corpus", help="analyze this folder's files instead of made-up 12 MP JPEGs")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: analysis,pairs,decode")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    with tempfile.TemporaryDirectory(prefix="vam-bench-gpu-") as folder:
        scratch = Path(folder)
        if "analysis" not in skip:
            analysis(args, scratch)
        if "pairs" not in skip:
            pair_search(args)
        if "decode" not in skip:
            draft_gain(args, scratch)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
