"""The embedded runner: without REDIS_URL, jobs run on a small thread pool inside the process that submitted them
(the web server, or a command with --wait), with the same code an RQ worker runs.

Its jobs record ``embedded:<host>:<pid>`` as their worker: ``job_reconcile`` fails those whose process has ended
(the server was restarted mid-job), when this runner starts and whenever the jobs page is shown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import connection

from jobs.tasks import run_job

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def submit(job_id, on_start: Callable[[], object] | None = None) -> Future:
    """Run the job on the runner's threads; ``on_start`` is called first when this is the runner's first job."""
    global _pool
    with _lock:
        starting = _pool is None
        if _pool is None:
            _pool = ThreadPoolExecutor(max(1, settings.VAM_EMBEDDED_JOB_THREADS), thread_name_prefix="vam-job")
    if starting and on_start is not None:
        on_start()
    return _pool.submit(run, str(job_id))


def run(job_id: str) -> None:
    """Run a job in this thread (a pool thread, or a command's), then close the thread's database connection."""
    try:
        run_job(job_id)
    except Exception:
        logger.exception("job %s crashed in the embedded runner", job_id)
    finally:
        connection.close()  # each thread has its own connection; do not leak it
