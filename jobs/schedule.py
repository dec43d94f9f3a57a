"""Scheduled rescans: one tick, every minute, starts the analyze jobs of the catalogs whose schedule is due.

On the full stack the tick is an RQ cron job: ``manage.py scheduler`` runs RQ's ``CronScheduler``, which enqueues
``jobs.schedule.schedule_tick`` on the default queue every minute, and any worker runs it. In the embedded default
the web server (``manage.py serve``, what ``make run`` / ``make serve`` start) calls it from a clock thread of its
own, and the jobs run on its in-process runner.

Each due catalog's slot is claimed with a compare-and-set on ``schedule_next_at`` (two schedulers, or two workers
running ticks, never start one slot twice) and moved to the schedule's next slot after now, so that slots missed
while nothing ran (the server was down) give one rescan, not one per slot. A slot whose catalog still has an
analyze job queued or running is skipped, and the catalog says so.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from catalog.models import Catalog
from catalog.services.schedule import local_words, next_slot
from jobs.models import ACTIVE_STATUSES, Job, JobKind
from jobs.services import job_start

logger = logging.getLogger(__name__)

TICK_SECONDS = 60
# The RQ cron job's name: its history in RQ's registries and the dashboard.
TICK_NAME = "vam-scheduled-rescans"


def schedule_tick() -> list[str]:
    """The RQ entry point: start the rescans that are due; returns the ids of the jobs started."""
    if not connection.in_atomic_block:
        close_old_connections()
    return [str(job.pk) for job in rescans_start()]


def rescans_start(*, now: datetime | None = None) -> list[Job]:
    """Start an analyze job for every catalog whose schedule is due at ``now``."""
    now = now or timezone.now()
    started = []
    due = Catalog.objects.exclude(schedule="").filter(schedule_next_at__lte=now).order_by("schedule_next_at")
    for catalog in due:
        job = _rescan_start(catalog, now)
        if job is not None:
            started.append(job)
    return started


def _rescan_start(catalog: Catalog, now: datetime) -> Job | None:
    slot = catalog.schedule_next_at
    following = next_slot(catalog.schedule, now)
    # The claim: whoever moves the slot on owns it.
    if not Catalog.objects.filter(pk=catalog.pk, schedule_next_at=slot).update(schedule_next_at=following):
        return None
    busy = _active_analysis(catalog)
    note, job = "", None
    if busy is not None:
        state = "still running" if busy.started_at else "still waiting for a worker"
        note = f"the rescan due {local_words(slot)} was skipped: analyze job {str(busy.pk)[:8]} was {state}"
    elif not catalog.source_directories:
        note = f"the rescan due {local_words(slot)} did not run: the catalog has no source folders yet"
    else:
        job = job_start(kind=JobKind.ANALYZE, params=_rescan_params(catalog), catalog=catalog)
    Catalog.objects.filter(pk=catalog.pk).update(schedule_note=note)
    if note:
        logger.info("catalog %s: %s", catalog.path, note)
    return job


def _rescan_params(catalog: Catalog) -> dict:
    """What ``manage.py analyze CATALOG`` without -s does: rescan the folders the catalog remembers."""
    return {
        "catalog_path": catalog.path,
        "source_directories": list(catalog.source_directories),
        "detect_duplicates": True,
        "similarity_threshold": None,
        "thumbnails": True,
        "workers": None,
        "exclude_directories": [],
        "scheduled": catalog.schedule,
    }


def _active_analysis(catalog: Catalog) -> Job | None:
    """The catalog's analyze job that is queued or running, if there is one (one not tied to its catalog yet is
    found by its path)."""
    jobs = Job.objects.filter(kind=JobKind.ANALYZE, status__in=ACTIVE_STATUSES)
    return jobs.filter(Q(catalog=catalog) | Q(params__catalog_path=catalog.path)).order_by("created_at").first()


class EmbeddedClock:
    """The embedded default's scheduler: a thread of the web server that runs the tick at the start of every
    minute (and once at once, for the rescans missed while the server was down)."""

    def __init__(self, seconds: float = TICK_SECONDS) -> None:
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vam-schedule", daemon=True)

    def start(self) -> EmbeddedClock:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            try:
                rescans_start()
            except Exception:  # the clock must outlive a database hiccup
                logger.exception("scheduled rescans: the tick failed")
            finally:
                connection.close()
            wait = self.seconds - (timezone.now().timestamp() % self.seconds)
            if self._stop.wait(wait):
                return
