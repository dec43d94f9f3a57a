from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.common import add_job_arguments, existing_catalog, submit_job
from catalog.services.thumbnails import thumbnails_generate
from jobs.progress import TerminalReporter


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError as exc:
        raise CommandError(f"--sizes must be numbers separated by commas, got {text!r}") from exc
    if not sizes or any(size < 16 or size > 4096 for size in sizes):
        raise CommandError("--sizes must each lie between 16 and 4096 pixels")
    return sizes


class Command(BaseCommand):
    help = "Make thumbnails for an analyzed catalog (existing ones are skipped unless --force)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path")
        parser.add_argument("--sizes", default="256,512", help="longest sides in pixels, comma-separated")
        parser.add_argument("--quality", type=int, default=80)
        parser.add_argument("--format", dest="fmt", choices=["webp", "jpeg"], default="webp")
        parser.add_argument("--force", action="store_true", help="rewrite thumbnails that exist")
        parser.add_argument("--workers", type=int, default=None)
        add_job_arguments(parser)

    def handle(self, *args, **options) -> None:
        if not 1 <= options["quality"] <= 100:
            raise CommandError("--quality must lie between 1 and 100")
        catalog = existing_catalog(options["catalog_path"])
        if options["enqueue"] or options["wait"]:
            params = {
                "catalog_path": catalog.path,
                "sizes": parse_sizes(options["sizes"]),
                "quality": options["quality"],
                "force": options["force"],
            }
            submit_job(self, kind="thumbnails", params=params, wait=options["wait"])
            return
        reporter = TerminalReporter(cast(TextIO, self.stderr._out))
        try:
            summary = thumbnails_generate(
                catalog=catalog,
                sizes=parse_sizes(options["sizes"]),
                quality=options["quality"],
                fmt=options["fmt"],
                force=options["force"],
                reporter=reporter,
                workers=options["workers"],
            )
        finally:
            reporter.close()
        self.stdout.write(summary.line())
