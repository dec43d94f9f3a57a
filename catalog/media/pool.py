"""Run ``analyze_file`` over many files on a process pool (Django-free, so workers import only the media core).

A file that kills its worker (a decoder crash, the kernel's OOM killer) or never finishes (a decoder stuck in a
loop) must not stop the run or lose the other files: when the pool breaks or a file overruns
``options.file_timeout``, the files that were in flight are retried one at a time in a fresh process, and the one
that fails alone too is reported as a problem.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import deque
from collections.abc import Generator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from .analyze import AnalyzeOptions, FileAnalysis, Problem, analyze_file
from .walk import WalkEntry

IN_FLIGHT_PER_WORKER = 4
TASKS_PER_CHILD = 500  # recycle workers now and then: decoders can fragment memory

NOTHING_KNOWN: frozenset[str] = frozenset()

_options: AnalyzeOptions | None = None


def _init_worker(options: AnalyzeOptions) -> None:
    global _options
    _options = options


def _analyze_entry(entry: WalkEntry, known: frozenset[str]) -> FileAnalysis:
    assert _options is not None
    return analyze_file(entry.path, _options, known, entry.size, entry.mtime_ns)


def _executor(workers: int, options: AnalyzeOptions) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, not a fork of one holding database connections.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["catalog.media.pool"])
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(options,),
        max_tasks_per_child=TASKS_PER_CHILD,
    )


def _failed(entry: WalkEntry, message: str) -> FileAnalysis:
    result = FileAnalysis(path=entry.path, size=entry.size, mtime_ns=entry.mtime_ns)
    result.add_problem(Problem.CRASHED, message)
    return result


def _crashed(entry: WalkEntry) -> FileAnalysis:
    return _failed(entry, "the process analyzing this file died (decoder crash or out of memory); it was skipped")


def _timed_out(entry: WalkEntry, limit: float) -> FileAnalysis:
    result = FileAnalysis(path=entry.path, size=entry.size, mtime_ns=entry.mtime_ns)
    result.add_problem(Problem.TIMED_OUT, f"analyzing this file took longer than {limit:.0f} s; it was skipped")
    return result


def _terminate(executor: ProcessPoolExecutor) -> None:
    """Kill the workers now, whatever they are doing (a decoder stuck in a loop never returns on its own)."""
    terminate = getattr(executor, "terminate_workers", None)  # public from Python 3.14
    if terminate is not None:
        terminate()
        return
    for process in list(getattr(executor, "_processes", {}).values()):
        process.kill()


def _isolated(entry: WalkEntry, options: AnalyzeOptions, known: frozenset[str]) -> FileAnalysis:
    """Analyze one suspect file alone in a fresh process, within the per-file time limit."""
    executor = _executor(1, options)
    try:
        return executor.submit(_analyze_entry, entry, known).result(timeout=options.file_timeout)
    except BrokenProcessPool:
        return _crashed(entry)
    except TimeoutError:
        _terminate(executor)
        return _timed_out(entry, options.file_timeout)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)


def analyze_many(
    entries: list[WalkEntry], options: AnalyzeOptions, known: Mapping[int, frozenset[str]], workers: int
) -> Generator[FileAnalysis, None, None]:
    """Analyze entries on ``workers`` processes (inline for one), yielding results as they finish.

    ``known`` maps a file size to the sha256s the catalog already knows at that size: identical content has
    identical size, so each file is sent only the few (usually zero) digests it could match.
    Closing the generator early (a cancelled job) stops the pool.
    """
    if workers <= 1:
        _init_worker(options)
        for entry in entries:
            yield _analyze_entry(entry, known.get(entry.size, NOTHING_KNOWN))
        return
    # Biggest files first keeps every core busy to the end instead of waiting on one huge file at the tail.
    pending = deque(sorted(entries, key=lambda entry: entry.size, reverse=True))
    count = min(workers, len(pending)) or 1
    executor = _executor(count, options)
    in_flight: dict[Future, WalkEntry] = {}
    submitted: dict[Future, float] = {}
    try:
        while pending or in_flight:
            while pending and len(in_flight) < count * IN_FLIGHT_PER_WORKER:
                entry = pending.popleft()
                future = executor.submit(_analyze_entry, entry, known.get(entry.size, NOTHING_KNOWN))
                in_flight[future], submitted[future] = entry, time.monotonic()
            done, _ = wait(in_flight, timeout=min(options.file_timeout, 5.0), return_when=FIRST_COMPLETED)
            broken = False
            for future in done:
                try:
                    result = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                except Exception as exc:  # e.g. a result that cannot be sent back: this file only
                    result = _failed(in_flight[future], f"{type(exc).__name__}: {exc}")
                del in_flight[future], submitted[future]
                yield result
            # Idle workers take queued files at once, so a file unfinished this long after it was handed over is
            # stuck (or every worker is): stop the pool and sort the files in flight out one by one.
            if not broken and submitted and time.monotonic() - min(submitted.values()) > options.file_timeout:
                _terminate(executor)
                broken = True
            if broken:
                # Any file in flight may be the culprit: retry each alone, then carry on with a fresh pool.
                suspects = list(in_flight.values())
                in_flight.clear()
                submitted.clear()
                executor.shutdown(wait=False, cancel_futures=True)
                for entry in suspects:
                    yield _isolated(entry, options, known.get(entry.size, NOTHING_KNOWN))
                executor = _executor(count, options)
    finally:
        executor.shutdown(wait=False, cancel_futures=True)
