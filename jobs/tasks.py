"""Thin entry points: claim the Job row, call the catalog service with a JobReporter, record how it ended."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from catalog.media.pool import pool_processes
from jobs.heartbeat import current_process, job_heartbeat
from jobs.models import Job, JobKind, JobStatus
from jobs.reporter import JobReporter, job_push
from jobs.state import current_worker_name, job_finish

logger = logging.getLogger(__name__)


def run_job(job_id: str) -> dict[str, Any] | None:
    """Run a job to its end: its heartbeat is kept while it runs, and every process it started (the analysis
    pool) has exited before its final status is recorded."""
    if not connection.in_atomic_block:  # a long-lived worker: drop a connection the database closed meanwhile
        close_old_connections()
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, status=JobStatus.PENDING, cancel_requested_at__isnull=True).update(
        status=JobStatus.PROGRESS,
        started_at=now,
        heartbeat_at=now,
        worker=current_worker_name(),
        process=current_process(),
    )
    job = Job.objects.filter(pk=job_id).first()
    if job is None or not claimed:
        return None  # cancelled before it started, or another worker has it
    job_push(job)
    with job_heartbeat(job):
        return _run_claimed(job)


def _run_claimed(job: Job) -> dict[str, Any] | None:
    reporter = JobReporter(job)
    try:
        with pool_processes():
            result = HANDLERS[job.kind](job, reporter)
    except Exception as exc:
        logger.exception("job %s failed", job.pk)
        job_finish(job, JobStatus.FAILURE, error=str(exc) or type(exc).__name__, error_type=type(exc).__name__)
        return None
    if reporter.is_cancelled():
        job_finish(job, JobStatus.CANCELLED, result=result, error="cancelled; finished work is kept")
    else:
        job_finish(job, JobStatus.SUCCESS, result=result)
    return result


def _analyze(job: Job, reporter: JobReporter) -> dict[str, Any]:
    from catalog.services.analyze import catalog_analyze, catalog_get_or_create, worker_count
    from jobs.fanout import FanOutRunner

    params = job.params
    catalog = catalog_get_or_create(path=params["catalog_path"])
    Job.objects.filter(pk=job.pk).update(catalog=catalog)
    runner = FanOutRunner(job, workers=worker_count(params.get("workers")))
    summary = catalog_analyze(
        catalog=catalog,
        sources=list(params["source_directories"]),
        reporter=reporter,
        thumbnails=params.get("thumbnails", True),
        detect_duplicates=params.get("detect_duplicates", True),
        threshold=params.get("similarity_threshold"),
        run_entries=runner,
        exclude=params.get("exclude_directories"),
        # Asked for through the web or the API: the walk keeps inside the roots (the command line is the owner's).
        library_roots=list(settings.VAM_LIBRARY_ROOTS) if job.created_by_id is not None else None,
    )
    result = summary.as_dict() | {"catalog": catalog.path, "walk_errors": summary.walk_errors[:100]}
    return result | ({"fan_out": runner.report} if runner.report else {})


def run_batch(batch_id: int) -> None:
    """RQ entry point on the ``analysis`` queue: one batch of a fanned-out analyze job (see ``jobs.fanout``)."""
    from catalog.services.analyze import worker_count
    from jobs.fanout import batch_claim, batch_options, batch_run

    if not connection.in_atomic_block:
        close_old_connections()
    batch = batch_claim(batch_id)
    if batch is None:
        return  # taken by another worker, cancelled, or its job ended
    job = Job.objects.select_related("catalog").get(pk=batch.job_id)
    catalog = job.catalog
    if catalog is None:  # deleted meanwhile: the job's own worker finds the batch stale and fails the job
        return
    batch_run(batch, catalog, batch_options(job, catalog), workers=worker_count(job.params.get("workers")))


def run_gpu_batch(batch_id: int) -> None:
    """RQ entry point on the ``gpu`` queue (``jobs.worker.VamGpuWorker``): a batch of a fanned-out analyze job on
    the GPU path, and then the job's other pending batches (``jobs.fanout.gpu_batches``)."""
    from catalog.media.device import require
    from catalog.media.gpu import TorchEngine
    from catalog.services.analyze import worker_count
    from jobs.fanout import batch_claim, batch_options, batch_run, gpu_batches

    engine = TorchEngine(require(settings.VAM_DEVICE))
    if not connection.in_atomic_block:
        close_old_connections()
    first = batch_claim(batch_id)
    if first is None:
        return
    for batch in gpu_batches(first):
        job = Job.objects.select_related("catalog").get(pk=batch.job_id)
        if job.catalog is None:
            return
        workers = worker_count(job.params.get("workers"))
        batch_run(batch, job.catalog, batch_options(job, job.catalog), workers=workers, engine=engine)
    if engine.fell_back:
        logger.info("gpu worker: %d pictures finished on the CPU (the device could not decode them)", engine.fell_back)


def _thumbnails(job: Job, reporter: JobReporter) -> dict[str, Any]:
    from catalog.services.thumbnails import thumbnails_generate

    catalog = _existing_catalog(job)
    params = job.params
    summary = thumbnails_generate(
        catalog=catalog,
        sizes=params.get("sizes") or list(settings.VAM_THUMBNAIL_SIZES),
        quality=params.get("quality", 80),
        fmt=params.get("format", "webp"),
        force=params.get("force", False),
        reporter=reporter,
        workers=params.get("workers"),
    )
    return summary.as_dict() | {"catalog": catalog.path}


def _duplicates(job: Job, reporter: JobReporter) -> dict[str, Any]:
    from catalog.services.duplicates import catalog_find_duplicates

    catalog = _existing_catalog(job)
    summary = catalog_find_duplicates(
        catalog=catalog, threshold=job.params.get("similarity_threshold"), reporter=reporter
    )
    return summary.as_dict() | {"catalog": catalog.path}


def _organize(job: Job, reporter: JobReporter) -> dict[str, Any]:
    """A new organize, or (params ``resume`` / ``rollback``: a job id) the resume or rollback of one."""
    from catalog.services.organize import (
        OrganizeOptions,
        catalog_organize,
        journal_of,
        organize_resume,
        organize_rollback,
    )

    params = job.params
    for action, service in (("rollback", organize_rollback), ("resume", organize_resume)):
        if params.get(action):
            earlier = Job.objects.filter(pk=params[action], kind=JobKind.ORGANIZE).first()
            journal = journal_of(earlier) if earlier is not None else None
            catalog = journal.catalog if journal is not None else None
            if journal is None or catalog is None:
                raise LookupError(f"no organize job {params[action]} to {action}")
            Job.objects.filter(pk=job.pk).update(catalog=catalog)
            summary = service(catalog=catalog, journal=journal, reporter=reporter)
            return summary.as_dict() | {action: str(journal.pk), "catalog": catalog.path}
    catalog = _existing_catalog(job)
    options = OrganizeOptions.from_params(params)
    if job.created_by_id is not None:  # asked for through the web or the API: everything stays inside the roots
        options.roots = list(settings.VAM_LIBRARY_ROOTS)
    summary = catalog_organize(catalog=catalog, job=job, options=options, reporter=reporter)
    return summary.as_dict() | {"catalog": catalog.path, "output": params["output_directory"]}


def _existing_catalog(job: Job):
    from catalog.selectors import catalog_by_path

    catalog = catalog_by_path(job.params["catalog_path"])
    if catalog is None:
        raise LookupError(f"no catalog at {job.params['catalog_path']}: run analyze first")
    Job.objects.filter(pk=job.pk).update(catalog=catalog)
    return catalog


HANDLERS: dict[str, Callable[[Job, JobReporter], dict[str, Any]]] = {
    JobKind.ANALYZE: _analyze,
    JobKind.THUMBNAILS: _thumbnails,
    JobKind.DUPLICATES: _duplicates,
    JobKind.ORGANIZE: _organize,
}


# RQ callbacks: the job hit its time limit, RQ found its worker dead, or it was stopped on request. (A work-horse
# killed outright gets no callback: job_reconcile finds that one.)

RQ_ERRORS = {
    "AbandonedJobError": (
        "WorkerLost",
        "its worker died while running it (killed, or out of memory); resubmit to resume",
    ),
    "JobTimeoutException": ("TimedOut", "it ran past its time limit and was stopped; resubmit to resume"),
}


def job_failed(rq_job, connection, exc_type, exc_value, traceback) -> None:
    error_type, error = RQ_ERRORS.get(exc_type.__name__, (exc_type.__name__, str(exc_value) or exc_type.__name__))
    _finish_from_rq(rq_job.id, JobStatus.FAILURE, error, error_type)


def job_stopped(rq_job, connection) -> None:
    _finish_from_rq(rq_job.id, JobStatus.CANCELLED, "stopped by request", "")


def _finish_from_rq(job_id: str, status: str, error: str, error_type: str) -> None:
    """Callbacks run inside RQ's own bookkeeping (a registry cleanup holds a lock while it runs them): they must
    never raise. A failure here is left to job_reconcile."""
    try:
        if not connection.in_atomic_block:
            close_old_connections()
        job = Job.objects.filter(pk=job_id).first()
        if job is not None:
            job_finish(job, status, error=error, error_type=error_type)
    except Exception:
        logger.exception("cannot record the end of job %s; job_reconcile will", job_id)
