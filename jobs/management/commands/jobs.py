from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from catalog.management.common import SHORT_ID, existing_catalog, job_named
from catalog.media.words import duration_words
from catalog.templatetags.vam import counted
from jobs.models import Job, JobStatus
from jobs.selectors import job_list
from jobs.services import job_cancel

LATEST = 20
COLUMNS = ("ID", "KIND", "STATUS", "PROGRESS", "CATALOG", "CREATED", "DURATION")


class Command(BaseCommand):
    help = (
        "The jobs of every catalog, run from here, the web or the API. `jobs` (or `jobs list`) shows the active "
        "ones, then the latest finished ones; `jobs show ID` one job in full; `jobs cancel ID` asks it to stop. "
        f"ID is the full id or its first {SHORT_ID} characters or more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "action", nargs="?", choices=["list", "show", "cancel"], default="list", help="what to do (default: list)"
        )
        parser.add_argument("job_id", nargs="?", metavar="ID", help="the job, for show and cancel")
        parser.add_argument("--all", action="store_true", help="list the whole history")
        parser.add_argument(
            "--limit", type=int, default=LATEST, metavar="N", help=f"finished jobs to list (default {LATEST})"
        )
        parser.add_argument("--catalog", metavar="PATH", help="only the jobs of the catalog at PATH")

    def handle(self, *args, **options) -> None:
        action, job_id = options["action"], options["job_id"]
        if action == "list":
            if job_id:
                raise CommandError(f"jobs list takes no job id (did you mean `jobs show {job_id}`?)")
            self._list(options)
            return
        if not job_id:
            raise CommandError(f"give the job to {action}: jobs {action} ID")
        job = job_named(job_id)
        if action == "show":
            self._show(job)
        else:
            self._cancel(job)

    def _list(self, options: dict[str, Any]) -> None:
        if options["limit"] < 0:
            raise CommandError("--limit must be 0 or more")
        catalog = existing_catalog(options["catalog"]) if options["catalog"] else None
        active = list(job_list(active=True, catalog=catalog))
        finished = job_list(active=False, catalog=catalog)
        total_finished = finished.count()
        shown = list(finished if options["all"] else finished[: options["limit"]])
        jobs = active + shown
        if not jobs:
            where = f" for {catalog.name}" if catalog else ""
            self.stdout.write(f"no jobs{where} yet" if not total_finished else f"no active jobs{where}")
            return
        rows = [COLUMNS, *(_row(job) for job in jobs)]
        widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
        for row in rows:
            self.stdout.write("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
        footer = f"{counted(len(active), 'active job')}, {counted(total_finished, 'finished job')}"
        if len(shown) < total_finished:
            footer += f" (the latest {len(shown)} shown: --all or --limit N for more)"
        self.stdout.write(footer)

    def _show(self, job: Job) -> None:
        status = job.status + (" (cancel requested)" if job.cancel_requested_at and not job.is_final else "")
        self._fields([
            ("Job", str(job.pk)),
            ("Kind", job.kind),
            ("Status", status),
            ("Catalog", f"{job.catalog.name} ({job.catalog.path})" if job.catalog else "none"),
        ])  # fmt: skip
        self._block("Parameters", job.params)
        self._fields([
            ("Created", _when(job.created_at)),
            ("Started", _when(job.started_at)),
            ("Finished", _when(job.finished_at)),
            ("Duration", _duration(job)),
            ("Worker", job.worker or "none yet"),
            ("Progress", _progress_line(job)),
        ])  # fmt: skip
        self._block("Result", job.result)
        if job.error:
            self._fields([("Error", f"{job.error} ({job.error_type})" if job.error_type else job.error)])

    def _fields(self, lines: list[tuple[str, str]]) -> None:
        for label, value in lines:
            self.stdout.write(f"{label + ':':<10}{value}")

    def _block(self, title: str, values: dict[str, Any] | None) -> None:
        if not values:
            return
        self.stdout.write(f"{title}:")
        for key, value in flatten(values):
            if isinstance(value, list) and len(value) > 3:  # a long list (folders, errors): one a line
                self.stdout.write(f"  {key}:")
                for item in value:
                    self.stdout.write(f"    {_plain(item)}")
            else:
                self.stdout.write(f"  {key}: {_plain(value)}")

    def _cancel(self, job: Job) -> None:
        if job.is_final:
            raise CommandError(f"job {job.pk} has already ended ({job.status}): nothing to cancel")
        job = job_cancel(job=job)
        if job.is_final:
            self.stdout.write(f"job {job.pk} {job.status}: {job.error}")
        else:
            self.stdout.write(f"job {job.pk}: cancel requested; it stops at its next progress check")


def flatten(values: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """A mapping's ``key: value`` pairs in plain words; a nested mapping's keys follow its own name
    (``duplicates exact groups``)."""
    pairs: list[tuple[str, Any]] = []
    for key, value in values.items():
        name = f"{prefix} {key}".strip().replace("_", " ")
        pairs.extend(flatten(value, name) if isinstance(value, dict) and value else [(name, value)])
    return pairs


def _plain(value: Any) -> str:
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(_plain(item) for item in value) if value else "none"
    if isinstance(value, dict):
        return "none"
    return str(value)


def _row(job: Job) -> tuple[str, ...]:
    catalog = job.catalog.name if job.catalog else "-"
    return (
        str(job.pk)[:SHORT_ID], job.kind, job.status, _progress(job), catalog,
        _when(job.created_at, seconds=False), _duration(job),
    )  # fmt: skip


def _progress(job: Job) -> str:
    if job.status == JobStatus.PENDING:
        return "-"
    percent = job.percent
    if job.total is not None:
        done = f"{job.current}/{job.total}"
        return f"{done} {percent:.0f}%" if percent is not None else done
    return str(job.current) if job.current else "-"


def _progress_line(job: Job) -> str:
    if not job.phase:
        return "not started"
    progress = _progress(job)
    text = job.phase if progress == "-" else f"{job.phase} {progress}"
    return f"{text} ({job.message})" if job.message else text


def _when(moment: datetime | None, *, seconds: bool = True) -> str:
    if moment is None:
        return "-"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")  # this machine's clock


def _duration(job: Job) -> str:
    if job.started_at is None:
        return "-"
    return duration_words(((job.finished_at or timezone.now()) - job.started_at).total_seconds())
