"""Server-Sent Events: ``GET /api/jobs/<id>/stream`` sends one ``progress`` event per change and closes at a final
state. The view is async and waits on the channel layer, so under daphne a client holds no thread. Also the plan
download that the API and the job page share."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.http import Http404, HttpRequest, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.views.decorators.http import require_GET
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.settings import api_settings

from jobs.models import FINAL_STATUSES
from jobs.reporter import job_group
from jobs.selectors import job_status, job_visible_for

KEEPALIVE_SECONDS = 15.0  # also how often the row is re-read, in case an event was lost


@require_GET
async def job_stream(request: HttpRequest, job_id: str) -> HttpResponseBase:
    """The stream takes the API's own logins: the session cookie or ``Authorization: Token …``."""
    user = await _api_user(request)
    if isinstance(user, APIException):
        return JsonResponse({"error": str(user.detail)}, status=user.status_code, headers=_challenge(user))
    if not user.is_authenticated:
        return JsonResponse(
            {"error": "Authentication credentials were not provided."},
            status=401,
            headers={"WWW-Authenticate": "Token"},
        )
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return JsonResponse({"error": f"no job {job_id}"}, status=404)
    if not await database_sync_to_async(job_visible_for(user).filter(pk=key).exists)():
        return JsonResponse({"error": f"no job {job_id}"}, status=404)
    response = StreamingHttpResponse(_events(key), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # proxies must not buffer the stream
    return response


@database_sync_to_async
def _api_user(request: HttpRequest):
    """The user the REST API's authenticators find (a wrong token is refused as the API refuses it)."""
    api_request = Request(request, authenticators=[auth() for auth in api_settings.DEFAULT_AUTHENTICATION_CLASSES])
    try:
        return api_request.user
    except APIException as exc:
        return exc


def _challenge(exc: APIException) -> dict[str, str]:
    return {"WWW-Authenticate": "Token"} if exc.status_code == 401 else {}


async def _events(job_id: uuid.UUID) -> AsyncIterator[str]:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(job_group(job_id), channel)
    try:
        last = None
        status = await _status(job_id)  # after joining the group: nothing falls in between
        while True:
            if status != last:
                yield f"event: progress\ndata: {json.dumps(status)}\n\n"
                last = status
            if status["status"] in FINAL_STATUSES:
                return
            try:
                message = await asyncio.wait_for(layer.receive(channel), timeout=KEEPALIVE_SECONDS)
                status = message["job"]
            except TimeoutError:
                yield ": keepalive\n\n"
                status = await _status(job_id)
    finally:
        await layer.group_discard(job_group(job_id), channel)


@database_sync_to_async
def _status(job_id: uuid.UUID) -> dict:
    from jobs.models import Job

    return job_status(Job.objects.get(pk=job_id))


def plan_response(journal, fmt: str, state: str | None) -> StreamingHttpResponse:
    """An organize plan as a streamed download (json or csv); 404 for another format."""
    from catalog.services.exports import plan_chunks

    if fmt not in ("json", "csv"):
        raise Http404(f"no plan format {fmt}: choose json or csv")
    content_type = "application/json" if fmt == "json" else "text/csv; charset=utf-8"
    response = StreamingHttpResponse(plan_chunks(journal=journal, fmt=fmt, state=state), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="organize-{journal.pk}.{fmt}"'
    return response
