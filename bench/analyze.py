"""Benchmark the analyze engine against a naive single-process pass over the same files.

Usage (from the repository root; Django is not needed, the media core is Django-free)::

    python -m bench.analyze --corpus DIR [--corpus DIR2 ...] [--workers 2] [--repeat 3] [--sizes 256,512]

The media files under every ``--corpus`` are copied into a temporary folder first (the sources are never touched,
and every run reads files that sit in the page cache), then listed with ``walk_media``. Three passes are timed on
the copies, each repeat interleaved so that machine drift hits all three alike, and the median of the repeats is
reported:

* engine, 1 process: ``analyze_file`` in an inline loop;
* engine, N processes: ``analyze_many(workers=N)`` (pool start-up included, as a scan job pays it);
* naive, 1 process: read, sha256, exifread, full decode + ``exif_transpose``, imagehash dHash and pHash on the
  full image, and every thumbnail made from the full-size image with ``Image.thumbnail`` (WebP quality 80).
  Files the naive pass cannot decode are skipped and counted.

Both engine passes write their thumbnails into a fresh folder on every repeat, so they are really encoded and
written each time. The last lines of the output are ``key=value`` pairs for scripts.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import logging
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field

import exifread
import imagehash
from PIL import Image, ImageOps, features

from catalog.media.analyze import AnalyzeOptions, FileAnalysis, analyze_file
from catalog.media.pool import analyze_many
from catalog.media.walk import WalkEntry, walk_media

NAIVE_SIZES = (256, 512)
NAIVE_QUALITY = 80
NO_KNOWN: frozenset[str] = frozenset()


@dataclass
class Corpus:
    entries: list[WalkEntry]
    skipped: list[WalkEntry]  # walk problem entries (broken links, loops, undecodable names): not benchmarked
    total_bytes: int


@dataclass
class PassResult:
    seconds: float
    per_file: dict[str, float] = field(default_factory=dict)  # path -> seconds (inline passes only)
    problems: Counter = field(default_factory=Counter)
    thumbnails: int = 0
    done: int = 0  # files the pass handled (naive: decoded)
    failed: list[str] = field(default_factory=list)  # naive: files it could not decode


# --------------------------------------------------------------------------------------------------------------
# Corpus


def copy_corpus(sources: list[str], destination: str) -> Corpus:
    """Copy the media files of every source (as ``walk_media`` sees them) under ``destination`` and list the copies."""
    for index, source in enumerate(sources):
        source = os.path.abspath(source)
        if not os.path.isdir(source):
            raise SystemExit(f"--corpus {source}: not a folder")
        target_root = os.path.join(destination, f"{index:02d}-{os.path.basename(source.rstrip(os.sep)) or 'root'}")
        for entry in walk_media([source]):
            if entry.problem_kind:
                continue
            target = os.path.join(target_root, os.path.relpath(entry.path, source))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copy2(entry.path, target)
    entries, skipped = [], []
    for entry in walk_media([destination]):
        (skipped if entry.problem_kind else entries).append(entry)
    if not entries:
        raise SystemExit("no media files found in the given --corpus folders")
    return Corpus(entries, skipped, sum(entry.size for entry in entries))


# --------------------------------------------------------------------------------------------------------------
# Engine


def _record(result: PassResult, analysis: FileAnalysis) -> None:
    result.done += 1
    result.thumbnails += len(analysis.thumbnails)
    if analysis.problem_kind:
        result.problems[analysis.problem_kind] += 1


def engine_inline(entries: list[WalkEntry], options: AnalyzeOptions) -> PassResult:
    result = PassResult(0.0)
    clock = time.perf_counter
    start = clock()
    for entry in entries:
        began = clock()
        analysis = analyze_file(entry.path, options, NO_KNOWN, entry.size, entry.mtime_ns)
        result.per_file[entry.path] = clock() - began
        _record(result, analysis)
    result.seconds = clock() - start
    return result


def engine_pool(entries: list[WalkEntry], options: AnalyzeOptions, workers: int) -> PassResult:
    result = PassResult(0.0)
    start = time.perf_counter()
    for analysis in analyze_many(entries, options, {}, workers):
        _record(result, analysis)
    result.seconds = time.perf_counter() - start
    return result


# --------------------------------------------------------------------------------------------------------------
# Naive baseline


def naive_file(path: str, thumbnails_root: str, sizes: tuple[int, ...]) -> int:
    """The straightforward way: everything from the full-size decode. Returns the number of thumbnails written."""
    with open(path, "rb") as handle:
        data = handle.read()
    digest = hashlib.sha256(data).hexdigest()
    try:
        exifread.process_file(io.BytesIO(data), details=False)
    except Exception:  # exifread raises assorted errors on odd files; the naive pass carries on without EXIF
        pass
    image = Image.open(io.BytesIO(data))
    image.load()
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "RGBA", "L"):
        image = image.convert("RGBA" if "A" in image.mode or "transparency" in image.info else "RGB")
    imagehash.dhash(image)
    imagehash.phash(image)
    for size in sizes:
        thumbnail = image.copy()
        thumbnail.thumbnail((size, size))
        folder = os.path.join(thumbnails_root, str(size))
        os.makedirs(folder, exist_ok=True)
        thumbnail.save(os.path.join(folder, f"{digest}.webp"), "WEBP", quality=NAIVE_QUALITY)
    return len(sizes)


def naive_pass(entries: list[WalkEntry], thumbnails_root: str, sizes: tuple[int, ...]) -> PassResult:
    result = PassResult(0.0)
    clock = time.perf_counter
    start = clock()
    wasted = 0.0
    for entry in entries:
        began = clock()
        try:
            written = naive_file(entry.path, thumbnails_root, sizes)
        except Exception:  # undecodable for the naive pass (video, RAW, bomb, truncated, ...): skipped, counted
            result.failed.append(entry.path)
            wasted += clock() - began
            continue
        result.per_file[entry.path] = clock() - began
        result.thumbnails += written
        result.done += 1
    result.seconds = clock() - start - wasted  # time on the files it decoded only
    return result


# --------------------------------------------------------------------------------------------------------------
# Report


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _median_pass(runs: list[PassResult]) -> PassResult:
    return sorted(runs, key=lambda run: run.seconds)[len(runs) // 2]


def _per_file_medians(runs: list[PassResult]) -> dict[str, float]:
    paths = runs[0].per_file.keys()
    return {path: statistics.median(run.per_file[path] for run in runs if path in run.per_file) for path in paths}


def _megapixels(path: str) -> str:
    try:
        with Image.open(path) as image:
            return f"{image.width * image.height / 1e6:5.1f}"
    except Exception:
        return "    -"


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def report(
    corpus: Corpus,
    root: str,
    workers: int,
    repeat: int,
    sizes: tuple[int, ...],
    engine1_runs: list[PassResult],
    engineN_runs: list[PassResult],
    naive_runs: list[PassResult],
    top: int,
) -> None:
    files, megabytes = len(corpus.entries), corpus.total_bytes / 1e6
    engine1, engineN, naive = _median_pass(engine1_runs), _median_pass(engineN_runs), _median_pass(naive_runs)
    naive_files = naive.done
    e1_rate, eN_rate = _rate(files, engine1.seconds), _rate(files, engineN.seconds)
    naive_rate = _rate(naive_files, naive.seconds)
    ratio_1 = e1_rate / naive_rate if naive_files else float("nan")
    ratio_N = eN_rate / naive_rate if naive_files else float("nan")

    # Same-files ratio from per-file timings: only the files the naive pass decoded, so videos etc. do not skew it.
    engine_ms = _per_file_medians(engine1_runs)
    naive_ms = _per_file_medians(naive_runs)
    common = [path for path in naive_ms if path in engine_ms]
    common_engine = sum(engine_ms[path] for path in common)
    common_naive = sum(naive_ms[path] for path in common)
    ratio_common = common_naive / common_engine if common_engine else float("nan")

    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    cores = max(1, min(workers, cpus, files))  # cores the N-process pass can keep busy
    print()
    print(f"corpus   : {files} files, {megabytes:.1f} MB (copied to {root})")
    if corpus.skipped:
        print(f"walk     : {len(corpus.skipped)} problem entries not benchmarked")
    print(
        f"host     : {platform.python_implementation()} {platform.python_version()}, Pillow {Image.__version__}"
        f" (libjpeg-turbo {features.version('libjpeg_turbo') or 'no'}, libwebp {features.version('webp') or '?'}),"
        f" {cpus} usable CPUs"
    )
    print(f"settings : sizes={','.join(map(str, sizes))} webp q80, workers={workers}, median of {repeat} repeat(s)")
    if workers > cpus:
        print(f"warning  : {workers} workers on {cpus} CPUs: the N-process figure is oversubscribed")
    print()
    header = f"{'pass':<26}{'files':>7}{'MB':>9}{'seconds':>10}{'files/s':>10}{'MB/s':>9}{'files/s/core':>14}"
    header += f"{'vs naive':>10}"
    print(header)
    print("-" * len(header))
    naive_mb = sum(os.path.getsize(path) for path in naive_ms) / 1e6
    rows = [
        ("engine, 1 process", files, megabytes, engine1.seconds, e1_rate, e1_rate, ratio_1),
        (f"engine, {workers} processes", files, megabytes, engineN.seconds, eN_rate, eN_rate / cores, ratio_N),
        ("naive, 1 process", naive_files, naive_mb, naive.seconds, naive_rate, naive_rate, 1.0),
    ]
    for name, count, mb, seconds, rate, per_core, ratio in rows:
        print(
            f"{name:<26}{count:>7}{mb:>9.1f}{seconds:>10.3f}{rate:>10.2f}{mb / seconds:>9.1f}{per_core:>14.2f}"
            f"{ratio:>9.2f}x"
        )
    print()
    print(f"speed-up engine 1 proc / naive 1 proc (files/s)      : {ratio_1:.2f}x")
    print(f"speed-up engine {workers} procs / naive 1 proc (files/s)     : {ratio_N:.2f}x")
    print(f"speed-up engine 1 proc / naive, same {len(common)} files (time) : {ratio_common:.2f}x")
    print(f"pool scaling engine {workers} procs / 1 proc                  : {eN_rate / e1_rate:.2f}x")
    if naive.failed:
        names = ", ".join(os.path.relpath(path, root) for path in naive.failed[:8])
        more = f" (+{len(naive.failed) - 8} more)" if len(naive.failed) > 8 else ""
        print(f"naive skipped {len(naive.failed)} file(s) it cannot decode: {names}{more}")
    print(
        f"thumbnails written per repeat: engine 1 proc {engine1.thumbnails}, engine {workers} procs"
        f" {engineN.thumbnails}, naive {naive.thumbnails}"
        " (the engine writes one set per distinct content: duplicate files share thumbnails)"
    )
    if engine1.problems:
        kinds = ", ".join(f"{kind}={count}" for kind, count in sorted(engine1.problems.items()))
        print(f"engine problems reported (expected for odd files): {kinds}")

    values = [seconds * 1000 for seconds in engine_ms.values()]
    print()
    print(
        f"engine 1 proc per-file ms: mean {statistics.fmean(values):.1f}, median {statistics.median(values):.1f},"
        f" p90 {_percentile(values, 0.9):.1f}, max {max(values):.1f}"
    )
    if top:
        slowest = sorted(engine_ms, key=engine_ms.get, reverse=True)
        if top > 0:
            slowest = slowest[:top]
        print(f"{'engine ms':>10}{'naive ms':>10}{'MP':>7}{'KB':>8}  file")
        for path in slowest:
            naive_text = f"{naive_ms[path] * 1000:>10.1f}" if path in naive_ms else f"{'-':>10}"
            print(
                f"{engine_ms[path] * 1000:>10.1f}{naive_text}{_megapixels(path):>7}"
                f"{os.path.getsize(path) // 1024:>8}  {os.path.relpath(path, root)}"
            )

    print()
    pairs = {
        "files": files,
        "mb": f"{megabytes:.2f}",
        "workers": workers,
        "repeat": repeat,
        "engine_seconds_1proc": f"{engine1.seconds:.4f}",
        "engine_seconds_nproc": f"{engineN.seconds:.4f}",
        "naive_seconds": f"{naive.seconds:.4f}",
        "naive_files": naive_files,
        "naive_skipped": len(naive.failed),
        "engine_ms_per_file_1proc": f"{1000 * engine1.seconds / files:.2f}",
        "engine_files_per_s_per_core_1proc": f"{e1_rate:.3f}",
        "engine_files_per_s_per_core_nproc": f"{eN_rate / cores:.3f}",
        "engine_files_per_s_1proc": f"{e1_rate:.3f}",
        "engine_files_per_s_nproc": f"{eN_rate:.3f}",
        "naive_files_per_s": f"{naive_rate:.3f}",
        "ratio_1proc_same_files": f"{ratio_common:.3f}",
        "ratio_nproc": f"{ratio_N:.3f}",
        "ratio_1proc": f"{ratio_1:.3f}",
    }
    for key, value in pairs.items():
        print(f"{key}={value}")


# --------------------------------------------------------------------------------------------------------------
# Main


def parse_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes: expected comma-separated integers, got {text!r}") from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError("--sizes: give at least one positive size")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.analyze", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", required=True, help="folder of media files (repeatable)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the analyze_many pass (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats; the median is reported (default 3)")
    parser.add_argument("--sizes", type=parse_sizes, default=(256, 512), help="engine thumbnail sizes (256,512)")
    parser.add_argument("--top", type=int, default=10, help="slowest files to list (0 none, -1 all; default 10)")
    parser.add_argument("--tmp", default=None, help="where to make the temporary folder (default: system temp)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.workers < 1 or args.repeat < 1:
        parser.error("--workers and --repeat must be at least 1")

    logging.getLogger("exifread").setLevel(logging.CRITICAL)  # exifread logs every odd tag it meets
    warnings.simplefilter("ignore")  # Pillow's EXIF/MPO warnings would flood the table; the engine records its own
    root = tempfile.mkdtemp(prefix="vam-bench-analyze-", dir=args.tmp)
    try:
        media = os.path.join(root, "media")
        os.makedirs(media)
        corpus = copy_corpus(args.corpus, media)
        entries = corpus.entries
        print(f"copied {len(entries)} media files ({corpus.total_bytes / 1e6:.1f} MB) to {media}", flush=True)

        def fresh(label: str) -> str:
            return tempfile.mkdtemp(prefix=f"{label}-", dir=root)

        # Warm-up: imports, codec tables, the first-call costs of numpy and Pillow; on the largest file.
        first = max(entries, key=lambda entry: entry.size)
        analyze_file(first.path, AnalyzeOptions(thumbnails_root=fresh("warm"), sizes=args.sizes), NO_KNOWN)
        try:
            naive_file(first.path, fresh("warm"), NAIVE_SIZES)
        except Exception:
            pass

        engine1_runs, engineN_runs, naive_runs = [], [], []
        for index in range(args.repeat):
            engine1_runs.append(
                engine_inline(entries, AnalyzeOptions(thumbnails_root=fresh(f"e1-{index}"), sizes=args.sizes))
            )
            engineN_runs.append(
                engine_pool(
                    entries, AnalyzeOptions(thumbnails_root=fresh(f"eN-{index}"), sizes=args.sizes), args.workers
                )
            )
            naive_runs.append(naive_pass(entries, fresh(f"naive-{index}"), NAIVE_SIZES))
            print(
                f"repeat {index + 1}/{args.repeat}: engine 1 proc {engine1_runs[-1].seconds:.2f} s,"
                f" engine {args.workers} procs {engineN_runs[-1].seconds:.2f} s, naive {naive_runs[-1].seconds:.2f} s",
                flush=True,
            )
            for run in (engine1_runs[-1], engineN_runs[-1]):
                if run.done != len(entries):
                    raise SystemExit(f"engine analyzed {run.done} of {len(entries)} files")
        report(
            corpus,
            media,
            args.workers,
            args.repeat,
            args.sizes,
            engine1_runs,
            engineN_runs,
            naive_runs,
            args.top,
        )
    finally:
        if args.keep:
            print(f"kept {root}", file=sys.stderr)
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
