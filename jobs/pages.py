"""The jobs page: forms to submit analyze, organize and thumbnails, and the live list of jobs; one job's page.

The forms are validated by the same request serializers as the REST API, and submit through the same service. A
refused form comes back with what was typed and each error under its field. A job's page tells the job in words:
its parameters and result as tables with labels, never a dict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
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

from catalog.media.words import counted, duration_words
from catalog.models import AssetStatus, Catalog
from catalog.selectors import catalog_by_path
from catalog.similarity.grouping import DEFAULT_THRESHOLD, MAX_THRESHOLD
from jobs import api
from jobs.models import Job, JobKind
from jobs.selectors import job_list_visible, job_status, job_visible_for
from jobs.services import job_cancel, job_reconcile, job_start, uses_redis

HISTORY_PAGE = 20
PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"  # the blank row live.js copies for jobs that start later
STEPS_PAGE = 100
PROBLEMS_LISTED = 100
FOLDERS_SHOWN = 12  # an organize result with more folders shows them folded


# Words -------------------------------------------------------------------------------------------------------------


def job_duration(job: Job) -> str:
    """How long it took, or has been running or waiting."""
    now = timezone.now()
    if job.started_at is None:
        return (
            "never started" if job.is_final else f"waiting for {duration_words((now - job.created_at).total_seconds())}"
        )
    if job.finished_at is None:
        return "" if job.is_final else f"running for {duration_words((now - job.started_at).total_seconds())}"
    return duration_words((job.finished_at - job.started_at).total_seconds())


KIND_WORDS: dict[str, str] = {
    JobKind.ANALYZE: "Analyze of",
    JobKind.THUMBNAILS: "Thumbnails of",
    JobKind.DUPLICATES: "Duplicate search in",
}
PHASE_WORDS = {
    "scan": "listing files", "analyze": "analyzing", "plan": "planning", "execute": "organizing",
    "thumbnails": "making thumbnails", "duplicates": "finding duplicates", "rollback": "rolling back", "done": "done",
}  # fmt: skip


def _catalog_name(job: Job, names: dict[str, str]) -> str:
    if job.catalog_id is not None and job.catalog is not None:
        return job.catalog.name
    path = str((job.params or {}).get("catalog_path") or "")
    return names.get(path) or Path(path).name or "a catalog"


def job_title(job: Job, names: dict[str, str] | None = None) -> str:
    """What the job is, in words: "Analyze of Family", "Organize of Family into /photos/sorted (dry run)",
    "Rollback of organize job 1234abcd". ``names``: catalog names by path, for jobs not tied to their catalog yet."""
    params = job.params or {}
    for action in ("rollback", "resume"):
        if params.get(action):
            return f"{action.capitalize()} of organize job {str(params[action])[:8]}"
    name = _catalog_name(job, names or {})
    if job.kind != JobKind.ORGANIZE:
        return f"{KIND_WORDS.get(job.kind, job.kind.capitalize() + ' of')} {name}"
    what = f"the redundant copies of {name}" if params.get("only_redundant") else name
    title = f"Organize of {what} into {params.get('output_directory', 'a folder')}"
    return title + (" (dry run)" if params.get("dry_run") else "")


def job_row(job: Job, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A row of the jobs lists: the job-status payload (what live.js gets), with its title and duration."""
    counts = f"{job.current:,} of {job.total:,}" if job.total else (f"{job.current:,}" if job.current else "")
    eta = f"about {duration_words(job.eta_seconds)} left" if job.eta_seconds and not job.is_final else ""
    return job_status(job) | {
        "title": job_title(job, names),
        "created": job.created_at,
        "duration": job_duration(job),
        "phase_words": PHASE_WORDS.get(job.phase, job.phase),
        "counts_words": counts,
        "eta_words": eta,
    }


def job_rows(jobs: Iterable[Job]) -> list[dict[str, Any]]:
    """Rows for a list of jobs, with one query for the names of the catalogs they are not tied to yet."""
    jobs = list(jobs)
    paths = {str(job.params.get("catalog_path")) for job in jobs if job.catalog_id is None and job.params}
    names = dict(Catalog.objects.filter(path__in=paths).values_list("path", "name")) if paths else {}
    return [job_row(job, names) for job in jobs]


def _words(value: Any) -> str:
    """A value as a person reads it: yes/no, 1,234, 3.5, a dash for nothing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.1f}".removesuffix(".0")
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, dict):
        return ", ".join(f"{_key_words(str(key))}: {_words(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_words(item) for item in value)
    return str(value)


def _key_words(key: str) -> str:
    return key.replace("_", " ").strip().capitalize()


def _row(label: str, value: Any = None, *, url: str = "", depth: int = 0) -> dict[str, Any]:
    """A row of a two-column table; a list value becomes one line each."""
    if isinstance(value, list | tuple):
        return {"label": label, "lines": [_words(item) for item in value] or ["—"], "url": url, "depth": depth}
    return {"label": label, "value": value if isinstance(value, str) else _words(value), "url": url, "depth": depth}


def _any_rows(data: dict[str, Any], depth: int = 0) -> list[dict[str, Any]]:
    """Rows for keys no table knows: words from snake_case, nested dicts as indented sub-rows."""
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows.append(_row(_key_words(str(key)), counted(len(value), "entry", "entries"), depth=depth))
            rows += _any_rows(value, depth + 1)
        else:
            rows.append(_row(_key_words(str(key)), value, depth=depth))
    return rows


# Parameters ----------------------------------------------------------------------------------------------------------

NAMING_WORDS = {
    "date_time_checksum": "date, time and checksum",
    "date_time_original": "date, time and original name",
    "original": "original name",
    "checksum": "checksum",
}
OPERATION_WORDS = {"copy": "copy", "move": "move", "hardlink": "hard link"}
PARAMETER_LABELS = {
    "catalog_path": "Catalog folder", "source_directories": "Source folders",
    "exclude_directories": "Left out of scans", "detect_duplicates": "Detect duplicates",
    "similarity_threshold": "Similarity threshold", "workers": "Workers",
    "thumbnails": "Make thumbnails", "sizes": "Sizes", "quality": "Quality", "force": "Rewrite existing thumbnails",
    "output_directory": "Output folder", "operation": "Operation", "directory_structure": "Folders",
    "naming_strategy": "File names", "dry_run": "Dry run", "verify_checksums": "Verify checksums",
    "skip_duplicates": "Skip duplicates", "only_redundant": "Only the redundant copies",
    "undated_folder": "Folder for undated files", "exclude_output": "Leave the output out of later scans",
}  # fmt: skip


def _structure_words(structure: str) -> str:
    if structure == "FLAT":
        return "all in one folder"
    return f"{structure} (like {structure.replace('YYYY', '2019').replace('MM', '03').replace('DD', '15')})"


def _parameter(key: str, value: Any) -> dict[str, Any]:
    label = PARAMETER_LABELS.get(key, _key_words(key))
    if key == "similarity_threshold":
        return _row(label, f"{DEFAULT_THRESHOLD} (default)" if value is None else value)
    if key == "workers":
        return _row(label, "default" if value is None else value)
    if key == "sizes":
        sizes, default = (value, "") if value else (settings.VAM_THUMBNAIL_SIZES, " (default)")
        return _row(label, ", ".join(str(size) for size in sizes) + " px" + default)
    if key == "naming_strategy":
        return _row(label, NAMING_WORDS.get(value, value))
    if key == "operation":
        return _row(label, OPERATION_WORDS.get(value, value))
    if key == "directory_structure":
        return _row(label, _structure_words(str(value)))
    if key == "undated_folder":
        return _row(label, "left out (not organized)" if value is None else value)
    return _row(label, value)


# What a job does when its parameters leave a key out (jobs.tasks), so that the page shows it all the same.
IMPLIED: dict[str, dict[str, Any]] = {JobKind.THUMBNAILS: {"sizes": None, "quality": 80, "force": False}}


def parameter_rows(job: Job) -> list[dict[str, Any]]:
    params = IMPLIED.get(job.kind, {}) | dict(job.params or {})
    rows = []
    for action, label in (("rollback", "Rolls back"), ("resume", "Resumes")):
        if params.get(action):
            earlier = str(params.pop(action))
            rows.append(_row(label, f"organize job {earlier[:8]}", url=reverse("jobs:detail", args=[earlier])))
    known = [key for key in PARAMETER_LABELS if key in params]
    return rows + [_parameter(key, params[key]) for key in [*known, *(k for k in params if k not in known)]]


# Results -------------------------------------------------------------------------------------------------------------

ANALYZE_FILES = {
    "seen": "Files seen", "new": "New", "changed": "Changed", "unchanged": "Unchanged",
    "reused": "Known content, not read again", "analyzed": "Read and analyzed", "missing": "Marked missing",
    "problems": "With problems, in the whole catalog",
}  # fmt: skip
DUPLICATE_ROWS = {
    "exact_groups": "Exact duplicate groups", "similar_groups": "Similar groups", "grouped_files": "Files in groups",
    "contents": "Pictures compared", "degenerate": "Flat pictures left out", "similar_pairs": "Similar pairs",
    "threshold": "Similarity threshold",
}  # fmt: skip
THUMBNAIL_ROWS = {
    "contents": "Distinct pictures", "written": "Thumbnails made", "skipped": "Already had thumbnails",
    "failed": "Could not be decoded", "changed": "Changed since analyzed: analyze again",
}  # fmt: skip
ORGANIZE_ROWS = {
    "planned": "Planned", "done": "Organized", "already_present": "Already there", "skipped": "Skipped",
    "failed": "Failed", "conflicts": "Renamed to avoid a name conflict", "rolled_back": "Rolled back",
    "kept": "Left as they were (see the notes)",
}  # fmt: skip
# Keys shown elsewhere on the page (the header, the parameters, the organize files section).
SHOWN_ELSEWHERE = {"catalog", "output", "rollback", "resume", "dry_run"}


def _section(title: str, rows: list[dict[str, Any]], *, collapsed: bool = False) -> dict[str, Any]:
    return {"title": title, "rows": rows, "collapsed": collapsed}


def _take(result: dict[str, Any], labels: dict[str, str], hide_zero: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The rows of ``labels`` found in ``result`` (popped from it), in order; those of ``hide_zero`` only when not 0."""
    rows = []
    for key, label in labels.items():
        if key in result:
            value = result.pop(key)
            if not (key in hide_zero and not value):
                rows.append(_row(label, value))
    return rows


def _timing(result: dict[str, Any], key: str) -> list[dict[str, Any]]:
    seconds = result.pop(key, None)
    return [_row("Duration", duration_words(seconds))] if isinstance(seconds, int | float) else []


def _duplicate_rows(duplicates: dict[str, Any]) -> list[dict[str, Any]]:
    duplicates = dict(duplicates)
    return _take(duplicates, DUPLICATE_ROWS) + _timing(duplicates, "elapsed") + _any_rows(duplicates)


def _analyze_result(result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    seen, new, changed = result.get("seen", 0), result.get("new", 0), result.get("changed", 0)
    summary = (
        f"{counted(seen, 'file')} seen: {new:,} new, {changed:,} changed, {result.get('unchanged', 0):,} unchanged, "
        f"{result.get('missing', 0):,} marked missing."
    )
    files = _take(result, ANALYZE_FILES) + _timing(result, "elapsed_seconds")
    speed = result.pop("files_per_second", None)
    if speed is not None:
        files.append(_row("Speed", f"{_words(float(speed))} files/s"))
    sections = [_section("Files", files)]
    duplicates = result.pop("duplicates", None)
    if isinstance(duplicates, dict):
        sections.append(_section("Duplicates", _duplicate_rows(duplicates)))
    fan_out = result.pop("fan_out", None)
    if isinstance(fan_out, dict):
        workers = fan_out.get("workers") or {}
        rows = [_row("Batches", fan_out.get("batches", 0)), _row("Workers", len(workers))]
        rows += [_row(name, counted(count, "batch", "batches"), depth=1) for name, count in workers.items()]
        sections.append(_section("Shared between workers", rows))
    walk_errors = result.pop("walk_errors", None)
    if walk_errors:
        sections.append(_section("Could not be listed", [_row(counted(len(walk_errors), "path"), walk_errors)]))
    return summary, sections


def _thumbnails_result(result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    summary = (
        f"Thumbnails made for {counted(result.get('written', 0), 'picture')}; {result.get('skipped', 0):,} already "
        f"had them; {result.get('failed', 0):,} could not be decoded."
    )
    return summary, [_section("Pictures", _take(result, THUMBNAIL_ROWS, hide_zero=["changed"]))]


def _duplicates_result(result: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    summary = (
        f"{counted(result.get('exact_groups', 0), 'exact duplicate group')} and "
        f"{counted(result.get('similar_groups', 0), 'similar group')}, "
        f"{counted(result.get('grouped_files', 0), 'file')} in groups."
    )
    rows = _duplicate_rows(result)
    result.clear()
    return summary, [_section("Duplicates", rows)]


def _organize_result(result: dict[str, Any], params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    count = lambda key: result.get(key, 0)  # noqa: E731
    if params.get("rollback"):
        summary = (
            f"{counted(count('rolled_back'), 'file')} rolled back, {count('kept'):,} left as they were, "
            f"{count('failed'):,} could not be rolled back."
        )
        labels = {"rolled_back": "Rolled back", "kept": ORGANIZE_ROWS["kept"], "failed": "Could not be rolled back"}
        rows = _take(result, labels)
        for key in ORGANIZE_ROWS:
            if not result.get(key):
                result.pop(key, None)  # the planning counts mean nothing for a rollback
    elif params.get("dry_run"):
        summary = f"{counted(count('planned'), 'file')} would be organized, {count('skipped'):,} skipped."
        rows = _take(result, ORGANIZE_ROWS | {"planned": "Would be organized"}, hide_zero=["done", "failed",
                     "rolled_back", "kept", "already_present", "conflicts"])  # fmt: skip
    else:
        summary = (
            f"{counted(count('done'), 'file')} organized, {count('already_present'):,} already there, "
            f"{count('skipped'):,} skipped, {count('failed'):,} failed."
        )
        rows = _take(result, ORGANIZE_ROWS, hide_zero=["rolled_back", "kept", "conflicts"])
    reasons = result.pop("skipped_reasons", None) or {}
    where = next((i for i, row in enumerate(rows) if row["label"] == "Skipped"), len(rows) - 1)
    rows[where + 1 : where + 1] = [_row(reason, number, depth=1) for reason, number in reasons.items()]
    rows += _timing(result, "elapsed_seconds")
    sections = [_section("Files", rows)]
    folders = result.pop("folders", None) or {}
    if folders:
        title = f"By folder ({counted(len(folders), 'folder')})"
        rows = [_row(folder or ".", counted(n, "file")) for folder, n in folders.items()]
        sections.append(_section(title, rows, collapsed=len(folders) > FOLDERS_SHOWN))
    resumed = result.pop("resumed_jobs", None) or []
    if resumed:
        links = [_row(f"organize job {pk[:8]}", "finished", url=reverse("jobs:detail", args=[pk])) for pk in resumed]
        sections.append(_section("Interrupted organizes finished first", links))
    return summary, sections


def result_sections(job: Job) -> tuple[str, list[dict[str, Any]]]:
    """A summary sentence and the result as titled tables; keys no table knows still show, in words."""
    if not isinstance(job.result, dict):
        return "", []
    result = {key: value for key, value in job.result.items() if key not in SHOWN_ELSEWHERE}
    if job.kind == JobKind.ANALYZE:
        summary, sections = _analyze_result(result)
    elif job.kind == JobKind.THUMBNAILS:
        summary, sections = _thumbnails_result(result)
    elif job.kind == JobKind.DUPLICATES:
        summary, sections = _duplicates_result(result)
    elif job.kind == JobKind.ORGANIZE:
        summary, sections = _organize_result(result, job.params or {})
    else:
        summary, sections = "", []
    if result:
        if sections:
            sections[0]["rows"] += _any_rows(result)
        else:
            sections = [_section("Result", _any_rows(result))]
    return summary, sections


def error_words(job: Job) -> str:
    """The error of a job as a sentence: the last line of a traceback, never the traceback."""
    lines = [line.strip() for line in (job.error or "").strip().splitlines() if line.strip()]
    if not lines:
        return ""
    text = lines[-1] if "Traceback (most recent call last)" in job.error else " ".join(lines)
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


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
    JobKind.ANALYZE: (api.AnalyzeRequest, _analyze_data),
    JobKind.THUMBNAILS: (api.ThumbnailsRequest, _thumbnails_data),
    JobKind.ORGANIZE: (api.OrganizeRequest, _organize_data),
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
        text = " ".join(api.error_lines(details))
        if name in shown:
            words[name] = text
        else:
            prefix = "" if name == api_settings.NON_FIELD_ERRORS_KEY else f"{_key_words(name)}: "
            words["form"] = " ".join(filter(None, [words.get("form", ""), prefix + text]))
    return words


@login_required
@require_GET
def job_index(request: HttpRequest) -> HttpResponse:
    return _render_index(request)


def _render_index(request: HttpRequest, kind: str = "", errors: dict[str, str] | None = None) -> HttpResponse:
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
        "structures": {structure: _structure_words(structure) for structure in api.STRUCTURES},
        "namings": NAMING_WORDS,
        "placeholder": {"job_id": PLACEHOLDER_ID, "kind": "", "status": "PENDING", "current": 0, "percent": None},
    }
    return render(request, "jobs/index.html", context, status=400 if kind else 200)


@login_required
@require_POST
def job_submit(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in FORMS:
        raise Http404(f"no job kind {kind}")
    serializer_class, read = FORMS[kind]
    form = serializer_class(data=read(request.POST))
    if not form.is_valid():
        return _render_index(request, kind, _form_errors(form.errors, _form_defaults("")[kind]))
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
        "submitted_by": job.created_by.get_username() if job.created_by else "the command line",
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
    return {
        "journal": journal,
        "step_counts": [(state, counted(n, "file"), StepState(state).label.lower()) for state, n in counts.items()],
        "failed_steps": counts.get(StepState.FAILED, 0),
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
