"""RQ workers that also reconcile abandoned jobs, every few seconds, idle or busy:
``manage.py rqworker default analysis --worker-class jobs.worker.VamWorker`` (``VamSimpleWorker`` without fork).

A job whose worker was killed with -9 is found by any other live worker within ``RECONCILE_SECONDS`` of the
moment it can be told apart from a live one: at once on the same machine (its process has ended), otherwise once
its heartbeat is ``HEARTBEAT_STALE`` old (see ``jobs.heartbeat``). A work-horse never outlives its worker: killed
with -9 alone, the worker takes its work-horse (and the work-horse's analysis pool) with it, as a lost machine would.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time

from django.db import connection, connections
from rq.worker import SimpleWorker, Worker

from jobs.notify import deliver_due
from jobs.services import job_reconcile

logger = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 60  # RQ's own registry cleanup; its default is 10 minutes
RECONCILE_SECONDS = 5  # how often a worker looks for jobs whose worker is gone, and sends its own heartbeat
PARENT_CHECK_SECONDS = 1.0


class ReconcilingMixin:
    """Looks for abandoned jobs every ``RECONCILE_SECONDS``: between jobs, while waiting on the queues, and (a
    forking worker) while its work-horse runs a job, in the loop that watches it."""

    _reconciled_at = float("-inf")

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        kwargs.setdefault("job_monitoring_interval", RECONCILE_SECONDS)
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """An idle worker wakes from its wait on the queues this often, so that its reconcile pass runs on time
        (RQ waits 405 s, which made a job killed on another worker look alive for up to 7 minutes)."""
        return min(super().dequeue_timeout, RECONCILE_SECONDS)  # type: ignore[misc]

    def heartbeat(self, timeout=None, pipeline=None) -> None:
        super().heartbeat(timeout, pipeline)  # type: ignore[misc]
        if pipeline is None:  # (within a pipeline: RQ's bookkeeping of a job, not a moment to stop for)
            self.reconcile_when_due()

    def maintain_heartbeats(self, job) -> None:
        super().maintain_heartbeats(job)  # type: ignore[misc]
        self.reconcile_when_due()

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()  # type: ignore[misc]
        except Exception:  # maintenance must never take the worker down
            logger.exception("RQ maintenance failed")
        self.reconcile_when_due(force=True)

    def reconcile_when_due(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._reconciled_at < RECONCILE_SECONDS:
            return
        self._reconciled_at = now
        try:
            fixed = job_reconcile()
            if fixed:
                logger.warning("reconciled %d abandoned jobs", fixed)
            deliver_due()  # webhook retries whose time has come
        except Exception:  # maintenance must never take the worker down
            logger.exception("job maintenance failed")
            _close_connections()  # one the database closed meanwhile: the next pass opens a new one


def _close_connections() -> None:
    if not connection.in_atomic_block:  # (inside a test's transaction the connection is the test's)
        connections.close_all()


class VamWorker(ReconcilingMixin, Worker):
    def fork_work_horse(self, job, queue) -> None:
        _close_connections()  # the child opens its own; closing an inherited one would end the parent's session
        super().fork_work_horse(job, queue)

    def main_work_horse(self, job, queue) -> None:
        _die_with_parent(os.getppid())
        super().main_work_horse(job, queue)


class VamSimpleWorker(ReconcilingMixin, SimpleWorker):
    pass


class VamGpuWorker(VamSimpleWorker):
    """The worker of a GPU node: ``manage.py rqworker gpu --worker-class jobs.worker.VamGpuWorker``.

    It runs its jobs in its own process, not in a forked work-horse: a CUDA context cannot cross a fork, and
    torch, the device and the engine stay warm from one batch to the next. Files are still read and decoded on
    the CPU in the analysis pool's own processes, which contain a crashing decoder as on the CPU workers; a
    crash on the device itself takes the worker down, and its batch is taken back by the others once its
    heartbeat stops. It resolves ``VAM_DEVICE`` when it starts, and refuses to start where it cannot run the
    GPU path (no torch, or ``cuda`` without a GPU), so that a misplaced GPU worker says so at once.
    """

    def __init__(self, *args, **kwargs) -> None:
        from django.conf import settings

        from catalog.media.device import DeviceError, require

        super().__init__(*args, **kwargs)
        try:
            device = require(settings.VAM_DEVICE)
        except DeviceError as exc:
            raise SystemExit(f"gpu worker: {exc}") from None
        logger.info("gpu worker: the GPU path runs on %s", device)


def _die_with_parent(parent: int) -> None:
    """In a work-horse: once its worker is gone (killed with -9 alone), kill the work-horse's process group (itself
    and the analysis pool it started) instead of working on as an orphan that nobody watches."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        logger.warning("work-horse %d: its worker (pid %d) is gone; stopping", os.getpid(), parent)
        if os.getpgrp() == os.getpid():  # RQ puts each work-horse in a process group of its own
            os.killpg(os.getpid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="vam-parent", daemon=True).start()
