"""The pages under /accounts/: log in and out, change one's password, and reset a forgotten one.

A reset sends a link by email, so it is offered only when the server can send mail (``EMAIL_URL``). Without it the
reset addresses answer 404 with a page that says how a password is reset instead: an administrator runs
``manage.py changepassword USERNAME``. The log-in page's "Forgot your password?" leads to whichever applies."""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.contrib.auth import urls as auth_urls
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path


def reset_by_mail() -> bool:
    return settings.VAM_PASSWORD_RESET_BY_MAIL


class LoginView(auth_views.LoginView):
    """Django's log-in page, told whether a forgotten password can be reset by mail here."""

    def get_context_data(self, **kwargs):
        return super().get_context_data(**kwargs, password_reset_by_mail=reset_by_mail())


def password_forgotten(request: HttpRequest) -> HttpResponse:
    """Where "Forgot your password?" leads without mail: who resets a password, and how. With mail set up it goes
    on to the reset form."""
    if reset_by_mail():
        return redirect("password_reset")
    return forgotten_page(request, status=200)


def forgotten_page(request: HttpRequest, status: int) -> HttpResponse:
    return TemplateResponse(request, "registration/password_forgotten.html", status=status).render()


def offered_with_mail(view):
    """A reset page that exists only when mail is set up; otherwise 404 with the page that says what to do."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not reset_by_mail():
            return forgotten_page(request, status=404)
        return view(request, *args, **kwargs)

    return wrapped


def account_urls() -> list[URLPattern]:
    """Django's own account URLs, with our log-in view and the reset pages behind ``offered_with_mail``."""
    patterns = [path("password_forgotten/", password_forgotten, name="password_forgotten")]
    for pattern in auth_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback
        if pattern.name == "login":
            view = LoginView.as_view()
        elif pattern.name and pattern.name.startswith("password_reset"):
            view = offered_with_mail(view)
        patterns.append(path(str(pattern.pattern), view, name=pattern.name))
    return patterns


urlpatterns = account_urls()
