from django.core.management.base import BaseCommand, CommandParser

from catalog.management.commands.analyze import add_threshold_argument
from catalog.management.common import add_job_arguments, command_job, existing_catalog, summary_from
from catalog.services.duplicates import DuplicatesSummary
from jobs.models import JobKind


class Command(BaseCommand):
    help = "Rebuild a catalog's exact and similar duplicate groups from its analyzed assets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path")
        add_threshold_argument(parser)
        add_job_arguments(parser)

    def handle(self, *args, **options) -> None:
        catalog = existing_catalog(options["catalog_path"])
        params = {"catalog_path": catalog.path, "similarity_threshold": options["threshold"]}
        command_job(self, options, kind=JobKind.DUPLICATES, params=params, catalog=catalog, report=self._report)

    def _report(self, result: dict) -> None:
        self.stdout.write(summary_from(DuplicatesSummary, result).line())
