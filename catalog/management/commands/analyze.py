import argparse
from pathlib import Path
from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.common import add_job_arguments, submit_job
from catalog.services.analyze import AnalyzeError, catalog_analyze, catalog_get_or_create, sources_check
from catalog.services.locks import CatalogBusy
from catalog.similarity.grouping import DEFAULT_THRESHOLD, MAX_THRESHOLD
from jobs.progress import TerminalReporter


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


class Command(BaseCommand):
    help = "Scan source folders into a catalog: metadata, capture dates, hashes and thumbnails."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path", help="folder that identifies the catalog and holds its thumbnails")
        parser.add_argument(
            "-s", "--source", dest="sources", action="append", required=True, metavar="DIR", help="photo folder"
        )
        parser.add_argument("--no-duplicates", action="store_true", help="skip duplicate detection")
        add_threshold_argument(parser)
        parser.add_argument("--no-thumbnails", action="store_true", help="do not write thumbnails")
        parser.add_argument("--workers", type=int, default=None, help="processes to use (default: one per core)")
        parser.add_argument(
            "--exclude", action="append", default=[], metavar="DIR",
            help="a folder inside the sources to skip, now and in later runs (an organize output, say)",
        )  # fmt: skip
        add_job_arguments(parser)

    def handle(self, *args, **options) -> None:
        if options["enqueue"] or options["wait"]:
            try:
                sources = sources_check(options["sources"])
            except AnalyzeError as exc:
                raise CommandError(str(exc)) from exc
            params = {
                "catalog_path": str(Path(options["catalog_path"]).expanduser().resolve()),
                "source_directories": sources,
                "detect_duplicates": not options["no_duplicates"],
                "similarity_threshold": options["threshold"],
                "thumbnails": not options["no_thumbnails"],
                "workers": options["workers"],
                "exclude_directories": options["exclude"],
            }
            submit_job(self, kind="analyze", params=params, wait=options["wait"])
            return
        reporter = TerminalReporter(cast(TextIO, self.stderr._out))
        try:
            sources_check(options["sources"])  # before the catalog folder and row are created
            catalog = catalog_get_or_create(path=options["catalog_path"])
            summary = catalog_analyze(
                catalog=catalog,
                sources=options["sources"],
                reporter=reporter,
                workers=options["workers"],
                thumbnails=not options["no_thumbnails"],
                detect_duplicates=not options["no_duplicates"],
                threshold=options["threshold"],
                exclude=options["exclude"],
            )
        except (AnalyzeError, CatalogBusy) as exc:
            raise CommandError(str(exc)) from exc
        except KeyboardInterrupt as exc:
            raise CommandError("interrupted; run analyze again to finish (finished files are kept)") from exc
        finally:
            reporter.close()
        for error in summary.walk_errors[:20]:
            self.stderr.write(f"warning: cannot list {error}")
        self.stdout.write(f"Catalog {catalog.path}")
        self.stdout.write(summary.line())
        if summary.duplicates:
            self.stdout.write(summary.duplicates.line())
