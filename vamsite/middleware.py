"""A page that says what is wrong when Redis, which queues and pushes need, cannot be reached (never a 500)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError


class RedisUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, RedisConnectionError | RedisTimeoutError):
            return None
        return redis_unavailable(request, reason=str(exception))


def redis_unavailable(request: HttpRequest, reason: str = "") -> HttpResponse:
    """503: the queues need Redis, and there is none (the embedded default), or it does not answer."""
    response = TemplateResponse(
        request, "queues_unavailable.html", {"redis_url": settings.REDIS_URL, "reason": reason}, status=503
    )
    return response.render()
