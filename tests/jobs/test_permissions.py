"""What a non-staff user may do with a shared catalog, the same in the REST API and the pages: browse, review,
analyze it as it is, make thumbnails and copies; not create catalogs, change their sources, delete them, or move
and remove files (organize move, moving redundant copies, rollback) unless they own the catalog."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils.html import escape

from catalog.models import Catalog
from jobs.models import Job, JobStatus
from tests.jobs.test_api import post
from tests.jobs.test_organize_jobs import files, run

pytestmark = pytest.mark.django_db

STAFF_OR_OWNER = "only staff or the catalog's owner"


@pytest.fixture
def member(client, django_user_model):
    """A signed-in user who is not staff."""
    user = django_user_model.objects.create_user("member", password="a long enough password")
    client.force_login(user)
    return user


def error(response) -> str:
    return response.json()["error"]


def test_a_member_analyzes_a_shared_catalog_as_it_is_but_neither_creates_one_nor_adds_sources(
    client, member, roots, queue, analyzed, django_capture_on_commit_callbacks
):
    elsewhere = roots / "elsewhere"
    elsewhere.mkdir()
    as_it_is = {"catalog_path": analyzed.path, "source_directories": analyzed.source_directories}
    job = run(client, queue, "/api/jobs/analyze", as_it_is, django_capture_on_commit_callbacks)
    assert job.created_by == member and job.result["unchanged"] == 4

    added = post(client, "/api/jobs/analyze", as_it_is | {"source_directories": [str(elsewhere)]})
    assert added.status_code == 403
    assert error(added) == f"{STAFF_OR_OWNER} may add source folders to it ({elsewhere})"
    new = post(
        client, "/api/jobs/analyze", {"catalog_path": str(roots / "mine"), "source_directories": [str(elsewhere)]}
    )
    assert new.status_code == 403 and error(new).startswith("only staff can create catalogs")
    analyzed.refresh_from_db()
    assert analyzed.source_directories == [str(roots / "photos")]
    assert Catalog.objects.count() == 1 and Job.objects.count() == 1


def test_a_member_copies_and_dry_runs_but_moves_only_the_catalogs_they_own(
    client, member, roots, queue, analyzed, django_capture_on_commit_callbacks
):
    move = {"catalog_path": analyzed.path, "output_directory": str(roots / "sorted"), "operation": "move"}
    refused = post(client, "/api/jobs/organize", move)
    assert refused.status_code == 403
    assert error(refused) == f"{STAFF_OR_OWNER} may move its files: choose copy, or a dry run"
    excluded = post(client, "/api/jobs/organize", {**move, "operation": "copy", "exclude_output": True})
    assert excluded.status_code == 403 and "leave a folder out of its scans" in error(excluded)
    assert not Job.objects.exists() and len(files(roots / "photos")) == 4

    dry = run(client, queue, "/api/jobs/organize", move | {"dry_run": True}, django_capture_on_commit_callbacks)
    assert dry.result["planned"] == 4 and len(files(roots / "photos")) == 4
    copy = run(client, queue, "/api/jobs/organize", move | {"operation": "copy"}, django_capture_on_commit_callbacks)
    assert len(files(roots / "sorted")) == 4
    # Rolling back a copy removes the copies: not theirs to do either.
    undo = post(client, f"/api/jobs/{copy.pk}/rollback", {})
    assert (
        undo.status_code == 403 and error(undo) == f"{STAFF_OR_OWNER} may roll back an organize that copied its files"
    )
    assert len(files(roots / "sorted")) == 4

    analyzed.owner = member
    analyzed.save()
    undo = run(client, queue, f"/api/jobs/{copy.pk}/rollback", capture=django_capture_on_commit_callbacks)
    assert undo.result["rolled_back"] == 4 and files(roots / "sorted") == []
    moved = run(client, queue, "/api/jobs/organize", move, django_capture_on_commit_callbacks)
    assert moved.status == JobStatus.SUCCESS and len(files(roots / "sorted")) == 4 and files(roots / "photos") == []


def test_the_pages_apply_the_same_rule_and_say_why(client, member, roots, analyzed, admin_client):
    edit, delete = reverse("catalog:edit", args=[analyzed.pk]), reverse("catalog:delete", args=[analyzed.pk])
    listing = client.get(reverse("catalog:list")).content.decode()
    assert analyzed.name in listing and edit not in listing and reverse("catalog:create") not in listing
    for page in (edit, delete, reverse("catalog:create")):
        refused = client.get(page)
        assert refused.status_code == 403 and b"Not allowed" in refused.content
    assert (
        escape(f"{STAFF_OR_OWNER} may change or delete this catalog".capitalize()) in client.get(edit).content.decode()
    )
    assert client.post(delete).status_code == 403 and Catalog.objects.filter(pk=analyzed.pk).exists()

    duplicates = reverse("catalog:duplicates", args=[analyzed.pk])
    assert reverse("catalog:move-redundant", args=[analyzed.pk]) not in client.get(duplicates).content.decode()
    moved = client.post(reverse("catalog:move-redundant", args=[analyzed.pk]),
                        {"output_directory": str(roots / "redundant")})  # fmt: skip
    assert moved.status_code == 403 and not Job.objects.exists()

    form = {"catalog_path": analyzed.path, "output_directory": str(roots / "sorted"), "operation": "move",
            "directory_structure": "YYYY/MM", "naming_strategy": "date_time_checksum",
            "verify_checksums": "on"}  # fmt: skip
    page = client.post(reverse("jobs:submit", args=["organize"]), form)
    assert page.status_code == 403 and not Job.objects.exists()
    assert page.context["forms"]["organize"]["errors"] == {
        "operation": f"{STAFF_OR_OWNER} may move its files: choose copy, or a dry run"
    }

    # Staff give the catalog to the member on its edit page; then it is theirs to edit (but not to give away).
    given = admin_client.post(edit, {"name": analyzed.name, "sources": "\n".join(analyzed.source_directories),
                                     "owner": str(member.pk)})  # fmt: skip
    assert given.status_code == 302
    analyzed.refresh_from_db()
    assert analyzed.owner == member
    assert edit in client.get(reverse("catalog:list")).content.decode()
    page = client.get(edit)
    assert page.status_code == 200 and b'name="owner"' not in page.content
    renamed = client.post(edit, {"name": "Family", "sources": "\n".join(analyzed.source_directories), "owner": ""})
    assert renamed.status_code == 302
    analyzed.refresh_from_db()
    assert analyzed.name == "Family" and analyzed.owner == member
    assert client.post(reverse("jobs:submit", args=["organize"]), form).status_code == 302


def test_a_job_page_offers_rollback_only_to_who_may_do_it(
    client, member, roots, queue, analyzed, django_capture_on_commit_callbacks
):
    body = {"catalog_path": analyzed.path, "output_directory": str(roots / "sorted")}
    copy = run(client, queue, "/api/jobs/organize", body, django_capture_on_commit_callbacks)
    page = client.get(reverse("jobs:detail", args=[copy.pk])).content.decode()
    assert "Roll back</button>" not in page
    assert escape(f"{STAFF_OR_OWNER} may roll back an organize that copied its files.".capitalize()) in page
    refused = client.post(reverse("jobs:organize-again", args=[copy.pk, "rollback"]))
    assert refused.status_code == 403 and b"Not allowed" in refused.content
    assert len(files(roots / "sorted")) == 4

    analyzed.owner = member
    analyzed.save()
    page = client.get(reverse("jobs:detail", args=[copy.pk])).content.decode()
    assert "Roll back</button>" in page and 'data-confirm="Undo this organize' in page
    assert client.post(reverse("jobs:organize-again", args=[copy.pk, "rollback"])).status_code == 302
