from django.contrib import admin, messages
from django.db import transaction
from django.http import HttpRequest

from jobs.models import Job
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
