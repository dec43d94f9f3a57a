"""The review pages through Django's test client: duplicate review (list by space, a group side by side, keep
another copy, "not the same picture", reviewed then the next group), date review (set by hand for a selection,
back to automatic) and the problem list."""

from __future__ import annotations

import os
import shutil

import pytest
from django.urls import reverse

from catalog.models import Asset, Catalog, DuplicateGroup
from catalog.services.duplicates import catalog_find_duplicates
from tests.conftest import FIXTURES
from tests.services.helpers import analyze, camera_photo, plain_photo
from tests.similarity.helpers import FLOWER, copies

pytestmark = pytest.mark.django_db


@pytest.fixture
def review(tmp_path):
    library = tmp_path / "photos"
    made = copies(FLOWER, library, only=("png", "resize_50"))
    other = FIXTURES / "dupes" / "kde_path__original.jpg"
    shutil.copyfile(other, library / "kde.jpg")
    shutil.copyfile(other, library / "backup" / "kde.jpg")
    plain_photo(library / "scan.jpg")
    (library / "broken.jpg").write_bytes(b"\xff\xd8\xff not a picture")
    catalog, _ = analyze(tmp_path / "catalog", library)
    return catalog, made


def test_duplicate_review_keeps_choices_and_walks_to_the_next_group(admin_client, review):
    catalog, made = review
    listing = admin_client.get(reverse("catalog:duplicates", args=[catalog.pk])).content.decode()
    similar = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    exact = DuplicateGroup.objects.get(catalog=catalog, kind="exact", cluster__isnull=True)
    assert f"Similar group {similar.pk}" in listing and f"Exact group {exact.pk}" in listing
    assert "Nothing is deleted from disk" in listing

    page = admin_client.get(reverse("catalog:duplicate", args=[similar.pk])).content.decode()
    assert page.count('class="card member') == 4 and "Primary: kept" in page
    assert 'data-key="r"' in page and 'data-key="2"' in page and "catalog/keys.js" in page
    half = Asset.objects.get(path=str(made["resize_50"]))
    action = reverse("catalog:duplicate-action", args=[similar.pk, "primary"])
    assert admin_client.post(action, {"asset": half.pk}).status_code == 302
    catalog_find_duplicates(catalog=catalog)  # a re-run keeps the choice
    similar = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    assert similar.primary_id == half.pk and similar.primary_chosen
    page = admin_client.get(reverse("catalog:duplicate", args=[similar.pk])).content.decode()
    assert "(your choice)" in page

    png = Asset.objects.get(path=str(made["png"]))
    admin_client.post(reverse("catalog:duplicate-action", args=[similar.pk, "not-duplicates"]), {"asset": png.pk})
    assert not similar.members.filter(asset=png).exists()

    done = admin_client.post(reverse("catalog:duplicate-action", args=[similar.pk, "reviewed"]))
    following = DuplicateGroup.objects.exclude(pk=similar.pk).get(catalog=catalog, cluster__isnull=True,
                                                                  reviewed_at__isnull=True)  # fmt: skip
    assert done.url == reverse("catalog:duplicate", args=[following.pk])  # on to the next group to review
    todo = admin_client.get(reverse("catalog:duplicates", args=[catalog.pk])).content.decode()
    assert f"Similar group {similar.pk}" not in todo
    reviewed = admin_client.get(reverse("catalog:duplicates", args=[catalog.pk]) + "?show=reviewed")
    assert f"Similar group {similar.pk}" in reviewed.content.decode()

    refused = admin_client.post(reverse("catalog:duplicate-action", args=[exact.pk, "not-duplicates"]))
    assert "byte-identical" in admin_client.get(refused.url).content.decode()
    stranger = Asset.objects.get(path__endswith="scan.jpg")
    assert admin_client.post(action, {"asset": stranger.pk}).status_code == 400
    assert admin_client.get(reverse("catalog:duplicate-action", args=[similar.pk, "reviewed"])).status_code == 405


def test_date_review_sets_dates_by_hand_for_a_selection(admin_client, review, tmp_path):
    catalog, made = review
    here = reverse("catalog:dates", args=[catalog.pk])
    page = admin_client.get(here).content.decode()
    scan = Asset.objects.get(catalog=catalog, path__endswith="scan.jpg")
    assert scan.path in page and 'not known</span> <span class="muted">(file modified ' in page
    flower = Asset.objects.get(path=str(made["original"]))
    assert flower.date_source == "exif_original" and flower.path not in page  # a reliable date is not listed

    done = admin_client.post(here, {"asset": [scan.pk], "taken_at": "2001-02-03T04:05:06", "action": "set"})
    assert "1 file dated by hand" in admin_client.get(done.url).content.decode()
    scan.refresh_from_db()
    assert (scan.date_source, scan.taken_at.isoformat()) == ("manual", "2001-02-03T04:05:06+00:00")
    assert "Set by hand" in admin_client.get(here).content.decode()  # still listed, so it can be undone here

    back = admin_client.post(here, {"asset": [scan.pk], "action": "automatic"})
    assert "1 file back to their own dates" in admin_client.get(back.url).content.decode()
    scan.refresh_from_db()
    assert scan.date_source == "mtime"
    for form, message in (({"taken_at": "2001-02-03T04:05"}, "choose at least one"),
                          ({"asset": [scan.pk], "taken_at": "soon"}, "give the date")):  # fmt: skip
        assert message in admin_client.get(admin_client.post(here, form).url).content.decode()


def test_problems_are_listed_by_kind_with_a_csv_export(admin_client, review):
    catalog, _ = review
    page = admin_client.get(reverse("catalog:problems", args=[catalog.pk])).content.decode()
    broken = Asset.objects.get(catalog=catalog, path__endswith="broken.jpg")
    assert broken.path in page and broken.problem_message in page
    assert f"?kind={broken.problem_kind}" in page and "what=problems&amp;format=csv" in page
    other = admin_client.get(reverse("catalog:problems", args=[catalog.pk]) + "?kind=nothing-like-it")
    assert broken.path not in other.content.decode()
    assert "1 not a picture</a>" in page and "Not a picture" in page  # the kind in words


def test_review_pages_need_a_login(client, review):
    catalog, _ = review
    group = DuplicateGroup.objects.filter(catalog=catalog).first()
    pages = [("catalog:duplicates", catalog.pk), ("catalog:duplicate", group.pk), ("catalog:dates", catalog.pk),
             ("catalog:problems", catalog.pk)]  # fmt: skip
    for name, key in pages:
        assert client.get(reverse(name, args=[key])).status_code == 302
    action = client.post(reverse("catalog:duplicate-action", args=[group.pk, "reviewed"]))
    assert action.status_code == 302 and "/accounts/login/" in action.url
    group.refresh_from_db()
    assert group.reviewed_at is None


def test_staff_create_edit_and_delete_catalog_records_and_files_stay(admin_client, client, django_user_model,
                                                                       tmp_path, settings):  # fmt: skip
    library = tmp_path / "library"
    (library / "photos").mkdir(parents=True)
    photo = camera_photo(library / "photos" / "a.jpg", "2019:03:15 14:22:33")
    settings.VAM_LIBRARY_ROOTS = [str(library.resolve())]
    new = reverse("catalog:create")
    refused = admin_client.post(new, {"name": "", "path": "/etc/catalog", "sources": "/etc"})
    page = refused.content.decode()
    assert refused.status_code == 400 and "give the catalog a name" in page and "outside the library roots" in page
    created = admin_client.post(new, {"name": "Family", "path": str(library / "catalog"),
                                      "sources": str(library / "photos")})  # fmt: skip
    catalog = Catalog.objects.get(name="Family")
    assert created.url == reverse("catalog:dashboard", args=[catalog.pk])
    assert catalog.source_directories == [str((library / "photos").resolve())]

    admin_client.post(reverse("catalog:edit", args=[catalog.pk]), {"name": "Family photos", "sources": ""})
    catalog.refresh_from_db()
    assert catalog.name == "Family photos" and catalog.source_directories == []

    user = django_user_model.objects.create_user("sam", password="pw")
    client.force_login(user)
    for name in ("catalog:edit", "catalog:delete"):
        assert client.post(reverse(name, args=[catalog.pk]), {"name": "x"}).status_code == 403
    assert client.get(new).status_code == 403
    assert "new catalog" not in client.get(reverse("catalog:list")).content.decode()

    page = admin_client.get(reverse("catalog:delete", args=[catalog.pk])).content.decode()
    assert "No file is touched" in page
    admin_client.post(reverse("catalog:delete", args=[catalog.pk]))
    assert not Catalog.objects.filter(pk=catalog.pk).exists()
    assert photo.is_file() and (library / "catalog").is_dir()


def test_redundant_exact_copies_move_to_a_folder_through_the_journal(admin_client, review, tmp_path, settings):
    from catalog.services.organize import organize_rollback
    from jobs.models import Job
    from jobs.tasks import run_job

    catalog, made = review
    settings.VAM_LIBRARY_ROOTS = [str(tmp_path)]
    here = reverse("catalog:move-redundant", args=[catalog.pk])
    refused = admin_client.post(here, {"output_directory": "/elsewhere"})
    assert "outside the library roots" in admin_client.get(refused.url).content.decode()

    response = admin_client.post(here, {"output_directory": str(tmp_path / "copies")})
    job = Job.objects.get(kind="organize")
    assert response.url == reverse("jobs:detail", args=[job.pk]) and job.params["only_redundant"] is True
    run_job(str(job.pk))
    job.refresh_from_db()
    assert job.status == "SUCCESS", job.error
    primaries = set(DuplicateGroup.objects.filter(catalog=catalog, kind="exact").values_list("primary__path",
                                                                                              flat=True))  # fmt: skip
    moved = {step.source for step in job.organize_steps.filter(state="done")}
    assert len(moved) == 2 and not moved & primaries  # one copy of the flower and one of kde, never a kept one
    assert all(not os.path.exists(path) for path in moved) and all(os.path.exists(path) for path in primaries)
    assert len(list((tmp_path / "copies").iterdir())) == 2

    organize_rollback(catalog=catalog, journal=job)
    assert all(os.path.exists(path) for path in moved)
