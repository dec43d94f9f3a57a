"""Duplicate review through the API: groups by space to gain, side by side members, choosing a primary, "not
duplicates" and "reviewed" marks, each kept by a re-run of duplicate detection."""

from __future__ import annotations

import json
import shutil

import pytest

from catalog.models import Asset, DuplicateGroup, NotDuplicate
from catalog.services.duplicates import catalog_find_duplicates
from tests.conftest import FIXTURES
from tests.services.helpers import analyze
from tests.similarity.helpers import FLOWER, copies

pytestmark = pytest.mark.django_db


def post(client, path: str, body: dict):
    return client.post(path, data=json.dumps(body), content_type="application/json")


@pytest.fixture
def review(tmp_path):
    """The flower with a copy, a PNG and a half-size version (one similar group, its exact group inside it), and
    another picture with a copy (an exact group)."""
    library = tmp_path / "photos"
    made = copies(FLOWER, library, only=("png", "resize_50"))
    other = FIXTURES / "dupes" / "kde_path__original.jpg"
    shutil.copyfile(other, library / "kde.jpg")
    shutil.copyfile(other, library / "backup" / "kde.jpg")
    catalog, _ = analyze(tmp_path / "catalog", library, thumbnails=False)
    return catalog, made


def test_groups_come_by_space_to_gain_and_show_their_members_side_by_side(admin_client, review):
    catalog, made = review
    response = admin_client.get(f"/api/catalogs/{catalog.pk}/duplicates")
    groups = response.json()["results"]
    assert sorted(g["kind"] for g in groups) == ["exact", "similar"]
    assert groups[0]["redundant_bytes"] >= groups[1]["redundant_bytes"] > 0
    # The flower's exact group is reviewed through its similar group, which lists every copy.
    similar = next(g for g in groups if g["kind"] == "similar")
    detail = admin_client.get(similar["url"]).json()
    assert {m["path"] for m in detail["members"]} == {str(p) for p in made.values()}
    primary = next(m for m in detail["members"] if m["primary"])
    assert primary["distance"] == 0 and primary["asset"] == detail["primary"]["id"]
    sizes = sum(m["size"] for m in detail["members"])
    assert detail["redundant_bytes"] == sizes - primary["size"]
    assert {"width", "height", "format", "taken_at", "quality_score", "thumbnail"} <= set(detail["members"][0])

    first = admin_client.get(f"/api/catalogs/{catalog.pk}/duplicates?limit=1").json()
    second = admin_client.get(first["next"]).json()
    assert [g["id"] for g in first["results"] + second["results"]] == [g["id"] for g in groups]
    assert second["next"] is None
    assert [g["kind"] for g in admin_client.get(f"/api/catalogs/{catalog.pk}/duplicates?kind=exact").json()[
        "results"]] == ["exact"]  # fmt: skip


def test_review_decisions_persist_through_a_re_run(admin_client, review):
    catalog, made = review
    similar = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    half = Asset.objects.get(path=str(made["resize_50"]))
    png = Asset.objects.get(path=str(made["png"]))

    chosen = post(admin_client, f"/api/duplicates/{similar.pk}/primary", {"asset": half.pk})
    assert chosen.status_code == 200 and chosen.json()["primary"]["id"] == half.pk
    dismissed = post(admin_client, f"/api/duplicates/{similar.pk}/not-duplicates", {"asset": png.pk})
    assert dismissed.status_code == 200
    assert png.pk not in {m["asset"] for m in dismissed.json()["group"]["members"]}
    exact = DuplicateGroup.objects.get(catalog=catalog, kind="exact", cluster__isnull=True)
    assert post(admin_client, f"/api/duplicates/{exact.pk}/reviewed", {}).json()["reviewed"] is True

    catalog_find_duplicates(catalog=catalog)

    similar = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    assert similar.primary_id == half.pk and similar.primary_chosen
    assert png.pk not in set(similar.members.values_list("asset_id", flat=True))
    assert NotDuplicate.objects.filter(catalog=catalog).exists()
    unreviewed = admin_client.get(f"/api/catalogs/{catalog.pk}/duplicates?reviewed=0").json()["results"]
    assert exact.pk not in {g["id"] for g in unreviewed}
    reviewed = admin_client.get(f"/api/catalogs/{catalog.pk}/duplicates?reviewed=1").json()["results"]
    assert [g["id"] for g in reviewed] == [exact.pk]


def test_review_actions_refuse_what_makes_no_sense(admin_client, client, review):
    catalog, made = review
    similar = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    exact = DuplicateGroup.objects.get(catalog=catalog, kind="exact", cluster__isnull=True)
    stranger = Asset.objects.filter(catalog=catalog).exclude(duplicate_memberships__group=similar).first()
    cases = [
        (f"/api/duplicates/{similar.pk}/primary", {"asset": stranger.pk}, "not a member"),
        (f"/api/duplicates/{similar.pk}/primary", {"asset": "x"}, "asset"),
        (f"/api/duplicates/{similar.pk}/primary", {}, "asset"),
        (f"/api/duplicates/{exact.pk}/not-duplicates", {}, "byte-identical"),
        (f"/api/duplicates/{similar.pk}/reviewed", {"reviewed": "perhaps"}, "reviewed"),
    ]
    for path, body, reason in cases:
        response = post(admin_client, path, body)
        assert response.status_code == 400 and reason in response.json()["error"], (path, body)
    assert post(admin_client, "/api/duplicates/999999/primary", {"asset": 1}).status_code == 404
    assert admin_client.get(f"/api/catalogs/{catalog.pk}/duplicates?kind=blurry").status_code == 400
    assert admin_client.get(f"/api/catalogs/{catalog.pk}/duplicates?after=zzz").status_code == 400
    assert client.get(f"/api/duplicates/{similar.pk}").status_code == 401
    assert post(client, f"/api/duplicates/{similar.pk}/reviewed", {}).status_code == 401
    similar.refresh_from_db()
    assert not similar.primary_chosen and similar.reviewed_at is None


def test_a_reviewed_group_is_to_review_again_when_a_copy_joins_it(admin_client, review, tmp_path):
    catalog, made = review
    exact = DuplicateGroup.objects.get(catalog=catalog, kind="exact", cluster__isnull=True)
    post(admin_client, f"/api/duplicates/{exact.pk}/reviewed", {})
    shutil.copyfile(FIXTURES / "dupes" / "kde_path__original.jpg", tmp_path / "photos" / "third_kde.jpg")
    analyze(tmp_path / "catalog", tmp_path / "photos", thumbnails=False)
    exact.refresh_from_db()
    assert exact.member_count == 3 and exact.reviewed_at is None
    stats = admin_client.get(f"/api/catalogs/{catalog.pk}").json()["stats"]
    assert stats["unreviewed_groups"] == 2


def test_a_reviewed_group_is_to_review_again_when_another_copy_becomes_the_kept_one(admin_client, review, tmp_path):
    catalog, _ = review
    similar = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    post(admin_client, f"/api/duplicates/{similar.pk}/reviewed", {})
    other = Asset.objects.filter(duplicate_memberships__group=similar).exclude(sha256=similar.primary.sha256).first()
    Asset.objects.filter(sha256=other.sha256).update(width=9000, height=9000)  # now the biggest: the new primary
    analyze(tmp_path / "catalog", tmp_path / "photos", thumbnails=False)
    similar.refresh_from_db()
    assert similar.primary.sha256 == other.sha256 and similar.reviewed_at is None


def test_a_review_survives_new_scores_of_the_same_files(admin_client, review, tmp_path):
    from catalog.models import DuplicateMember

    catalog, _ = review
    similar = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    post(admin_client, f"/api/duplicates/{similar.pk}/reviewed", {})
    # As after an upgrade that scores quality anew: the same files, other scores.
    DuplicateMember.objects.filter(group=similar).update(quality_score=12345.0)
    analyze(tmp_path / "catalog", tmp_path / "photos", thumbnails=False)
    similar.refresh_from_db()
    assert similar.reviewed_at is not None
    assert not DuplicateMember.objects.filter(group=similar, quality_score=12345.0).exists()  # rescored all the same


def test_a_review_decision_on_a_catalog_never_summed_sums_it_whole(admin_client, review):
    from catalog.models import Catalog

    catalog, _ = review
    Catalog.objects.filter(pk=catalog.pk).update(stats={}, stats_at=None)  # as a catalog from before the figures
    exact = DuplicateGroup.objects.get(catalog=catalog, kind="exact", cluster__isnull=True)
    post(admin_client, f"/api/duplicates/{exact.pk}/reviewed", {})
    stats = Catalog.objects.get(pk=catalog.pk).stats
    assert stats["assets"] == 6 and stats["timeline"] and stats["exact_groups"] == 2
