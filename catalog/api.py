"""Catalog reads of the REST API: catalogs, the asset grid (its filters and keyset pagination), one asset, and
an asset's thumbnail. Same selectors as the pages; token or session auth, like the jobs API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.grid import (
    DEFAULT_SORT,
    MAX_PAGE_SIZE,
    PAGE_SIZE,
    SORTS,
    TEXT_LIMITS,
    AssetQuery,
    QueryError,
    database_int,
    decode_cursor,
    encode_cursor,
    keyset_after,
)
from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, Catalog, DuplicateGroup, DuplicateMember, GroupKind, MediaType
from catalog.permissions import change_refusal, refuse_unless
from catalog.selectors import asset_partners
from catalog.services.duplicates import (
    DuplicatesError,
    group_dismiss,
    group_mark_reviewed,
    group_set_primary,
    member_dismiss,
)
from catalog.services.exports import KINDS, ExportError, asset_record, catalog_export_chunks
from catalog.services.review import assets_set_date
from catalog.services.schedule import MAX_LENGTH as MAX_SCHEDULE
from catalog.services.schedule import ScheduleError, catalog_set_schedule, schedule_parse
from catalog.services.stats import catalog_stats
from catalog.views import thumbnail_response

RECENT_JOBS = 5


def catalog_record(catalog: Catalog) -> dict[str, Any]:
    return {
        "id": catalog.pk,
        "name": catalog.name,
        "path": catalog.path,
        "owner": catalog.owner.get_username() if catalog.owner else None,
        "source_directories": catalog.source_directories,
        "exclude_directories": catalog.exclude_directories,
        "last_analyzed_at": catalog.last_analyzed_at.isoformat() if catalog.last_analyzed_at else None,
        "schedule": catalog.schedule or None,
        "schedule_next_at": catalog.schedule_next_at.isoformat() if catalog.schedule_next_at else None,
        "schedule_note": catalog.schedule_note if catalog.schedule else "",
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
    @extend_schema(operation_id="catalogs_list", responses={200: {"type": "array", "items": {"type": "object"}}})
    def get(self, request: Request) -> Response:
        catalogs = Catalog.objects.select_related("owner").order_by("name")
        return Response([catalog_record(catalog) for catalog in catalogs])


class CatalogChange(serializers.Serializer):
    schedule = serializers.CharField(
        allow_null=True, allow_blank=True, max_length=MAX_SCHEDULE,
        error_messages={"required": "give the schedule: off, hourly, nightly or a cron expression",
                        "invalid": "must be text or null", "max_length": f"is too long (at most {MAX_SCHEDULE} "
                        "characters)"},
        help_text="rescans: null or \"off\", \"hourly\", \"nightly\" (03:00) or a cron expression of five fields, in "
        "the server's time zone",
    )  # fmt: skip

    default_error_messages = {"invalid": "the request must be a JSON object, not {datatype}"}

    def validate_schedule(self, value: str | None) -> str:
        try:
            return schedule_parse(value)
        except ScheduleError as exc:
            raise serializers.ValidationError(str(exc)) from None


class CatalogDetail(APIView):
    """``GET /api/catalogs/{id}``: the dashboard's figures (kept on the catalog row, see catalog.services.stats)
    and its recent jobs. ``PATCH``: its rescan schedule (staff and its owner)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, catalog_id: int) -> Response:
        catalog = get_object_or_404(Catalog.objects.select_related("owner"), pk=catalog_id)
        return Response(self._detail(request, catalog))

    @extend_schema(request=CatalogChange, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, catalog_id: int) -> Response:
        catalog = get_object_or_404(Catalog.objects.select_related("owner"), pk=catalog_id)
        body = CatalogChange(data=request.data)
        body.is_valid(raise_exception=True)
        refuse_unless(change_refusal(request.user, catalog, "change this catalog's schedule"))
        catalog_set_schedule(catalog=catalog, schedule=body.validated_data["schedule"])
        return Response(self._detail(request, catalog))

    def _detail(self, request: Request, catalog: Catalog) -> dict[str, Any]:
        from jobs.selectors import job_status, job_visible_for

        jobs = job_visible_for(request.user).filter(catalog=catalog).order_by("-created_at")[:RECENT_JOBS]
        return catalog_record(catalog) | {
            "stats": catalog_stats(catalog),
            "stats_at": catalog.stats_at.isoformat() if catalog.stats_at else None,
            "recent_jobs": [job_status(job) for job in jobs],
        }


def limit_parameter(what: str) -> OpenApiParameter:
    """The ``limit`` of a keyset list, as ``_limit`` reads it."""
    schema = {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE}
    return OpenApiParameter(
        "limit", schema, description=f"{what} per page, at most {MAX_PAGE_SIZE} (default {PAGE_SIZE})"
    )


FLAG_SPELLINGS = ["", "1", "0", "true", "false", "yes", "no", "on", "off"]  # what AssetQuery reads as yes or no
GRID_PARAMETERS = [
    OpenApiParameter("date_from", OpenApiTypes.DATE, description="YYYY-MM-DD: taken on or after"),
    OpenApiParameter("date_to", OpenApiTypes.DATE, description="YYYY-MM-DD: taken on or before"),
    OpenApiParameter("year", {"type": "integer", "minimum": 1800, "maximum": 2200}, description="taken in this year"),
    OpenApiParameter(
        "month", {"type": "integer", "minimum": 1, "maximum": 12}, description="with year: taken in this month"
    ),
    OpenApiParameter("camera", {"type": "string", "maxLength": TEXT_LIMITS["camera"]}, description="camera model"),
    OpenApiParameter("media_type", enum=["", *MediaType.values], description="image or video"),
    OpenApiParameter("problem", enum=FLAG_SPELLINGS, description="1: only problem files; 0: none"),
    OpenApiParameter(
        "undated",
        enum=FLAG_SPELLINGS,
        description="1: no reliable date (none, or only the file's modification time), or a suspicious one",
    ),  # fmt: skip
    OpenApiParameter("duplicates", enum=FLAG_SPELLINGS, description="1: only files in a duplicate group; 0: none"),
    OpenApiParameter(
        "folder", {"type": "string", "maxLength": TEXT_LIMITS["folder"]}, description="only files under this folder"
    ),
    OpenApiParameter(
        "keyword", {"type": "string", "maxLength": TEXT_LIMITS["keyword"]}, description="has this keyword (any case)"
    ),
    OpenApiParameter("rating", {"type": "integer", "minimum": -1, "maximum": 5}, description="rated at least this"),
    OpenApiParameter("sort", enum=["", *SORTS], description=f"the order (default {DEFAULT_SORT})"),
    OpenApiParameter("after", str, description="the cursor of the page to continue from (the `next` link holds it)"),
    limit_parameter("assets"),
]


class AssetGrid(APIView):
    """``GET /api/catalogs/{id}/assets``: the grid, filtered and sorted, a page at a time (keyset pagination)."""

    @extend_schema(parameters=GRID_PARAMETERS, responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, catalog_id: int) -> Response:
        catalog = get_object_or_404(Catalog.objects.only("pk"), pk=catalog_id)
        try:
            query = AssetQuery.from_params(request.query_params)
            limit = _limit(request.query_params.get("limit"))
            assets, cursor = query.page(catalog.pk, after=request.query_params.get("after") or None, limit=limit)
        except QueryError as exc:
            raise ValidationError({"query": str(exc)}) from exc
        following = None
        if cursor:
            params = request.query_params.copy()
            params["after"] = cursor
            following = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        return Response({"results": [grid_record(asset) for asset in assets], "next": following})


# The camera's wall clock, as the API takes it: YYYY-MM-DDTHH:MM:SS, each part in its range (the day within its
# month, but for 29 February, which only the calendar check below tells apart).
WALL_CLOCK = (
    r"^[1-9][0-9]{3}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
    r"|02-(?:0[1-9]|1[0-9]|2[0-9]))T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
)


class ManualDate(serializers.Serializer):
    taken_at = serializers.CharField(
        allow_null=True, max_length=19,
        validators=[RegexValidator(WALL_CLOCK, "expected the wall-clock time as YYYY-MM-DDTHH:MM:SS")],
        help_text="the capture date as the camera's wall clock (YYYY-MM-DDTHH:MM:SS, no offset); null goes back to "
        "the date the file and its name give",
    )  # fmt: skip

    def validate_taken_at(self, value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            raise serializers.ValidationError(f"{value[:10]} is not a day of the calendar") from None


class AssetDetail(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, asset_id: int) -> Response:
        return Response(
            asset_detail(get_object_or_404(Asset.objects.select_related("catalog", "paired_with"), pk=asset_id))
        )

    @extend_schema(request=ManualDate, responses=OpenApiTypes.OBJECT)
    def patch(self, request: Request, asset_id: int) -> Response:
        """Set the capture date by hand (source "manual", kept by every later analyze), or clear it."""
        asset = get_object_or_404(Asset, pk=asset_id)
        body = ManualDate(data=request.data)
        body.is_valid(raise_exception=True)
        assets_set_date(assets=Asset.objects.filter(pk=asset.pk), taken_at=body.validated_data["taken_at"])
        return Response(asset_detail(Asset.objects.select_related("catalog", "paired_with").get(pk=asset.pk)))


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
        name = re.sub(r"[^\w.-]+", "_", catalog.name).strip("_") or "catalog"  # a header holds no quote or newline
        response["Content-Disposition"] = f'attachment; filename="{name}-{what}.{fmt}"'
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
        "keywords": list(asset.keywords or []),
        "rating": asset.rating,
        "title": asset.title,
        "description": asset.description,
        "goes_with": [
            {"id": other.pk, "path": other.path, "kind": other.pair_kind or asset.pair_kind}
            for other, _ in asset_partners(asset)
        ],
        "duplicate_groups": sorted(asset.duplicate_memberships.values_list("group_id", flat=True)),
        "thumbnail": reverse("catalog:api-asset-thumbnail", args=[asset.pk]) if asset.sha256 else None,
    }
    return record


class AssetThumbnail(APIView):
    """``GET /api/assets/{id}/thumbnail?size=``: the asset's thumbnail (the largest when no size is given)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("size", int, enum=sorted(settings.VAM_THUMBNAIL_SIZES), description="a size in pixels")
        ],
        responses={(200, "image/webp"): bytes, (200, "image/jpeg"): bytes},
    )
    def get(self, request: Request, asset_id: int) -> HttpResponse | FileResponse:
        asset = get_object_or_404(Asset.objects.select_related("catalog").only("sha256", "catalog__path"), pk=asset_id)
        sizes = sorted(settings.VAM_THUMBNAIL_SIZES, reverse=True)
        wanted = request.query_params.get("size")
        if wanted:
            if not re.fullmatch(r"[0-9]{1,4}", wanted) or int(wanted) not in sizes:
                raise ValidationError({"size": f"choose one of {', '.join(map(str, sorted(sizes)))}"})
            sizes = [int(wanted)]
        for size in sizes:
            for fmt in ("webp", "jpeg"):
                path = thumbnail_path(asset.catalog.thumbnails_dir, size, asset.sha256, fmt)
                if asset.sha256 and path.is_file():
                    return thumbnail_response(request, path, fmt)
        raise NotFound("this asset has no thumbnail of that size")


# Duplicate review ------------------------------------------------------------------------------------------------


def group_summary(group: DuplicateGroup) -> dict[str, Any]:
    primary = group.primary
    return {
        "id": group.pk,
        "kind": group.kind,
        "primary": {"id": primary.pk, "path": primary.path} if primary else None,
        "member_count": group.member_count,
        "redundant_bytes": group.redundant_bytes,
        "reviewed": group.reviewed_at is not None,
        "url": reverse("catalog:api-duplicate", args=[group.pk]),
    }


class DuplicateList(APIView):
    """``GET /api/catalogs/{id}/duplicates``: the groups to review, most space to gain first, a page at a time.

    An exact group whose content is part of a similar group is reviewed through that one, which lists every copy.
    """

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", enum=["", *GroupKind.values]),
            OpenApiParameter(
                "reviewed", enum=["", "0", "1"], description="1: only groups marked reviewed; 0: the others"
            ),
            OpenApiParameter("after", str, description="the cursor of the page to continue from"),
            limit_parameter("groups"),
        ],
        responses=OpenApiTypes.OBJECT,
    )
    def get(self, request: Request, catalog_id: int) -> Response:
        catalog = get_object_or_404(Catalog.objects.only("pk"), pk=catalog_id)
        params = request.query_params
        groups = DuplicateGroup.objects.filter(catalog=catalog, cluster__isnull=True).select_related("primary")
        try:
            kind = params.get("kind") or ""
            if kind and kind not in GroupKind.values:
                raise QueryError("kind: choose exact or similar")
            if kind:
                groups = groups.filter(kind=kind)
            if params.get("reviewed"):
                groups = groups.filter(reviewed_at__isnull=not _flag("reviewed", params["reviewed"]))
            limit = _limit(params.get("limit"))
            if params.get("after"):
                data = decode_cursor(params["after"])
                try:
                    gain, pk = database_int(data["g"]), database_int(data["i"])
                except (KeyError, TypeError, ValueError) as exc:
                    raise QueryError("after: not a cursor this list gave") from exc
                groups = groups.filter(keyset_after(DuplicateGroup, "redundant_bytes", True, gain, pk))
        except QueryError as exc:
            raise ValidationError({"query": str(exc)}) from exc
        rows = list(groups.order_by("-redundant_bytes", "-id")[: limit + 1])
        following = None
        if len(rows) > limit:
            query = params.copy()
            query["after"] = encode_cursor({"g": rows[limit - 1].redundant_bytes, "i": rows[limit - 1].pk})
            following = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
        return Response({"results": [group_summary(group) for group in rows[:limit]], "next": following})


def _flag(name: str, text: str) -> bool:
    if text not in ("0", "1"):
        raise QueryError(f"{name}: expected 1 or 0, got {text!r}")
    return text == "1"


def _limit(text: str | None) -> int:
    text = text or str(PAGE_SIZE)
    if not re.fullmatch(r"[0-9]{1,4}", text) or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise QueryError(f"limit: a number from 1 to {MAX_PAGE_SIZE}, got {text!r}")
    return int(text)


def group_detail(group: DuplicateGroup) -> dict[str, Any]:
    """A group side by side: every member with what a user compares (size, format, resolution, date, path),
    its distance to the primary and its quality score."""
    members = group.members.select_related("asset").order_by("distance", "-quality_score", "asset__path")
    return group_summary(group) | {
        "members": [
            {
                "asset": member.asset_id,
                "path": member.asset.path,
                "size": member.asset.size,
                "format": member.asset.format,
                "width": member.asset.width,
                "height": member.asset.height,
                "taken_at": member.asset.taken_at.replace(tzinfo=None).isoformat() if member.asset.taken_at else None,
                "sha256": member.asset.sha256,
                "distance": member.distance,
                "phash_distance": member.phash_distance,
                "quality_score": member.quality_score,
                "edit": member.edit,
                "turn": member.turn,
                "primary": member.asset_id == group.primary_id,
                "thumbnail": reverse("catalog:api-asset-thumbnail", args=[member.asset_id]),
            }
            for member in members
        ]
    }


class DuplicateDetail(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, group_id: int) -> Response:
        return Response(group_detail(get_object_or_404(DuplicateGroup.objects.select_related("primary"), pk=group_id)))


class MemberChoice(serializers.Serializer):
    asset = serializers.IntegerField(min_value=1, max_value=2**63 - 1, help_text="the id of a member asset")


class NotDuplicatesChoice(serializers.Serializer):
    asset = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1,
        help_text="a member that is not the same picture as the primary; leave out for the group",
    )  # fmt: skip


class Reviewed(serializers.Serializer):
    reviewed = serializers.BooleanField(default=True)


def _group_and_member(group_id: int, asset_id: int | None) -> tuple[DuplicateGroup, DuplicateMember | None]:
    group = get_object_or_404(DuplicateGroup.objects.select_related("primary", "catalog"), pk=group_id)
    if asset_id is None:
        return group, None
    member = group.members.select_related("asset").filter(asset_id=asset_id).first()
    if member is None:
        raise ValidationError({"asset": f"asset {asset_id} is not a member of group {group.pk}"})
    return group, member


class DuplicatePrimary(APIView):
    """``POST /api/duplicates/{id}/primary`` ``{"asset": id}``: keep this copy; later runs keep the choice."""

    @extend_schema(request=MemberChoice, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, group_id: int) -> Response:
        body = MemberChoice(data=request.data)
        body.is_valid(raise_exception=True)
        group, member = _group_and_member(group_id, body.validated_data["asset"])
        assert member is not None
        return Response(group_detail(group_set_primary(group=group, asset=member.asset)))


class DuplicateNotDuplicates(APIView):
    """``POST /api/duplicates/{id}/not-duplicates``: this member (``{"asset": id}``) or the whole similar group is
    not the same picture; the pairs are remembered and never grouped again."""

    @extend_schema(request=NotDuplicatesChoice, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, group_id: int) -> Response:
        body = NotDuplicatesChoice(data=request.data)
        body.is_valid(raise_exception=True)
        group, member = _group_and_member(group_id, body.validated_data.get("asset"))
        try:
            if member is None:
                marked = group_dismiss(group=group)
                return Response({"group": None, "pairs_marked": marked})
            member_dismiss(member=member)
        except DuplicatesError as exc:
            raise ValidationError({"asset": str(exc)}) from exc
        left = DuplicateGroup.objects.filter(pk=group.pk).select_related("primary").first()
        return Response({"group": group_detail(left) if left else None})


class DuplicateReviewed(APIView):
    """``POST /api/duplicates/{id}/reviewed`` ``{"reviewed": true|false}``."""

    @extend_schema(request=Reviewed, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, group_id: int) -> Response:
        body = Reviewed(data=request.data)
        body.is_valid(raise_exception=True)
        group = get_object_or_404(DuplicateGroup.objects.select_related("primary"), pk=group_id)
        return Response(group_summary(group_mark_reviewed(group=group, reviewed=body.validated_data["reviewed"])))
