"""A catalog's rescan schedule: off, a preset ("hourly", "nightly" at 03:00) or a cron expression, read in the
server's time zone (``VAM_TIME_ZONE``).

The catalog keeps the schedule as it was given and the next instant it is due (``schedule_next_at``, UTC). The
scheduler (``jobs.schedule``) starts the rescans that are due and moves that instant to the next slot after now,
so that slots missed while nothing ran collapse into one run.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.utils import timezone

from catalog.models import Catalog

PRESETS = {"hourly": "0 * * * *", "nightly": "0 3 * * *"}
PRESET_WORDS = {"hourly": "every hour, on the hour", "nightly": "every night at 03:00"}
OFF = ("", "off", "none", "never")
MAX_LENGTH = 100
SCHEDULE_HELP = (
    'off, "hourly", "nightly" (at 03:00) or a cron expression of five fields (minute hour day month weekday), '
    'like "30 2 * * 0" for Sundays at 02:30, in the server\'s time zone'
)


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says why in plain words."""


def schedule_parse(text: str | None) -> str:
    """The schedule to store for ``text``: "" (off), a preset's name, or the cron expression with its spaces
    made single. Raises ScheduleError with the reason."""
    value = " ".join(str(text or "").split())
    if value.lower() in OFF:
        return ""
    if value.lower() in PRESETS:
        return value.lower()
    if len(value) > MAX_LENGTH:
        raise ScheduleError(f"is too long (at most {MAX_LENGTH} characters)")
    fields = value.split(" ")
    if len(fields) != 5:
        raise ScheduleError(
            f'{value!r} is not a schedule: give off, "hourly", "nightly" or a cron expression of five fields '
            f"(minute hour day month weekday), not {len(fields)}"
        )
    if not croniter.is_valid(value):
        raise ScheduleError(f"{value!r} is not a valid cron expression (minute hour day month weekday)")
    return value


def cron_of(schedule: str) -> str:
    return PRESETS.get(schedule, schedule)


def server_zone() -> ZoneInfo:
    return ZoneInfo(settings.VAM_TIME_ZONE)


def next_slot(schedule: str, after: datetime) -> datetime | None:
    """The first instant of ``schedule`` strictly after ``after`` (aware), in UTC; None when it is off.

    As cron does across a change of summer time: a slot in the hour that the clocks skip runs at the end of the
    gap, and a wall-clock time that the clocks show twice runs once, the first time."""
    if not schedule:
        return None
    slots = croniter(cron_of(schedule), after.astimezone(server_zone()))
    slot = slots.get_next(datetime)
    while slot.astimezone(ZoneInfo("UTC")).astimezone(server_zone()).fold:
        slot = slots.get_next(datetime)
    return slot.astimezone(ZoneInfo("UTC"))


def schedule_words(schedule: str) -> str:
    """How the pages say a schedule: "every night at 03:00", "cron 30 2 * * 0", "off"."""
    if not schedule:
        return "off"
    return PRESET_WORDS.get(schedule, f"cron {schedule}")


def local_words(moment: datetime | None) -> str:
    """An instant as the server's clock shows it: "2026-12-05 03:00"."""
    return moment.astimezone(server_zone()).strftime("%Y-%m-%d %H:%M") if moment else ""


def schedule_summary(catalog: Catalog) -> str:
    """A catalog's schedule and its next rescan, as the pages, the admin and the command say them: "every night
    at 03:00 (Europe/Berlin time); the next one 2026-12-05 03:00", or "off"."""
    if not catalog.schedule:
        return "off"
    line = f"{schedule_words(catalog.schedule)} ({settings.VAM_TIME_ZONE} time)"
    return line + (f"; the next one {local_words(catalog.schedule_next_at)}" if catalog.schedule_next_at else "")


def catalog_set_schedule(*, catalog: Catalog, schedule: str, now: datetime | None = None) -> Catalog:
    """Give the catalog ``schedule`` (already parsed) and its next slot from now; a schedule set again as it was
    keeps its slot (saving a form unchanged does not move the next rescan)."""
    if schedule == catalog.schedule and (catalog.schedule_next_at or not schedule):
        return catalog
    catalog.schedule = schedule
    catalog.schedule_next_at = next_slot(schedule, now or timezone.now())
    catalog.schedule_note = ""
    catalog.save(update_fields=["schedule", "schedule_next_at", "schedule_note", "updated_at"])
    return catalog
