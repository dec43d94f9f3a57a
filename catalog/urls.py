from django.urls import re_path

from catalog import views

app_name = "catalog"

urlpatterns = [
    re_path(
        r"^thumbnails/(?P<catalog_id>\d+)/(?P<size>\d{2,4})/(?P<sha256>[0-9a-f]{64})\.(?P<ext>webp|jpg)$",
        views.thumbnail,
        name="thumbnail",
    ),
]
