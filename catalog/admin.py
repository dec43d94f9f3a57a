from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from catalog.media.analyze import Problem
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


class ProblemKindFilter(admin.SimpleListFilter):
    """Lists the known kinds instead of a SELECT DISTINCT over every asset on each page load."""

    title = "problem kind"
    parameter_name = "problem_kind"

    def lookups(self, request, model_admin):
        kinds = [value for name, value in vars(Problem).items() if name.isupper()]
        return [(kind, kind.replace("_", " ")) for kind in kinds]

    def queryset(self, request, queryset):
        return queryset.filter(problem_kind=self.value()) if self.value() else queryset


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    list_display = ["preview", "path", "media_type", "format", "width", "height", "taken_at", "date_source", "status"]
    list_display_links = ["path"]
    list_filter = ["status", "media_type", "date_source", "date_suspicious", ProblemKindFilter, "catalog"]
    search_fields = ["path", "sha256", "format", "camera_make", "camera_model"]
    ordering = ["catalog", "path"]  # the (catalog, path) unique index serves this order
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
