"""RQ workers that also reconcile abandoned jobs in their maintenance pass:
``manage.py rqworker default analysis --worker-class jobs.worker.VamWorker`` (``VamSimpleWorker`` without fork)."""

from __future__ import annotations

import logging

from rq.worker import SimpleWorker, Worker

from jobs.services import job_reconcile

logger = logging.getLogger(__name__)


class ReconcilingMixin:
    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[misc]
        try:
            fixed = job_reconcile()
        except Exception:  # maintenance must never take the worker down
            logger.exception("job reconcile failed")
        else:
            if fixed:
                logger.warning("reconciled %d abandoned jobs", fixed)


class VamWorker(ReconcilingMixin, Worker):
    pass


class VamSimpleWorker(ReconcilingMixin, SimpleWorker):
    pass
