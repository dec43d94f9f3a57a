"""The catalog the navigation bar links to: the one the page shows, else the one last shown, else the only one."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from catalog.models import Catalog

SESSION_KEY = "vam_catalog"


def remember_catalog(request: HttpRequest, catalog: Catalog) -> None:
    """Called by the pages that show a catalog: the navigation bar of the next pages keeps to it."""
    request.vam_catalog = catalog  # type: ignore[attr-defined]
    if request.session.get(SESSION_KEY) != catalog.pk:
        request.session[SESSION_KEY] = catalog.pk


def navigation(request: HttpRequest) -> dict:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    catalog = getattr(request, "vam_catalog", None)
    if catalog is None and request.session.get(SESSION_KEY):
        catalog = Catalog.objects.filter(pk=request.session[SESSION_KEY]).first()
    if catalog is None:
        only = list(Catalog.objects.order_by("pk")[:2])
        catalog = only[0] if len(only) == 1 else None
    return {"nav_catalog": catalog, "queues_enabled": bool(settings.REDIS_URL)}
