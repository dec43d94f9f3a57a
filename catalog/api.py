"""Catalog reads of the REST API: catalogs, the asset grid (its filters and keyset pagination), one asset, and
an asset's thumbnail. Same selectors as the pages; token or session auth, like the jobs API."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.grid import MAX_PAGE_SIZE, PAGE_SIZE, AssetQuery, QueryError
from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, Catalog
from catalog.services.exports import KINDS, ExportError, asset_record, catalog_export_chunks
from catalog.services.review import assets_set_date
from catalog.views import thumbnail_response

GRID_FIELDS = ["id", "path", "size", "taken_at", "media_type", "format", "width", "height", "sha256", "status"]


def catalog_record(catalog: Catalog) -> dict[str, Any]:
    return {
        "id": catalog.pk,
        "name": catalog.name,
        "path": catalog.path,
        "source_directories": catalog.source_directories,
        "exclude_directories": catalog.exclude_directories,
        "last_analyzed_at": catalog.last_analyzed_at.isoformat() if catalog.last_analyzed_at else None,
    }


def grid_record(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.pk,
        "path": asset.path,
        "size": asset.size,
        "taken_at": asset.taken_at.replace(tzinfo=None).isoformat() if asset.taken_at else None,
        "media_type": asset.media_type,
        "format": asset.format,
        "width": asset.width,
        "height": asset.height,
        "status": asset.status,
        "thumbnail": reverse("catalog:api-asset-thumbnail", args=[asset.pk]) if asset.sha256 else None,
    }


class CatalogList(APIView):
    @extend_schema(responses=serializers.ListSerializer(child=serializers.DictField()))
    def get(self, request: Request) -> Response:
        return Response([catalog_record(catalog) for catalog in Catalog.objects.order_by("name")])


GRID_PARAMETERS = [
    OpenApiParameter(name, description=text)
    for name, text in (
        ("date_from", "YYYY-MM-DD: taken on or after"),
        ("date_to", "YYYY-MM-DD: taken on or before"),
        ("year", "taken in this year"),
        ("month", "with year: taken in this month"),
        ("camera", "camera model, exactly"),
        ("media_type", "image or video"),
        ("problem", "1: only problem files; 0: none"),
        ("undated", "1: no date, or a suspicious one"),
        ("duplicates", "1: only files in a duplicate group; 0: none"),
        ("folder", "only files under this folder"),
        ("sort", "-taken_at (default), taken_at, path, -path, size, -size"),
        ("after", "the cursor of the page to continue from (the `next` link holds it)"),
        ("limit", f"assets per page, at most {MAX_PAGE_SIZE} (default {PAGE_SIZE})"),
    )
]


class AssetGrid(APIView):
    """``GET /api/catalogs/{id}/assets``: the grid, filtered and sorted, a page at a time (keyset pagination)."""

    @extend_schema(parameters=GRID_PARAMETERS, responses=serializers.DictField())
    def get(self, request: Request, catalog_id: int) -> Response:
        catalog = get_object_or_404(Catalog.objects.only("pk"), pk=catalog_id)
        try:
            query = AssetQuery.from_params(request.query_params)
            text = request.query_params.get("limit") or str(PAGE_SIZE)
            if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
                raise QueryError(f"limit: a number from 1 to {MAX_PAGE_SIZE}, got {text!r}")
            limit = int(text)
            assets, cursor = query.page(catalog.pk, after=request.query_params.get("after") or None, limit=limit)
        except QueryError as exc:
            raise ValidationError({"query": str(exc)}) from exc
        following = None
        if cursor:
            params = request.query_params.copy()
            params["after"] = cursor
            following = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": [grid_record(asset) for asset in assets], "next": following})


class ManualDate(serializers.Serializer):
    taken_at = serializers.DateTimeField(
        allow_null=True, default_timezone=UTC,
        help_text="the capture date as the camera's wall clock (YYYY-MM-DDTHH:MM:SS); null goes back to the date "
        "the file and its name give",
    )  # fmt: skip


class AssetDetail(APIView):
    @extend_schema(responses=serializers.DictField())
    def get(self, request: Request, asset_id: int) -> Response:
        return Response(asset_detail(get_object_or_404(Asset.objects.select_related("catalog"), pk=asset_id)))

    @extend_schema(request=ManualDate, responses=serializers.DictField())
    def patch(self, request: Request, asset_id: int) -> Response:
        """Set the capture date by hand (source "manual", kept by every later analyze), or clear it."""
        asset = get_object_or_404(Asset, pk=asset_id)
        body = ManualDate(data=request.data)
        body.is_valid(raise_exception=True)
        taken_at = body.validated_data["taken_at"]
        assets_set_date(assets=Asset.objects.filter(pk=asset.pk), taken_at=taken_at and taken_at.replace(tzinfo=None))
        return Response(asset_detail(Asset.objects.select_related("catalog").get(pk=asset.pk)))


class CatalogExport(APIView):
    """``GET /api/catalogs/{id}/export?what=assets|duplicates|problems&format=json|csv``: the DESIGN.md formats,
    streamed."""

    @extend_schema(
        parameters=[OpenApiParameter("what", enum=list(KINDS)), OpenApiParameter("format", enum=["json", "csv"])],
        responses={(200, "application/json"): dict, (200, "text/csv"): str},
    )
    def get(self, request: Request, catalog_id: int) -> StreamingHttpResponse:
        catalog = get_object_or_404(Catalog, pk=catalog_id)
        what, fmt = request.query_params.get("what", "assets"), request.query_params.get("format", "json")
        try:
            chunks = catalog_export_chunks(catalog=catalog, kind=what, fmt=fmt)
        except ExportError as exc:
            raise ValidationError({"query": str(exc)}) from exc
        content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
        response = StreamingHttpResponse(chunks, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{catalog.name or "catalog"}-{what}.{fmt}"'
        return response


def asset_detail(asset: Asset) -> dict[str, Any]:
    """Everything about one asset: the export record, the rest of its metadata, its groups and thumbnail."""
    record = asset_record(asset) | {
        "id": asset.pk,
        "catalog": asset.catalog_id,
        "lens_model": asset.lens_model,
        "exposure_time": asset.exposure_time,
        "f_number": asset.f_number,
        "iso": asset.iso,
        "focal_length": asset.focal_length,
        "gps_altitude": asset.gps_altitude,
        "duration": asset.duration,
        "date_note": asset.date_note,
        "taken_at_offset": asset.taken_at_offset,
        "exif": asset.exif,
        "duplicate_groups": sorted(asset.duplicate_memberships.values_list("group_id", flat=True)),
        "thumbnail": reverse("catalog:api-asset-thumbnail", args=[asset.pk]) if asset.sha256 else None,
    }
    return record


class AssetThumbnail(APIView):
    """``GET /api/assets/{id}/thumbnail?size=``: the asset's thumbnail (the largest when no size is given)."""

    @extend_schema(
        parameters=[OpenApiParameter("size", int, description="one of the sizes the catalog made")],
        responses={(200, "image/webp"): bytes, (200, "image/jpeg"): bytes},
    )
    def get(self, request: Request, asset_id: int) -> HttpResponse | FileResponse:
        asset = get_object_or_404(Asset.objects.select_related("catalog").only("sha256", "catalog__path"), pk=asset_id)
        sizes = sorted(settings.VAM_THUMBNAIL_SIZES, reverse=True)
        wanted = request.query_params.get("size")
        if wanted:
            if not wanted.isdigit() or int(wanted) not in sizes:
                raise ValidationError({"size": f"choose one of {', '.join(map(str, sorted(sizes)))}"})
            sizes = [int(wanted)]
        for size in sizes:
            for fmt in ("webp", "jpeg"):
                path = thumbnail_path(asset.catalog.thumbnails_dir, size, asset.sha256, fmt)
                if asset.sha256 and path.is_file():
                    return thumbnail_response(request, path, fmt)
        raise NotFound("this asset has no thumbnail of that size")
