"""What a signed-in user may do with the catalogs: one rule for the REST API, the pages and the admin.

Every signed-in user may browse every catalog, review its duplicates and dates, and run analyze, thumbnails and a
dry-run organize on a catalog as it is. Staff, and the catalog's owner (``Catalog.owner``, set by staff), may
also change its sources and delete it, and run the jobs that move or remove files: an organize that moves, moving
the redundant copies of duplicates, a rollback (it removes the copies it made, or moves files back), and the
resume of a move. Only staff create catalogs (a new catalog path in an analyze is creating one) and see every
job; the others see their own jobs.

Each check returns the refusal in words ("" when allowed); ``refuse_unless`` raises it as the API's 403, naming
the field of the request it is about, for a form to show it there.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from rest_framework.exceptions import PermissionDenied

from catalog.models import Catalog, Operation

STAFF_OR_OWNER = "only staff or the catalog's owner"


def may_change(user: Any, catalog: Catalog | None) -> bool:
    """Staff, or the owner of ``catalog``."""
    if user.is_staff:
        return True
    return catalog is not None and catalog.owner_id is not None and catalog.owner_id == user.pk


def create_refusal(user: Any) -> str:
    return "" if user.is_staff else "only staff can create catalogs: ask an administrator to add it"


def change_refusal(user: Any, catalog: Catalog, what: str = "change or delete this catalog") -> str:
    return "" if may_change(user, catalog) else f"{STAFF_OR_OWNER} may {what}"


def analyze_refusal(user: Any, catalog: Catalog | None, sources: list[str]) -> str:
    """An analyze of a catalog as it is (its own sources, or some of them) is for everyone; one that creates the
    catalog or adds sources to it is not."""
    if catalog is None:
        return create_refusal(user)
    added = sorted(set(sources) - set(catalog.source_directories or []))
    if added and not may_change(user, catalog):
        return f"{STAFF_OR_OWNER} may add source folders to it ({', '.join(added)})"
    return ""


def organize_refusal(user: Any, catalog: Catalog, *, operation: str, dry_run: bool, exclude_output: bool) -> str:
    """A copy, a hard link or a dry run leaves the catalog's files where they are; a move does not. Leaving the
    output out of later scans changes what the catalog holds, as changing its sources does."""
    if dry_run:
        return ""
    if operation == Operation.MOVE:
        return change_refusal(user, catalog, "move its files: choose copy, or a dry run")
    if exclude_output:
        return change_refusal(user, catalog, "leave a folder out of its scans")
    return ""


def again_refusal(user: Any, journal: Any, action: str) -> str:
    """A rollback takes files away (its copies, or moved files back to where they were); resuming a move moves."""
    catalog = journal.catalog
    moves = journal.params.get("operation") == Operation.MOVE
    if action == "rollback" or moves:
        if catalog is None:
            return "" if user.is_staff else f"only staff may {action} an organize of no catalog"
        doing = "roll back" if action == "rollback" else action
        return change_refusal(user, catalog, f"{doing} an organize that {'moved' if moves else 'copied'} its files")
    return ""


class NotAllowed(PermissionDenied):
    """403 with the reason; ``field`` is the part of the request it is about, if one is."""

    def __init__(self, refusal: str, field: str | None = None) -> None:
        super().__init__(refusal)
        self.field = field


def refuse_unless(refusal: str, field: str | None = None) -> None:
    if refusal:
        raise NotAllowed(refusal, field)


def refused_page(request: HttpRequest, refusal: str, back: str = "") -> HttpResponse | None:
    """The pages' answer to a refusal: 403, a page that says why and leads back; None when it is allowed."""
    if not refusal:
        return None
    return render(request, "refused.html", {"refusal": refusal, "back": back}, status=403)
