"""Log-in lockout (django-axes): after ``VAM_LOGIN_FAILURE_LIMIT`` wrong passwords for one user name from one
address, that name is refused from that address for ``VAM_LOGIN_LOCKOUT_MINUTES``, on the log-in page and the
admin's alike, even with the right password. Wrong API tokens from one address count the same way, under the
name ``TOKEN_USERNAME``, so token guessing is refused too. The failures are rows in the database (both backends);
``manage.py axes_reset`` (or the admin's Access attempts) lifts a lockout at once.

A locked-out page answers 429 with the wait in words, an API request 429 with ``{"error": …}`` and
``Retry-After``."""

from __future__ import annotations

import math
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication, get_authorization_header

# Not a possible user name (Django's allow no spaces or brackets): wrong tokens from an address add up here.
TOKEN_USERNAME = "(API token)"


class LockoutBackend(AxesStandaloneBackend):
    """Axes' check before every password check of a web log-in. A log-in from code (the shell, a test client's
    ``login()``) carries no request and no address to count by: it goes on to the password check unhindered."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_wait(request: HttpRequest, credentials: dict | None) -> timedelta:
    """How long until the locked-out name (or token) may try again from this address: the lockout time counted
    from its latest failure, at least a minute."""
    cool_off = get_cool_off(request) or timedelta(minutes=settings.VAM_LOGIN_LOCKOUT_MINUTES)
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    latest = max((attempt.attempt_time for queryset in attempts for attempt in queryset), default=timezone.now())
    return max(latest + cool_off - timezone.now(), timedelta(minutes=1))


def in_words(wait: timedelta) -> str:
    minutes = math.ceil(wait.total_seconds() / 60)
    return "1 minute" if minutes == 1 else f"{minutes} minutes"


def lockout_response(request: HttpRequest, original_response=None, credentials=None) -> HttpResponse:
    """``AXES_LOCKOUT_CALLABLE``: what a locked-out log-in gets instead of the page it asked for. Axes calls this
    with (request, response, credentials), or (request, credentials) on its async path: the credentials are read
    from the request, where axes also leaves them."""
    credentials = getattr(request, "axes_credentials", None) or (
        credentials if isinstance(credentials, dict) else {"username": request.POST.get("username")}
    )
    wait = lockout_wait(request, credentials)
    username = credentials.get("username") or ""
    headers = {"Retry-After": str(math.ceil(wait.total_seconds()))}
    if username == TOKEN_USERNAME or request.path.startswith("/api/"):
        return JsonResponse({"error": token_lockout_message(wait)}, status=429, headers=headers)
    context = {"username": username, "wait": in_words(wait), "limit": settings.VAM_LOGIN_FAILURE_LIMIT}
    response = TemplateResponse(request, "registration/locked_out.html", context, status=429, headers=headers)
    return response.render()


def token_lockout_message(wait: timedelta) -> str:
    return (
        f"too many wrong tokens from this address: token requests from it are refused for {in_words(wait)}; "
        "an administrator can lift this with manage.py axes_reset"
    )


class TokenLockedOut(exceptions.APIException):
    status_code = 429
    default_code = "locked_out"

    def __init__(self, wait: timedelta):
        super().__init__(token_lockout_message(wait))
        self.wait = math.ceil(wait.total_seconds())  # DRF's handler turns it into Retry-After


class LockingTokenAuthentication(TokenAuthentication):
    """``Authorization: Token …`` with wrong tokens counted per address like wrong passwords: past the limit,
    every token request from that address answers 429 until the lockout ends (a right token too, so guessing
    gets no answer)."""

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None  # not a token request: the session decides
        credentials = {"username": TOKEN_USERNAME}
        django_request = request._request
        if AxesProxyHandler.is_locked(django_request, credentials):
            raise TokenLockedOut(lockout_wait(django_request, credentials))
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            # Axes counts it; the failure that reaches the limit already answers 429 (AxesMiddleware).
            user_login_failed.send(sender=type(self), credentials=credentials, request=django_request)
            raise
