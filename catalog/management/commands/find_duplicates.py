from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.commands.analyze import add_threshold_argument
from catalog.management.common import add_job_arguments, existing_catalog, submit_job
from catalog.services.duplicates import DuplicatesError, catalog_find_duplicates
from catalog.services.locks import CatalogBusy
from jobs.progress import TerminalReporter


class Command(BaseCommand):
    help = "Rebuild a catalog's exact and similar duplicate groups from its analyzed assets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path")
        add_threshold_argument(parser)
        add_job_arguments(parser)

    def handle(self, *args, **options) -> None:
        catalog = existing_catalog(options["catalog_path"])
        if options["enqueue"] or options["wait"]:
            params = {"catalog_path": catalog.path, "similarity_threshold": options["threshold"]}
            submit_job(self, kind="duplicates", params=params, wait=options["wait"])
            return
        reporter = TerminalReporter(cast(TextIO, self.stderr._out))
        try:
            summary = catalog_find_duplicates(catalog=catalog, threshold=options["threshold"], reporter=reporter)
        except (DuplicatesError, CatalogBusy) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            reporter.close()
        self.stdout.write(summary.line())
