"""Run ``analyze_file`` over many files on a process pool (Django-free, so workers import only the media core).

A file that kills its worker (a decoder crash, the kernel's OOM killer) or never finishes (a decoder stuck in a
loop) must not stop the run or lose the other files: when the pool breaks or a file overruns
``options.file_timeout``, the files that were in flight are retried one at a time in a fresh process, and the one
that fails alone too is reported as a problem.

No process of the pool outlives the work it was started for. A run stops its workers before it returns, also when
it is closed early (a cancelled job) or fails; ``pool_processes`` then stops the forkserver and the resource
tracker the workers came from, once nothing in this process uses them (a long-lived worker or web server would
keep them otherwise, and a work-horse that exits leaves them running on as orphans). A worker whose parent dies
(killed with -9) exits too, and so does each worker's ExifTool process (``exiftool``: stopped when its worker
exits, killed by the kernel when its worker is killed).
"""

from __future__ import annotations

import gc
import multiprocessing
import multiprocessing.connection
import multiprocessing.forkserver
import multiprocessing.resource_tracker
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from typing import Any

from .analyze import AnalyzeOptions, FileAnalysis, Problem, analyze_file
from .exiftool import close_readers
from .walk import WalkEntry

IN_FLIGHT_PER_WORKER = 4
TASKS_PER_CHILD = 500  # recycle workers now and then: decoders can fragment memory
STOP_SECONDS = 10.0  # a pool's workers that have not exited this long after being told to are killed
PRELOAD = ["catalog.media.pool"]

NOTHING_KNOWN: frozenset[str] = frozenset()

_options: AnalyzeOptions | None = None


_lock = threading.Lock()
_users = 0  # runs (and jobs) of this process that use the pool now


def _init_worker(options: AnalyzeOptions) -> None:
    global _options
    _options = options
    _exit_with_parent()


def _exit_with_parent() -> None:
    """In a pool worker: exit as soon as the process that started it is gone (killed with -9, say), instead of
    waiting forever for files that will never come."""
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        threading.Thread(target=_exit_when_ready, args=(parent.sentinel,), name="vam-parent", daemon=True).start()


def _exit_when_ready(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _analyze_entry(entry: WalkEntry, known: frozenset[str]) -> FileAnalysis:
    assert _options is not None
    return analyze_file(entry.path, _options, known, entry.size, entry.mtime_ns, entry.sidecars)


def _executor(workers: int, options: AnalyzeOptions) -> ProcessPoolExecutor:
    # forkserver: workers start from a clean process, not a fork of one holding database connections.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(options,),
        max_tasks_per_child=TASKS_PER_CHILD,
    )


def _failed(entry: WalkEntry, message: str) -> FileAnalysis:
    result = FileAnalysis(path=entry.path, size=entry.size, mtime_ns=entry.mtime_ns, sidecars=entry.sidecars)
    result.add_problem(Problem.CRASHED, message)
    return result


def _crashed(entry: WalkEntry) -> FileAnalysis:
    return _failed(entry, "the process analyzing this file died (decoder crash or out of memory); it was skipped")


def _timed_out(entry: WalkEntry, limit: float) -> FileAnalysis:
    result = FileAnalysis(path=entry.path, size=entry.size, mtime_ns=entry.mtime_ns, sidecars=entry.sidecars)
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


def _stop(executor: ProcessPoolExecutor, *, at_once: bool) -> None:
    """Stop a pool and wait until its workers have exited: ``at_once`` kills them mid-file (files in flight are
    dropped), otherwise they finish what they hold first. A worker still there after ``STOP_SECONDS`` is killed."""
    processes = list((getattr(executor, "_processes", None) or {}).values())
    manager = getattr(executor, "_executor_manager_thread", None)
    if at_once:
        _terminate(executor)
    executor.shutdown(wait=False, cancel_futures=True)
    if manager is not None:
        manager.join(STOP_SECONDS)  # it tells the workers to exit, then joins them
    for process in processes:
        if process.is_alive():
            process.kill()
        process.join(STOP_SECONDS)


def _isolated(entry: WalkEntry, options: AnalyzeOptions, known: frozenset[str]) -> FileAnalysis:
    """Analyze one suspect file alone in a fresh process, within the per-file time limit."""
    executor = _executor(1, options)
    at_once = False
    try:
        return executor.submit(_analyze_entry, entry, known).result(timeout=options.file_timeout)
    except BrokenProcessPool:
        return _crashed(entry)
    except TimeoutError:
        at_once = True
        return _timed_out(entry, options.file_timeout)
    except BaseException:
        at_once = True
        raise
    finally:
        _stop(executor, at_once=at_once)


@contextmanager
def pool_processes() -> Iterator[None]:
    """Keep the pool's helper processes (the forkserver the workers are started from, and the resource tracker)
    while this block runs, and stop them when the last such block of this process ends.

    A job holds one around all of its work, so that its batches share one forkserver, and no process is left
    once the job has ended (the work-horse of a forking RQ worker included: it exits without running any
    cleanup, so whatever it had started would run on, orphaned).
    """
    global _users
    with _lock:
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                _stop_helpers()


def _stop_helpers() -> None:
    """Stop what the pools of this process left: any worker still alive, then the forkserver and the tracker.

    A worker's ExifTool exits with its worker (a finalizer when it leaves, the kernel's parent-death signal when
    it is killed); one this process started itself (an inline run) is stopped here too.
    """
    close_readers()
    for process in multiprocessing.active_children():
        process.kill()
        process.join(STOP_SECONDS)
    gc.collect()  # the pools' queues hold semaphores that tell the tracker when they go: let them go first
    server: Any = multiprocessing.forkserver._forkserver  # (their stop methods are private, the same in 3.11-3.14)
    _stop_child(server._stop, server._forkserver_pid)
    tracker: Any = multiprocessing.resource_tracker._resource_tracker
    _stop_child(tracker._stop, tracker._pid)


def _stop_child(stop: Callable[[], None], pid: int | None) -> None:
    """Run ``stop`` (it closes the helper's pipe, and waits for the helper to exit) for a helper this process
    started; one still there after ``STOP_SECONDS`` (a process forked from this one keeps the pipe open) is
    killed. A helper started by a parent process is the parent's to stop."""
    if pid is None:
        return
    try:
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)  # (it stays for ``stop`` to reap)
    except ChildProcessError:
        return
    killer = threading.Timer(STOP_SECONDS, _kill, (pid,))
    killer.start()
    try:
        stop()
    finally:
        killer.cancel()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def start_ignoring_ctrl_c() -> None:
    """Start the pool's forkserver so that its workers ignore Ctrl-C (SIGINT), for a command that runs a job in
    this process and cancels the job itself on Ctrl-C.

    Ctrl-C reaches every process of the terminal's foreground group, the pool's workers too: they must not die
    with files half read, since the command cancels the job and the job stops its pool. A forkserver started while
    SIGINT is ignored, and every worker it forks, keeps ignoring it. The job's ``pool_processes`` stops it when
    the job ends.
    """
    if threading.current_thread() is not threading.main_thread():
        return  # only the main thread may change how a signal is handled
    multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, previous)


def analyze_many(
    entries: list[WalkEntry], options: AnalyzeOptions, known: Mapping[int, frozenset[str]], workers: int
) -> Generator[FileAnalysis, None, None]:
    """Analyze entries on ``workers`` processes (inline for one), yielding results as they finish.

    ``known`` maps a file size to the sha256s the catalog already knows at that size: identical content has
    identical size, so each file is sent only the few (usually zero) digests it could match.
    Closing the generator early (a cancelled job) stops the pool: when it returns, its workers are gone.
    """
    if workers <= 1:
        global _options
        _options = options
        try:
            for entry in entries:
                yield _analyze_entry(entry, known.get(entry.size, NOTHING_KNOWN))
        finally:
            close_readers()  # this process's ExifTool: a run leaves no process behind
        return
    with pool_processes():
        yield from _analyze_pooled(entries, options, known, workers)


def _analyze_pooled(
    entries: list[WalkEntry], options: AnalyzeOptions, known: Mapping[int, frozenset[str]], workers: int
) -> Generator[FileAnalysis, None, None]:
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
                _stop(executor, at_once=True)
                for entry in suspects:
                    yield _isolated(entry, options, known.get(entry.size, NOTHING_KNOWN))
                executor = _executor(count, options)
    finally:
        _stop(executor, at_once=bool(in_flight))  # closed early: the files in flight are not wanted any more
