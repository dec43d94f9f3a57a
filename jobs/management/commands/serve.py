from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from jobs.schedule import EmbeddedClock
from jobs.state import uses_redis


class Command(BaseCommand):
    help = (
        "Serve the web UI (daphne's runserver, websockets included). In the embedded default it also runs the "
        "jobs and the catalogs' rescan schedules; on the full stack those are the workers' and `manage.py "
        "scheduler`'s."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000", help="HOST:PORT (default 127.0.0.1:8000)")

    def handle(self, *args, **options) -> None:
        clock = None
        if uses_redis():
            self.stderr.write("rescan schedules: run `manage.py scheduler` beside the workers")
        else:
            clock = EmbeddedClock().start()
        try:
            call_command("runserver", options["addrport"], use_reloader=False)
        finally:
            if clock is not None:
                clock.stop()
