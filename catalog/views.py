from pathlib import Path

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from catalog.media.thumbnails import thumbnail_path
from catalog.models import Catalog

CONTENT_TYPES = {"webp": "image/webp", "jpeg": "image/jpeg"}
YEAR = 365 * 24 * 3600


@login_required
@require_GET
def thumbnail(request: HttpRequest, catalog_id: str, size: str, sha256: str, ext: str) -> HttpResponse | FileResponse:
    """A catalog's thumbnail by content hash. The URL pattern admits only hex digests, so no path escapes."""
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    fmt = "jpeg" if ext == "jpg" else ext
    path = thumbnail_path(catalog.thumbnails_dir, int(size), sha256, fmt)
    if not path.is_file():
        raise Http404("no thumbnail of that size")
    return thumbnail_response(request, path, fmt)


def thumbnail_response(request, path: Path, fmt: str) -> HttpResponse | FileResponse:
    """A thumbnail, cacheable for a year: it is named by its content (sha256, size, format), so it never
    changes; its name is its ETag, and a browser that has it gets 304."""
    etag = f'"{path.stem}-{path.parent.parent.name}-{fmt}"'
    cache = f"private, max-age={YEAR}, immutable"
    response: HttpResponse | FileResponse
    if etag in (request.headers.get("If-None-Match") or ""):
        response = HttpResponseNotModified()
    else:
        response = FileResponse(path.open("rb"), content_type=CONTENT_TYPES[fmt])
    response["ETag"], response["Cache-Control"] = etag, cache
    return response
