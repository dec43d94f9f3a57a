"""A job in words, for the pages and the dashboard: its title ("Analyze of Family", "Rollback of organize job
1234abcd"), duration, parameters and result as rows of labelled tables, and its error as one sentence."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from catalog.media.words import counted, duration_words
from catalog.models import Catalog
from catalog.services.schedule import schedule_words
from catalog.similarity.grouping import DEFAULT_THRESHOLD
from jobs.models import Job, JobKind
from jobs.selectors import job_status

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
    if params.get("scheduled"):
        return f"Scheduled rescan of {name}"
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
        return ", ".join(f"{key_words(str(key))}: {_words(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_words(item) for item in value)
    return str(value)


def key_words(key: str) -> str:
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
            rows.append(_row(key_words(str(key)), counted(len(value), "entry", "entries"), depth=depth))
            rows += _any_rows(value, depth + 1)
        else:
            rows.append(_row(key_words(str(key)), value, depth=depth))
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
    "scheduled": "Started by the schedule",
}  # fmt: skip


def structure_words(structure: str) -> str:
    if structure == "FLAT":
        return "all in one folder"
    return f"{structure} (like {structure.replace('YYYY', '2019').replace('MM', '03').replace('DD', '15')})"


def _parameter(key: str, value: Any) -> dict[str, Any]:
    label = PARAMETER_LABELS.get(key, key_words(key))
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
        return _row(label, structure_words(str(value)))
    if key == "scheduled":
        return _row(label, schedule_words(str(value)))
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
    "reused": "Known content, not read again", "analyzed": "Read and analyzed",
    "moved": "Moved or renamed (found at a new path)", "missing": "Marked missing",
    "problems": "With problems, in the whole catalog",
    "pairs": "Going with another file (RAW + JPEG, Live Photo), in the whole catalog",
}  # fmt: skip
DUPLICATE_ROWS = {
    "exact_groups": "Exact duplicate groups", "similar_groups": "Similar groups",
    "video_groups": "Groups of similar videos", "grouped_files": "Files in groups",
    "contents": "Pictures compared", "degenerate": "Flat pictures left out", "videos": "Videos compared",
    "similar_pairs": "Similar pairs",
    "edited_pairs": "Of which edited copies (turned, mirrored, cropped, framed)",
    "threshold": "Similarity threshold",
}  # fmt: skip
THUMBNAIL_ROWS = {
    "contents": "Distinct pictures", "written": "Thumbnails made", "skipped": "Already had thumbnails",
    "failed": "Could not be decoded", "changed": "Changed since analyzed: analyze again",
}  # fmt: skip
ORGANIZE_ROWS = {
    "planned": "Planned", "done": "Organized", "already_present": "Already there", "skipped": "Skipped",
    "failed": "Failed", "conflicts": "Renamed to avoid a name conflict",
    "sidecars": "Sidecars carried with their files",
    "pairs": "Files of pairs (RAW + JPEG, Live Photo) carried together",
    "rolled_back": "Rolled back",
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
        f"{result.get('moved', 0):,} moved, {result.get('missing', 0):,} marked missing."
    )
    files = _take(result, ANALYZE_FILES, hide_zero=["pairs"]) + _timing(result, "elapsed_seconds")
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
        f"{counted(result.get('exact_groups', 0), 'exact duplicate group')}, "
        f"{counted(result.get('similar_groups', 0), 'similar group')} and "
        f"{counted(result.get('video_groups', 0), 'group')} of similar videos, "
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
                     "rolled_back", "kept", "already_present", "conflicts", "sidecars", "pairs"])  # fmt: skip
    else:
        summary = (
            f"{counted(count('done'), 'file')} organized, {count('already_present'):,} already there, "
            f"{count('skipped'):,} skipped, {count('failed'):,} failed."
        )
        rows = _take(result, ORGANIZE_ROWS, hide_zero=["rolled_back", "kept", "conflicts", "sidecars", "pairs"])
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
