"""The jobs REST API of DESIGN.md: submit analyze / organize / thumbnails, read, list and cancel jobs.

Every input is validated before anything is queued: bad JSON, wrong types, unknown catalogs and paths outside
``VAM_LIBRARY_ROOTS`` answer 400 with a JSON ``error`` that says what is wrong; unknown job ids answer 404.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView, exception_handler

from catalog.models import Operation
from catalog.permissions import again_refusal, analyze_refusal, organize_refusal, refuse_unless
from catalog.selectors import catalog_by_path
from catalog.services import organize
from catalog.similarity.grouping import MAX_THRESHOLD
from catalog.validators import REFUSED, known_catalog, library_folder, new_catalog_path, output_folder, refuse
from jobs.models import Job, JobKind
from jobs.selectors import job_list_visible, job_status, job_visible_for
from jobs.services import job_cancel, job_start


def _text(required: str, max_length: int) -> dict[str, str]:
    """Plain-word messages of a text field; ``required`` says what to give."""
    return {"required": required, "blank": required, "null": required, "invalid": "must be text",
            "max_length": f"is too long (at most {max_length} characters)"}  # fmt: skip


def _number(low: int, high: int, each: str = "") -> dict[str, str]:
    """Plain-word messages of a whole-number field with its bounds (``each``: "each size " in a list)."""
    between = f"{each}must be between {low} and {high}"
    return {"invalid": f"{each}must be a whole number", "min_value": between, "max_value": between,
            "max_string_length": between, "null": f"{each}must be a whole number"}  # fmt: skip


def _choice(choices: list[str]) -> dict[str, str]:
    return dict.fromkeys(("invalid_choice", "null"), f"must be one of {', '.join(choices)}")


FLAG = {"invalid": "must be true or false", "null": "must be true or false"}
# The organize service's own choices, as lists for the serializers and the forms.
STRUCTURES, NAMINGS, OPERATIONS = list(organize.STRUCTURES), list(organize.NAMINGS), list(organize.OPERATIONS)
MAX_SOURCES, MAX_SIZES = 64, 8


class _Request(serializers.Serializer):
    """A request whose every message is plain words: the API's ``error`` and the jobs forms show them as they are.
    Its context holds the ``user`` asking: what they may not do (``catalog.permissions``) raises PermissionDenied,
    once the fields are valid."""

    default_error_messages = {"invalid": "the request must be a JSON object, not {datatype}"}

    @property
    def user(self):
        return self.context["user"]


class AnalyzeRequest(_Request):
    catalog_path = serializers.CharField(max_length=1024, error_messages=_text("give the catalog folder", 1024))
    source_directories = serializers.ListField(
        child=serializers.CharField(max_length=4096, error_messages=_text("give each source folder", 4096)),
        min_length=1, max_length=MAX_SOURCES,
        error_messages={"required": "give at least one source folder", "null": "give at least one source folder",
                        "empty": "give at least one source folder", "min_length": "give at least one source folder",
                        "max_length": f"give at most {MAX_SOURCES} source folders",
                        "not_a_list": "must be a list of folders"},
    )  # fmt: skip
    detect_duplicates = serializers.BooleanField(default=True, error_messages=FLAG)
    similarity_threshold = serializers.IntegerField(
        min_value=0, max_value=MAX_THRESHOLD, required=False, allow_null=True, default=None,
        error_messages=_number(0, MAX_THRESHOLD),
    )  # fmt: skip
    workers = serializers.IntegerField(
        min_value=1, max_value=64, required=False, allow_null=True, default=None, error_messages=_number(1, 64)
    )

    def validate_catalog_path(self, value: str) -> str:
        return new_catalog_path(value)

    def validate_source_directories(self, value: list[str]) -> list[str]:
        """Every refused folder is told, not only the first."""
        folders, refused = set(), []
        for path in value:
            try:
                folders.add(library_folder(path))
            except serializers.ValidationError as exc:
                refused += exc.detail
        if refused:
            raise serializers.ValidationError(refused, code=REFUSED)
        return sorted(folders)

    def validate(self, attrs: dict) -> dict:
        catalog = catalog_by_path(attrs["catalog_path"])
        field = "catalog_path" if catalog is None else "source_directories"
        refuse_unless(analyze_refusal(self.user, catalog, attrs["source_directories"]), field)
        return attrs


class ThumbnailsRequest(_Request):
    catalog_path = serializers.CharField(max_length=1024, error_messages=_text("choose a catalog", 1024))
    sizes = serializers.ListField(
        child=serializers.IntegerField(min_value=16, max_value=4096, error_messages=_number(16, 4096, "each size ")),
        min_length=1, max_length=MAX_SIZES, required=False,
        error_messages={"null": "give at least one size", "empty": "give at least one size",
                        "min_length": "give at least one size", "max_length": f"give at most {MAX_SIZES} sizes",
                        "not_a_list": "must be a list of sizes in pixels"},
    )  # fmt: skip
    quality = serializers.IntegerField(min_value=1, max_value=100, default=80, error_messages=_number(1, 100))
    force = serializers.BooleanField(default=False, error_messages=FLAG)

    def validate_catalog_path(self, value: str) -> str:
        return known_catalog(value)


# Which field a refusal of organize_check is about, by what its message speaks of (the first that matches).
ORGANIZE_REFUSALS = (("undated folder", "undated_folder"), ("output", "output_directory"))


class OrganizeRequest(_Request):
    catalog_path = serializers.CharField(max_length=1024, error_messages=_text("choose a catalog", 1024))
    output_directory = serializers.CharField(max_length=4096, error_messages=_text("give the output folder", 4096))
    operation = serializers.ChoiceField(OPERATIONS, default="copy", error_messages=_choice(OPERATIONS))
    directory_structure = serializers.ChoiceField(STRUCTURES, default="YYYY/MM", error_messages=_choice(STRUCTURES))
    naming_strategy = serializers.ChoiceField(NAMINGS, default="date_time_checksum", error_messages=_choice(NAMINGS))
    dry_run = serializers.BooleanField(default=False, error_messages=FLAG)
    verify_checksums = serializers.BooleanField(default=True, error_messages=FLAG)
    skip_duplicates = serializers.BooleanField(default=False, error_messages=FLAG)
    only_redundant = serializers.BooleanField(
        default=False, error_messages=FLAG,
        help_text="only the copies other than the primary of each exact duplicate group",
    )  # fmt: skip
    undated_folder = serializers.CharField(
        max_length=255, allow_null=True, default="undated",
        error_messages=_text("give a folder name for undated files", 255),
        help_text="folder (in the output) for files without a reliable date; null leaves them out",
    )  # fmt: skip
    exclude_output = serializers.BooleanField(
        default=False, error_messages=FLAG,
        help_text="an output inside a source folder is left out of the catalog's later scans instead of refused",
    )  # fmt: skip

    def validate_catalog_path(self, value: str) -> str:
        return known_catalog(value)

    def validate_output_directory(self, value: str) -> str:
        return output_folder(value)

    def validate_undated_folder(self, value: str | None) -> str | None:
        if value is not None and ("/" in value or value in (".", "..")):
            refuse("must be a plain folder name, without /")
        return value

    def validate(self, attrs: dict) -> dict:
        """The refusals of organize itself (output inside a source, a move on a catalog never analyzed, …), under
        the field they are about, else for the request as a whole."""
        from catalog.services.organize import OrganizeError, OrganizeOptions, organize_check

        catalog = catalog_by_path(attrs["catalog_path"])
        assert catalog is not None  # validate_catalog_path made sure
        refusal = organize_refusal(self.user, catalog, operation=attrs["operation"], dry_run=attrs["dry_run"],
                                   exclude_output=attrs["exclude_output"])  # fmt: skip
        refuse_unless(refusal, "operation" if attrs["operation"] == Operation.MOVE else "exclude_output")
        options = OrganizeOptions.from_params(attrs)
        options.roots = list(settings.VAM_LIBRARY_ROOTS)
        try:
            attrs["output_directory"] = organize_check(catalog, options)
        except OrganizeError as exc:
            message = str(exc)
            field = next((name for words, name in ORGANIZE_REFUSALS if words in message), None)
            raise serializers.ValidationError({field: message} if field else message, code=REFUSED) from exc
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
        data = self.request_serializer(data=request.data, context={"user": request.user})
        data.is_valid(raise_exception=True)
        params = dict(data.validated_data)
        with transaction.atomic():
            catalog = catalog_by_path(params["catalog_path"])
            job = job_start(kind=self.kind, params=params, user=request.user, catalog=catalog)
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
        refuse_unless(again_refusal(request.user, journal, self.action))
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

    def get_page_size(self, request: Request) -> int:
        """A page size that is not a number from 1 up is refused, not silently replaced by the default."""
        text = request.query_params.get(self.page_size_query_param, "")
        if text and not (text.isascii() and text.isdigit() and 1 <= int(text) <= self.max_page_size):
            raise serializers.ValidationError({"page_size": f"must be a whole number from 1 to {self.max_page_size}"})
        return super().get_page_size(request) or self.page_size

    def get_schema_operation_parameters(self, view) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] |= {"minimum": 1, "maximum": self.max_page_size}
            if parameter["name"] == self.page_query_param:
                parameter["schema"] |= {"minimum": 1}
        return parameters


class JobList(APIView):
    """``GET /api/jobs``: the active jobs, newest first (``?status=all``: every job), a page at a time."""

    pagination_class = JobPages

    @extend_schema(
        parameters=[OpenApiParameter("status", enum=["", "all"], description="all: every job, not only active ones")],
        responses=JobStatusSerializer(many=True),
    )
    def get(self, request: Request) -> Response:
        status_filter = request.query_params.get("status", "")
        if status_filter not in ("", "all"):
            raise serializers.ValidationError({"status": "give all for every job, or leave it out for the active ones"})
        history = status_filter == "all"
        paginator = self.pagination_class()
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
        body = {"error": "invalid request: " + "; ".join(error_lines(data)), "fields": data}
    response.data = body
    return response


def error_lines(errors, prefix: str = "") -> list[str]:
    """Validation errors as lines of words, each once: `field: message`. The entries of a list field (keyed by
    their index) and the errors of no field take no prefix of their own."""
    if isinstance(errors, dict):
        lines = [
            line
            for key, value in errors.items()
            for line in error_lines(value, prefix if _unnamed(key) else f"{prefix}{key}: ")
        ]
    elif isinstance(errors, list):
        lines = [line for value in errors for line in error_lines(value, prefix)]
    else:
        lines = [f"{prefix}{errors}"]
    return list(dict.fromkeys(lines))


def _unnamed(key) -> bool:
    return isinstance(key, int) or str(key).isdigit() or key == api_settings.NON_FIELD_ERRORS_KEY
