"""The jobs page: forms to submit analyze, organize and thumbnails, and the live list of jobs; one job's page.

The forms are validated by the same request serializers as the REST API, and submit through the same service.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from rest_framework.serializers import Serializer

from catalog.models import Catalog
from catalog.similarity.grouping import DEFAULT_THRESHOLD, MAX_THRESHOLD
from jobs import api
from jobs.models import JobKind
from jobs.selectors import job_list_visible, job_status, job_visible_for
from jobs.services import job_cancel, job_reconcile, job_start, uses_redis

HISTORY_PAGE = 20
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"  # the blank row live.js copies for jobs that start later


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _analyze_data(post) -> dict:
    threshold = post.get("similarity_threshold", "").strip()
    return {
        "catalog_path": post.get("catalog_path", "").strip(),
        "source_directories": _lines(post.get("source_directories", "")),
        "detect_duplicates": post.get("detect_duplicates") == "on",
        "similarity_threshold": threshold or None,
    }


def _thumbnails_data(post) -> dict:
    sizes = [size.strip() for size in post.get("sizes", "").split(",") if size.strip()]
    return {
        "catalog_path": post.get("catalog_path", ""),
        "sizes": sizes or None,
        "quality": post.get("quality") or 80,
        "force": post.get("force") == "on",
    }


def _organize_data(post) -> dict:
    fields = ("catalog_path", "output_directory", "operation", "directory_structure", "naming_strategy")
    flags = ("dry_run", "verify_checksums", "skip_duplicates")
    undated = None if post.get("skip_undated") == "on" else (post.get("undated_folder", "").strip() or "undated")
    return (
        {name: post.get(name, "") for name in fields}
        | {name: post.get(name) == "on" for name in flags}
        | {"undated_folder": undated}
    )


FORMS: dict[str, tuple[type[Serializer], Callable[[QueryDict], dict]]] = {
    JobKind.ANALYZE: (api.AnalyzeRequest, _analyze_data),
    JobKind.THUMBNAILS: (api.ThumbnailsRequest, _thumbnails_data),
    JobKind.ORGANIZE: (api.OrganizeRequest, _organize_data),
}


@login_required
@require_GET
def job_index(request: HttpRequest) -> HttpResponse:
    return _render_index(request)


def _render_index(
    request: HttpRequest, errors: dict | None = None, kind: str = "", status: int = 200, form_error: str = ""
) -> HttpResponse:
    if not uses_redis():
        job_reconcile()  # jobs of a previous run of the server, with the in-process runner, are shown as failed
    active = job_list_visible(request.user)
    history = Paginator(job_list_visible(request.user, history=True), HISTORY_PAGE).get_page(request.GET.get("page"))
    context = {
        "active": [job_status(job) for job in active[:100]],
        "history": history,
        "history_rows": [job_status(job) for job in history],
        "catalogs": Catalog.objects.order_by("name"),
        "preselect": request.GET.get("catalog", ""),  # the catalog a dashboard's quick action came from
        "errors": errors or {},
        "form_error": form_error or (errors or {}).get("non_field_errors", ""),
        "failed_kind": kind,
        "posted": request.POST,
        "default_threshold": DEFAULT_THRESHOLD,
        "max_threshold": MAX_THRESHOLD,
        "placeholder": {"job_id": PLACEHOLDER_ID, "kind": "", "status": "PENDING", "current": 0, "percent": None},
    }
    return render(request, "jobs/index.html", context, status=status)


@login_required
@require_POST
def job_submit(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in FORMS:
        raise Http404(f"no job kind {kind}")
    serializer_class, read = FORMS[kind]
    form = serializer_class(data=read(request.POST))
    if not form.is_valid():
        errors = {field: " ".join(str(m) for m in messages) for field, messages in form.errors.items()}
        return _render_index(request, errors, kind, status=400)
    with transaction.atomic():
        job = job_start(kind=kind, params=dict(form.validated_data), user=request.user)
    return redirect("jobs:detail", job_id=job.pk)


STEPS_PAGE = 100


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id) -> HttpResponse:
    job = _visible_job(request, job_id)
    context: dict = {"job": job, "status": job_status(job)}
    if job.kind == JobKind.ORGANIZE:
        context |= _organize_context(request, job)
    return render(request, "jobs/detail.html", context)


def _organize_context(request: HttpRequest, job) -> dict:
    """The plan and journal on an organize job's page: counts by state (each a link to its files), the files of
    the chosen state, and what can be done next."""
    from catalog.models import StepState
    from catalog.selectors import organize_step_counts, organize_steps
    from catalog.services.organize import journal_of

    journal = journal_of(job)
    counts = organize_step_counts(journal)
    if not counts:
        return {}
    shown = request.GET.get("steps", "")
    steps = Paginator(organize_steps(journal, shown or None), STEPS_PAGE).get_page(request.GET.get("page"))
    unfinished = sum(n for state, n in counts.items() if state in ("planned", "started", "verified", "placed"))
    return {
        "journal": journal,
        "step_counts": [(state, StepState(state).label.lower(), count) for state, count in counts.items()],
        "shown_state": shown,
        "steps": steps,
        "can_resume": job.is_final and unfinished > 0 and not journal.params.get("dry_run"),
        "can_rollback": job.is_final and any(state not in ("planned", "skipped", "rolled_back") for state in counts),
    }


@login_required
@require_POST
def job_organize_again(request: HttpRequest, job_id, action: str) -> HttpResponse:
    """Resume or roll back an organize job: a new job, whose page follows."""
    from catalog.services.organize import journal_of, web_may_touch

    if action not in ("resume", "rollback"):
        raise Http404(f"no action {action}")
    job = _visible_job(request, job_id)
    if job.kind != JobKind.ORGANIZE:
        raise Http404("not an organize job")
    journal = journal_of(job)
    refused = web_may_touch(journal, list(settings.VAM_LIBRARY_ROOTS))
    if refused:
        return HttpResponse(f"Cannot {action} job {journal.pk}: {refused}", status=400, content_type="text/plain")
    with transaction.atomic():
        again = job_start(kind=JobKind.ORGANIZE, params={action: str(journal.pk)}, user=request.user,
                          catalog=journal.catalog)  # fmt: skip
    return redirect("jobs:detail", job_id=again.pk)


@login_required
@require_GET
def job_plan(request: HttpRequest, job_id, fmt: str) -> StreamingHttpResponse:
    from catalog.services.organize import journal_of

    job = _visible_job(request, job_id)
    if job.kind != JobKind.ORGANIZE:
        raise Http404("not an organize job")
    return plan_response(journal_of(job), fmt, request.GET.get("state") or None)


def plan_response(journal, fmt: str, state: str | None) -> StreamingHttpResponse:
    """An organize plan as a streamed download (json or csv); 404 for another format."""
    from catalog.services.exports import plan_chunks

    if fmt not in ("json", "csv"):
        raise Http404(f"no plan format {fmt}: choose json or csv")
    content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    response = StreamingHttpResponse(plan_chunks(journal=journal, fmt=fmt, state=state), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="organize-{journal.pk}.{fmt}"'
    return response


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, job_id) -> HttpResponse:
    job_cancel(job=_visible_job(request, job_id))
    return redirect(request.POST.get("next") or "jobs:index")


def _visible_job(request: HttpRequest, job_id):
    job = job_visible_for(request.user).filter(pk=job_id).first()
    if job is None:
        raise Http404("no such job")
    return job
