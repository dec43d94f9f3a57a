from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.commands.analyze import add_threshold_argument
from catalog.management.common import existing_catalog
from catalog.services.duplicates import DuplicatesError, catalog_find_duplicates
from jobs.progress import TerminalReporter


class Command(BaseCommand):
    help = "Rebuild a catalog's exact and similar duplicate groups from its analyzed assets."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path")
        add_threshold_argument(parser)
        parser.add_argument("--enqueue", action="store_true", help="submit a background job and print its id")

    def handle(self, *args, **options) -> None:
        if options["enqueue"]:
            raise CommandError("--enqueue needs the background job system, which this version does not have yet")
        catalog = existing_catalog(options["catalog_path"])
        reporter = TerminalReporter(cast(TextIO, self.stderr._out))
        try:
            summary = catalog_find_duplicates(catalog=catalog, threshold=options["threshold"], reporter=reporter)
        except DuplicatesError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            reporter.close()
        self.stdout.write(summary.line())
