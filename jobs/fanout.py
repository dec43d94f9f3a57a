"""Fan-out of a large analyze job over every worker that listens on the ``analysis`` queue, on any node.

The job's own worker lists the files (the service's plan), then splits the ones to read into ``JobBatch`` rows
and puts one RQ job per batch on ``analysis``. Any worker takes a batch by claiming its row (a compare-and-set),
analyzes it on its own process pool and adds its progress to the job's ``current`` with an atomic increment, so
the job's one progress bar covers every worker. After ``HELP_AFTER_SECONDS`` the job's worker takes pending
batches too, so one worker listening on ``default`` alone still finishes; it also takes back a batch whose worker
stopped reporting (killed, node gone) or that failed, up to ``MAX_ATTEMPTS`` claims. When no batch is left the
service goes on to its last step, duplicate detection, and the job ends as usual.

Workers on GPU nodes listen on the ``gpu`` queue. While one is alive, every batch is also put there: whichever
worker claims a batch first runs it, and a GPU worker, once its batch is done, goes on claiming the job's pending
batches (``gpu_batches``) with its CUDA context and engine already warm, so the fastest workers take the most.

Analyze is idempotent (rows are upserts keyed by path), so a batch redone after a lost worker only costs time.
Each claim bumps the batch's ``attempt``: a worker that lost its batch can no longer write to it, and what it had
added to the job's ``current`` is subtracted when the batch is taken back.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from catalog.media.analyze import AnalyzeOptions
from catalog.media.pool import analyze_many, pool_processes
from catalog.media.sidecars import SidecarEntry
from catalog.media.walk import WalkEntry
from catalog.models import Catalog
from catalog.services.analyze import AnalyzeSummary, Engine, analyze_entries, analyze_options
from jobs.heartbeat import HEARTBEAT_STALE, batch_heartbeat
from jobs.models import BatchStatus, Job, JobBatch, JobStatus
from jobs.reporter import MIN_WRITE_SECONDS, RATE_WINDOW_SECONDS, WRITE_ITEMS, WRITE_SECONDS, job_push
from jobs.state import current_worker_name, uses_redis

logger = logging.getLogger(__name__)

ANALYSIS_QUEUE = "analysis"
GPU_QUEUE = "gpu"
HELP_AFTER_SECONDS = 2.0  # the job's own worker leaves the first batches to the others this long
POLL_SECONDS = 0.5
MAX_ATTEMPTS = 3


class FanOutError(Exception):
    """A batch failed on every attempt: the job fails with its error (finished batches are kept)."""


def fanout_available() -> bool:
    """Batches need a queue that other workers read and a database they all share."""
    return uses_redis() and connection.vendor == "postgresql"


class FanOutRunner:
    """An ``EntryRunner`` for ``catalog_analyze`` that spreads the files of one job over the ``analysis`` workers.

    Fewer files than one batch (or no Redis/Postgres) are analyzed here as usual. ``report`` tells afterwards
    how many batches there were and which workers took them.
    """

    def __init__(self, job: Job, *, workers: int, batch_files: int | None = None) -> None:
        self.job = job
        self.workers = workers
        self.batch_files = max(1, batch_files or settings.VAM_ANALYZE_BATCH_FILES)
        self.report: dict[str, Any] | None = None

    def __call__(
        self,
        catalog: Catalog,
        entries: list[WalkEntry],
        known: Mapping[int, frozenset[str]],
        options: AnalyzeOptions,
        summary: AnalyzeSummary,
        reporter,
    ) -> None:
        if len(entries) <= self.batch_files or not fanout_available():
            analyze_entries(catalog, entries, known, options, summary, reporter, workers=self.workers)
            return
        reporter.update(phase="analyze", current=0, total=len(entries), message="")  # before any batch adds to it
        count = _create_batches(self.job, entries, known, self.batch_files)
        try:
            self._take_part(catalog, options, reporter)
            self.report = _collect(self.job, summary, count, cancelled=reporter.is_cancelled())
        finally:
            JobBatch.objects.filter(job=self.job).delete()  # their file lists are large; the result keeps the counts

    def _take_part(self, catalog: Catalog, options: AnalyzeOptions, reporter) -> None:
        """Take batches (after the others had their chance) until none is left pending or running."""
        started = time.monotonic()
        stale = timedelta(seconds=settings.VAM_ANALYZE_BATCH_STALE_SECONDS)
        while True:
            if reporter.is_cancelled():
                JobBatch.objects.filter(job=self.job, status=BatchStatus.PENDING).update(
                    status=BatchStatus.CANCELLED, finished_at=timezone.now()
                )
                _wait_for_running(self.job)
                return
            if time.monotonic() - started >= HELP_AFTER_SECONDS:
                batch = _claim(Q(job=self.job), stale_before=timezone.now() - stale, retry_failed=True)
                if batch is not None:
                    batch_run(batch, catalog, options, workers=self.workers)
                    continue
            if not JobBatch.objects.filter(
                Q(status__in=[BatchStatus.PENDING, BatchStatus.RUNNING])
                | Q(status=BatchStatus.FAILED, attempt__lt=MAX_ATTEMPTS),
                job=self.job,
            ).exists():
                return
            time.sleep(POLL_SECONDS)


def _wait_for_running(job: Job) -> None:
    """Wait until the batches still running on other workers have stopped (they see the cancel at their next
    write, within a few seconds) and recorded what they stored, so that the job's result counts it. A batch
    whose worker stopped beating its heartbeat is not waited for: that worker is gone."""
    while JobBatch.objects.filter(
        job=job, status=BatchStatus.RUNNING, heartbeat_at__gte=timezone.now() - HEARTBEAT_STALE
    ).exists():
        time.sleep(POLL_SECONDS)


def _entry_row(entry: WalkEntry) -> list:
    """A file to analyze as a batch keeps it: [path, size, mtime_ns] and, when it has some, its sidecars."""
    row: list = [entry.path, entry.size, entry.mtime_ns]
    if entry.sidecars:
        row.append([[s.path, s.kind, s.size, s.mtime_ns] for s in entry.sidecars])
    return row


def _entry_from_row(row: list) -> WalkEntry:
    sidecars = tuple(SidecarEntry(*sidecar) for sidecar in row[3]) if len(row) > 3 else ()
    return WalkEntry(path=row[0], size=row[1], mtime_ns=row[2], sidecars=sidecars)


def _create_batches(job: Job, entries: list[WalkEntry], known: Mapping[int, frozenset[str]], size: int) -> int:
    batches = []
    for index, start in enumerate(range(0, len(entries), size)):
        chunk = entries[start : start + size]
        sizes = {entry.size for entry in chunk}
        batches.append(
            JobBatch(
                job=job,
                index=index,
                entries=[_entry_row(entry) for entry in chunk],
                known={str(size): sorted(known[size]) for size in sizes if size in known},
            )
        )
    with transaction.atomic():
        created = JobBatch.objects.bulk_create(batches, batch_size=100)
        ids = [batch.pk for batch in created]
        transaction.on_commit(lambda: _enqueue(job, ids))
    return len(batches)


def _enqueue(job: Job, batch_ids: list[int]) -> None:
    import django_rq

    targets = [(ANALYSIS_QUEUE, "jobs.tasks.run_batch", "")]  # by name: the job code builds on this module
    if gpu_workers_alive():
        targets.append((GPU_QUEUE, "jobs.tasks.run_gpu_batch", "-gpu"))
    for name, function, suffix in targets:
        queue = django_rq.get_queue(name)
        data = [
            queue.prepare_data(
                function,
                args=(batch_id,),
                job_id=f"{job.pk}-batch-{batch_id}{suffix}",
                timeout=settings.VAM_JOB_TIMEOUTS[job.kind],
                result_ttl=3600,
                failure_ttl=24 * 3600,
            )
            for batch_id in batch_ids
        ]
        for start in range(0, len(data), 500):
            queue.enqueue_many(data[start : start + 500])


def gpu_workers_alive() -> bool:
    """Whether a worker is registered on the ``gpu`` queue. Its registration is refreshed while it waits and
    extended over each job it runs (a GPU worker runs a job's batches in one go, without heartbeats meanwhile),
    and lapses once its process is gone; a batch offered to a worker that is gone still goes to the others."""
    import django_rq
    from rq import Worker

    return bool(Worker.all(queue=django_rq.get_queue(GPU_QUEUE)))


def gpu_batches(first: JobBatch) -> Iterator[JobBatch]:
    """``first`` (claimed), then every batch of its job still pending, each claimed in turn: a GPU worker keeps
    its device busy with one job's batches instead of waiting for their RQ jobs to reach it."""
    batch: JobBatch | None = first
    while batch is not None:
        yield batch
        batch = _claim(Q(job_id=first.job_id))


def _claim(where: Q, *, stale_before=None, retry_failed: bool = False) -> JobBatch | None:
    """Take the first batch matching ``where`` that is pending (or stale, or failed and retryable)."""
    takeable = Q(status=BatchStatus.PENDING)
    if stale_before is not None:
        takeable |= Q(status=BatchStatus.RUNNING, heartbeat_at__lt=stale_before)
    if retry_failed:
        takeable |= Q(status=BatchStatus.FAILED, attempt__lt=MAX_ATTEMPTS)
    with transaction.atomic():
        batch = (
            JobBatch.objects.select_for_update(skip_locked=True)
            .filter(where, takeable, job__status=JobStatus.PROGRESS)
            .order_by("index")
            .first()
        )
        if batch is None:
            return None
        if batch.done:  # what the previous attempt had counted is counted again by this one
            Job.objects.filter(pk=batch.job_id).update(current=F("current") - batch.done)
            logger.warning(
                "job %s: batch %d taken back from %s (%s)", batch.job_id, batch.index, batch.worker, batch.status
            )
        batch.status, batch.attempt, batch.done = BatchStatus.RUNNING, batch.attempt + 1, 0
        batch.worker, batch.heartbeat_at, batch.error = current_worker_name(), timezone.now(), ""
        batch.save(update_fields=["status", "attempt", "done", "worker", "heartbeat_at", "error"])
    return batch


def batch_claim(batch_id: int) -> JobBatch | None:
    """The batch with this id, now ours, or None when it was taken, cancelled, or its job has ended."""
    return _claim(Q(pk=batch_id))


def batch_run(
    batch: JobBatch, catalog: Catalog, options: AnalyzeOptions, *, workers: int, engine: Engine = analyze_many
) -> None:
    """Analyze a claimed batch; record how it ended unless it was taken from us meanwhile."""
    reporter = BatchReporter(batch)
    summary = AnalyzeSummary()
    entries = [_entry_from_row(row) for row in batch.entries]
    known = {int(size): frozenset(digests) for size, digests in batch.known.items()}
    try:
        with batch_heartbeat(batch), pool_processes():
            analyze_entries(catalog, entries, known, options, summary, reporter, workers=workers, engine=engine)
        reporter.flush()
    except Exception as exc:
        logger.exception("job %s: batch %d failed", batch.job_id, batch.index)
        _owned(batch).update(
            status=BatchStatus.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=timezone.now()
        )
        return
    batch_finish(batch, reporter, summary)


def batch_finish(batch: JobBatch, reporter: BatchReporter, summary: AnalyzeSummary) -> None:
    """Record a batch as done (or cancelled) with its counts, unless it was taken from this attempt."""
    if reporter.lost:
        return
    _owned(batch).update(
        status=BatchStatus.CANCELLED if reporter.cancelled else BatchStatus.DONE,
        result={"analyzed": summary.analyzed, "reused": summary.reused},
        finished_at=timezone.now(),
    )


def _owned(batch: JobBatch):
    """The batch's row, as long as this attempt still holds it."""
    return JobBatch.objects.filter(pk=batch.pk, attempt=batch.attempt, status=BatchStatus.RUNNING)


def batch_options(job: Job, catalog: Catalog) -> AnalyzeOptions:
    """The analyze options of the job a batch belongs to: the same as ``catalog_analyze`` builds for it."""
    return analyze_options(catalog, thumbnails=job.params.get("thumbnails", True))


def _collect(job: Job, summary: AnalyzeSummary, count: int, *, cancelled: bool = False) -> dict[str, Any]:
    """Add the batches' counts (what they stored) to the summary; fail when a batch failed on every attempt
    (a cancelled job leaves its failed batches as they are)."""
    workers: Counter[str] = Counter()
    for batch in JobBatch.objects.filter(job=job).only("index", "status", "attempt", "worker", "result", "error"):
        if batch.status == BatchStatus.FAILED and not cancelled:
            raise FanOutError(f"batch {batch.index} failed {batch.attempt} times; last error: {batch.error}")
        if batch.result:
            summary.analyzed += batch.result["analyzed"]
            summary.reused += batch.result["reused"]
            workers[batch.worker] += 1
    return {"batches": count, "workers": dict(workers)}


class BatchReporter:
    """The progress interface for one batch: adds its files to the job's ``current`` with an atomic increment.

    One statement refreshes the batch's heartbeat (only while this attempt owns it; a thread beats it too, see
    ``jobs.heartbeat``), adds to the job's count (only while the job runs) and reads back the job's total, whether
    a cancel was asked, and how many batches are running. No row back means the batch was taken from us or the
    job ended: the batch stops. The job's heartbeat is left to its own worker: batches going on elsewhere must
    never keep a job looking alive whose worker died.

    The job's reporter rules (``jobs.reporter``) apply to the job as a whole: with N batches running, each writes
    N times less often, so the job row sees about as many writes per 1,000 files as with one worker.
    """

    def __init__(self, batch: JobBatch, clock: Callable[[], float] = time.monotonic) -> None:
        self.batch = batch
        self.clock = clock
        self.cancelled = False
        self.lost = False
        self.writes = 0
        self._current = 0
        self._flushed = 0
        self._message = ""
        self._written_at = clock()
        self._eta: float | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._sharing = 1  # batches running on the job, as of the last write

    def update(self, *, phase: str, current: int, total: int | None, message: str = "") -> None:
        self._current, self._message = current, message
        since, sharing = self.clock() - self._written_at, self._sharing
        if since >= WRITE_SECONDS * sharing or (
            current - self._flushed >= WRITE_ITEMS * sharing and since >= MIN_WRITE_SECONDS * sharing
        ):
            self.flush()

    def is_cancelled(self) -> bool:
        return self.cancelled

    def flush(self) -> None:
        if self.lost:
            return
        delta, now = self._current - self._flushed, timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(_PROGRESS_SQL, {
                "batch": self.batch.pk, "attempt": self.batch.attempt, "running": BatchStatus.RUNNING,
                "delta": delta, "now": now, "message": self._message[:255], "eta": self._eta,
                "job_running": JobStatus.PROGRESS,
            })  # fmt: skip
            row = cursor.fetchone()
        self.writes += 1
        self._written_at, self._flushed = self.clock(), self._current
        if row is None:
            self.lost = self.cancelled = True
            return
        current, total, cancel_requested, running = row
        self.cancelled, self._sharing = bool(cancel_requested), max(1, running)
        self._eta = self._estimate(current, total)
        job = Job.objects.filter(pk=self.batch.job_id).first()
        if job is not None:
            job_push(job)

    def _estimate(self, current: int, total: int | None) -> float | None:
        """Seconds left at the rate the whole job (every worker) made over the last half minute."""
        now = self.clock()
        self._samples.append((now, current))
        while len(self._samples) > 2 and now - self._samples[0][0] > RATE_WINDOW_SECONDS:
            self._samples.popleft()
        (t0, c0), (t1, c1) = self._samples[0], self._samples[-1]
        if total is None or t1 <= t0 or c1 <= c0:
            return None
        return max(0.0, (total - current) / ((c1 - c0) / (t1 - t0)))


_PROGRESS_SQL = f"""
WITH ours AS (
    UPDATE {JobBatch._meta.db_table} SET heartbeat_at = %(now)s, done = done + %(delta)s
    WHERE id = %(batch)s AND attempt = %(attempt)s AND status = %(running)s
    RETURNING job_id
)
UPDATE {Job._meta.db_table} AS job
SET current = job.current + %(delta)s, message = %(message)s,
    eta_seconds = COALESCE(%(eta)s::double precision, job.eta_seconds)
FROM ours WHERE job.id = ours.job_id AND job.status = %(job_running)s
RETURNING job.current, job.total, job.cancel_requested_at IS NOT NULL,
    (SELECT count(*) FROM {JobBatch._meta.db_table} WHERE job_id = job.id AND status = %(running)s)
"""
