from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from catalog.media.thumbnails import thumbnail_path
from catalog.models import Catalog

CONTENT_TYPES = {"webp": "image/webp", "jpg": "image/jpeg"}


@login_required
@require_GET
def thumbnail(request: HttpRequest, catalog_id: str, size: str, sha256: str, ext: str) -> FileResponse:
    """A catalog's thumbnail by content hash. The URL pattern admits only hex digests, so no path escapes."""
    catalog = get_object_or_404(Catalog, pk=catalog_id)
    path = thumbnail_path(catalog.thumbnails_dir, int(size), sha256, "jpeg" if ext == "jpg" else ext)
    if not path.is_file():
        raise Http404("no thumbnail of that size")
    response = FileResponse(path.open("rb"), content_type=CONTENT_TYPES[ext])
    response["Cache-Control"] = "private, max-age=86400, immutable"  # content-addressed: never changes
    return response
