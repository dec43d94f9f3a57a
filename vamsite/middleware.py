"""Site-wide answers: the security headers of every response, and a page that says what is wrong when Redis,
which queues and pushes need, cannot be reached (never a 500)."""

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


# Everything the pages use comes from the server itself: no inline script or style, no frames, no plugins.
# Thumbnails and previews are images of the server; data: covers the admin's and the browser's own icons.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "media-src 'self'",
    "connect-src 'self'", "font-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'",
])  # fmt: skip
# django-rq's staff-only queue pages carry inline scripts of their own: there, and only there, inline code runs.
THIRD_PARTY_INLINE = ("/django-rq/",)
RELAXED_POLICY = CONTENT_SECURITY_POLICY.replace(
    "script-src 'self'", "script-src 'self' 'unsafe-inline'").replace(
    "style-src 'self'", "style-src 'self' 'unsafe-inline'")  # fmt: skip
PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()" for feature in ("camera", "microphone", "geolocation", "payment", "usb", "display-capture")
)


class SecurityHeadersMiddleware:
    """A Content-Security-Policy and a Permissions-Policy on every answer; a view that sets its own policy (the
    original-file view's sandbox) keeps it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        relaxed = request.path.startswith(THIRD_PARTY_INLINE)
        response.headers.setdefault("Content-Security-Policy", RELAXED_POLICY if relaxed else CONTENT_SECURITY_POLICY)
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response
