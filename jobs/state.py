"""A job's state and where it runs, for the code that runs jobs (``jobs.tasks``, ``jobs.fanout``) as well as the
code that starts them (``jobs.services``): below both, so neither imports the other.
"""

from __future__ import annotations

import logging
import os
import socket
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import FINAL_STATUSES, Job
from jobs.notify import job_ended
from jobs.reporter import job_push

EMBEDDED = "embedded:"
logger = logging.getLogger(__name__)


def uses_redis() -> bool:
    return bool(settings.REDIS_URL)


def current_worker_name() -> str:
    """The RQ worker running the current job, or ``embedded:<host>:<pid>`` for the in-process runner."""
    if uses_redis():
        from rq import get_current_job

        rq_job = get_current_job()
        if rq_job is not None and rq_job.worker_name:
            return rq_job.worker_name
    return f"{EMBEDDED}{socket.gethostname()}:{os.getpid()}"


def job_finish(
    job: Job, status: str, *, result=None, error: str = "", error_type: str = "", only_from: str | None = None
) -> bool:
    """Move a job that is not final yet (or is in ``only_from``) to a final status: a compare-and-set, so it
    returns False when something else finished the job first."""
    now = timezone.now()
    rows = Job.objects.filter(pk=job.pk).exclude(status__in=FINAL_STATUSES)
    if only_from is not None:
        rows = rows.filter(status=only_from)
    done = rows.update(
        status=status, result=result, error=error, error_type=error_type, finished_at=now, eta_seconds=None
    )
    job.refresh_from_db()
    if done:
        job_push(job)
        transaction.on_commit(partial(_told, job.pk))
    return bool(done)


def _told(job_id) -> None:
    """Webhooks and mail for a job that ended (``jobs.notify``); their trouble never reaches the job."""
    try:
        job_ended(job_id)
    except Exception:
        logger.exception("cannot record the notifications of job %s", job_id)
