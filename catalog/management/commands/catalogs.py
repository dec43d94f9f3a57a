from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.template.defaultfilters import filesizeformat

from catalog.management.common import existing_catalog
from catalog.models import Catalog
from catalog.services.schedule import (
    SCHEDULE_HELP,
    ScheduleError,
    catalog_set_schedule,
    schedule_parse,
    schedule_summary,
)
from catalog.services.stats import catalog_stats
from catalog.templatetags.vam import counted


class Command(BaseCommand):
    help = (
        "Every catalog with its figures: sources, files, problems, dates, duplicate groups, last analysis, rescan "
        "schedule. With CATALOG_PATH, that one catalog; with --schedule, set its rescan schedule."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("catalog_path", nargs="?", help="show (or, with --schedule, change) this catalog only")
        parser.add_argument("--schedule", metavar="WHEN", help="rescan schedule: " + SCHEDULE_HELP)

    def handle(self, *args, **options) -> None:
        if options["schedule"] is not None and not options["catalog_path"]:
            raise CommandError("--schedule: name the catalog (`manage.py catalogs CATALOG_PATH --schedule nightly`)")
        if options["catalog_path"]:
            catalog = existing_catalog(str(Path(options["catalog_path"]).expanduser().resolve()))
            if options["schedule"] is not None:
                try:
                    schedule = schedule_parse(options["schedule"])
                except ScheduleError as exc:
                    raise CommandError(f"--schedule: {exc}") from None
                catalog_set_schedule(catalog=catalog, schedule=schedule)
                self.stdout.write(f"{catalog.name}: {_schedule_line(catalog)}")
                return
            catalogs = [catalog]
        else:
            catalogs = list(Catalog.objects.order_by("name", "path"))
        if not catalogs:
            self.stdout.write("no catalogs yet: create one with `manage.py analyze CATALOG_PATH -s DIR`")
            return
        self.stdout.write(counted(len(catalogs), "catalog"))
        for catalog in catalogs:
            self.stdout.write("")
            self.stdout.write(f"{catalog.name}  {catalog.path}")
            for label, value in _figures(catalog):
                self.stdout.write(f"  {label + ':':<18}{value}")


def _figures(catalog: Catalog) -> list[tuple[str, str]]:
    stats = catalog_stats(catalog)

    def figure(name: str) -> str:
        return f"{stats.get(name) or 0:,}"

    size = filesizeformat(stats.get("bytes", 0)).replace("\xa0", " ")
    problems = figure("problems") + (f"; {figure('missing')} missing from disk" if stats.get("missing") else "")
    groups = sum(stats.get(kind) or 0 for kind in ("exact_groups", "similar_groups", "video_groups"))
    videos = f", {figure('video_groups')} of similar videos" if stats.get("video_groups") else ""
    analyzed = catalog.last_analyzed_at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if catalog.last_analyzed_at else ""
    figures = [
        ("sources", ", ".join(catalog.source_directories) or "none yet"),
        ("files", f"{figure('assets')} ({figure('images')} photos, {figure('videos')} videos), {size}"),
        ("problems", problems),
        ("no reliable date", f"{figure('no_reliable_date')} ({figure('undated')} with no date, "
                             f"{figure('mtime_dated')} dated only by the file's modification time)"),
        ("duplicate groups", f"{groups:,} ({figure('exact_groups')} exact, {figure('similar_groups')} similar"
                             f"{videos}; {figure('unreviewed_groups')} to review)"),
        ("last analyzed", analyzed or "never"),
        ("rescans", _schedule_line(catalog)),
    ]  # fmt: skip
    if catalog.exclude_directories:
        figures.insert(1, ("excluded", ", ".join(catalog.exclude_directories)))
    return figures


def _schedule_line(catalog: Catalog) -> str:
    note = f"; {catalog.schedule_note}" if catalog.schedule and catalog.schedule_note else ""
    return schedule_summary(catalog) + note
