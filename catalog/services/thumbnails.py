"""Thumbnails for an existing catalog: one decode per distinct content, existing files skipped unless forced."""

from __future__ import annotations

from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path

from catalog.media.pool import analyze_many
from catalog.media.progress import NullReporter, ProgressReporter
from catalog.media.thumbnails import thumbnail_path
from catalog.media.walk import WalkEntry
from catalog.models import AssetStatus, Catalog
from catalog.services.analyze import analyze_options, worker_count


@dataclass
class ThumbnailSummary:
    contents: int = 0
    skipped: int = 0
    written: int = 0
    failed: int = 0
    changed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def line(self) -> str:
        text = (
            f"{self.contents} distinct files: thumbnails written for {self.written}, "
            f"{self.skipped} already had them, {self.failed} could not be decoded"
        )
        if self.changed:
            text += f"; {self.changed} changed since they were analyzed: run analyze again"
        return text


def thumbnails_generate(
    *,
    catalog: Catalog,
    sizes: list[int],
    quality: int = 80,
    fmt: str = "webp",
    force: bool = False,
    reporter: ProgressReporter | None = None,
    workers: int | None = None,
) -> ThumbnailSummary:
    reporter = reporter or NullReporter()
    options = analyze_options(catalog, sizes=sizes, quality=quality, thumbnail_format=fmt, force=force)
    summary = ThumbnailSummary()
    rows = (
        catalog.assets.exclude(status=AssetStatus.MISSING)
        .exclude(sha256="")
        .filter(width__isnull=False)
        .order_by("sha256", "path")
        .values_list("sha256", "path", "size", "mtime_ns")
    )
    todo: list[WalkEntry] = []
    expected: dict[str, str] = {}  # path -> the sha256 its row records
    seen: set[str] = set()
    for sha256, path, size, mtime_ns in rows.iterator(chunk_size=5000):
        if sha256 in seen:
            continue
        seen.add(sha256)
        summary.contents += 1
        root = options.thumbnails_root or ""
        if not force and all(thumbnail_path(root, s, sha256, fmt).exists() for s in sizes):
            summary.skipped += 1
            continue
        if Path(path).is_file():
            todo.append(WalkEntry(path, size, mtime_ns))
            expected[path] = sha256
    reporter.update(phase="thumbnails", current=0, total=len(todo))
    with closing(analyze_many(todo, options, {}, worker_count(workers))) as results:  # its pool stops on any exit
        for done, result in enumerate(results, start=1):
            if result.sha256 != expected[result.path]:
                summary.changed += 1  # its thumbnails are filed under the new content; analyze points the row there
            elif result.thumbnails:
                summary.written += 1
            elif not all(thumbnail_path(options.thumbnails_root or "", s, result.sha256, fmt).exists() for s in sizes):
                summary.failed += 1
            reporter.update(phase="thumbnails", current=done, total=len(todo))
            if reporter.is_cancelled():
                break
    return summary
