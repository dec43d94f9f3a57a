"""The analyze service: walk the sources, analyze new and changed files in a process pool, upsert in bulk.

Incremental: a file whose size and mtime match its row is not read again; a row whose file is gone is marked
missing; a file whose content the catalog already knows (moved, renamed or copied) takes the derived data of
that content instead of being decoded again. Every batch is committed as it completes, so a killed run loses at
most one batch and the next run carries on where it stopped.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.media.analyze import (
    AnalyzeOptions,
    FileAnalysis,
    Problem,
    analyze_file,
    extension_of,
    extension_problem,
)
from catalog.media.dates import capture_date
from catalog.media.exif import dates_from_exif_subset
from catalog.media.hashing import to_signed64
from catalog.media.paths import inside_any
from catalog.media.pool import analyze_many
from catalog.media.progress import NullReporter, ProgressReporter
from catalog.media.video import tool_path
from catalog.media.walk import WalkEntry, walk_media
from catalog.media.words import counted
from catalog.models import Asset, AssetStatus, Catalog, DateSource, Sidecar
from catalog.services.duplicates import DuplicatesSummary, catalog_find_duplicates
from catalog.services.locks import with_catalog_lock
from catalog.services.pairs import link_pairs
from catalog.services.stats import catalog_stats_refresh
from catalog.similarity.grouping import Thresholds

logger = logging.getLogger(__name__)

# What analyzes a list of files: ``analyze_many`` (the CPU engine) or the GPU path's ``TorchEngine``.
Engine = Callable[
    [list[WalkEntry], AnalyzeOptions, Mapping[int, frozenset[str]], int], Generator[FileAnalysis, None, None]
]

BATCH_SIZE = 500
MANUAL_CONFIDENCE = 1.0  # a date set by hand: the highest confidence there is (100 %)
# Postgres cannot index a key over ~2700 bytes; one such path would fail its whole batch, so it is refused alone.
MAX_PATH_BYTES = 2400
BATCH_SECONDS = 2.0

# Fields that depend only on a file's bytes: copied from a known row with the same sha256.
CONTENT_FIELDS = [
    "media_type", "format", "width", "height", "orientation", "duration", "camera_make", "camera_model",
    "lens_model", "exposure_time", "f_number", "iso", "focal_length", "gps_latitude", "gps_longitude",
    "gps_altitude", "exif", "dhash", "phash", "fine_hash", "note", "keywords", "rating", "title", "description",
    "content_id", "hash_variants", "video_signature",
]  # fmt: skip
DATE_FIELDS = ["taken_at", "taken_at_offset", "date_source", "date_confidence", "date_suspicious", "date_note"]
UPSERT_FIELDS = [
    "size", "mtime_ns", "sha256", *CONTENT_FIELDS, *DATE_FIELDS, "status", "problem_kind", "problem_message",
    "analyzed_at", "updated_at",
]  # fmt: skip


# Problems that can go away without the file changing (permissions fixed, a drive plugged back in): such rows
# are looked at again on every run instead of being skipped as unchanged.
TRANSIENT_PROBLEMS = {
    Problem.UNREADABLE, Problem.OUT_OF_MEMORY, Problem.BROKEN_LINK, Problem.SYMLINK_LOOP, Problem.UNDECODABLE_NAME,
    Problem.CRASHED, Problem.UNSTORABLE,
}  # fmt: skip


class AnalyzeError(Exception):
    """A reason the whole run cannot start (bad source folder, catalog inside a source, ...)."""


@dataclass
class AnalyzeSummary:
    seen: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    reused: int = 0
    moved: int = 0  # files gone from their path and found at another (moved or renamed outside VAM)
    missing: int = 0
    problems: int = 0
    elapsed: float = 0.0
    analyzed: int = 0
    pairs: int = 0  # files that go with another (a RAW's JPEG, a Live Photo's video), in the whole catalog
    walk_errors: list[str] = field(default_factory=list)
    duplicates: DuplicatesSummary | None = None

    @property
    def files_per_second(self) -> float:
        return self.seen / self.elapsed if self.elapsed > 0 else 0.0

    def as_dict(self) -> dict:
        return {
            "seen": self.seen,
            "new": self.new,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "reused": self.reused,
            "analyzed": self.analyzed,
            "moved": self.moved,
            "missing": self.missing,
            "problems": self.problems,
            "pairs": self.pairs,
            "elapsed_seconds": round(self.elapsed, 3),
            "files_per_second": round(self.files_per_second, 1),
            "duplicates": self.duplicates.as_dict() if self.duplicates else None,
        }

    def line(self) -> str:
        return (
            f"{counted(self.seen, 'file')} seen: {self.new} new, {self.changed} changed, {self.unchanged} unchanged, "
            f"{self.reused} known content, {self.moved} moved, {self.missing} marked missing; {self.problems} with "
            "problems in the catalog; "
            f"{self.elapsed:.1f} s, {self.files_per_second:.1f} files/s"
        )


def catalog_get_or_create(*, path: str | os.PathLike, name: str = "") -> Catalog:
    """The catalog identified by ``path`` (an absolute folder, created if needed)."""
    folder = Path(path).expanduser().resolve()
    if folder.exists() and not folder.is_dir():
        raise AnalyzeError(f"catalog path {folder} exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    catalog, _ = Catalog.objects.get_or_create(path=str(folder), defaults={"name": name or folder.name})
    return catalog


def analyze_options(
    catalog: Catalog,
    *,
    thumbnails: bool = True,
    sizes: Iterable[int] | None = None,
    quality: int = 80,
    thumbnail_format: str = "webp",
    force: bool = False,
) -> AnalyzeOptions:
    return AnalyzeOptions(
        thumbnails_root=str(catalog.thumbnails_dir) if thumbnails else None,
        sizes=tuple(sizes or settings.VAM_THUMBNAIL_SIZES),
        quality=quality,
        thumbnail_format=thumbnail_format,
        max_image_pixels=settings.VAM_MAX_IMAGE_PIXELS,
        ffmpeg=tool_path(settings.VAM_FFMPEG),
        ffprobe=tool_path(settings.VAM_FFPROBE),
        exiftool=tool_path(settings.VAM_EXIFTOOL),
        force_thumbnails=force,
        file_timeout=settings.VAM_ANALYZE_FILE_TIMEOUT,
    )


def sources_check(sources: list[str], catalog_path: str | None = None) -> list[str]:
    """The source folders as real absolute paths, or AnalyzeError saying what is wrong with one."""
    if not sources:
        raise AnalyzeError("no source folder given")
    resolved = []
    for source in sources:
        folder = Path(source).expanduser()
        if not folder.exists():
            raise AnalyzeError(f"source folder {folder} does not exist")
        if not folder.is_dir():
            raise AnalyzeError(f"source {folder} is not a folder")
        if not os.access(folder, os.R_OK | os.X_OK):
            raise AnalyzeError(f"source folder {folder} is not readable")
        real = os.path.realpath(folder)
        if catalog_path and os.path.realpath(catalog_path) == real:
            raise AnalyzeError("the catalog folder cannot be its own source folder")
        resolved.append(real)
    return sorted(set(resolved))


@with_catalog_lock
def catalog_analyze(
    *,
    catalog: Catalog,
    sources: list[str],
    reporter: ProgressReporter | None = None,
    workers: int | None = None,
    thumbnails: bool = True,
    sizes: Iterable[int] | None = None,
    quality: int = 80,
    detect_duplicates: bool = True,
    threshold: int | None = None,
    run_entries: EntryRunner | None = None,
    exclude: list[str] | None = None,
    library_roots: list[str] | None = None,
) -> AnalyzeSummary:
    """Bring the catalog up to date with the files under ``sources``, then rebuild its duplicate groups.

    The files to read are listed first; ``run_entries`` (default: ``analyze_entries`` on a local process pool)
    then analyzes them. ``exclude`` adds folders inside the sources to skip, now and in later runs (an organize
    output, say); the rows already under them are left as they are. ``library_roots`` (runs asked for through
    the web or the API) keeps the walk inside them: a link that leads out becomes an ``outside_roots`` problem
    with nothing read from it.
    """
    reporter = reporter or NullReporter()
    started = time.monotonic()
    roots = sources_check(sources, catalog.path)
    if detect_duplicates:
        try:
            Thresholds.scaled(threshold)  # a bad threshold fails now, not after an hour of analysis
        except ValueError as exc:
            raise AnalyzeError(str(exc)) from exc
    summary = AnalyzeSummary()
    options = analyze_options(catalog, thumbnails=thumbnails, sizes=sizes, quality=quality)
    if exclude:
        catalog.exclude_directories = sorted(
            set(catalog.exclude_directories or []) | set(map(os.path.realpath, exclude))
        )
        catalog.save(update_fields=["exclude_directories", "updated_at"])
    excluded = list(catalog.exclude_directories or [])

    reporter.update(phase="scan", current=0, total=None, message="listing files")
    known_rows = {
        path: (size, mtime_ns, status, analyzed, problem)
        for path, size, mtime_ns, status, analyzed, problem in Asset.objects.filter(catalog=catalog).values_list(
            "path", "size", "mtime_ns", "status", "analyzed_at", "problem_kind"
        )
    }
    stale = _stale_paths(catalog, videos=bool(options.ffmpeg))
    linked = _linked_sidecars(catalog)
    entries: list[WalkEntry] = []
    walk = walk_media(roots, exclude=[catalog.path, *excluded], errors=summary.walk_errors, roots=library_roots)
    for entry in walk:
        entries.append(entry)
        if len(entries) % 1000 == 0:
            reporter.update(phase="scan", current=len(entries), total=None, message="listing files")
    summary.seen = len(entries)

    to_analyze: list[WalkEntry] = []
    walk_problems: list[WalkEntry] = []
    for entry in entries:
        if len(entry.path.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
            summary.walk_errors.append(f"{entry.path[:80]}…: path longer than {MAX_PATH_BYTES} bytes, not cataloged")
            continue
        row = known_rows.get(entry.path)
        if entry.problem_kind:
            walk_problems.append(entry)
            continue
        if row is None:
            summary.new += 1
        elif (
            row[0] == entry.size
            and row[1] == entry.mtime_ns
            and row[2] != AssetStatus.MISSING
            and row[3]
            and row[4] not in TRANSIENT_PROBLEMS
            and entry.path not in stale
            and _sidecar_signature(entry) == linked.get(entry.path, frozenset())
        ):
            summary.unchanged += 1
            continue
        else:
            summary.changed += 1
        to_analyze.append(entry)
    _save_walk_problems(catalog, walk_problems)

    seen_paths = {entry.path for entry in entries}
    gone = [
        path
        for path in known_rows
        if path not in seen_paths and inside_any(path, roots) and not inside_any(path, excluded)
    ]
    summary.missing = _mark_missing(catalog, gone)

    known_contents = _known_contents(catalog, {entry.size for entry in to_analyze}) if to_analyze else {}
    run = run_entries or partial(analyze_entries, workers=worker_count(workers))
    run(catalog, to_analyze, known_contents, options, summary, reporter)
    summary.moved = _moved(catalog, gone)

    catalog.source_directories = sorted(set(catalog.source_directories or []) | set(roots))
    catalog.last_analyzed_at = timezone.now()
    catalog.save(update_fields=["source_directories", "last_analyzed_at", "updated_at"])
    summary.problems = catalog.assets.filter(status=AssetStatus.PROBLEM).count()
    changed_paths = summary.new or summary.changed or summary.missing
    summary.pairs = link_pairs(catalog) if changed_paths or "pairs" not in catalog.stats else catalog.stats["pairs"]
    if detect_duplicates and not reporter.is_cancelled():
        summary.duplicates = catalog_find_duplicates(catalog=catalog, threshold=threshold, reporter=reporter)
    catalog_stats_refresh(catalog)
    summary.elapsed = time.monotonic() - started
    reporter.update(phase="done", current=summary.analyzed + summary.reused, total=len(to_analyze))
    return summary


def _moved(catalog: Catalog, gone: list[str]) -> int:
    """How many of the paths that went missing in this run have their content at another path now."""
    moved = 0
    for start in range(0, len(gone), 5000):
        chunk = gone[start : start + 5000]
        contents = set(
            Asset.objects.filter(catalog=catalog, path__in=chunk).exclude(sha256="").values_list("sha256", flat=True)
        )
        if not contents:
            continue
        present = Asset.objects.filter(catalog=catalog, sha256__in=contents).exclude(status=AssetStatus.MISSING)
        found = set(present.values_list("sha256", flat=True).distinct())
        moved += Asset.objects.filter(catalog=catalog, path__in=chunk, sha256__in=found).count()
    return moved


class EntryRunner(Protocol):
    """Analyzes the planned files and upserts their rows, adding to ``summary.analyzed`` and ``summary.reused``.

    ``analyze_entries`` does it here; the jobs layer passes one that spreads the files over workers.
    """

    def __call__(
        self,
        catalog: Catalog,
        entries: list[WalkEntry],
        known: Mapping[int, frozenset[str]],
        options: AnalyzeOptions,
        summary: AnalyzeSummary,
        reporter: ProgressReporter,
    ) -> None: ...


def analyze_entries(
    catalog: Catalog,
    entries: list[WalkEntry],
    known: Mapping[int, frozenset[str]],
    options: AnalyzeOptions,
    summary: AnalyzeSummary,
    reporter: ProgressReporter,
    *,
    workers: int,
    engine: Engine = analyze_many,
) -> None:
    """Analyze ``entries`` on ``workers`` processes, committing every batch of rows; stops at a cancel.

    ``known`` maps file sizes to the sha256s whose derived data can be copied instead of decoded again.
    ``engine`` is the CPU engine, or a GPU worker's ``catalog.media.gpu.TorchEngine``: the rows are the same.
    """
    total = len(entries)
    reporter.update(phase="analyze", current=0, total=total, message="")
    pending: list[FileAnalysis] = []
    last_flush = time.monotonic()
    with closing(engine(entries, options, known, workers)) as results:  # its pool stops on any exit
        for done, result in enumerate(results, start=1):
            pending.append(result)
            if len(pending) >= BATCH_SIZE or time.monotonic() - last_flush > BATCH_SECONDS:
                _flush(catalog, pending, summary, options)
                pending, last_flush = [], time.monotonic()
            reporter.update(phase="analyze", current=done, total=total, message=_short(result.path))
            if reporter.is_cancelled():
                break
    _flush(catalog, pending, summary, options)


def _linked_sidecars(catalog: Catalog) -> dict[str, frozenset[tuple[str, int, int]]]:
    """What each asset's sidecars were when last read: a media file whose sidecars changed is read again."""
    linked: dict[str, set[tuple[str, int, int]]] = {}
    rows = Sidecar.objects.filter(asset__catalog=catalog).values_list("asset__path", "path", "size", "mtime_ns")
    for media, path, size, mtime_ns in rows.iterator(chunk_size=10_000):
        linked.setdefault(media, set()).add((path, size, mtime_ns))
    return {media: frozenset(found) for media, found in linked.items()}


def _sidecar_signature(entry: WalkEntry) -> frozenset[tuple[str, int, int]]:
    return frozenset((sidecar.path, sidecar.size, sidecar.mtime_ns) for sidecar in entry.sidecars)


# Videos analyzed by a version that sampled no frames (or without ffmpeg at the time): no signature tried.
UNSAMPLED_VIDEOS = Q(media_type="video", duration__gt=0, video_signature__isnull=True, problem_kind="")


def _stale_rows(catalog: Catalog, *, videos: bool = True):
    """Rows analyzed by a version that made no fine hash, or (``videos``: ffmpeg is at hand) a video whose frames
    were never sampled: read again once, so duplicate checks can use them."""
    stale = Q(dhash__isnull=False, fine_hash__isnull=True) | (UNSAMPLED_VIDEOS if videos else Q(pk__in=[]))
    return Asset.objects.filter(stale, catalog=catalog)


def _stale_paths(catalog: Catalog, *, videos: bool = True) -> set[str]:
    return set(_stale_rows(catalog, videos=videos).values_list("path", flat=True))


def _complete_rows(catalog: Catalog):
    """Rows whose derived data can be copied to another path with the same content."""
    rows = Asset.objects.filter(catalog=catalog, problem_kind="", analyzed_at__isnull=False).exclude(sha256="")
    # A file's sidecar data belongs to its path, not to its content: such rows lend nothing.
    rows = rows.exclude(pk__in=Sidecar.objects.filter(asset__catalog=catalog).values("asset_id"))
    return rows.exclude(dhash__isnull=False, fine_hash__isnull=True).exclude(UNSAMPLED_VIDEOS)


def _known_contents(catalog: Catalog, sizes: set[int]) -> dict[int, frozenset[str]]:
    """Contents the catalog has fully analyzed, by file size, for the sizes about to be read."""
    rows = _complete_rows(catalog)
    known: dict[int, set[str]] = {}
    for size, sha256 in rows.values_list("size", "sha256").distinct().iterator(chunk_size=10_000):
        if size in sizes:
            known.setdefault(size, set()).add(sha256)
    return {size: frozenset(digests) for size, digests in known.items()}


def _short(path: str, limit: int = 40) -> str:
    name = os.path.basename(path)
    return name if len(name) <= limit else "…" + name[-limit + 1 :]


def worker_count(requested: int | None) -> int:
    configured = requested or settings.VAM_ANALYZE_WORKERS or os.cpu_count() or 1
    return max(1, int(configured))


# Writing results -------------------------------------------------------------------------------------------------


def _flush(catalog: Catalog, results: list[FileAnalysis], summary: AnalyzeSummary, options: AnalyzeOptions) -> None:
    if not results:
        return
    donors = _donor_rows(catalog, {r.sha256 for r in results if r.reused})
    manual = _manual_dates(catalog, results)
    now = timezone.now()
    assets = []
    for result in results:
        if result.reused and result.sha256 not in donors:
            # The row whose content this file shares changed since the run started: analyze it in full.
            result = analyze_file(result.path, options, frozenset(), result.size, result.mtime_ns, result.sidecars)
        asset = Asset(catalog=catalog, path=result.path, analyzed_at=now, updated_at=now)
        donor = donors.get(result.sha256) if result.reused else None
        if donor is not None:
            for name in CONTENT_FIELDS:
                setattr(asset, name, donor[name])
            _apply_path_facts(asset, result)
            summary.reused += 1
        else:
            _apply_analysis(asset, result)
            summary.analyzed += 1
        asset.size, asset.mtime_ns, asset.sha256 = result.size, result.mtime_ns, result.sha256
        asset.problem_kind, asset.problem_message = result.problem_kind, result.problem_message
        asset.status = AssetStatus.PROBLEM if result.problem_kind else AssetStatus.OK
        apply_capture_date(asset, dates_from_exif_subset(asset.exif or {}), result.mtime_ns)
        by_hand = manual.get(result.path) or manual.get(result.sha256 if result.reused else "")
        if by_hand:  # a date a user set by hand outlives every re-analysis, and a move outside VAM
            asset.taken_at, asset.taken_at_offset = by_hand
            asset.date_source, asset.date_confidence = DateSource.MANUAL, MANUAL_CONFIDENCE
            asset.date_suspicious, asset.date_note = False, "set by hand"
        assets.append(asset)
    try:
        with transaction.atomic():
            _upsert(assets)
            _link_sidecars(catalog, results)
    except DatabaseError:
        # One row the database refuses must not cost the batch: write them one by one, and record the refused
        # ones as problems (their files are looked at again next run).
        for asset in assets:
            try:
                with transaction.atomic():
                    _upsert([asset])
                    _link_sidecars(catalog, [result for result in results if result.path == asset.path])
            except DatabaseError as exc:
                logger.warning("cannot store %s: %s", asset.path, exc)
                _upsert_refused(asset, exc)


def _link_sidecars(catalog: Catalog, results: list[FileAnalysis]) -> None:
    """Replace the sidecar rows of these assets with the sidecars found beside them now."""
    ids = dict(Asset.objects.filter(catalog=catalog, path__in=[r.path for r in results]).values_list("path", "id"))
    Sidecar.objects.filter(asset_id__in=ids.values()).delete()
    Sidecar.objects.bulk_create(
        Sidecar(asset_id=ids[r.path], path=s.path, kind=s.kind, size=s.size, mtime_ns=s.mtime_ns)
        for r in results
        if r.path in ids
        for s in r.sidecars
    )


def _manual_dates(catalog: Catalog, results: list[FileAnalysis]) -> dict[str, tuple]:
    """Dates set by hand that these files keep: by path (the file was read again), and by content for a file that
    is another path's content, when that path is gone (the file was moved or renamed outside VAM)."""
    rows = Asset.objects.filter(catalog=catalog, date_source=DateSource.MANUAL)
    manual: dict[str, tuple] = {
        path: (taken_at, offset)
        for path, taken_at, offset in rows.filter(path__in=[r.path for r in results]).values_list(
            "path", "taken_at", "taken_at_offset"
        )
    }
    moved = {r.sha256 for r in results if r.reused and r.path not in manual}
    if moved:
        gone = rows.filter(sha256__in=moved, status=AssetStatus.MISSING)
        for sha256, taken_at, offset in gone.values_list("sha256", "taken_at", "taken_at_offset"):
            manual[sha256] = (taken_at, offset)
    return manual


def _upsert(assets: list[Asset], fields: list[str] = UPSERT_FIELDS) -> None:
    Asset.objects.bulk_create(assets, update_conflicts=True, unique_fields=["catalog", "path"], update_fields=fields)


# A row the walk or the database could not fill keeps the date it had (a date set by hand included).
KEEP_DATE_FIELDS = [name for name in UPSERT_FIELDS if name not in DATE_FIELDS]


def _upsert_refused(asset: Asset, exc: DatabaseError) -> None:
    refused = Asset(
        catalog_id=asset.catalog_id,
        path=asset.path,
        size=asset.size,
        mtime_ns=asset.mtime_ns,
        sha256=asset.sha256,
        status=AssetStatus.PROBLEM,
        problem_kind=Problem.UNSTORABLE,
        problem_message=f"the database refused this file's metadata: {str(exc).splitlines()[0][:200]}",
        analyzed_at=asset.analyzed_at,
        updated_at=asset.updated_at,
    )
    try:
        with transaction.atomic():
            _upsert([refused], fields=KEEP_DATE_FIELDS)
    except DatabaseError:
        logger.exception("cannot store even a problem row for %s", asset.path)


def _apply_path_facts(asset: Asset, result: FileAnalysis) -> None:
    """What depends on the name rather than the bytes, for content copied from another path."""
    extension = extension_of(result.path)
    if asset.format.startswith("RAW/"):
        asset.format = f"RAW/{extension.upper()}"
    elif asset.media_type == "video":
        asset.format = extension.upper()
    message = extension_problem(asset.format, extension)
    if message:
        result.add_problem(Problem.WRONG_EXTENSION, message)


def _donor_rows(catalog: Catalog, sha256s: set[str]) -> dict[str, dict]:
    if not sha256s:
        return {}
    rows = _complete_rows(catalog).filter(sha256__in=sha256s)
    return {row["sha256"]: row for row in rows.values("sha256", *CONTENT_FIELDS)}


def _apply_analysis(asset: Asset, result: FileAnalysis) -> None:
    asset.media_type, asset.format = result.media_type, result.format
    asset.width, asset.height, asset.orientation = result.width, result.height, result.orientation
    asset.duration = result.duration
    asset.camera_make, asset.camera_model, asset.lens_model = result.camera_make, result.camera_model, result.lens_model
    asset.exposure_time, asset.f_number, asset.iso = result.exposure_time, result.f_number, result.iso
    asset.focal_length = result.focal_length
    asset.gps_latitude, asset.gps_longitude = result.gps if result.gps else (None, None)
    asset.gps_altitude = result.gps_altitude
    asset.exif = result.exif
    asset.keywords, asset.rating = result.keywords, result.rating
    asset.title, asset.description = result.title, result.description
    asset.content_id = result.content_id
    asset.dhash = to_signed64(result.dhash) if result.dhash is not None else None
    asset.phash = to_signed64(result.phash) if result.phash is not None else None
    asset.fine_hash = result.fine_hash
    asset.hash_variants = result.hash_variants
    asset.video_signature = result.video_signature
    asset.note = result.note


def apply_capture_date(asset: Asset, embedded, mtime_ns: int) -> None:
    date = capture_date(embedded, asset.path, mtime_ns, zone=ZoneInfo(settings.VAM_TIME_ZONE))
    # Wall-clock time, labelled UTC only because the column is time-zone aware (see Asset).
    asset.taken_at = date.taken_at.replace(tzinfo=UTC) if date.taken_at else None
    asset.taken_at_offset = date.offset_minutes
    asset.date_source = date.source
    asset.date_confidence = date.confidence
    asset.date_suspicious = date.suspicious
    asset.date_note = date.note[:255]


def _save_walk_problems(catalog: Catalog, entries: list[WalkEntry]) -> None:
    """Rows for paths the walk could not even stat (undecodable names, loops, dangling links).

    Whatever such a row held before describes content that cannot be reached now, so it is cleared; its capture
    date stays (it may be one a user set by hand).
    """
    if not entries:
        return
    now = timezone.now()
    assets = [
        Asset(
            catalog=catalog,
            path=entry.path,
            status=AssetStatus.PROBLEM,
            problem_kind=entry.problem_kind,
            problem_message=entry.problem_message,
            analyzed_at=now,
            updated_at=now,
        )
        for entry in entries
    ]
    for start in range(0, len(assets), BATCH_SIZE):
        Asset.objects.bulk_create(
            assets[start : start + BATCH_SIZE],
            update_conflicts=True,
            unique_fields=["catalog", "path"],
            update_fields=KEEP_DATE_FIELDS,
        )


def _mark_missing(catalog: Catalog, paths: list[str]) -> int:
    marked = 0
    for start in range(0, len(paths), BATCH_SIZE):
        marked += (
            Asset.objects.filter(catalog=catalog, path__in=paths[start : start + BATCH_SIZE])
            .exclude(status=AssetStatus.MISSING)
            .update(status=AssetStatus.MISSING, updated_at=timezone.now())
        )
    return marked
