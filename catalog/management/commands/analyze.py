import argparse
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.common import add_job_arguments, command_job, existing_catalog, summary_from
from catalog.media.watch import change_bursts
from catalog.media.words import counted
from catalog.models import Catalog
from catalog.selectors import catalog_by_path
from catalog.services.analyze import AnalyzeError, AnalyzeSummary, catalog_get_or_create, sources_check
from catalog.services.duplicates import DuplicatesSummary
from catalog.similarity.grouping import DEFAULT_THRESHOLD, MAX_THRESHOLD
from jobs.models import JobKind, JobStatus


def add_threshold_argument(parser: CommandParser) -> None:
    """``--threshold N``, shared by analyze and find_duplicates."""

    def threshold(text: str) -> int:
        if not text.isdigit() or not 0 <= int(text) <= MAX_THRESHOLD:
            raise argparse.ArgumentTypeError(f"--threshold must lie between 0 and {MAX_THRESHOLD}, got {text!r}")
        return int(text)

    parser.add_argument(
        "--threshold",
        type=threshold,
        default=None,
        help=f"near-duplicate threshold in dHash bits, scales all bounds (default {DEFAULT_THRESHOLD})",
    )


NO_SOURCES = "no source folders: give one with -s DIR (the catalog remembers them after its first analyze)"


class Command(BaseCommand):
    help = (
        "Scan source folders into a catalog: metadata, capture dates, hashes and thumbnails. The catalog remembers "
        "its folders: without -s, analyze rescans every folder it was given before."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path", help="folder that identifies the catalog and holds its thumbnails")
        parser.add_argument(
            "-s", "--source", dest="sources", action="append", metavar="DIR",
            help="photo folder to scan now; it is added to the ones the catalog remembers (default: rescan those)",
        )  # fmt: skip
        parser.add_argument("--no-duplicates", action="store_true", help="skip duplicate detection")
        add_threshold_argument(parser)
        parser.add_argument("--no-thumbnails", action="store_true", help="do not write thumbnails")
        parser.add_argument("--workers", type=int, default=None, help="processes to use (default: one per core)")
        parser.add_argument(
            "--exclude", action="append", default=[], metavar="DIR",
            help="a folder inside the sources to skip, now and in later runs (an organize output, say)",
        )  # fmt: skip
        parser.add_argument("--name", help="the catalog's name on the pages (default: its folder's name)")
        parser.add_argument(
            "--watch", action="store_true",
            help="after this run, follow the source folders and analyze again a few seconds after files are added, "
            "changed or removed (a burst of copies is one run); Ctrl-C stops",
        )  # fmt: skip
        add_job_arguments(parser)

    def handle(self, *args, **options) -> None:
        if options["watch"] and options["enqueue"]:
            raise CommandError("--watch runs one rescan after another: use --wait to run them on the workers")
        catalog_path = str(Path(options["catalog_path"]).expanduser().resolve())
        catalog = catalog_by_path(catalog_path)
        if options["name"] is not None and not options["name"].strip():
            raise CommandError("--name: give the catalog a name")
        given = options["sources"]
        if given:
            wanted = given
        elif catalog is not None and catalog.source_directories:
            wanted = list(catalog.source_directories)
        else:
            raise CommandError(NO_SOURCES)
        try:
            sources = sources_check(wanted, catalog_path)
        except AnalyzeError as exc:
            hint = "" if given else " (a folder the catalog remembers: give -s DIR to scan others instead)"
            raise CommandError(f"{exc}{hint}") from exc
        if not given:
            self.stderr.write(f"rescanning {_folders(sources)}")
        if options["name"]:
            catalog = _named(catalog_path, options["name"].strip())
        params = {
            "catalog_path": catalog_path,
            "source_directories": sources,
            "detect_duplicates": not options["no_duplicates"],
            "similarity_threshold": options["threshold"],
            "thumbnails": not options["no_thumbnails"],
            "workers": options["workers"],
            "exclude_directories": options["exclude"],
        }
        command_job(self, options, kind=JobKind.ANALYZE, params=params, catalog=catalog, report=self._report)
        if options["watch"]:
            self._watch(catalog_path, params, options)

    def _watch(self, catalog_path: str, params: dict, options: dict) -> None:
        """Analyze again after every burst of changes under the catalog's sources, one run after the other (the
        changes of a run's time are the next burst). A failed run is told and the watch goes on; Ctrl-C ends it."""
        catalog = existing_catalog(catalog_path)
        folders = list(catalog.source_directories)
        skipped = [catalog.path, *catalog.exclude_directories]
        self.stderr.write(f"watching {_folders(folders)} for added, changed and removed files (Ctrl-C stops)")
        rescan = params | {"exclude_directories": []}
        try:
            for paths in change_bursts(folders, exclude=skipped):
                self.stderr.write(f"{counted(len(paths), 'path')} changed: analyzing again")
                try:
                    command_job(
                        self, options, kind=JobKind.ANALYZE, params=rescan, catalog=catalog, report=self._report
                    )
                except CommandError as exc:
                    if f"{JobStatus.CANCELLED}:" in str(exc):
                        raise
                    self.stderr.write(f"error: {exc}; still watching")
        except KeyboardInterrupt:
            self.stderr.write("stopped watching")

    def _report(self, result: dict) -> None:
        for error in result.get("walk_errors", [])[:20]:
            self.stderr.write(f"warning: cannot list {error}")
        duplicates = result.get("duplicates")
        summary = summary_from(AnalyzeSummary, result | {"elapsed": result.get("elapsed_seconds", 0.0)})
        summary.duplicates = summary_from(DuplicatesSummary, duplicates) if duplicates else None
        self.stdout.write(f"Catalog {result['catalog']}")
        self.stdout.write(summary.line())
        if summary.duplicates:
            self.stdout.write(summary.duplicates.line())


def _folders(paths: list[str]) -> str:
    return f"{len(paths)} folder{'s' if len(paths) != 1 else ''}: {', '.join(paths)}"


def _named(path: str, name: str) -> Catalog:
    """The catalog at ``path`` (made now if it is new) under ``name``."""
    try:
        catalog = catalog_get_or_create(path=path, name=name[:255])
    except AnalyzeError as exc:
        raise CommandError(str(exc)) from exc
    if catalog.name != name[:255]:
        catalog.name = name[:255]
        catalog.save(update_fields=["name", "updated_at"])
    return catalog
