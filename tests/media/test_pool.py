"""analyze_many: one result per file on a process pool, the same as analyzing them one by one."""

from __future__ import annotations

from pathlib import Path

from catalog.media.analyze import AnalyzeOptions, Problem
from catalog.media.pool import analyze_many
from catalog.media.walk import walk_media
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

    inline = {result.path: result for result in analyze_many(entries, options, frozenset(), workers=1)}
    pooled = list(analyze_many(entries, options, frozenset(), workers=2))

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
    first = {result.path: result for result in analyze_many(entries, AnalyzeOptions(), frozenset(), workers=1)}
    known = frozenset(result.sha256 for result in first.values() if result.dhash is not None)
    again = list(analyze_many(entries, AnalyzeOptions(), known, workers=2))
    reused = [result for result in again if result.reused]
    assert len(reused) == 6
    assert all(result.sha256 == first[result.path].sha256 and result.dhash is None for result in reused)


def test_small_batches_run_inline(library: Path) -> None:
    make_jpeg(library / "a.jpg")
    make_jpeg(library / "b.jpg", color=(0, 0, 0))
    entries = list(walk_media([str(library)]))
    results = list(analyze_many(entries, AnalyzeOptions(), frozenset(), workers=4))
    assert [Path(result.path).name for result in results] == ["a.jpg", "b.jpg"]
