"""The progress interface of the services, connected to a Job row and its channel group.

Every state that is pushed is also persisted, throttled: a write (and a push) happens when 1.25 s have passed
since the last one, or 100 items were done and a quarter second has passed, and always on a phase change and at
the end. Measured with ``bench/progress.py`` at the analyze engine's 60 files/s: 19 writes per 1,000 files for a
1,000-file job (its phase changes included), 14 for a 10,000-file one; at an unchanged rescan's 2,000 files/s, 7
or fewer. A slow phase (RAW, video: under ~50 files/s) writes once every 1.25 s instead, so the page never looks
stuck, at the price of more writes per file.
Cancellation is cooperative: ``is_cancelled`` reads the row's ``cancel_requested_at`` at most once a second, so
it works on any worker class.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.utils import timezone

from jobs.models import Job
from jobs.selectors import job_status

logger = logging.getLogger(__name__)

ALL_JOBS_GROUP = "jobs"
WRITE_SECONDS = 1.25
WRITE_ITEMS = 100
MIN_WRITE_SECONDS = 0.25
CANCEL_CHECK_SECONDS = 1.0
RATE_WINDOW_SECONDS = 30.0


def job_group(job_id) -> str:
    return f"job.{job_id}"


def job_push(job: Job) -> None:
    """Tell the job's channel group (and the all-jobs group) its state. Never fails the job."""
    layer = get_channel_layer()
    if layer is None:
        return
    # The owner rides along so that the all-jobs consumer can filter without a database query per event.
    event = {"type": "job.progress", "job": job_status(job), "owner": job.created_by_id}
    try:
        async_to_sync(_send_both)(layer, job_group(job.pk), event)  # one event loop (and connection) per push
    except Exception:  # a broken channel layer must not cost the work: the row holds the state
        logger.exception("cannot push progress of job %s", job.pk)


async def _send_both(layer, group: str, event: dict) -> None:
    await layer.group_send(group, event)
    await layer.group_send(ALL_JOBS_GROUP, event)


class JobReporter:
    def __init__(self, job: Job, clock: Callable[[], float] = time.monotonic) -> None:
        self.job = job
        self.clock = clock
        self.writes = 0
        self.cancelled = False
        self._written_at = float("-inf")
        self._written_current = 0
        self._written_phase: str | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._checked_cancel_at = float("-inf")

    def update(self, *, phase: str, current: int, total: int | None, message: str = "") -> None:
        now = self.clock()
        if phase != self._written_phase:
            self._samples.clear()
        self._samples.append((now, current))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_SECONDS:
            self._samples.popleft()
        since = now - self._written_at
        due = (
            phase != self._written_phase
            or (total is not None and current >= total)
            or since >= WRITE_SECONDS
            or (current - self._written_current >= WRITE_ITEMS and since >= MIN_WRITE_SECONDS)
        )
        if not due:
            return
        self._written_at, self._written_current, self._written_phase = now, current, phase
        job = self.job
        job.phase, job.current, job.total, job.message = phase, current, total, message[:255]
        job.eta_seconds = self._eta(current, total)
        job.heartbeat_at = timezone.now()
        fields = ("phase", "current", "total", "message", "eta_seconds", "heartbeat_at")
        Job.objects.filter(pk=job.pk).update(**{name: getattr(job, name) for name in fields})
        self.writes += 1
        job_push(job)

    def _eta(self, current: int, total: int | None) -> float | None:
        if total is None or len(self._samples) < 2:
            return None
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if t1 <= t0 or c1 <= c0:
            return None
        return max(0.0, (total - current) / ((c1 - c0) / (t1 - t0)))

    def is_cancelled(self) -> bool:
        if self.cancelled:
            return True
        now = self.clock()
        if now - self._checked_cancel_at >= CANCEL_CHECK_SECONDS:
            self._checked_cancel_at = now
            self.cancelled = Job.objects.filter(pk=self.job.pk, cancel_requested_at__isnull=False).exists()
        return self.cancelled
