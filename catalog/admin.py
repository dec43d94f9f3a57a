from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, Catalog


@admin.register(Catalog)
class CatalogAdmin(admin.ModelAdmin):
    list_display = ["name", "path", "asset_count", "last_analyzed_at"]
    search_fields = ["name", "path"]
    readonly_fields = ["created_at", "updated_at", "last_analyzed_at"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(asset_total=Count("assets"))

    @admin.display(description="Assets", ordering="asset_total")
    def asset_count(self, catalog: Catalog) -> int:
        return catalog.asset_total  # type: ignore[attr-defined]


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["preview", "path", "media_type", "format", "width", "height", "taken_at", "date_source", "status"]
    list_display_links = ["path"]
    list_filter = ["status", "media_type", "format", "date_source", "date_suspicious", "problem_kind", "catalog"]
    search_fields = ["path", "sha256", "camera_make", "camera_model"]
    date_hierarchy = "taken_at"
    list_select_related = ["catalog"]
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow
    readonly_fields = ["preview_large", *[f.name for f in Asset._meta.fields]]

    def _thumbnail(self, asset: Asset, size: int, shown: int) -> str:
        if not asset.sha256 or not thumbnail_path(asset.catalog.thumbnails_dir, size, asset.sha256).exists():
            return "—"
        url = reverse(
            "catalog:thumbnail",
            kwargs={"catalog_id": asset.catalog_id, "size": size, "sha256": asset.sha256, "ext": "webp"},
        )
        return format_html(
            '<img src="{}" alt="" loading="lazy" style="max-width:{}px;max-height:{}px">', url, shown, shown
        )

    @admin.display(description="")
    def preview(self, asset: Asset) -> str:
        return self._thumbnail(asset, 256, 64)

    @admin.display(description="Preview")
    def preview_large(self, asset: Asset) -> str:
        return self._thumbnail(asset, 512, 512)

    def has_add_permission(self, request) -> bool:
        return False  # assets come from analyze
