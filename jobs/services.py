"""Starting, cancelling and reconciling jobs. The same job code runs on RQ workers and in the embedded runner.

``job_start`` creates the row and hands the job to its transport only when the transaction commits, so a worker
never picks up a job whose row it cannot see yet (and a rolled-back submission never runs).
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from functools import partial
from typing import Any, cast

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs import embedded
from jobs.heartbeat import HEARTBEAT_STALE
from jobs.models import ACTIVE_STATUSES, Job, JobBatch, JobKind, JobStatus
from jobs.reporter import job_push
from jobs.state import EMBEDDED, current_worker_name, job_finish, uses_redis

__all__ = ["EMBEDDED", "JobError", "current_worker_name", "job_cancel", "job_finish", "job_reconcile", "job_start",
           "uses_redis"]  # fmt: skip

logger = logging.getLogger(__name__)

QUEUE_OF_KIND = {kind: "default" for kind in JobKind.values}
# A running job silent this long has lost its worker, even where its process seems alive (its pid taken again by
# another process, say). Jobs of an older version, without a heartbeat thread, have only this rule.
STALE_HEARTBEAT = timedelta(minutes=10)


class JobError(Exception):
    pass


def job_start(*, kind: str, params: dict[str, Any], user=None, catalog=None) -> Job:
    """Create a PENDING job and, once the transaction commits, enqueue it."""
    if kind not in JobKind.values:
        raise JobError(f"unknown job kind {kind!r}: choose one of {', '.join(JobKind.values)}")
    job = Job.objects.create(
        kind=kind,
        params=params,
        catalog=catalog,
        created_by=user,
        queue=QUEUE_OF_KIND[kind],
        worker="" if uses_redis() else current_worker_name(),  # the embedded runner is this process
    )
    transaction.on_commit(partial(_dispatch, job.pk))
    return job


def _dispatch(job_id) -> None:
    job = Job.objects.get(pk=job_id)
    if uses_redis():
        import django_rq
        from rq import Callback

        # By name: the worker imports the job code (jobs.tasks), which needs this module's primitives only.
        django_rq.get_queue(job.queue).enqueue(
            "jobs.tasks.run_job",
            str(job.pk),
            job_id=str(job.pk),
            job_timeout=settings.VAM_JOB_TIMEOUTS[job.kind],
            on_failure=Callback("jobs.tasks.job_failed"),
            on_stopped=Callback("jobs.tasks.job_stopped"),
            result_ttl=24 * 3600,
            failure_ttl=7 * 24 * 3600,
        )
    else:
        # The jobs a previous run of this server left unfinished fail first, with a clear error.
        embedded.submit(job.pk, on_start=job_reconcile)
    job_push(job)


def job_cancel(*, job: Job) -> Job:
    """Ask a job to stop. A queued job is cancelled at once; a running one stops at its next progress check."""
    if job.is_final:
        return job
    now = timezone.now()
    Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=True).update(cancel_requested_at=now)
    if job_finish(job, JobStatus.CANCELLED, error="cancelled before it started", only_from=JobStatus.PENDING):
        _rq_cancel(job)
    job.refresh_from_db()
    return job


def _rq_cancel(job: Job) -> None:
    if not uses_redis():
        return
    import django_rq
    from rq.exceptions import InvalidJobOperation, NoSuchJobError
    from rq.job import Job as RQJob

    try:
        RQJob.fetch(str(job.pk), connection=django_rq.get_connection(job.queue)).cancel()
    except (NoSuchJobError, InvalidJobOperation):
        pass


def job_reconcile(*, now=None) -> int:
    """Fail the jobs whose worker is gone; returns how many. Safe to run anywhere, any number of times.

    A running job is lost when the process that ran it has ended (seen at once on its own machine), or when it
    has sent no heartbeat for ``HEARTBEAT_STALE`` (20 s: its process writes one every 5 s, whatever the job is
    doing) and its RQ worker has gone quiet too; or when its RQ job no longer exists or ended without the row
    being finalised. Analyze and organize are idempotent: resubmitting such a job resumes where it stopped.
    """
    now = now or timezone.now()
    fixed = 0
    for job in Job.objects.filter(status__in=ACTIVE_STATUSES):
        reason = _abandoned(job, now)
        if not reason:
            continue
        JobBatch.objects.filter(job=job).delete()  # a fanned-out job's file lists: its batches stop at their next write
        if job_finish(job, JobStatus.FAILURE, error=reason, error_type="WorkerLost"):
            logger.warning("job %s reconciled to FAILURE: %s", job.pk, reason)
            fixed += 1
    return fixed


def _abandoned(job: Job, now) -> str:
    if job.status == JobStatus.PROGRESS and job.process:
        return _process_lost(job, now)
    if job.status == JobStatus.PROGRESS and job.heartbeat_at and now - job.heartbeat_at > STALE_HEARTBEAT:
        return _no_sign_of_life(job)
    if job.worker.startswith(EMBEDDED):
        return _process_gone(job.worker.removeprefix(EMBEDDED))
    return _queue_entry_lost(job, now)


def _process_lost(job: Job, now) -> str:
    """A running job whose process recorded itself (``Job.process``) and keeps its heartbeat fresh."""
    silent = now - (job.heartbeat_at or job.created_at)
    if _on_this_host(job.process):
        gone = _process_gone(job.process)
        if gone or silent > STALE_HEARTBEAT:
            return gone or _no_sign_of_life(job)
        return ""  # alive here: however long it has been silent, it works (or is stuck, until its time limit)
    if silent <= HEARTBEAT_STALE or _rq_worker_still_runs(job, now):
        return ""
    return _no_sign_of_life(job)


def _no_sign_of_life(job: Job) -> str:
    return f"no sign of life since {job.heartbeat_at:%Y-%m-%d %H:%M:%S} UTC: its worker is gone; resubmit to resume"


def _queue_entry_lost(job: Job, now) -> str:
    if not uses_redis():
        return ""
    import django_rq
    from rq.exceptions import NoSuchJobError
    from rq.job import Job as RQJob
    from rq.job import JobStatus as RQStatus

    try:
        rq_job = RQJob.fetch(str(job.pk), connection=django_rq.get_connection(job.queue))
    except NoSuchJobError:
        if job.status == JobStatus.PENDING and now - job.created_at < timedelta(minutes=1):
            return ""  # enqueued on commit a moment ago
        return "its queue entry is gone (Redis was flushed or the job expired); resubmit to run it"
    status = rq_job.get_status(refresh=True)
    if status in (RQStatus.FAILED, RQStatus.STOPPED, RQStatus.CANCELED, RQStatus.FINISHED):
        return f"its worker ended it as {status.value} without recording a result (killed?); resubmit to resume"
    return ""


def _on_this_host(process: str) -> bool:
    host, _, pid = process.rpartition(":")
    return host == socket.gethostname() and pid.isdigit()


def _process_gone(process: str) -> str:
    """``<host>:<pid>``: a process of this machine that has ended (another machine's: only its heartbeat tells)."""
    if not _on_this_host(process):
        return ""
    pid = process.rpartition(":")[2]
    if _pid_alive(int(pid)):
        return ""
    return f"its worker (pid {pid}) has ended: killed, or out of memory; resubmit to resume"


def _pid_alive(pid: int) -> bool:
    """Whether a process of this machine runs (a zombie, dead but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rpartition(")")[2].split()[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except (OSError, IndexError):
        return True  # no /proc here: it exists, so it runs


def _rq_worker_still_runs(job: Job, now) -> bool:
    """Whether the RQ worker that took the job still runs it and sends its own heartbeats. A forking worker does,
    every few seconds, while its work-horse works (and it sees at once when the work-horse dies, and records it):
    a work-horse that cannot write its heartbeat for a while is not taken for a dead one."""
    if not uses_redis() or not job.worker or job.worker.startswith(EMBEDDED):
        return False
    import django_rq
    from rq.utils import utcparse
    from rq.worker import Worker

    key = Worker.redis_worker_namespace_prefix + job.worker
    beat, current = cast(list, django_rq.get_connection(job.queue).hmget(key, ["last_heartbeat", "current_job"]))
    if not beat or not current or current.decode() != str(job.pk):
        return False
    return now - utcparse(beat.decode()) <= HEARTBEAT_STALE
