from django import forms
from django.contrib import admin, messages
from django.db.models import Case, Count, F, When
from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST
from rest_framework import serializers

from catalog import validators
from catalog.media.analyze import Problem
from catalog.media.thumbnails import thumbnail_path
from catalog.models import NEAR_KINDS, Asset, Catalog, DuplicateGroup, DuplicateMember, OrganizeStep
from catalog.services.duplicates import DuplicatesError, group_dismiss, group_set_primary, member_dismiss
from catalog.services.schedule import (
    SCHEDULE_HELP,
    ScheduleError,
    catalog_set_schedule,
    schedule_parse,
    schedule_summary,
)


class CatalogForm(forms.ModelForm):
    """The admin's door to a catalog's folders checks them as the pages and the API do (``catalog.validators``):
    a catalog inside the data folder or the library roots, sources and exclusions inside the roots. A field left
    as it was is not checked again, so a catalog the command line made elsewhere can still be renamed."""

    class Meta:
        model = Catalog
        fields = ["name", "path", "owner", "source_directories", "exclude_directories", "schedule", "stats", "stats_at"]
        help_texts = {"schedule": "rescans: " + SCHEDULE_HELP}

    def clean_schedule(self) -> str:
        try:
            return schedule_parse(self.cleaned_data["schedule"])
        except ScheduleError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean_path(self) -> str:
        path = self.cleaned_data["path"]
        return path if self._unchanged("path", path) else _checked(validators.new_catalog_path, path)

    def clean_source_directories(self) -> list[str]:
        return self._folders("source_directories", validators.library_folder)

    def clean_exclude_directories(self) -> list[str]:
        return self._folders("exclude_directories", validators.output_folder)

    def _folders(self, name: str, check) -> list[str]:
        value = self.cleaned_data[name]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise forms.ValidationError('give a list of folders, like ["/photos/family"]')
        if self._unchanged(name, value):
            return value
        return sorted({_checked(check, item) for item in value})

    def _unchanged(self, name: str, value) -> bool:
        """The record's own value, as it is saved (the form's own change detection sees JSON text as new)."""
        return self.instance.pk is not None and getattr(self.instance, name) == value


def _checked(check, value: str) -> str:
    try:
        return check(value)
    except serializers.ValidationError as exc:
        reason = " ".join(str(item) for item in exc.detail)
        raise forms.ValidationError(reason if value in reason else f"{value}: {reason}") from None


@admin.register(Catalog)
class CatalogAdmin(admin.ModelAdmin):
    form = CatalogForm
    list_display = ["name", "path", "owner", "asset_count", "last_analyzed_at"]
    list_select_related = ["owner"]
    search_fields = ["name", "path"]
    readonly_fields = ["created_at", "updated_at", "last_analyzed_at", "rescans", "schedule_note"]

    def save_model(self, request, obj: Catalog, form, change: bool) -> None:
        """The next rescan follows the schedule given (a schedule saved as it was keeps its slot)."""
        schedule = obj.schedule
        if change:
            obj.schedule = form.initial.get("schedule", "")
        super().save_model(request, obj, form, change)
        catalog_set_schedule(catalog=obj, schedule=schedule)

    @admin.display(description="Rescans")
    def rescans(self, catalog: Catalog) -> str:
        return schedule_summary(catalog)

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


THUMBNAIL_CSS = {"all": ["catalog/admin.css"]}  # the thumbnails' sizes (the pages' policy allows no inline style)


def thumbnail_html(asset: Asset | None, size: int, shown: int) -> str:
    """An <img> of the asset's thumbnail, or a dash when it has none."""
    if asset is None or not asset.sha256:
        return "—"
    if not thumbnail_path(asset.catalog.thumbnails_dir, size, asset.sha256).exists():
        return "—"
    url = reverse(
        "catalog:thumbnail",
        kwargs={"catalog_id": asset.catalog_id, "size": size, "sha256": asset.sha256, "ext": "webp"},
    )
    return format_html('<img src="{}" alt="" loading="lazy" class="vam-thumb-{}">', url, shown)  # (catalog/admin.css)


@admin.register(Asset)
class AssetAdmin(admin.ModelAdmin):
    class Media:
        css = THUMBNAIL_CSS

    list_display = ["preview", "path", "media_type", "format", "width", "height", "taken_at", "date_source", "status"]
    list_display_links = ["path"]
    list_filter = ["status", "media_type", "date_source", "date_suspicious", ProblemKindFilter, "catalog"]
    search_fields = ["path", "sha256", "format", "camera_make", "camera_model"]
    ordering = ["catalog", "path"]  # the (catalog, path) unique index serves this order
    date_hierarchy = "taken_at"
    list_select_related = ["catalog"]
    show_full_result_count = False  # COUNT(*) over millions of rows on every page is slow
    readonly_fields = ["preview_large", *[f.name for f in Asset._meta.fields]]

    @admin.display(description="")
    def preview(self, asset: Asset) -> str:
        return thumbnail_html(asset, 256, 64)

    @admin.display(description="Preview")
    def preview_large(self, asset: Asset) -> str:
        return thumbnail_html(asset, 512, 512)

    def has_add_permission(self, request) -> bool:
        return False  # assets come from analyze


class MemberInline(admin.TabularInline):
    model = DuplicateMember
    extra = 0
    can_delete = False
    fields = ("preview", "asset_link", "distance", "phash_distance", "quality_score", "size", "dimensions", "choose")
    readonly_fields = fields

    class Media:
        css = {"all": ["catalog/admin.css"]}

    def get_queryset(self, request):
        primary_first = Case(When(asset_id=F("group__primary_id"), then=0), default=1)
        rows = super().get_queryset(request).select_related("asset", "asset__catalog", "group")
        return rows.order_by(primary_first, "distance", "-quality_score", "asset__path")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="")
    def preview(self, member: DuplicateMember) -> str:
        return thumbnail_html(member.asset, 256, 96)

    @admin.display(description="File")
    def asset_link(self, member: DuplicateMember) -> str:
        url = reverse("admin:catalog_asset_change", args=[member.asset_id])
        return format_html('<a href="{}">{}</a>', url, member.asset.path)

    @admin.display(description="Bytes")
    def size(self, member: DuplicateMember) -> int:
        return member.asset.size

    @admin.display(description="Pixels")
    def dimensions(self, member: DuplicateMember) -> str:
        return f"{member.asset.width or '?'}×{member.asset.height or '?'}"

    @admin.display(description="Primary")
    def choose(self, member: DuplicateMember) -> str:
        if member.asset_id == member.group.primary_id:
            return format_html("<strong>{}</strong>", "primary (chosen)" if member.group.primary_chosen else "primary")
        # The inline sits inside the change form: formaction posts that form (and its CSRF token) elsewhere.
        url = reverse("admin:catalog_duplicategroup_primary", args=[member.group_id, member.asset_id])
        return format_html('<button type="submit" formaction="{}" class="button">Make primary</button>', url)


@admin.register(DuplicateGroup)
class DuplicateGroupAdmin(admin.ModelAdmin):
    class Media:
        css = THUMBNAIL_CSS

    list_display = [
        "id", "kind", "preview", "primary_path", "member_count", "primary_chosen", "cluster_link", "catalog",
    ]  # fmt: skip
    list_display_links = ["id", "preview"]
    list_filter = ["kind", "primary_chosen", "catalog"]
    search_fields = ["primary__path", "members__asset__path"]
    list_select_related = ["primary", "primary__catalog", "catalog"]
    readonly_fields = ("catalog", "kind", "key", "cluster", "primary", "primary_chosen", "member_count", "created_at")
    fields = readonly_fields
    inlines = [MemberInline]
    actions = ["mark_not_duplicates"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False  # groups come from duplicate detection

    def get_fields(self, request, obj=None):
        if obj is not None and obj.kind in NEAR_KINDS:
            return [name for name in self.fields if name != "cluster"]
        return self.fields

    def get_urls(self):
        view = self.admin_site.admin_view(require_POST(self.set_primary_view))
        route = path("<int:group_id>/primary/<int:asset_id>/", view, name="catalog_duplicategroup_primary")
        return [route, *super().get_urls()]

    def set_primary_view(self, request: HttpRequest, group_id: int, asset_id: int) -> HttpResponseRedirect:
        group = get_object_or_404(DuplicateGroup, pk=group_id)
        if not self.has_change_permission(request, group):
            messages.error(request, "You may not change duplicate groups.")
        else:
            asset = get_object_or_404(Asset, pk=asset_id)
            try:
                group_set_primary(group=group, asset=asset)
                messages.success(request, f"{asset.path} is now the primary; later runs keep this choice.")
            except DuplicatesError as exc:
                messages.error(request, str(exc))
        return HttpResponseRedirect(reverse("admin:catalog_duplicategroup_change", args=[group_id]))

    @admin.display(description="")
    def preview(self, group: DuplicateGroup) -> str:
        return thumbnail_html(group.primary, 256, 64)

    @admin.display(description="Primary", ordering="primary__path")
    def primary_path(self, group: DuplicateGroup) -> str:
        return group.primary.path if group.primary else "—"

    @admin.display(description="Shown with")
    def cluster_link(self, group: DuplicateGroup) -> str:
        if group.cluster_id is None:
            return "—"
        url = reverse("admin:catalog_duplicategroup_change", args=[group.cluster_id])
        return format_html('<a href="{}">similar group {}</a>', url, group.cluster_id)

    @admin.action(description="Not duplicates: never group these pictures (or videos) together again")
    def mark_not_duplicates(self, request: HttpRequest, queryset) -> None:
        dismissed = skipped = 0
        for group in queryset:
            if group.kind not in NEAR_KINDS:
                skipped += 1
                continue
            group_dismiss(group=group)
            dismissed += 1
        if dismissed:
            messages.success(request, f"{dismissed} similar groups dismissed; the next runs will not rebuild them.")
        if skipped:
            messages.warning(request, f"{skipped} exact groups skipped: their files are byte-identical.")


@admin.register(DuplicateMember)
class DuplicateMemberAdmin(admin.ModelAdmin):
    class Media:
        css = THUMBNAIL_CSS

    list_display = ["preview", "asset", "group", "distance", "phash_distance", "quality_score", "is_primary"]
    list_filter = ["group__kind", "group__catalog"]
    search_fields = ["asset__path", "asset__sha256"]
    list_select_related = ["asset", "asset__catalog", "group"]
    actions = ["make_primary", "not_a_duplicate"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # read-only rows; the actions below are the changes

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in DuplicateMember._meta.fields]

    @admin.display(description="")
    def preview(self, member: DuplicateMember) -> str:
        return thumbnail_html(member.asset, 256, 64)

    @admin.display(description="Primary", boolean=True)
    def is_primary(self, member: DuplicateMember) -> bool:
        return member.asset_id == member.group.primary_id

    @admin.action(description="Make primary of its group", permissions=["view"])
    def make_primary(self, request: HttpRequest, queryset) -> None:
        for member in queryset.select_related("group", "asset"):
            group_set_primary(group=member.group, asset=member.asset)
        messages.success(request, f"{queryset.count()} primaries set; later runs keep these choices.")

    @admin.action(description="Not a duplicate of its group's primary", permissions=["view"])
    def not_a_duplicate(self, request: HttpRequest, queryset) -> None:
        for member in list(queryset.select_related("group", "group__primary", "asset")):
            try:
                member_dismiss(member=member)
            except DuplicatesError as exc:
                messages.error(request, f"{member.asset.path}: {exc}")


@admin.register(OrganizeStep)
class OrganizeStepAdmin(admin.ModelAdmin):
    """The organize journals, read-only: they are written by organize alone, and kept for resume and rollback."""

    list_display = ["job", "seq", "operation", "kind", "state", "source", "target", "already_present", "reason"]
    list_filter = ["state", "operation", "kind", "already_present", "conflict"]
    search_fields = ["=job__id", "source", "target", "reason"]
    list_select_related = ["job"]
    readonly_fields = [f.name for f in OrganizeStep._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the journal is what makes a rollback possible
