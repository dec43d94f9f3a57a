"""The duplicate groups in the admin: members with previews and distances, setting the primary, dismissing."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import DuplicateGroup, NotDuplicate
from tests.conftest import make_jpeg
from tests.services.helpers import analyze
from tests.similarity.helpers import FLOWER, copies

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(library, catalog_dir) -> DuplicateGroup:
    copies(FLOWER, library, only=("resize_50", "q70", "png"))
    catalog, _ = analyze(catalog_dir, library)
    return DuplicateGroup.objects.get(catalog=catalog, kind="similar")


def change_url(group: DuplicateGroup) -> str:
    return reverse("admin:catalog_duplicategroup_change", args=[group.pk])


def primary_url(group: DuplicateGroup, asset_id: int) -> str:
    return reverse("admin:catalog_duplicategroup_primary", args=[group.pk, asset_id])


def test_duplicate_pages_need_a_login(client, group):
    for url in (reverse("admin:catalog_duplicategroup_changelist"), change_url(group)):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
    jpeg = group.members.exclude(asset=group.primary).first().asset
    response = client.post(primary_url(group, jpeg.pk))
    assert response.status_code == 302 and "/login/" in response["Location"]
    group.refresh_from_db()
    assert not group.primary_chosen


def test_group_page_lists_members_with_previews_distances_and_the_primary(admin_client, group):
    page = admin_client.get(change_url(group)).content.decode()
    for member in group.members.select_related("asset"):
        assert member.asset.path in page
        assert f"/{member.asset.sha256}.webp" in page  # its thumbnail
    assert page.count(">Make primary</button>") == group.member_count - 1
    assert "<strong>primary</strong>" in page

    listing = admin_client.get(reverse("admin:catalog_duplicategroup_changelist"), {"kind": "similar"})
    assert group.primary.path in listing.content.decode()


def test_make_primary_button_sets_a_choice_that_the_next_run_keeps(admin_client, group, library, catalog_dir):
    small = group.members.get(asset__path__endswith="__resize_50.jpg").asset
    response = admin_client.post(primary_url(group, small.pk))
    assert response.status_code == 302 and response["Location"] == change_url(group)
    group.refresh_from_db()
    assert (group.primary, group.primary_chosen) == (small, True)
    assert group.members.get(asset=small).distance == 0

    analyze(catalog_dir, library)
    group.refresh_from_db()
    assert (group.primary, group.primary_chosen) == (small, True)


def test_make_primary_refuses_a_file_outside_the_group_and_a_get(admin_client, group, library, catalog_dir):
    make_jpeg(library / "other.jpg", size=(320, 240))
    analyze(catalog_dir, library)
    stranger = group.catalog.assets.get(path__endswith="other.jpg")
    response = admin_client.post(primary_url(group, stranger.pk), follow=True)
    assert "is not a member of group" in response.content.decode()
    assert admin_client.get(primary_url(group, stranger.pk)).status_code == 405
    group.refresh_from_db()
    assert not group.primary_chosen


def test_not_duplicates_action_removes_the_group_for_good(admin_client, group, library, catalog_dir):
    response = admin_client.post(
        reverse("admin:catalog_duplicategroup_changelist"),
        {"action": "mark_not_duplicates", "_selected_action": [group.pk]},
        follow=True,
    )
    assert "similar groups dismissed" in response.content.decode()
    assert not DuplicateGroup.objects.filter(pk=group.pk).exists()
    contents = len(set(group.catalog.assets.values_list("sha256", flat=True)))
    assert NotDuplicate.objects.filter(catalog=group.catalog).count() == contents * (contents - 1) // 2

    analyze(catalog_dir, library)
    assert not DuplicateGroup.objects.filter(catalog=group.catalog, kind="similar").exists()
    assert DuplicateGroup.objects.filter(catalog=group.catalog, kind="exact").count() == 1  # the copies stay


def test_member_actions_set_the_primary_and_dismiss_one_picture(admin_client, group):
    url = reverse("admin:catalog_duplicatemember_changelist")
    q70 = group.members.get(asset__path__endswith="__q70.jpg")
    admin_client.post(url, {"action": "make_primary", "_selected_action": [q70.pk]})
    group.refresh_from_db()
    assert (group.primary_id, group.primary_chosen) == (q70.asset_id, True)

    small = group.members.get(asset__path__endswith="__resize_50.jpg")
    admin_client.post(url, {"action": "not_a_duplicate", "_selected_action": [small.pk]})
    assert not group.members.filter(asset_id=small.asset_id).exists()
    pair = sorted([small.asset.sha256, q70.asset.sha256])
    assert NotDuplicate.objects.filter(catalog=group.catalog, sha256_a=pair[0], sha256_b=pair[1]).exists()
