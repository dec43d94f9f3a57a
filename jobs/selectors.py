"""Reads of jobs shared by the API, the websockets, the pages and the command line."""

from __future__ import annotations

import re
import uuid
from typing import Any

from django.db.models import QuerySet

from jobs.models import FINAL_STATUSES, Job

UUID_GROUPS = (8, 4, 4, 4, 12)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def job_status(job: Job) -> dict[str, Any]:
    """The job-status payload of the REST API (DESIGN.md), also pushed over websockets and SSE."""
    return {
        "job_id": str(job.pk),
        "kind": job.kind,
        "status": job.status,
        "phase": job.phase,
        "current": job.current,
        "total": job.total,
        "percent": job.percent,
        "message": job.message,
        "eta_seconds": None if job.eta_seconds is None else round(job.eta_seconds, 1),
        "result": job.result,
        "error": job.error,
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
    }


def job_visible_for(user) -> QuerySet[Job]:
    """Staff see every job; other users the jobs they submitted."""
    jobs = Job.objects.all()
    return jobs if user.is_staff else jobs.filter(created_by=user)


def job_list_visible(user, *, history: bool = False) -> QuerySet[Job]:
    """Active jobs first (newest first), then, with ``history``, the finished ones."""
    jobs = job_visible_for(user)
    if not history:
        jobs = jobs.exclude(status__in=FINAL_STATUSES)
    return jobs.order_by("-created_at")


def job_list(*, active: bool, catalog=None) -> QuerySet[Job]:
    """Every job, for the command line (it runs with the server's own rights): the active or the finished ones,
    newest first, optionally of one catalog."""
    jobs = Job.objects.select_related("catalog")
    jobs = jobs.exclude(status__in=FINAL_STATUSES) if active else jobs.filter(status__in=FINAL_STATUSES)
    if catalog is not None:
        jobs = jobs.filter(catalog=catalog)
    return jobs.order_by("-created_at")


def job_id_matches(text: str) -> QuerySet[Job]:
    """The jobs whose id starts with ``text`` (hex digits, hyphens optional), so that a short id works.

    The prefix is given in the UUID's own spelling: Postgres compares ids as hyphenated text, and backends
    without a UUID type drop the hyphens themselves."""
    digits = text.strip().lower().replace("-", "")
    if not re.fullmatch(r"[0-9a-f]{1,32}", digits):
        return Job.objects.none()
    if len(digits) == 32:
        return Job.objects.filter(pk=uuid.UUID(digits))
    groups, start = [], 0
    for length in UUID_GROUPS:
        if start < len(digits):
            groups.append(digits[start : start + length])
        start += length
    return Job.objects.filter(id__startswith="-".join(groups))
