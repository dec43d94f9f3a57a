"""The browse pages: catalog list, dashboard, photo grid, asset detail, and the original-file view. Server
rendered, with the same selectors as the API (catalog.grid, catalog.services.stats)."""

from __future__ import annotations

import mimetypes
import os
import re
import stat
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.context import SESSION_KEY, remember_catalog
from catalog.grid import SORTS, AssetQuery, QueryError, database_int, keyset_after, text_param
from catalog.media.paths import inside_any
from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, AssetStatus, Catalog, DateSource, DuplicateGroup, DuplicateMember, MediaType
from catalog.permissions import change_refusal, create_refusal, may_change, refused_page
from catalog.selectors import asset_partners
from catalog.services.duplicates import (
    DuplicatesError,
    group_dismiss,
    group_mark_reviewed,
    group_set_primary,
    member_dismiss,
)
from catalog.services.review import assets_set_date
from catalog.services.schedule import ScheduleError, catalog_set_schedule, schedule_parse, schedule_summary
from catalog.services.stats import catalog_stats
from jobs.display import job_rows
from jobs.selectors import job_visible_for

GRID_PAGE = 120
MAX_TIMELINE_MONTHS = 1200  # a century of bars at most
SORT_LABELS = {
    "-taken_at": "newest first", "taken_at": "oldest first", "path": "path", "-path": "path, Z to A",
    "size": "smallest first", "-size": "largest first",
}  # fmt: skip


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The catalog's dashboard when there is one (or the one last shown), else the list of catalogs."""
    catalogs = list(Catalog.objects.order_by("pk")[:2])
    if len(catalogs) == 1:
        return redirect("catalog:dashboard", catalog_id=catalogs[0].pk)
    last = request.session.get(SESSION_KEY)
    if last and Catalog.objects.filter(pk=last).exists():
        return redirect("catalog:dashboard", catalog_id=last)
    return redirect("catalog:list")


@login_required
@require_GET
def catalog_list(request: HttpRequest) -> HttpResponse:
    catalogs = Catalog.objects.select_related("owner").order_by("name")
    return render(request, "catalog/list.html", {"catalogs": catalogs})


@login_required
@require_GET
def dashboard(request: HttpRequest, catalog_id: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    remember_catalog(request, catalog)
    stats = catalog_stats(catalog)
    jobs = job_visible_for(request.user).filter(catalog=catalog).order_by("-created_at")[:5]
    timeline = _every_month(stats.get("timeline", []))
    tallest = max((month["count"] for month in timeline), default=0)
    grid = reverse("catalog:grid", args=[catalog.pk])
    bars = [
        {
            "month": month["month"],
            "count": month["count"],
            "height": (height := round(100 * month["count"] / tallest, 1) if tallest else 0),
            "y": round(100 - height, 1),
            "x": index * 8,
            "url": f"{grid}?{urlencode({'year': month['month'][:4], 'month': int(month['month'][5:])})}",
            "label": datetime.strptime(month["month"], "%Y-%m").strftime("%B %Y"),
        }
        for index, month in enumerate(timeline)
    ]
    context = {
        "catalog": catalog,
        "stats": stats,
        "bars": bars,
        "chart_width": max(8 * len(bars), 8),
        "jobs": job_rows(jobs),
        "grid": grid,
        "schedule": schedule_summary(catalog),
    }
    return render(request, "catalog/dashboard.html", context)


def _every_month(timeline: list[dict]) -> list[dict]:
    """The months with photos, and the empty ones between them, so the chart's axis is time."""
    counts = {tuple(map(int, month["month"].split("-"))): month["count"] for month in timeline}
    if not counts:
        return []
    first, last = min(counts), max(counts)
    if (last[0] - first[0]) * 12 > MAX_TIMELINE_MONTHS:  # a stray far-off date: the months that have photos
        return list(timeline)
    (year, month), months = first, []
    while (year, month) <= last:
        months.append({"month": f"{year:04d}-{month:02d}", "count": counts.get((year, month), 0)})
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


@login_required
@require_GET
def grid(request: HttpRequest, catalog_id: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    remember_catalog(request, catalog)
    try:
        query = AssetQuery.from_params(request.GET)
        assets, cursor = query.page(catalog.pk, after=request.GET.get("after") or None, limit=GRID_PAGE)
    except QueryError as exc:
        return render(request, "catalog/grid.html", {"catalog": catalog, "error": str(exc), "query": AssetQuery(),
                                                     "sorts": SORT_LABELS}, status=400)  # fmt: skip
    filters = urlencode(query.params())
    tiles = [
        {"asset": asset, "thumbnail": _thumbnail_url(catalog, asset, small=True),
         "large": _thumbnail_url(catalog, asset, small=False)}
        for asset in assets
    ]  # fmt: skip
    context = {
        "catalog": catalog,
        "query": query,
        "sections": _date_sections(tiles)
        if query.sort in ("-taken_at", "taken_at")
        else [{"heading": "", "days": [{"day": "", "tiles": tiles}]}],
        "next_url": f"?{urlencode(query.params() | {'after': cursor})}" if cursor else "",
        "filters": filters,
        "sorts": SORT_LABELS,
        "cameras": [c["model"] for c in catalog_stats(catalog).get("cameras", [])],
        "ratings": range(1, 6),
        "media_types": MediaType.choices,
    }
    return render(request, "catalog/grid.html", context)


def _date_sections(tiles: list[dict]) -> list[dict]:
    """The tiles of a page by month, and within a month by day, as photo timelines show them; the files without
    a reliable date (none, or only the file's modification time) under a heading of their own, at the end."""
    sections: list[dict] = []
    for tile in tiles:
        asset = tile["asset"]
        month = asset.taken_at.strftime("%B %Y") if asset.reliably_dated else "No reliable date"
        day = asset.taken_at.strftime("%A %-d %B") if asset.reliably_dated else ""
        if not sections or sections[-1]["heading"] != month:
            sections.append({"heading": month, "days": []})
        days = sections[-1]["days"]
        if not days or days[-1]["day"] != day:
            days.append({"day": day, "tiles": []})
        days[-1]["tiles"].append(tile)
    return sections


def _one_section(tiles: list[dict]) -> list[dict]:
    """Sorted by path or size: no date headings."""
    return [{"heading": "", "days": [{"day": "", "tiles": tiles}]}]


@login_required
@require_GET
def asset_detail(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = get_object_or_404(Asset.objects.select_related("catalog"), pk=asset_id)
    remember_catalog(request, asset.catalog)
    try:
        query = AssetQuery.from_params(request.GET)
    except QueryError:
        query = AssetQuery()
    previous, following = query.neighbours(asset.catalog_id, asset)
    filters = urlencode(query.params())
    groups = DuplicateMember.objects.filter(asset=asset).select_related("group__primary")
    context = {
        "asset": asset,
        "preview": _thumbnail_url(asset.catalog, asset, small=False),
        "previous": previous,
        "following": following,
        "filters": f"?{filters}" if filters else "",
        "grid": reverse("catalog:grid", args=[asset.catalog_id]) + (f"?{filters}" if filters else ""),
        "memberships": groups,
        "partners": asset_partners(asset),
        "map_url": _map_url(asset),
        "exif": sorted((asset.exif or {}).items()),
    }
    return render(request, "catalog/asset.html", context)


@login_required
@require_GET
def original(request: HttpRequest, asset_id: int) -> HttpResponse | FileResponse:
    """The original file, on demand: only a regular file inside the library roots, shown inline only when it is
    a picture or a video (by the asset's own name, never by where a link points), and then sandboxed."""
    asset = get_object_or_404(Asset, pk=asset_id)
    roots = [os.path.realpath(root) for root in settings.VAM_LIBRARY_ROOTS]
    real = os.path.realpath(asset.path)
    if not inside_any(real, roots):
        return HttpResponseForbidden("this file is outside the library roots (VAM_LIBRARY_ROOTS): it is not served")
    try:
        descriptor = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Http404("the file is not there any more: analyze again") from None
    except OSError as exc:
        return HttpResponseForbidden(f"the file cannot be read: {exc.strerror}")
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # a folder (a link loop), a device, a FIFO: nothing to serve
        os.close(descriptor)
        return HttpResponseForbidden("this is not a regular file (a folder, a link loop or a device): it is not served")
    stream = os.fdopen(descriptor, "rb")
    # What was opened, not what a path said a moment before: a swapped folder cannot lead out of the roots.
    opened = os.readlink(f"/proc/self/fd/{descriptor}") if os.path.exists("/proc/self/fd") else asset.path
    if not inside_any(opened, roots):
        stream.close()
        return HttpResponseForbidden("this file is outside the library roots (VAM_LIBRARY_ROOTS): it is not served")
    content_type = mimetypes.guess_type(asset.path)[0] or ""
    inline = content_type.startswith(("image/", "video/")) and content_type != "image/svg+xml"
    response = FileResponse(
        stream, content_type=content_type if inline else "application/octet-stream",
        as_attachment=not inline, filename=os.path.basename(asset.path),
    )  # fmt: skip
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return response


def _thumbnail_url(catalog: Catalog, asset: Asset, *, small: bool) -> str:
    """The smallest (grid) or largest (preview) thumbnail the catalog has of this asset, or ""."""
    if not asset.sha256:
        return ""
    for size in sorted(settings.VAM_THUMBNAIL_SIZES, reverse=not small):
        for fmt, ext in (("webp", "webp"), ("jpeg", "jpg")):
            if thumbnail_path(catalog.thumbnails_dir, size, asset.sha256, fmt).is_file():
                return reverse("catalog:thumbnail", args=[catalog.pk, size, asset.sha256, ext])
    return ""


def _map_url(asset: Asset) -> str:
    if asset.gps_latitude is None or asset.gps_longitude is None:
        return ""
    lat, lon = asset.gps_latitude, asset.gps_longitude
    return f"https://www.openstreetmap.org/?mlat={lat:.6f}&mlon={lon:.6f}#map=15/{lat:.6f}/{lon:.6f}"


assert set(SORT_LABELS) == set(SORTS)


# Duplicate review --------------------------------------------------------------------------------------------------

REVIEW_PAGE = 50


@login_required
@require_GET
def duplicate_list(request: HttpRequest, catalog_id: int) -> HttpResponse:
    """The groups to review, most space to gain first (an exact group inside a similar one is shown by it)."""
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    remember_catalog(request, catalog)
    groups = DuplicateGroup.objects.filter(catalog=catalog, cluster__isnull=True).select_related("primary")
    shown = request.GET.get("show", "todo")
    if shown == "todo":
        groups = groups.filter(reviewed_at__isnull=True)
    elif shown == "reviewed":
        groups = groups.filter(reviewed_at__isnull=False)
    after = request.GET.get("after", "")
    if after:
        try:
            gain, pk = (database_int(part) for part in after.split(".", 1))
        except ValueError:
            return HttpResponse("after: not a position this list gave", status=400, content_type="text/plain")
        groups = groups.filter(keyset_after(DuplicateGroup, "redundant_bytes", True, gain, pk))
    rows = list(groups.order_by("-redundant_bytes", "-id")[: REVIEW_PAGE + 1])
    following = ""
    if len(rows) > REVIEW_PAGE:
        last = rows[REVIEW_PAGE - 1]
        following = f"?{urlencode({'show': shown, 'after': f'{last.redundant_bytes}.{last.pk}'})}"
    context = {"catalog": catalog, "groups": rows[:REVIEW_PAGE], "shown": shown, "next_url": following,
               "stats": catalog_stats(catalog), "error": request.GET.get("error", ""),
               "may_move": may_change(request.user, catalog)}  # fmt: skip
    return render(request, "catalog/duplicates.html", context)


@login_required
@require_GET
def duplicate_group(request: HttpRequest, group_id: int) -> HttpResponse:
    group = get_object_or_404(DuplicateGroup.objects.select_related("catalog", "primary"), pk=group_id)
    remember_catalog(request, group.catalog)
    members = group.members.select_related("asset").order_by("distance", "-quality_score", "asset__path")
    context = {
        "group": group,
        "members": [
            (member, _thumbnail_url(group.catalog, member.asset, small=False), asset_partners(member.asset))
            for member in members
        ],
        "next_group": _next_group(group),
        "error": request.GET.get("error", ""),
    }
    return render(request, "catalog/duplicate_group.html", context)


@login_required
@require_POST
def duplicate_action(request: HttpRequest, group_id: int, action: str) -> HttpResponse:
    """The review actions: primary (``asset``), not-duplicates (``asset``, or none for the whole group) and
    reviewed. Nothing is ever deleted from disk here."""
    group = get_object_or_404(DuplicateGroup.objects.select_related("catalog", "primary"), pk=group_id)
    member = None
    if request.POST.get("asset"):
        if not re.fullmatch(r"[0-9]{1,18}", request.POST["asset"]):
            return HttpResponse("that file is not in this group", status=400, content_type="text/plain")
        member = group.members.select_related("asset").filter(asset_id=request.POST["asset"]).first()
        if member is None:
            return HttpResponse("that file is not in this group", status=400, content_type="text/plain")
    try:
        if action == "primary" and member is not None:
            group_set_primary(group=group, asset=member.asset)
        elif action == "not-duplicates" and member is not None:
            member_dismiss(member=member)
        elif action == "not-duplicates":
            following = _next_group(group)
            group_dismiss(group=group)
            return redirect(_group_or_list(following, group.catalog_id))
        elif action == "reviewed":
            group_mark_reviewed(group=group, reviewed=request.POST.get("reviewed", "1") == "1")
            return redirect(_group_or_list(_next_group(group), group.catalog_id))
        else:
            raise Http404(f"no action {action}")
    except DuplicatesError as exc:
        return redirect(reverse("catalog:duplicate", args=[group.pk]) + "?" + urlencode({"error": str(exc)}))
    if not DuplicateGroup.objects.filter(pk=group.pk).exists():  # dismissing its last other member ended it
        return redirect(_group_or_list(_next_group(group), group.catalog_id))
    return redirect("catalog:duplicate", group_id=group.pk)


def _next_group(group: DuplicateGroup) -> DuplicateGroup | None:
    """The next group still to review after this one, in the list's order."""
    todo = DuplicateGroup.objects.filter(catalog_id=group.catalog_id, cluster__isnull=True, reviewed_at__isnull=True)
    after = keyset_after(DuplicateGroup, "redundant_bytes", True, group.redundant_bytes, group.pk)
    return todo.filter(after).order_by("-redundant_bytes", "-id").first() or todo.exclude(pk=group.pk).order_by(
        "-redundant_bytes", "-id").first()  # fmt: skip


def _group_or_list(group: DuplicateGroup | None, catalog_id: int) -> str:
    if group is not None:
        return reverse("catalog:duplicate", args=[group.pk])
    return reverse("catalog:duplicates", args=[catalog_id])


# Date review and problems ------------------------------------------------------------------------------------------

LIST_PAGE = 100


def _by_path_page(assets, after: str) -> tuple[list[Asset], str]:
    """A page of ``assets`` in path order after the path ``after``, and the next page's link ("" at the end)."""
    if after:
        assets = assets.filter(path__gt=after)
    rows = list(assets.order_by("path")[: LIST_PAGE + 1])
    return rows[:LIST_PAGE], rows[LIST_PAGE - 1].path if len(rows) > LIST_PAGE else ""


@login_required
@require_http_methods(["GET", "POST"])
def date_review(request: HttpRequest, catalog_id: int) -> HttpResponse:
    """Assets without a reliable date (none, only the file's modification time, or a suspicious one: a sentinel,
    a future date, sources that disagree). A date set here for one asset or a selection is kept by every later
    analyze, shows in the grid, and files the asset in the next organize plan."""
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    remember_catalog(request, catalog)
    if request.method == "POST":
        return _set_dates(request, catalog)
    doubtful = catalog.assets.filter(
        Q(taken_at__isnull=True)
        | Q(date_suspicious=True)
        | Q(date_source__in=[DateSource.MTIME, DateSource.MANUAL])  # (manual: so it can be undone here)
    ).exclude(status=AssetStatus.MISSING)
    try:
        after = text_param(request.GET, "after")
    except QueryError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    rows, following = _by_path_page(doubtful, after)
    context = {
        "catalog": catalog,
        "assets": [(asset, _thumbnail_url(catalog, asset, small=True)) for asset in rows],
        "next_url": f"?{urlencode({'after': following})}" if following else "",
        "done": request.GET.get("done", ""),
        "error": request.GET.get("error", ""),
    }
    return render(request, "catalog/dates.html", context)


def _set_dates(request: HttpRequest, catalog: Catalog) -> HttpResponse:
    here = reverse("catalog:dates", args=[catalog.pk])
    ids = [value for value in request.POST.getlist("asset") if re.fullmatch(r"[0-9]{1,18}", value)]
    if not ids:
        return redirect(f"{here}?{urlencode({'error': 'choose at least one file'})}")
    taken_at = None
    if request.POST.get("action") != "automatic":
        try:
            taken_at = datetime.fromisoformat(request.POST.get("taken_at", ""))
        except ValueError:
            return redirect(f"{here}?{urlencode({'error': 'give the date and time it was taken'})}")
    changed = assets_set_date(assets=catalog.assets.filter(pk__in=ids), taken_at=taken_at)
    files = f"{changed} file" if changed == 1 else f"{changed} files"
    done = f"{files} dated by hand" if taken_at else f"{files} back to their own dates"
    return redirect(f"{here}?{urlencode({'done': done})}")


@login_required
@require_GET
def problems(request: HttpRequest, catalog_id: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    remember_catalog(request, catalog)
    rows = catalog.assets.filter(status=AssetStatus.PROBLEM)
    kinds = list(rows.order_by().values("problem_kind").annotate(count=Count("id")).order_by("-count", "problem_kind"))
    try:
        kind, after = text_param(request.GET, "kind"), text_param(request.GET, "after")
    except QueryError as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    if kind:
        rows = rows.filter(problem_kind=kind)
    page, following = _by_path_page(rows, after)
    context = {
        "catalog": catalog,
        "kinds": kinds,
        "kind": kind,
        "assets": page,
        "next_url": f"?{urlencode({'kind': kind, 'after': following})}" if following else "",
        "csv": reverse("catalog:api-export", args=[catalog.pk]) + "?what=problems&format=csv",
    }
    return render(request, "catalog/problems.html", context)


# Catalog records (staff, and a catalog's owner) ---------------------------------------------------------------------


def _catalog_form(request: HttpRequest, catalog: Catalog | None) -> tuple[dict, dict]:
    """The posted name, path, sources and (for staff) owner, checked as the API checks them; (values, errors)."""
    from rest_framework import serializers

    from catalog.validators import library_folder, new_catalog_path

    values: dict[str, Any] = {
        "name": request.POST.get("name", "").strip(),
        "path": catalog.path if catalog else request.POST.get("path", "").strip(),
        "sources": [line.strip() for line in request.POST.get("sources", "").splitlines() if line.strip()],
        "owner": catalog.owner_id if catalog else None,
        "schedule_choice": request.POST.get("schedule_choice", "off"),
        "schedule_cron": request.POST.get("schedule_cron", "").strip(),
    }
    errors = {}
    values["schedule"], schedule_error = _schedule_posted(values["schedule_choice"], values["schedule_cron"])
    if schedule_error:
        errors["schedule"] = schedule_error
    if not values["name"] or len(values["name"]) > 255 or "\x00" in values["name"]:
        errors["name"] = "give the catalog a name (at most 255 characters)"
    if len(values["path"]) > 1024:
        errors["path"] = "the catalog folder's path is too long (at most 1024 characters)"
    if catalog is None:
        try:
            values["path"] = new_catalog_path(values["path"])
            if Catalog.objects.filter(path=values["path"]).exists():
                errors["path"] = f"there is a catalog at {values['path']} already"
        except serializers.ValidationError as exc:
            errors["path"] = " ".join(str(item) for item in exc.detail)
    try:
        values["sources"] = sorted({library_folder(path) for path in values["sources"]})
    except serializers.ValidationError as exc:
        errors["sources"] = " ".join(str(item) for item in exc.detail)
    if request.user.is_staff:  # only staff give a catalog to someone
        owner = request.POST.get("owner", "").strip()
        values["owner"] = int(owner) if owner.isdigit() else None
        if owner and not _owners().filter(pk=values["owner"]).exists():
            errors["owner"] = "choose one of the listed users, or nobody"
    return values, errors


SCHEDULE_CHOICES = {
    "off": "Off", "hourly": "Every hour", "nightly": "Every night at 03:00", "cron": "On a cron schedule",
}  # fmt: skip


def _schedule_posted(choice: str, cron: str) -> tuple[str, str]:
    """The schedule the edit form's two fields give, and the reason it cannot be used ("" when it can)."""
    if choice not in SCHEDULE_CHOICES:
        return "", "choose one of the listed schedules"
    if choice != "cron":
        return schedule_parse(choice), ""
    if not cron:
        return "", "give the cron expression, like 30 2 * * 0 for Sundays at 02:30"
    try:
        return schedule_parse(cron), ""
    except ScheduleError as exc:
        return "", str(exc)


def _schedule_values(schedule: str) -> dict[str, str]:
    """The edit form's fields for a stored schedule."""
    if schedule in ("", "hourly", "nightly"):
        return {"schedule_choice": schedule or "off", "schedule_cron": ""}
    return {"schedule_choice": "cron", "schedule_cron": schedule}


def _owners():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(is_active=True, is_staff=False).order_by("username")


def _edit_page(request: HttpRequest, catalog: Catalog | None, values: dict, errors: dict) -> HttpResponse:
    context = {"values": values, "errors": errors, "catalog": catalog,
               "owners": _owners() if request.user.is_staff else None,
               "schedule_choices": SCHEDULE_CHOICES, "time_zone": settings.VAM_TIME_ZONE}  # fmt: skip
    return render(request, "catalog/edit.html", context, status=400 if errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def catalog_create(request: HttpRequest) -> HttpResponse:
    if refused := refused_page(request, create_refusal(request.user), reverse("catalog:list")):
        return refused
    values, errors = ({}, {}) if request.method == "GET" else _catalog_form(request, None)
    if request.method == "POST" and not errors:
        try:
            os.makedirs(values["path"], exist_ok=True)
        except OSError as exc:
            errors["path"] = f"cannot make the catalog folder {values['path']}: {exc.strerror}"
        else:
            catalog = Catalog.objects.create(
                name=values["name"], path=values["path"], source_directories=values["sources"], owner_id=values["owner"]
            )
            catalog_set_schedule(catalog=catalog, schedule=values["schedule"])
            return redirect("catalog:dashboard", catalog_id=catalog.pk)
    return _edit_page(request, None, values, errors)


@login_required
@require_http_methods(["GET", "POST"])
def catalog_edit(request: HttpRequest, catalog_id: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    if refused := refused_page(request, change_refusal(request.user, catalog), reverse("catalog:list")):
        return refused
    if request.method == "GET":
        values = {"name": catalog.name, "path": catalog.path, "sources": catalog.source_directories,
                  "owner": catalog.owner_id} | _schedule_values(catalog.schedule)  # fmt: skip
        return _edit_page(request, catalog, values, {})
    values, errors = _catalog_form(request, catalog)
    if errors:
        return _edit_page(request, catalog, values, errors)
    catalog.name, catalog.source_directories, catalog.owner_id = values["name"], values["sources"], values["owner"]
    catalog.save(update_fields=["name", "source_directories", "owner", "updated_at"])
    catalog_set_schedule(catalog=catalog, schedule=values["schedule"])
    return redirect("catalog:dashboard", catalog_id=catalog.pk)


@login_required
@require_http_methods(["GET", "POST"])
def catalog_delete(request: HttpRequest, catalog_id: int) -> HttpResponse:
    """Delete the catalog's record (its rows: assets, groups) and nothing else: no photo, no thumbnail, no folder."""
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    if refused := refused_page(request, change_refusal(request.user, catalog), reverse("catalog:list")):
        return refused
    if request.method == "GET":
        return render(request, "catalog/delete.html", {"catalog": catalog, "stats": catalog_stats(catalog)})
    if catalog.jobs.filter(organize_steps__isnull=False).exists():
        return render(request, "catalog/delete.html", {"catalog": catalog, "stats": catalog_stats(catalog),
                      "error": "its organize journals are kept for rollback: delete them in the admin first"},
                      status=400)  # fmt: skip
    catalog.delete()
    return redirect("catalog:list")


@login_required
@require_POST
def move_redundant(request: HttpRequest, catalog_id: int) -> HttpResponse:
    """Duplicate review's "move redundant copies to a folder": an organize move of the copies other than the
    primary of each exact group, journaled, so its job page can roll it back. Nothing is deleted."""
    from django.db import transaction

    from jobs.models import JobKind
    from jobs.requests import OrganizeRequest
    from jobs.services import job_start

    catalog = get_object_or_404(Catalog, pk=catalog_id)
    form = OrganizeRequest(context={"user": request.user}, data={
        "catalog_path": catalog.path, "output_directory": request.POST.get("output_directory", "").strip(),
        "operation": "move", "directory_structure": "FLAT", "naming_strategy": "date_time_original",
        "only_redundant": True, "undated_folder": "undated",
    })  # fmt: skip
    refusal = change_refusal(request.user, catalog, "move its redundant copies")
    if refused := refused_page(request, refusal, reverse("catalog:duplicates", args=[catalog.pk])):
        return refused
    if not form.is_valid():
        error = "; ".join(str(message) for messages in form.errors.values() for message in messages)
        return redirect(reverse("catalog:duplicates", args=[catalog.pk]) + "?" + urlencode({"error": error}))
    with transaction.atomic():
        job = job_start(kind=JobKind.ORGANIZE, params=dict(form.validated_data), user=request.user, catalog=catalog)
    return redirect("jobs:detail", job_id=job.pk)
