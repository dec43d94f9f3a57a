"""The jobs REST API of DESIGN.md: submit analyze / organize / thumbnails, read, list and cancel jobs.

Every input is validated before anything is queued: bad JSON, wrong types, unknown catalogs and paths outside
``VAM_LIBRARY_ROOTS`` answer 400 with a JSON ``error`` that says what is wrong; unknown job ids answer 404.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models, transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from catalog.permissions import again_refusal, refuse_unless
from catalog.selectors import catalog_by_path
from jobs.models import Job, JobKind, Webhook, WebhookDelivery
from jobs.notify import UrlRefused, check_url, resume
from jobs.requests import AnalyzeRequest, OrganizeRequest, ThumbnailsRequest, error_lines
from jobs.selectors import job_list_visible, job_status, job_visible_for
from jobs.services import job_cancel, job_start
from jobs.views import plan_response


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


# Webhooks ------------------------------------------------------------------------------------------------------


class StrictBoolean(serializers.BooleanField):
    """JSON's true or false only (DRF also takes 0, 1, "yes", "off" …, which a schema-driven client never sends)."""

    default_error_messages = {"invalid": "must be true or false"}

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid")


class WebhookSerializer(serializers.ModelSerializer):
    """A hook of the user's. ``secret`` signs each POST (``X-VAM-Signature-256``); ``all_jobs`` and
    ``allow_loopback`` are for staff only."""

    serializer_field_mapping = serializers.ModelSerializer.serializer_field_mapping | {
        models.BooleanField: StrictBoolean
    }

    class Meta:
        model = Webhook
        fields = ["id", "url", "secret", "all_jobs", "allow_loopback", "active", "paused_at", "failures", "created_at"]
        read_only_fields = ["id", "secret", "paused_at", "failures", "created_at"]

    def validate(self, attrs: dict) -> dict:
        user = self.context["user"]
        current = self.instance
        for name in ("all_jobs", "allow_loopback"):
            if attrs.get(name) and not user.is_staff:
                raise serializers.ValidationError({name: "only staff can set this"})
        url = attrs.get("url", current.url if current else "")
        allow = attrs.get("allow_loopback", current.allow_loopback if current else False)
        try:
            check_url(url, allow, resolve=False)
        except UrlRefused as exc:
            raise serializers.ValidationError({"url": str(exc)}) from None
        return attrs


class WebhookChange(serializers.Serializer):
    """What a ``PATCH`` may change (at least one of them); the same rules as a new hook's."""

    url = serializers.URLField(max_length=2000, required=False)
    active = StrictBoolean(required=False)
    all_jobs = StrictBoolean(required=False)
    allow_loopback = StrictBoolean(required=False)


class DeliverySerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = ["id", "job", "status", "attempts", "response_code", "last_error", "next_attempt_at", "created_at",
                  "delivered_at", "payload"]  # fmt: skip


def _own_hook(request: Request, hook_id: int) -> Webhook:
    hook = Webhook.objects.filter(pk=hook_id, owner=request.user).first()
    if hook is None:
        raise NotFound(f"no webhook {hook_id}")
    return hook


class WebhookList(APIView):
    """``GET /api/webhooks``: the user's hooks; ``POST``: a new one (its secret is in the answer)."""

    @extend_schema(responses=WebhookSerializer(many=True))
    def get(self, request: Request) -> Response:
        hooks = Webhook.objects.filter(owner=request.user)
        return Response(WebhookSerializer(hooks, many=True, context={"user": request.user}).data)

    @extend_schema(request=WebhookSerializer, responses={201: WebhookSerializer})
    def post(self, request: Request) -> Response:
        data = WebhookSerializer(data=request.data, context={"user": request.user})
        data.is_valid(raise_exception=True)
        hook = data.save(owner=request.user)
        return Response(WebhookSerializer(hook, context={"user": request.user}).data, status=status.HTTP_201_CREATED)


class WebhookDetail(APIView):
    """``GET``, ``PATCH`` (``url``, ``active``, and for staff ``all_jobs``, ``allow_loopback``), ``DELETE``."""

    @extend_schema(responses=WebhookSerializer)
    def get(self, request: Request, hook_id: int) -> Response:
        return Response(WebhookSerializer(_own_hook(request, hook_id), context={"user": request.user}).data)

    @extend_schema(request=WebhookChange, responses=WebhookSerializer)
    def patch(self, request: Request, hook_id: int) -> Response:
        hook = _own_hook(request, hook_id)
        if not request.data:
            raise serializers.ValidationError(
                {"error": "give the fields to change: url, active, all_jobs, allow_loopback"}
            )
        data = WebhookSerializer(hook, data=request.data, partial=True, context={"user": request.user})
        data.is_valid(raise_exception=True)
        return Response(WebhookSerializer(data.save(), context={"user": request.user}).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, hook_id: int) -> Response:
        _own_hook(request, hook_id).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookResume(APIView):
    """``POST /api/webhooks/{id}/resume``: a paused hook delivers again (what it missed is not sent again)."""

    @extend_schema(request=None, responses=WebhookSerializer)
    def post(self, request: Request, hook_id: int) -> Response:
        hook = _own_hook(request, hook_id)
        resume(hook)
        hook.refresh_from_db()
        return Response(WebhookSerializer(hook, context={"user": request.user}).data)


class WebhookDeliveries(APIView):
    """``GET /api/webhooks/{id}/deliveries``: the hook's last 50 deliveries, newest first."""

    @extend_schema(responses=DeliverySerializer(many=True))
    def get(self, request: Request, hook_id: int) -> Response:
        deliveries = _own_hook(request, hook_id).deliveries.all()[:50]
        return Response(DeliverySerializer(deliveries, many=True).data)
