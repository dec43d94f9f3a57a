"""Run ``analyze_file`` over many files on a process pool (Django-free, so workers import only the media core)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Generator

from .analyze import AnalyzeOptions, FileAnalysis, analyze_file
from .walk import WalkEntry

_options: AnalyzeOptions | None = None
_known: frozenset[str] = frozenset()


def _init_worker(options: AnalyzeOptions, known: frozenset[str]) -> None:
    global _options, _known
    _options, _known = options, known


def _analyze_entry(entry: WalkEntry) -> FileAnalysis:
    assert _options is not None
    return analyze_file(entry.path, _options, _known, entry.size, entry.mtime_ns)


def analyze_many(
    entries: list[WalkEntry], options: AnalyzeOptions, known: frozenset[str], workers: int
) -> Generator[FileAnalysis, None, None]:
    """Analyze entries on ``workers`` processes (inline for one), yielding results as they finish.

    Closing the iterator early (a cancelled job) terminates the pool.
    """
    count = min(max(1, workers), max(1, len(entries)))
    if count == 1 or len(entries) < 4:
        _init_worker(options, known)
        for entry in entries:
            yield _analyze_entry(entry)
        return
    # forkserver: workers start from a clean process, not a fork of one holding database connections.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["catalog.media.pool"])
    # Biggest files first keeps both cores busy to the end instead of waiting on one huge file at the tail.
    ordered = sorted(entries, key=lambda entry: entry.size, reverse=True)
    chunk = max(1, min(16, len(ordered) // (count * 8)))
    with context.Pool(count, initializer=_init_worker, initargs=(options, known), maxtasksperchild=2000) as pool:
        yield from pool.imap_unordered(_analyze_entry, ordered, chunksize=chunk)
