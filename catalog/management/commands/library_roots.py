from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from vamsite.roots import ENVIRONMENT, roots_add, roots_file, roots_remove


class Command(BaseCommand):
    help = (
        "List, add or remove the library roots: the folders that paths given through the web pages and the API "
        f"must lie in. {ENVIRONMENT} overrides this list when it is set. A running server reads them when it starts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", nargs="?", choices=["list", "add", "remove"], default="list")
        parser.add_argument("folders", nargs="*", metavar="DIR")

    def handle(self, *args, action: str, folders: list[str], **options) -> None:
        data_dir = settings.VAM_DATA_DIR
        if action == "list":
            if folders:
                raise CommandError("list takes no folder")
            self._list()
            return
        if not folders:
            raise CommandError(f"{action}: give at least one folder")
        try:
            changed = roots_add(data_dir, folders) if action == "add" else roots_remove(data_dir, folders)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "added" if action == "add" else "removed"
        for folder in changed:
            self.stdout.write(f"{verb} {folder}")
        if not changed:
            self.stdout.write(f"nothing {verb}: " + ("already a root" if action == "add" else "not a root"))
        if settings.VAM_LIBRARY_ROOTS_FROM == "environment":
            self.stderr.write(f"note: {ENVIRONMENT} is set, so its folders are the roots and this list is not used")

    def _list(self) -> None:
        roots, origin = settings.VAM_LIBRARY_ROOTS, settings.VAM_LIBRARY_ROOTS_FROM
        if not roots:
            self.stdout.write(f"no library roots: add one with `manage.py library_roots add DIR`, or set {ENVIRONMENT}")
            return
        where = ENVIRONMENT if origin == "environment" else str(roots_file(settings.VAM_DATA_DIR))
        self.stdout.write(f"library roots (from {where}):")
        for root in roots:
            self.stdout.write(f"  {root}")
