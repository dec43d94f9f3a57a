"""A running job's sign of life, whatever the job is doing.

While a job (or a batch of a fanned-out job) runs, a thread of the process that runs it writes its
``heartbeat_at`` every ``HEARTBEAT_SECONDS``: also in a phase that reports no progress for a long time (a long
duplicate search, one huge video). A job whose heartbeat is older than ``HEARTBEAT_STALE`` has lost its process
(killed with -9, its machine gone): ``job_reconcile`` fails it. The thread dies with its process, so it cannot keep
a dead job looking alive; and as long as the process lives it keeps beating, so a slow job is never taken for a
dead one.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from django.db import close_old_connections, connection
from django.utils import timezone

from jobs.models import BatchStatus, Job, JobBatch, JobStatus

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 5.0
HEARTBEAT_STALE = timedelta(seconds=20)  # four beats missed: the process that ran the job is gone


def current_process() -> str:
    """``<host>:<pid>`` of this process: where a job runs (a forking RQ worker's work-horse, not the worker)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def job_heartbeat(job: Job) -> Iterator[None]:
    """Keep the running job's ``heartbeat_at`` fresh while the block runs."""

    def beat() -> None:
        Job.objects.filter(pk=job.pk, status=JobStatus.PROGRESS).update(heartbeat_at=timezone.now())

    with _beating(beat, f"job {job.pk}"):
        yield


@contextmanager
def batch_heartbeat(batch: JobBatch) -> Iterator[None]:
    """Keep a claimed batch's ``heartbeat_at`` fresh while the block runs (as long as this attempt holds it)."""

    def beat() -> None:
        JobBatch.objects.filter(pk=batch.pk, attempt=batch.attempt, status=BatchStatus.RUNNING).update(
            heartbeat_at=timezone.now()
        )

    with _beating(beat, f"batch {batch.index} of job {batch.job_id}"):
        yield


@contextmanager
def _beating(beat: Callable[[], None], what: str) -> Iterator[None]:
    if connection.in_atomic_block:
        # Inside a caller's transaction (a test) another connection would wait on the rows it holds: no thread.
        yield
        return
    stop = threading.Event()
    thread = threading.Thread(target=_beat_until, args=(beat, stop, what), name="vam-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(HEARTBEAT_SECONDS)


def _beat_until(beat: Callable[[], None], stop: threading.Event, what: str) -> None:
    failing = False
    try:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                beat()
                failing = False
            except Exception:  # the database is away for a moment: say so once, and keep trying
                if not failing:
                    logger.warning("cannot write the heartbeat of %s", what, exc_info=True)
                failing = True
                close_old_connections()
    finally:
        connection.close()  # this thread's own connection
