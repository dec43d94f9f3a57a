"""What the catalog commands share: finding the catalog a command names, submitting and following jobs."""

import threading
import time
from typing import TextIO, cast

from django.core.management.base import BaseCommand, CommandError, CommandParser

from catalog.models import Catalog
from catalog.selectors import catalog_by_path
from jobs import embedded
from jobs.models import Job, JobStatus
from jobs.progress import TerminalReporter
from jobs.services import current_worker_name, job_cancel, job_start, uses_redis


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


def submit_job(command: BaseCommand, *, kind: str, params: dict, wait: bool) -> Job:
    """``--enqueue``: submit the job and print its id. ``--wait``: submit it, then follow it to the end."""
    if not wait and not uses_redis():
        raise CommandError(
            "--enqueue needs a worker: set REDIS_URL and run `manage.py rqworker default analysis`, "
            "or use --wait to run the job here and follow it"
        )
    job = job_start(kind=kind, params=params)
    if not wait:
        command.stdout.write(str(job.pk))
        return job
    command.stderr.write(f"job {job.pk} submitted; following it (Ctrl-C cancels the job)")
    return follow_job(command, job)


def run_here(command: BaseCommand, *, kind: str, params: dict) -> Job:
    """Run a job inside this command, recorded like any job (its row, its progress, its journal), and follow it
    with the terminal bar. Ctrl-C asks it to stop and waits until it has."""
    job = Job.objects.create(kind=kind, params=params, worker=current_worker_name())
    runner = threading.Thread(target=embedded.run, args=(str(job.pk),), name="vam-job", daemon=True)
    runner.start()
    command.stderr.write(f"job {job.pk} running here (Ctrl-C stops it; finished work is kept)")
    return follow_job(command, job, runner)


def follow_job(command: BaseCommand, job: Job, runner: threading.Thread | None = None) -> Job:
    """Show a job's progress until it ends; CommandError unless it succeeded."""
    reporter = TerminalReporter(cast(TextIO, command.stderr._out))
    seen = None
    try:
        while True:
            job.refresh_from_db()
            state = (job.status, job.phase, job.current, job.total, job.message)
            if state != seen and job.phase:
                reporter.update(phase=job.phase, current=job.current, total=job.total, message=job.message)
                seen = state
            if job.is_final:
                break
            time.sleep(0.2)
    except KeyboardInterrupt as exc:
        job_cancel(job=job)
        if runner is not None:
            runner.join()  # it stops at its next progress check
        raise CommandError(f"job {job.pk}: cancel requested; finished work is kept") from exc
    finally:
        reporter.close()
    if runner is not None:
        runner.join()
    command.stdout.write(f"job {job.pk} {job.status}")
    if job.status != JobStatus.SUCCESS:
        raise CommandError(f"job {job.pk} {job.status}: {job.error}")
    return job
