from django import forms
from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from catalog.media.words import counted
from jobs.models import Job, Webhook, WebhookDelivery
from jobs.notify import UrlRefused, check_url, resume
from jobs.selectors import job_status
from jobs.services import job_cancel, job_start


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ["id", "kind", "status", "phase", "progress", "message", "catalog", "created_by", "created_at"]
    list_filter = ["status", "kind", "queue"]
    search_fields = ["id", "message", "error", "catalog__path"]
    list_select_related = ["catalog", "created_by"]
    readonly_fields = [f.name for f in Job._meta.fields]
    actions = ["cancel", "resubmit"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request) -> bool:
        return False  # jobs are submitted through the pages, the API or the commands

    def change_view(self, request, object_id, form_url="", extra_context=None):
        job = self.get_object(request, object_id)
        extra = {"status": job_status(job)} if job is not None else {}
        return super().change_view(request, object_id, form_url, (extra_context or {}) | extra)

    @admin.display(description="Progress")
    def progress(self, job: Job) -> str:
        if job.percent is not None:
            return f"{job.percent:.0f}% ({job.current}/{job.total})"
        return str(job.current) if job.current else "—"

    @admin.action(description="Cancel the selected jobs", permissions=["change"])
    def cancel(self, request: HttpRequest, queryset) -> None:
        active = [job for job in queryset if not job.is_final]
        for job in active:
            job_cancel(job=job)
        messages.success(request, f"cancel requested for {len(active)} jobs")

    @admin.action(description="Resubmit the selected jobs (same parameters)", permissions=["change"])
    def resubmit(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            jobs = [job_start(kind=job.kind, params=job.params, user=request.user) for job in queryset]
        messages.success(request, f"{len(jobs)} jobs submitted: analyze and organize resume where they stopped")


class WebhookForm(forms.ModelForm):
    url = forms.URLField(max_length=2000, assume_scheme="https")

    class Meta:
        model = Webhook
        fields = ["owner", "url", "all_jobs", "allow_loopback", "active"]

    def clean(self) -> dict:
        data = super().clean() or {}
        try:
            check_url(data.get("url") or "", bool(data.get("allow_loopback")), resolve=False)
        except UrlRefused as exc:
            self.add_error("url", str(exc))
        return data


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    form = WebhookForm
    list_display = ["url", "owner", "all_jobs", "active", "state", "failures", "created_at"]
    list_filter = ["active", "all_jobs"]
    search_fields = ["url", "owner__username"]
    list_select_related = ["owner"]
    readonly_fields = ["secret", "failures", "paused_at", "created_at"]
    actions = ["resume"]

    @admin.display(description="State")
    def state(self, hook: Webhook) -> str:
        if not hook.active:
            return "off"
        return f"paused since {hook.paused_at:%Y-%m-%d %H:%M}" if hook.paused_at else "delivering"

    @admin.action(description="Resume the selected paused hooks", permissions=["change"])
    def resume(self, request: HttpRequest, queryset) -> None:
        paused = [hook for hook in queryset if hook.paused_at]
        for hook in paused:
            resume(hook)
        messages.success(request, f"{counted(len(paused), 'hook')} resumed")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    """The delivery log: what each hook was sent and how it went."""

    list_display = ["created_at", "webhook", "job", "status", "attempts", "response_code", "last_error"]
    list_filter = ["status"]
    search_fields = ["webhook__url", "last_error"]
    list_select_related = ["webhook", "job"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False
