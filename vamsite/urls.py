from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "VAM administration"
admin.site.site_title = "VAM"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("django-rq/", include("django_rq.urls")),  # queue statistics; django-rq admits staff only
    path("", include("jobs.urls")),
    path("", include("catalog.urls")),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", RedirectView.as_view(url="/jobs/", permanent=False)),
]
