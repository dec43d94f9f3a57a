"""Reads of jobs shared by the API, the websockets, the pages and the command line."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from jobs.models import FINAL_STATUSES, Job


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
