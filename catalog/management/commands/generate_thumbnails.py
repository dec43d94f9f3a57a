from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.common import add_job_arguments, command_job, existing_catalog, summary_from
from catalog.services.thumbnails import ThumbnailSummary
from jobs.models import JobKind


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
        parser.add_argument("--workers", type=int, default=None, help="processes to use (default: one per core)")
        add_job_arguments(parser)

    def handle(self, *args, **options) -> None:
        if not 1 <= options["quality"] <= 100:
            raise CommandError("--quality must lie between 1 and 100")
        catalog = existing_catalog(options["catalog_path"])
        params = {
            "catalog_path": catalog.path,
            "sizes": parse_sizes(options["sizes"]),
            "quality": options["quality"],
            "format": options["fmt"],
            "force": options["force"],
            "workers": options["workers"],
        }
        command_job(self, options, kind=JobKind.THUMBNAILS, params=params, catalog=catalog, report=self._report)

    def _report(self, result: dict) -> None:
        self.stdout.write(summary_from(ThumbnailSummary, result).line())
