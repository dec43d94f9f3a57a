"""What the catalog and jobs commands share: finding the catalog or job a command names, and running a command's
job (here, or submitted to the workers) and following it to the end."""

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, TextIO, TypeVar, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from catalog.media.pool import start_ignoring_ctrl_c
from catalog.media.progress import TerminalReporter
from catalog.models import Catalog
from catalog.selectors import catalog_by_path
from catalog.services.analyze import AnalyzeError
from catalog.services.duplicates import DuplicatesError
from catalog.services.locks import CatalogBusy
from catalog.services.organize import OrganizeError
from jobs import embedded
from jobs.models import Job, JobStatus
from jobs.selectors import job_id_matches
from jobs.services import current_worker_name, job_cancel, job_start, uses_redis
from jobs.tasks import run_job

SHORT_ID = 8  # hex digits of a job id that the commands print and accept
# Failures a user can act on: the command prints their reason on one line, without the worker log's traceback.
EXPECTED_FAILURES = (AnalyzeError, CatalogBusy, DuplicatesError, OrganizeError, LookupError)
T = TypeVar("T")


def add_job_arguments(parser: CommandParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--enqueue", action="store_true", help="submit a background job and print its id")
    group.add_argument("--wait", action="store_true", help="submit a background job and follow it to the end")


def existing_catalog(path: str) -> Catalog:
    """The catalog at ``path``, or a CommandError telling the user to analyze first."""
    catalog = catalog_by_path(path)
    if catalog is None:
        raise CommandError(f"no catalog at {path}: run analyze first")
    return catalog


def job_named(text: str, *, kind: str | None = None) -> Job:
    """The job a command line names by its id or a unique start of it (at least 8 hex digits)."""
    what = f"{kind} job" if kind else "job"
    if len(text.replace("-", "")) < SHORT_ID:
        raise CommandError(f"give at least {SHORT_ID} characters of the job id, got {text!r}")
    matches = job_id_matches(text)
    if kind:
        matches = matches.filter(kind=kind)
    found = list(matches.select_related("catalog")[:2])
    if not found:
        raise CommandError(f"no {what} {text}")
    if len(found) > 1:
        raise CommandError(f"{text} starts several job ids: give more of it")
    return found[0]


def summary_from(cls: type[T], values: Mapping[str, Any]) -> T:
    """A service's summary dataclass again, from the ``as_dict`` a job stored as its result."""
    names = {field.name for field in fields(cast(Any, cls))}
    return cls(**{name: value for name, value in values.items() if name in names})


def command_job(
    command: BaseCommand,
    options: dict[str, Any],
    *,
    kind: str,
    params: dict[str, Any],
    report: Callable[[dict[str, Any]], None],
    catalog: Catalog | None = None,
) -> Job | None:
    """Run the job a command stands for: with --enqueue submitted to the workers (its id printed, None returned),
    with --wait submitted and followed, otherwise run here. Then ``report`` prints its result, and its final status
    follows; CommandError with the reason unless it succeeded."""
    if options["enqueue"]:
        submit_job(command, kind=kind, params=params, wait=False)
        return None
    with _expected_failures_quiet():
        if options["wait"]:
            job = submit_job(command, kind=kind, params=params, wait=True)
        else:
            job = run_here(command, kind=kind, params=params, catalog=catalog)
    if job.result:
        report(job.result)
    command.stdout.write(f"job {job.pk} {job.status}")
    if job.status != JobStatus.SUCCESS:
        raise CommandError(f"job {job.pk} {job.status}: {job.error or 'no reason recorded'}")
    return job


def submit_job(command: BaseCommand, *, kind: str, params: dict, wait: bool) -> Job:
    """``--enqueue``: submit the job and print its id. ``--wait``: submit it, then follow it to the end."""
    if not wait and not uses_redis():
        raise CommandError(
            "--enqueue needs a worker: set REDIS_URL and run `manage.py rqworker default analysis`, "
            "or use --wait to run the job here and follow it"
        )
    if wait and not uses_redis():
        start_ignoring_ctrl_c()  # the embedded runner takes the job in this process
    job = job_start(kind=kind, params=params)
    if not wait:
        command.stdout.write(str(job.pk))
        return job
    command.stderr.write(f"job {job.pk} submitted; following it (Ctrl-C cancels the job)")
    return follow_job(command, job, in_process=not uses_redis())


def run_here(command: BaseCommand, *, kind: str, params: dict, catalog: Catalog | None = None) -> Job:
    """Run a job inside this command with the code a worker runs, recorded like any job (its row, progress and
    result, in the jobs history), and follow it with the terminal bar. Ctrl-C cancels it and waits until it has
    stopped at its next progress check; finished work is kept."""
    job = Job.objects.create(kind=kind, params=params, catalog=catalog, worker=current_worker_name())
    command.stderr.write(f"job {job.pk} running here (Ctrl-C cancels it; finished work is kept)")
    if connection.in_atomic_block:
        # Inside a caller's transaction (a test, a script) another thread could not see the row: run it in this
        # one, without a live bar.
        run_job(str(job.pk))
        job.refresh_from_db()
        return job
    start_ignoring_ctrl_c()
    runner = threading.Thread(target=embedded.run, args=(str(job.pk),), name="vam-job", daemon=True)
    runner.start()
    return follow_job(command, job, runner=runner)


def follow_job(
    command: BaseCommand, job: Job, *, runner: threading.Thread | None = None, in_process: bool = False
) -> Job:
    """Show a job's progress until it ends, and return it. Ctrl-C asks it to stop; a job of this process (its
    ``runner``, or the embedded runner's: ``in_process``) is followed until it has, one on a worker is left to
    stop there."""
    reporter = TerminalReporter(cast(TextIO, command.stderr._out))
    try:
        _draw_until_final(job, reporter)
    except KeyboardInterrupt as exc:
        job_cancel(job=job)
        if runner is None and not in_process:
            raise CommandError(f"job {job.pk}: cancel requested; it stops at its next progress check") from exc
        command.stderr.write(f"job {job.pk}: cancelling (Ctrl-C again to leave at once)")
        try:
            _draw_until_final(job, reporter)
            if runner is not None:
                runner.join()
        except KeyboardInterrupt:
            raise CommandError(f"job {job.pk} left before it stopped; finished work is kept") from None
    finally:
        reporter.close()
    if runner is not None:
        runner.join()
    return job


def _draw_until_final(job: Job, reporter: TerminalReporter) -> None:
    seen = None
    while True:
        job.refresh_from_db()
        state = (job.status, job.phase, job.current, job.total, job.message)
        if state != seen and job.phase:
            reporter.update(phase=job.phase, current=job.current, total=job.total, message=job.message)
            seen = state
        if job.is_final:
            return
        time.sleep(0.2)


class _ExpectedFailure(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], EXPECTED_FAILURES))


@contextmanager
def _expected_failures_quiet() -> Iterator[None]:
    """A job run in this process logs its failure with a traceback, for the worker log; on a terminal a busy
    catalog or a bad folder is better said once, in the command's own one-line error."""
    quiet = _ExpectedFailure()
    logger = logging.getLogger("jobs.tasks")
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)
