"""analyze_many: one result per file on a process pool, the same as analyzing them one by one."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

from catalog.media.analyze import AnalyzeOptions, Problem
from catalog.media.pool import analyze_many
from catalog.media.walk import WalkEntry, walk_media
from tests.conftest import make_jpeg


def build_library(folder: Path) -> None:
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (20, 20, 20), (240, 240, 240)]
    for index, colour in enumerate(colours):
        make_jpeg(folder / f"IMG_{index:04d}.jpg", size=(60 + 10 * index, 40 + 5 * index), color=colour)
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "garbage.png").write_bytes(b"not an image" * 10)


def test_two_workers_match_one_worker(library: Path, tmp_path: Path) -> None:
    build_library(library)
    entries = list(walk_media([str(library)]))
    assert len(entries) == 8
    options = AnalyzeOptions(thumbnails_root=str(tmp_path / "thumbs"), sizes=(64,))

    inline = {result.path: result for result in analyze_many(entries, options, {}, workers=1)}
    pooled = list(analyze_many(entries, options, {}, workers=2))

    assert sorted(result.path for result in pooled) == sorted(entry.path for entry in entries)
    assert len(pooled) == len(entries)
    for result in pooled:
        expected = inline[result.path]
        assert (result.sha256, result.dhash, result.phash) == (expected.sha256, expected.dhash, expected.phash)
        assert (result.width, result.height, result.problem_kind) == (
            expected.width,
            expected.height,
            expected.problem_kind,
        )
    kinds = sorted(result.problem_kind for result in pooled if result.problem_kind)
    assert kinds == [Problem.EMPTY, Problem.UNSUPPORTED]
    assert len({result.sha256 for result in pooled if result.dhash is not None}) == 6


def test_known_content_is_reused_not_recomputed(library: Path) -> None:
    build_library(library)
    entries = list(walk_media([str(library)]))
    first = {result.path: result for result in analyze_many(entries, AnalyzeOptions(), {}, workers=1)}
    known: dict[int, frozenset[str]] = {}
    for result in first.values():
        if result.dhash is not None:
            known[result.size] = known.get(result.size, frozenset()) | {result.sha256}
    again = list(analyze_many(entries, AnalyzeOptions(), known, workers=2))
    reused = [result for result in again if result.reused]
    assert len(reused) == 6
    assert all(result.sha256 == first[result.path].sha256 and result.dhash is None for result in reused)


def test_known_content_of_another_size_is_not_matched(library: Path) -> None:
    build_library(library)
    entries = list(walk_media([str(library)]))
    first = {result.path: result for result in analyze_many(entries, AnalyzeOptions(), {}, workers=1)}
    # The right digests filed under the wrong sizes: a file is only ever compared with contents of its own size.
    known = {result.size + 1: frozenset({result.sha256}) for result in first.values() if result.dhash is not None}
    again = list(analyze_many(entries, AnalyzeOptions(), known, workers=2))
    assert not any(result.reused for result in again)


def _kill_readers_of(path: Path) -> int:
    """SIGKILL every process holding ``path`` open, as the kernel's OOM killer would; returns how many."""
    killed = 0
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            held = any(os.readlink(fd) == str(path) for fd in fd_dir.iterdir())
        except OSError:
            continue
        if held and int(fd_dir.parent.name) != os.getpid():
            os.kill(int(fd_dir.parent.name), signal.SIGKILL)
            killed += 1
    return killed


def test_a_worker_killed_mid_file_costs_only_that_file(library: Path, tmp_path: Path) -> None:
    build_library(library)
    entries = [entry for entry in walk_media([str(library)])]
    # A named pipe: a worker that opens it blocks until killed, like a decoder stuck on a hostile file.
    trap = library / "stuck.jpg"
    os.mkfifo(trap)
    entries.append(WalkEntry(str(trap), size=10, mtime_ns=1))
    options = AnalyzeOptions(thumbnails_root=str(tmp_path / "thumbs"), sizes=(64,))
    results: list = []
    runner = threading.Thread(target=lambda: results.extend(analyze_many(entries, options, {}, workers=2)), daemon=True)
    runner.start()
    kills = 0
    writers: list[int] = []
    deadline = time.monotonic() + 60
    try:
        while runner.is_alive() and time.monotonic() < deadline:
            try:
                # A writer lets the worker's open() return, so the pipe shows among its open files; it then
                # blocks reading a pipe that never delivers.
                writers.append(os.open(trap, os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # no reader yet
            kills += _kill_readers_of(trap)
            time.sleep(0.05)
        runner.join(timeout=5)
    finally:
        for fd in writers:
            os.close(fd)

    assert not runner.is_alive(), "the run must finish despite the killed workers"
    assert kills >= 2  # once in the shared pool, once more when the file was retried alone
    by_path = {result.path: result for result in results}
    assert sorted(by_path) == sorted(entry.path for entry in entries)
    assert by_path[str(trap)].problem_kind == Problem.CRASHED
    assert "died" in by_path[str(trap)].problem_message
    healthy = [result for result in results if result.dhash is not None]
    assert len(healthy) == 6  # every other photo was analyzed, none lost with the broken pool


def test_a_file_that_never_finishes_is_given_up_after_the_time_limit(library: Path, tmp_path: Path) -> None:
    build_library(library)
    entries = list(walk_media([str(library)]))
    trap = library / "stuck.jpg"
    os.mkfifo(trap)  # opening it for reading blocks forever: a decoder stuck on a hostile file
    entries.append(WalkEntry(str(trap), size=10, mtime_ns=1))
    options = AnalyzeOptions(thumbnails_root=str(tmp_path / "thumbs"), sizes=(64,), file_timeout=2)

    results = list(analyze_many(entries, options, {}, workers=2))

    by_path = {result.path: result for result in results}
    assert sorted(by_path) == sorted(entry.path for entry in entries)
    assert by_path[str(trap)].problem_kind == Problem.TIMED_OUT
    assert "longer than 2 s" in by_path[str(trap)].problem_message
    assert len([result for result in results if result.dhash is not None]) == 6
