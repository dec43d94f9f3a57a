from django.conf import settings
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import URLPattern, URLResolver, include, path
from django.views import defaults

from catalog import pages
from vamsite.middleware import redis_unavailable


def server_error(request: HttpRequest) -> HttpResponse:
    """A failure under /api/ answers JSON like every other API answer; the pages keep Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {"error": "the server failed to answer this request; the failure is in its log"}, status=500
        )
    return defaults.server_error(request)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """An address under /api/ that names nothing (``/api/assets/abc``) answers JSON too."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": f"no API operation or record at {request.path}"}, status=404)
    return defaults.page_not_found(request, exception)


handler404, handler500 = page_not_found, server_error

admin.site.site_header = "VAM administration"
admin.site.site_title = "VAM"

queues: URLPattern | URLResolver
if settings.REDIS_URL:
    queues = path("django-rq/", include("django_rq.urls"))  # queue statistics; django-rq admits staff only
else:  # the embedded default has no queues: a page that says so, under the name the links use
    queues = path("django-rq/", staff_member_required(redis_unavailable), name="rq_home")

urlpatterns = [
    path("admin/", admin.site.urls),
    queues,
    path("", include("jobs.urls")),
    path("", include("catalog.urls")),
    path("accounts/", include("vamsite.accounts")),  # password reset only with mail (vamsite.accounts)
    path("", pages.home, name="home"),
]
