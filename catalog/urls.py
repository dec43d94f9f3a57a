from django.urls import path, re_path

from catalog import api, pages, views

app_name = "catalog"

urlpatterns = [
    path("catalogs/", pages.catalog_list, name="list"),
    path("catalogs/new/", pages.catalog_create, name="create"),
    path("catalogs/<int:catalog_id>/edit/", pages.catalog_edit, name="edit"),
    path("catalogs/<int:catalog_id>/delete/", pages.catalog_delete, name="delete"),
    path("catalogs/<int:catalog_id>/", pages.dashboard, name="dashboard"),
    path("catalogs/<int:catalog_id>/photos/", pages.grid, name="grid"),
    path("catalogs/<int:catalog_id>/duplicates/", pages.duplicate_list, name="duplicates"),
    path("catalogs/<int:catalog_id>/duplicates/move/", pages.move_redundant, name="move-redundant"),
    path("catalogs/<int:catalog_id>/dates/", pages.date_review, name="dates"),
    path("catalogs/<int:catalog_id>/problems/", pages.problems, name="problems"),
    path("duplicates/<int:group_id>/", pages.duplicate_group, name="duplicate"),
    path("duplicates/<int:group_id>/<str:action>/", pages.duplicate_action, name="duplicate-action"),
    path("assets/<int:asset_id>/", pages.asset_detail, name="asset"),
    path("assets/<int:asset_id>/original", pages.original, name="original"),
    re_path(
        r"^thumbnails/(?P<catalog_id>\d+)/(?P<size>\d{2,4})/(?P<sha256>[0-9a-f]{64})\.(?P<ext>webp|jpg)$",
        views.thumbnail,
        name="thumbnail",
    ),
    path("api/catalogs", api.CatalogList.as_view(), name="api-catalogs"),
    path("api/catalogs/<int:catalog_id>", api.CatalogDetail.as_view(), name="api-catalog"),
    path("api/catalogs/<int:catalog_id>/assets", api.AssetGrid.as_view(), name="api-assets"),
    path("api/catalogs/<int:catalog_id>/export", api.CatalogExport.as_view(), name="api-export"),
    path("api/assets/<int:asset_id>", api.AssetDetail.as_view(), name="api-asset"),
    path("api/catalogs/<int:catalog_id>/duplicates", api.DuplicateList.as_view(), name="api-duplicates"),
    path("api/duplicates/<int:group_id>", api.DuplicateDetail.as_view(), name="api-duplicate"),
    path("api/duplicates/<int:group_id>/primary", api.DuplicatePrimary.as_view(), name="api-duplicate-primary"),
    path(
        "api/duplicates/<int:group_id>/not-duplicates",
        api.DuplicateNotDuplicates.as_view(),
        name="api-duplicate-not-duplicates",
    ),
    path("api/duplicates/<int:group_id>/reviewed", api.DuplicateReviewed.as_view(), name="api-duplicate-reviewed"),
    path("api/assets/<int:asset_id>/thumbnail", api.AssetThumbnail.as_view(), name="api-asset-thumbnail"),
]
