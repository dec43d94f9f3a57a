from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from jobs import api, pages, views

app_name = "jobs"

urlpatterns = [
    path("jobs/", pages.job_index, name="index"),
    path("jobs/submit/<str:kind>/", pages.job_submit, name="submit"),
    path("jobs/<uuid:job_id>/", pages.job_detail, name="detail"),
    path("jobs/<uuid:job_id>/cancel/", pages.job_cancel_view, name="cancel"),
    path("jobs/<uuid:job_id>/<str:action>/", pages.job_organize_again, name="organize-again"),
    path("jobs/<uuid:job_id>/plan.<str:fmt>", pages.job_plan, name="plan"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/jobs", api.JobList.as_view(), name="api-jobs"),
    path("api/jobs/analyze", api.AnalyzeSubmit.as_view(), name="api-analyze"),
    path("api/jobs/organize", api.OrganizeSubmit.as_view(), name="api-organize"),
    path("api/jobs/thumbnails", api.ThumbnailsSubmit.as_view(), name="api-thumbnails"),
    path("api/jobs/<str:job_id>/stream", views.job_stream, name="api-job-stream"),
    path("api/jobs/<str:job_id>/resume", api.OrganizeAgain.as_view(action="resume"), name="api-job-resume"),
    path("api/jobs/<str:job_id>/rollback", api.OrganizeAgain.as_view(action="rollback"), name="api-job-rollback"),
    path("api/jobs/<str:job_id>/plan", api.OrganizePlan.as_view(), name="api-job-plan"),
    path("api/jobs/<str:job_id>", api.JobDetail.as_view(), name="api-job"),
    path("api/webhooks", api.WebhookList.as_view(), name="api-webhooks"),
    path("api/webhooks/<int:hook_id>", api.WebhookDetail.as_view(), name="api-webhook"),
    path("api/webhooks/<int:hook_id>/resume", api.WebhookResume.as_view(), name="api-webhook-resume"),
    path("api/webhooks/<int:hook_id>/deliveries", api.WebhookDeliveries.as_view(), name="api-webhook-deliveries"),
]
