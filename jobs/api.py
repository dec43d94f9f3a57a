"""The jobs REST API of DESIGN.md: submit analyze / organize / thumbnails, read, list and cancel jobs.

Every input is validated before anything is queued: bad JSON, wrong types, unknown catalogs and paths outside
``VAM_LIBRARY_ROOTS`` answer 400 with a JSON ``error`` that says what is wrong; unknown job ids answer 404.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from catalog.media.paths import is_inside, really_inside_any
from catalog.selectors import catalog_by_path
from catalog.similarity.grouping import MAX_THRESHOLD
from jobs.models import Job, JobKind
from jobs.selectors import job_list_visible, job_status, job_visible_for
from jobs.services import job_cancel, job_start


def inside_roots(path: str) -> bool:
    return really_inside_any(path, settings.VAM_LIBRARY_ROOTS)


def library_folder(path: str) -> str:
    """A folder that exists inside the library roots, as a real absolute path; ValidationError otherwise."""
    if "\x00" in path:
        raise serializers.ValidationError("a path cannot contain NUL")
    if not settings.VAM_LIBRARY_ROOTS:
        raise serializers.ValidationError("no library roots are configured (VAM_LIBRARY_ROOTS): paths are refused")
    if not os.path.isabs(path):
        raise serializers.ValidationError(f"{path!r} is not an absolute path")
    if not inside_roots(path):
        raise serializers.ValidationError(f"{path} is outside the library roots")
    if not os.path.isdir(path):
        raise serializers.ValidationError(f"{path} is not an existing folder")
    return os.path.realpath(path)


def new_catalog_path(path: str) -> str:
    """Where a catalog may live: a known catalog, or a folder inside the data folder or the library roots."""
    if "\x00" in path or not os.path.isabs(path):
        raise serializers.ValidationError(f"{path!r} is not an absolute path")
    if catalog_by_path(path) is not None:
        return str(Path(path).resolve())
    data_root = str(settings.VAM_DATA_DIR)
    real = os.path.realpath(path)
    if not (inside_roots(path) or is_inside(real, data_root)):
        raise serializers.ValidationError(f"{path} is not a known catalog, nor inside the data folder or library roots")
    return real


def known_catalog(path: str) -> str:
    catalog = catalog_by_path(path) if "\x00" not in path else None
    if catalog is None:
        raise serializers.ValidationError(f"no catalog at {path}: analyze it first")
    return catalog.path


class AnalyzeRequest(serializers.Serializer):
    catalog_path = serializers.CharField(max_length=1024)
    source_directories = serializers.ListField(
        child=serializers.CharField(max_length=4096), min_length=1, max_length=64
    )
    detect_duplicates = serializers.BooleanField(default=True)
    similarity_threshold = serializers.IntegerField(
        min_value=0, max_value=MAX_THRESHOLD, required=False, allow_null=True, default=None
    )
    workers = serializers.IntegerField(min_value=1, max_value=64, required=False, allow_null=True, default=None)

    def validate_catalog_path(self, value: str) -> str:
        return new_catalog_path(value)

    def validate_source_directories(self, value: list[str]) -> list[str]:
        return sorted({library_folder(path) for path in value})


class ThumbnailsRequest(serializers.Serializer):
    catalog_path = serializers.CharField(max_length=1024)
    sizes = serializers.ListField(
        child=serializers.IntegerField(min_value=16, max_value=4096), min_length=1, max_length=8, required=False
    )
    quality = serializers.IntegerField(min_value=1, max_value=100, default=80)
    force = serializers.BooleanField(default=False)

    def validate_catalog_path(self, value: str) -> str:
        return known_catalog(value)


class OrganizeRequest(serializers.Serializer):
    catalog_path = serializers.CharField(max_length=1024)
    output_directory = serializers.CharField(max_length=4096)
    operation = serializers.ChoiceField(["copy", "move", "hardlink"], default="copy")
    directory_structure = serializers.ChoiceField(
        ["YYYY/MM", "YYYY-MM", "YYYY/MM-DD", "YYYY-MM-DD", "YYYY", "FLAT"], default="YYYY/MM"
    )
    naming_strategy = serializers.ChoiceField(
        ["date_time_checksum", "date_time_original", "original", "checksum"], default="date_time_checksum"
    )
    dry_run = serializers.BooleanField(default=False)
    verify_checksums = serializers.BooleanField(default=True)
    skip_duplicates = serializers.BooleanField(default=False)
    only_redundant = serializers.BooleanField(
        default=False, help_text="only the copies other than the primary of each exact duplicate group"
    )
    undated_folder = serializers.CharField(
        max_length=255, allow_null=True, default="undated",
        help_text="folder (in the output) for files without a reliable date; null leaves them out",
    )  # fmt: skip

    def validate_catalog_path(self, value: str) -> str:
        return known_catalog(value)

    def validate_output_directory(self, value: str) -> str:
        if "\x00" in value or not os.path.isabs(value) or not inside_roots(value):
            raise serializers.ValidationError(f"{value} is outside the library roots")
        return os.path.realpath(value)

    def validate(self, attrs: dict) -> dict:
        """The refusals of organize itself: output inside a source, a move on a catalog never analyzed, …"""
        from catalog.services.organize import OrganizeError, OrganizeOptions, organize_check

        catalog = catalog_by_path(attrs["catalog_path"])
        assert catalog is not None  # validate_catalog_path made sure
        options = OrganizeOptions.from_params(attrs)
        options.roots = list(settings.VAM_LIBRARY_ROOTS)
        try:
            attrs["output_directory"] = organize_check(catalog, options)
        except OrganizeError as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return attrs


class JobAccepted(serializers.Serializer):
    job_id = serializers.UUIDField()
    status = serializers.CharField()
    message = serializers.CharField()


class JobStatusSerializer(serializers.Serializer):
    job_id = serializers.UUIDField()
    kind = serializers.ChoiceField(JobKind.choices)
    status = serializers.CharField()
    phase = serializers.CharField()
    current = serializers.IntegerField()
    total = serializers.IntegerField(allow_null=True)
    percent = serializers.FloatField(allow_null=True)
    message = serializers.CharField()
    eta_seconds = serializers.FloatField(allow_null=True)
    result = serializers.JSONField(allow_null=True)
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)


class _Submit(APIView):
    kind: str
    request_serializer: type[serializers.Serializer]

    def post(self, request: Request) -> Response:
        data = self.request_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            job = job_start(kind=self.kind, params=dict(data.validated_data), user=request.user)
        message = f"{self.kind} job submitted"
        return Response({"job_id": str(job.pk), "status": job.status, "message": message}, status.HTTP_202_ACCEPTED)


class AnalyzeSubmit(_Submit):
    kind, request_serializer = JobKind.ANALYZE, AnalyzeRequest

    @extend_schema(request=AnalyzeRequest, responses={202: JobAccepted})
    def post(self, request: Request) -> Response:
        return super().post(request)


class ThumbnailsSubmit(_Submit):
    kind, request_serializer = JobKind.THUMBNAILS, ThumbnailsRequest

    @extend_schema(request=ThumbnailsRequest, responses={202: JobAccepted})
    def post(self, request: Request) -> Response:
        return super().post(request)


class OrganizeSubmit(_Submit):
    kind, request_serializer = JobKind.ORGANIZE, OrganizeRequest

    @extend_schema(request=OrganizeRequest, responses={202: JobAccepted})
    def post(self, request: Request) -> Response:
        return super().post(request)


def _organize_journal(request: Request, job_id: str) -> Job:
    from catalog.services.organize import journal_of

    job = _visible_job(request, job_id)
    if job.kind != JobKind.ORGANIZE:
        raise NotFound(f"job {job_id} is not an organize job")
    journal = journal_of(job)
    if not journal.organize_steps.exists():
        raise NotFound(f"job {job_id} has no organize plan")
    return journal


class OrganizeAgain(APIView):
    """``POST /api/jobs/{id}/resume`` and ``/rollback``: a new organize job that finishes or undoes that one."""

    action = ""

    @extend_schema(request=None, responses={202: JobAccepted})
    def post(self, request: Request, job_id: str) -> Response:
        from catalog.services.organize import web_may_touch

        journal = _organize_journal(request, job_id)
        refused = web_may_touch(journal, list(settings.VAM_LIBRARY_ROOTS))
        if refused:
            raise serializers.ValidationError({"job": refused})
        if self.action == "resume" and journal.params.get("dry_run"):
            raise serializers.ValidationError({"job": f"job {journal.pk} was a dry run: there is nothing to resume"})
        with transaction.atomic():
            job = job_start(
                kind=JobKind.ORGANIZE, params={self.action: str(journal.pk)}, user=request.user, catalog=journal.catalog
            )
        message = f"{self.action} of organize job {journal.pk} submitted"
        return Response({"job_id": str(job.pk), "status": job.status, "message": message}, status.HTTP_202_ACCEPTED)


class OrganizePlan(APIView):
    """``GET /api/jobs/{id}/plan?format=json|csv&state=…``: the plan and journal of an organize job, streamed."""

    @extend_schema(responses={(200, "application/json"): dict, (200, "text/csv"): str})
    def get(self, request: Request, job_id: str):
        from jobs.pages import plan_response

        journal = _organize_journal(request, job_id)
        fmt, state = request.query_params.get("format", "json"), request.query_params.get("state") or None
        return plan_response(journal, fmt, state)


def _visible_job(request: Request, job_id: str) -> Job:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        raise NotFound(f"no job {job_id}") from None
    job = job_visible_for(request.user).filter(pk=key).first()
    if job is None:
        raise NotFound(f"no job {job_id}")
    return job


class JobDetail(APIView):
    @extend_schema(responses=JobStatusSerializer)
    def get(self, request: Request, job_id: str) -> Response:
        return Response(job_status(_visible_job(request, job_id)))

    @extend_schema(responses=JobStatusSerializer)
    def delete(self, request: Request, job_id: str) -> Response:
        return Response(job_status(job_cancel(job=_visible_job(request, job_id))))


class JobPages(PageNumberPagination):
    page_size = 25
    page_size_query_param = "page_size"
    max_page_size = 200


class JobList(APIView):
    @extend_schema(responses=JobStatusSerializer(many=True))
    def get(self, request: Request) -> Response:
        history = request.query_params.get("status") == "all"
        paginator = JobPages()
        page = paginator.paginate_queryset(job_list_visible(request.user, history=history), request, view=self)
        return paginator.get_paginated_response([job_status(job) for job in page or []])


def api_exception_handler(exc, context) -> Response | None:
    """DRF's errors with a one-line ``error`` message in front: `field: what is wrong`."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    if isinstance(data, dict) and "detail" in data and len(data) == 1:
        body = {"error": str(data["detail"])}
    else:
        body = {"error": "invalid request: " + "; ".join(_flatten(data)), "fields": data}
    response.data = body
    return response


def _flatten(errors, prefix: str = "") -> list[str]:
    if isinstance(errors, dict):
        return [line for key, value in errors.items() for line in _flatten(value, f"{prefix}{key}: ")]
    if isinstance(errors, list):
        return [line for value in errors for line in _flatten(value, prefix)]
    return [f"{prefix}{errors}"]
