"""RQ workers that also reconcile abandoned jobs in their maintenance pass:
``manage.py rqworker default analysis --worker-class jobs.worker.VamWorker`` (``VamSimpleWorker`` without fork)."""

from __future__ import annotations

import logging

from django.db import connection, connections
from rq.worker import SimpleWorker, Worker

from jobs.services import job_reconcile

logger = logging.getLogger(__name__)

MAINTENANCE_SECONDS = 60  # RQ's default is 10 minutes: a job whose worker died would look alive that long


class ReconcilingMixin:
    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("maintenance_interval", MAINTENANCE_SECONDS)
        super().__init__(*args, **kwargs)

    @property
    def dequeue_timeout(self) -> int:
        """An idle worker wakes from its wait on the queues this often, so maintenance runs on time (RQ waits
        405 s, which made a job killed on another worker look alive for up to 7 minutes)."""
        return min(super().dequeue_timeout, MAINTENANCE_SECONDS)  # type: ignore[misc]

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()  # type: ignore[misc]
            fixed = job_reconcile()
            if fixed:
                logger.warning("reconciled %d abandoned jobs", fixed)
        except Exception:  # maintenance must never take the worker down
            logger.exception("job maintenance failed")
        finally:
            _close_connections()  # a forked work-horse must never share this process's connection


def _close_connections() -> None:
    if not connection.in_atomic_block:  # (inside a test's transaction the connection is the test's)
        connections.close_all()


class VamWorker(ReconcilingMixin, Worker):
    def fork_work_horse(self, job, queue) -> None:
        _close_connections()  # the child opens its own; closing an inherited one would end the parent's session
        super().fork_work_horse(job, queue)


class VamSimpleWorker(ReconcilingMixin, SimpleWorker):
    pass
