from django.contrib import admin
from django.db.models import Count

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
    list_display = ["path", "media_type", "format", "width", "height", "taken_at", "date_source", "status"]
    list_filter = ["status", "media_type", "format", "date_source", "date_suspicious", "problem_kind", "catalog"]
    search_fields = ["path", "sha256", "camera_make", "camera_model"]
    date_hierarchy = "taken_at"
    list_select_related = ["catalog"]
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow
    readonly_fields = [f.name for f in Asset._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False  # assets come from analyze
