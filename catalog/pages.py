"""The browse pages: catalog list, dashboard, photo grid, asset detail, and the original-file view. Server
rendered, with the same selectors as the API (catalog.grid, catalog.services.stats)."""

from __future__ import annotations

import mimetypes
import os

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseForbidden
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from catalog.grid import SORTS, AssetQuery, QueryError
from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, Catalog, DuplicateMember, MediaType
from catalog.services.stats import catalog_stats
from jobs.selectors import job_status, job_visible_for

GRID_PAGE = 120
SORT_LABELS = {
    "-taken_at": "newest first", "taken_at": "oldest first", "path": "path", "-path": "path, Z to A",
    "size": "smallest first", "-size": "largest first",
}  # fmt: skip


@login_required
@require_GET
def catalog_list(request: HttpRequest) -> HttpResponse:
    catalogs = Catalog.objects.order_by("name")
    return render(request, "catalog/list.html", {"catalogs": catalogs})


@login_required
@require_GET
def dashboard(request: HttpRequest, catalog_id: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    stats = catalog_stats(catalog)
    jobs = job_visible_for(request.user).filter(catalog=catalog).order_by("-created_at")[:5]
    timeline = stats.get("timeline", [])
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
        }
        for index, month in enumerate(timeline)
    ]
    context = {
        "catalog": catalog,
        "stats": stats,
        "bars": bars,
        "chart_width": max(8 * len(bars), 8),
        "jobs": [job_status(job) for job in jobs],
        "grid": grid,
    }
    return render(request, "catalog/dashboard.html", context)


@login_required
@require_GET
def grid(request: HttpRequest, catalog_id: int) -> HttpResponse:
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    try:
        query = AssetQuery.from_params(request.GET)
        assets, cursor = query.page(catalog.pk, after=request.GET.get("after") or None, limit=GRID_PAGE)
    except QueryError as exc:
        return render(request, "catalog/grid.html", {"catalog": catalog, "error": str(exc), "query": AssetQuery(),
                                                     "sorts": SORT_LABELS}, status=400)  # fmt: skip
    filters = urlencode(query.params())
    context = {
        "catalog": catalog,
        "query": query,
        "assets": [(asset, _thumbnail_url(catalog, asset, small=True)) for asset in assets],
        "next_url": f"?{urlencode(query.params() | {'after': cursor})}" if cursor else "",
        "filters": filters,
        "sorts": SORT_LABELS,
        "cameras": [c["model"] for c in catalog_stats(catalog).get("cameras", [])],
        "media_types": MediaType.choices,
    }
    return render(request, "catalog/grid.html", context)


@login_required
@require_GET
def asset_detail(request: HttpRequest, asset_id: int) -> HttpResponse:
    asset = get_object_or_404(Asset.objects.select_related("catalog"), pk=asset_id)
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
        "map_url": _map_url(asset),
        "exif": sorted((asset.exif or {}).items()),
    }
    return render(request, "catalog/asset.html", context)


@login_required
@require_GET
def original(request: HttpRequest, asset_id: int) -> HttpResponse | FileResponse:
    """The original file, on demand: only from inside the library roots, with its content type."""
    asset = get_object_or_404(Asset, pk=asset_id)
    real = os.path.realpath(asset.path)
    roots = [os.path.realpath(root) for root in settings.VAM_LIBRARY_ROOTS]
    if not any(real == root or real.startswith(root.rstrip(os.sep) + os.sep) for root in roots):
        return HttpResponseForbidden("this file is outside the library roots (VAM_LIBRARY_ROOTS): it is not served")
    if not os.path.isfile(real):
        raise Http404("the file is not there any more: analyze again")
    content_type = mimetypes.guess_type(real)[0] or "application/octet-stream"
    response = FileResponse(open(real, "rb"), content_type=content_type)  # noqa: SIM115 - FileResponse closes it
    response["Content-Disposition"] = f'inline; filename="{os.path.basename(real)}"'
    response["X-Content-Type-Options"] = "nosniff"
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
