"""The jobs page: forms to submit analyze, organize and thumbnails, and the live list of jobs; one job's page.

The forms are validated by the same request serializers as the REST API, and submit through the same service. A
refused form comes back with what was typed and each error under its field. A job's page tells the job in words
(``jobs.display``): its parameters and result as tables with labels, never a dict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, QueryDict, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from rest_framework.serializers import Serializer
from rest_framework.settings import api_settings

from catalog.media.words import counted
from catalog.models import AssetStatus, Catalog
from catalog.permissions import NotAllowed, again_refusal, refused_page
from catalog.selectors import catalog_by_path
from catalog.similarity.grouping import DEFAULT_THRESHOLD, MAX_THRESHOLD
from jobs import requests as job_requests
from jobs.display import (
    NAMING_WORDS,
    OPERATION_WORDS,
    error_words,
    job_rows,
    key_words,
    parameter_rows,
    result_sections,
    structure_words,
)
from jobs.models import Job, JobKind
from jobs.selectors import job_list_visible, job_visible_for
from jobs.services import job_cancel, job_reconcile, job_start, uses_redis
from jobs.views import plan_response

HISTORY_PAGE = 20
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"  # the blank row live.js copies for jobs that start later
STEPS_PAGE = 100
PROBLEMS_LISTED = 100


# The jobs page -------------------------------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _known(path: str) -> Catalog | None:
    return catalog_by_path(path) if path and "\x00" not in path and os.path.isabs(path) else None


def _analyze_data(post: QueryDict) -> dict:
    """A catalog typed (a new one: without JavaScript the list keeps its first choice beside it) or else chosen in
    the list; no source typed for a known catalog means its stored sources."""
    path = post.get("catalog_path", "").strip() or post.get("catalog", "").strip()
    sources = _lines(post.get("source_directories", ""))
    if not sources and (catalog := _known(path)) is not None:
        sources = list(catalog.source_directories or [])
    threshold = post.get("similarity_threshold", "").strip()
    return {
        "catalog_path": path,
        "source_directories": sources,
        "detect_duplicates": post.get("detect_duplicates") == "on",
        "similarity_threshold": threshold or None,
    }


def _thumbnails_data(post: QueryDict) -> dict:
    sizes = [size.strip() for size in post.get("sizes", "").split(",") if size.strip()]
    data = {
        "catalog_path": post.get("catalog_path", ""),
        "quality": post.get("quality", "").strip() or 80,
        "force": post.get("force") == "on",
    }
    return data | ({"sizes": sizes} if sizes else {})


def _organize_data(post: QueryDict) -> dict:
    fields = ("catalog_path", "output_directory", "operation", "directory_structure", "naming_strategy")
    flags = ("dry_run", "verify_checksums", "skip_duplicates", "exclude_output")
    undated = None if post.get("skip_undated") == "on" else (post.get("undated_folder", "").strip() or "undated")
    return (
        {name: post.get(name, "").strip() for name in fields}
        | {name: post.get(name) == "on" for name in flags}
        | {"undated_folder": undated}
    )


FORMS: dict[str, tuple[type[Serializer], Callable[[QueryDict], dict]]] = {
    JobKind.ANALYZE: (job_requests.AnalyzeRequest, _analyze_data),
    JobKind.THUMBNAILS: (job_requests.ThumbnailsRequest, _thumbnails_data),
    JobKind.ORGANIZE: (job_requests.OrganizeRequest, _organize_data),
}


def _form_defaults(preselect: str) -> dict[str, dict[str, Any]]:
    """What each form shows before anything is typed: ``?catalog=PATH`` (else the first catalog) is chosen
    everywhere, and gives the analyze form its stored sources; an unknown PATH is the analyze form's new catalog."""
    known = _known(preselect) if preselect else Catalog.objects.order_by("name").first()
    return {
        JobKind.ANALYZE: {
            "catalog": known.path if known else "",
            "catalog_path": "" if known else preselect,
            "source_directories": "\n".join(known.source_directories or []) if known else "",
            "detect_duplicates": True,
            "similarity_threshold": "",
        },
        JobKind.THUMBNAILS: {
            "catalog_path": known.path if known else preselect,
            "sizes": ",".join(str(size) for size in settings.VAM_THUMBNAIL_SIZES),
            "quality": "80",
            "force": False,
        },
        JobKind.ORGANIZE: {
            "catalog_path": known.path if known else preselect,
            "output_directory": "",
            "operation": "copy",
            "directory_structure": "YYYY/MM",
            "naming_strategy": "date_time_checksum",
            "dry_run": False,
            "verify_checksums": True,
            "skip_duplicates": False,
            "exclude_output": False,
            "undated_folder": "undated",
            "skip_undated": False,
        },
    }


def _posted(defaults: dict[str, Any], post: QueryDict) -> dict[str, Any]:
    """The form as it was posted: every text as typed, every checkbox as ticked (a catalog chosen only if it was)."""
    values: dict[str, Any] = {}
    for name, default in defaults.items():
        if isinstance(default, bool):
            values[name] = post.get(name) == "on"
        else:
            values[name] = post.get(name, "" if name == "catalog" else default)
    return values


def _form_errors(errors: dict, shown: Iterable[str]) -> dict[str, str]:
    """One sentence per field of the form; the others (and those of no field) under "form", at its top."""
    words: dict[str, str] = {}
    for name, details in errors.items():
        text = " ".join(job_requests.error_lines(details))
        if name in shown:
            words[name] = text
        else:
            prefix = "" if name == api_settings.NON_FIELD_ERRORS_KEY else f"{key_words(name)}: "
            words["form"] = " ".join(filter(None, [words.get("form", ""), prefix + text]))
    return words


@login_required
@require_GET
def job_index(request: HttpRequest) -> HttpResponse:
    return _render_index(request)


def _render_index(
    request: HttpRequest, kind: str = "", errors: dict[str, str] | None = None, status: int = 400
) -> HttpResponse:
    if not uses_redis():
        job_reconcile()  # jobs of a previous run of the server, with the in-process runner, are shown as failed
    active = job_list_visible(request.user).select_related("catalog")
    history = Paginator(job_list_visible(request.user, history=True).select_related("catalog"), HISTORY_PAGE)
    page = history.get_page(request.GET.get("page"))
    defaults = _form_defaults(request.GET.get("catalog", ""))
    forms = {name: {"values": values, "errors": {}} for name, values in defaults.items()}
    if kind:
        forms[kind] = {"values": _posted(forms[kind]["values"], request.POST), "errors": errors or {}}
    context = {
        "active": job_rows(active[:100]),
        "history": page,
        "history_rows": job_rows(page),
        "catalogs": [
            {"path": c.path, "name": c.name, "sources": "\n".join(c.source_directories or [])}
            for c in Catalog.objects.order_by("name")
        ],
        "forms": forms,
        "failed_kind": kind,
        "default_threshold": DEFAULT_THRESHOLD,
        "max_threshold": MAX_THRESHOLD,
        "operations": OPERATION_WORDS,
        "structures": {structure: structure_words(structure) for structure in job_requests.STRUCTURES},
        "namings": NAMING_WORDS,
        "placeholder": {"job_id": PLACEHOLDER_ID, "kind": "", "status": "PENDING", "current": 0, "percent": None},
    }
    return render(request, "jobs/index.html", context, status=status if kind else 200)


@login_required
@require_POST
def job_submit(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in FORMS:
        raise Http404(f"no job kind {kind}")
    serializer_class, read = FORMS[kind]
    form = serializer_class(data=read(request.POST), context={"user": request.user})
    shown = _form_defaults("")[kind]
    try:
        valid = form.is_valid()
    except NotAllowed as exc:
        errors = _form_errors({exc.field or api_settings.NON_FIELD_ERRORS_KEY: [exc.detail]}, shown)
        return _render_index(request, kind, errors, status=403)
    if not valid:
        return _render_index(request, kind, _form_errors(form.errors, shown))
    params = dict(form.validated_data)
    with transaction.atomic():
        job = job_start(kind=kind, params=params, user=request.user, catalog=_known(params["catalog_path"]))
    return redirect("jobs:detail", job_id=job.pk)


# A job's page --------------------------------------------------------------------------------------------------------


@login_required
@require_GET
def job_detail(request: HttpRequest, job_id) -> HttpResponse:
    """The job's page; ``?part=body`` only what live.js reloads when the job ends, ``?part=row`` its list row."""
    job = _visible_job(request, job_id)
    part = request.GET.get("part", "")
    if part == "row":
        return render(request, "jobs/_row.html", {"row": job_rows([job])[0], "next_url": reverse("jobs:index")})
    context = _detail_context(request, job)
    if part == "body":
        return render(request, "jobs/_body.html", context)
    return render(request, "jobs/detail.html", context)


def _detail_context(request: HttpRequest, job: Job) -> dict[str, Any]:
    summary, sections = result_sections(job)
    context: dict[str, Any] = {
        "job": job,
        "row": job_rows([job])[0],
        "parameters": parameter_rows(job),
        "summary": summary,
        "sections": sections,
        "error": error_words(job),
        "submitted_by": job.created_by.get_username() if job.created_by else _origin(job),
    }
    if job.kind == JobKind.ANALYZE and job.catalog is not None:
        context |= _analyze_problems(job)
    if job.kind == JobKind.ORGANIZE:
        context |= _organize_context(request, job)
    return context


def _analyze_problems(job: Job) -> dict[str, Any]:
    """The files this run found a problem with (still so), and the catalog's count, whose page lists them all."""
    catalog = job.catalog
    assert catalog is not None
    problems = catalog.assets.filter(status=AssetStatus.PROBLEM)
    context: dict[str, Any] = {"catalog_problems": problems.count()}
    if job.started_at is not None:
        run = problems.filter(analyzed_at__gte=job.started_at, analyzed_at__lte=job.finished_at or timezone.now())
        context["run_problems"] = run.order_by("path")[:PROBLEMS_LISTED]
        context["run_problem_count"] = run.count()
    return context


def _organize_context(request: HttpRequest, job: Job) -> dict:
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
    resumable = job.is_final and unfinished > 0 and not journal.params.get("dry_run")
    undoable = job.is_final and any(state not in ("planned", "skipped", "rolled_back") for state in counts)
    refusals = [again_refusal(request.user, journal, action) for action, can in
                (("resume", resumable), ("rollback", undoable)) if can]  # fmt: skip
    return {
        "journal": journal,
        "step_counts": [(state, counted(n, "file"), StepState(state).label.lower()) for state, n in counts.items()],
        "failed_steps": counts.get(StepState.FAILED, 0),
        "shown_state": shown,
        "steps": steps,
        "can_resume": resumable and not again_refusal(request.user, journal, "resume"),
        "can_rollback": undoable and not again_refusal(request.user, journal, "rollback"),
        "again_refused": list(dict.fromkeys(filter(None, refusals))),
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
    back = reverse("jobs:detail", args=[job.pk])
    if page := refused_page(request, again_refusal(request.user, journal, action), back):
        return page
    if outside := web_may_touch(journal, list(settings.VAM_LIBRARY_ROOTS)):
        return HttpResponse(f"Cannot {action} job {journal.pk}: {outside}", status=400, content_type="text/plain")
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


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, job_id) -> HttpResponse:
    job_cancel(job=_visible_job(request, job_id))
    following = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        following, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        following = reverse("jobs:index")  # never back to another site (an open redirect)
    return redirect(following)


def _visible_job(request: HttpRequest, job_id) -> Job:
    job = job_visible_for(request.user).select_related("catalog", "created_by").filter(pk=job_id).first()
    if job is None:
        raise Http404("no such job")
    return job


def _origin(job: Job) -> str:
    """Who started a job that no user submitted."""
    return "the catalog's rescan schedule" if (job.params or {}).get("scheduled") else "the command line"
