from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.management.common import existing_catalog
from catalog.services.exports import KINDS, ExportError, catalog_export


class Command(BaseCommand):
    help = "Export a catalog's assets, duplicate groups or problems as JSON or CSV (the formats in DESIGN.md)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path")
        parser.add_argument("kind", choices=KINDS)
        parser.add_argument("--format", dest="fmt", choices=["json", "csv"], default="json")
        parser.add_argument("-o", "--output", default="-", help="file to write (default: standard output)")

    def handle(self, *args, **options) -> None:
        catalog = existing_catalog(options["catalog_path"])
        output = options["output"]
        try:
            if output == "-":
                self.stdout.ending = ""  # the export writes its own line ends
                stream = cast(TextIO, self.stdout)
                count = catalog_export(catalog=catalog, kind=options["kind"], fmt=options["fmt"], stream=stream)
            else:
                newline = "" if options["fmt"] == "csv" else None
                with open(output, "w", encoding="utf-8", newline=newline) as stream:
                    count = catalog_export(catalog=catalog, kind=options["kind"], fmt=options["fmt"], stream=stream)
        except ExportError as exc:
            raise CommandError(str(exc)) from exc
        except OSError as exc:
            raise CommandError(f"cannot write {output}: {exc.strerror or exc}") from exc
        if output != "-":
            self.stderr.write(f"{count} {options['kind']} written to {output}")
