"""The jobs pages: login, submitting through the forms (same validation as the API), job pages, cancel."""

from __future__ import annotations

import pytest
from django.urls import reverse

from jobs.models import Job, JobStatus

pytestmark = pytest.mark.django_db


def test_pages_need_a_login(client):
    job = Job.objects.create(kind="analyze")
    for url in (
        reverse("jobs:index"),
        reverse("jobs:detail", args=[job.pk]),
        "/",
    ):
        response = client.get(url, follow=True)
        assert response.redirect_chain[-1][0].startswith(reverse("login")), url
    response = client.post(reverse("jobs:submit", args=["analyze"]), {"catalog_path": "/x"})
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert client.post(reverse("jobs:cancel", args=[job.pk])).status_code == 302
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING
    assert Job.objects.count() == 1


def test_login_page_logs_in_and_lands_on_the_jobs_page(client, admin_user):
    page = client.get(reverse("login")).content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    response = client.post(reverse("login"), {"username": "admin", "password": "password"}, follow=True)
    assert response.redirect_chain[-1][0] == "/jobs/"
    assert "Active jobs" in response.content.decode()


def test_analyze_form_submits_a_job_and_shows_its_page(admin_client, roots, django_capture_on_commit_callbacks):
    form = {
        "catalog_path": str(roots / "catalog"),
        "source_directories": f"{roots / 'photos'}\n\n",
        "detect_duplicates": "on",
        "similarity_threshold": "12",
    }
    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(reverse("jobs:submit", args=["analyze"]), form)
    job = Job.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("jobs:detail", args=[job.pk])
    assert job.params["similarity_threshold"] == 12 and job.params["detect_duplicates"] is True
    page = admin_client.get(response["Location"]).content.decode()
    assert str(job.pk) in page and "PENDING" in page and "/static/jobs/live.js" in page


def test_bad_forms_are_shown_again_with_the_reason(admin_client, roots):
    form = {"catalog_path": str(roots / "catalog"), "source_directories": "/etc"}
    response = admin_client.post(reverse("jobs:submit", args=["analyze"]), form)
    assert response.status_code == 400
    assert "outside the library roots" in response.content.decode()
    response = admin_client.post(reverse("jobs:submit", args=["thumbnails"]), {"catalog_path": "/nowhere"})
    assert response.status_code == 400 and "no catalog at /nowhere" in response.content.decode()
    assert admin_client.post(reverse("jobs:submit", args=["format"]), {}).status_code == 404
    assert not Job.objects.exists()


def test_organize_form_submits_a_job_and_shows_refusals(admin_client, roots):
    from catalog.models import Catalog

    catalog = Catalog.objects.create(path=str(roots / "cat"), name="cat", source_directories=[str(roots / "photos")])
    form = {"catalog_path": catalog.path, "output_directory": str(roots / "photos" / "sorted"), "operation": "copy",
            "directory_structure": "YYYY/MM", "naming_strategy": "original", "skip_undated": "on"}  # fmt: skip
    response = admin_client.post(reverse("jobs:submit", args=["organize"]), form)
    assert response.status_code == 400 and "inside the source folder" in response.content.decode()
    assert not Job.objects.exists()

    response = admin_client.post(reverse("jobs:submit", args=["organize"]), form | {"output_directory": str(roots)})
    assert response.status_code == 400 and "is inside the output" in response.content.decode()

    sorted_dir = roots / "sorted"
    response = admin_client.post(
        reverse("jobs:submit", args=["organize"]), form | {"output_directory": str(sorted_dir)}
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == reverse("jobs:detail", args=[job.pk])
    assert (
        job.kind == "organize" and job.params["undated_folder"] is None and job.params["naming_strategy"] == "original"
    )


def test_jobs_page_lists_active_and_paginated_history_and_cancels(admin_client):
    running = Job.objects.create(kind="analyze", status=JobStatus.PROGRESS, phase="analyze", current=5, total=10)
    for _ in range(25):
        Job.objects.create(kind="thumbnails", status=JobStatus.SUCCESS)
    page = admin_client.get(reverse("jobs:index")).content.decode()
    assert f'data-job-id="{running.pk}"' in page and "50.0%" in page and "page 1 of 2" in page
    assert "older" in page
    response = admin_client.post(reverse("jobs:cancel", args=[running.pk]), {"next": "/jobs/"})
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    running.refresh_from_db()
    assert running.cancel_requested_at is not None  # a running job stops at its next progress check


def test_other_users_jobs_are_not_found(client, django_user_model, admin_user):
    job = Job.objects.create(kind="analyze", created_by=admin_user)
    client.force_login(django_user_model.objects.create_user("gina", password="pw"))
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 404
    assert client.post(reverse("jobs:cancel", args=[job.pk])).status_code == 404
    assert str(job.pk) not in client.get(reverse("jobs:index")).content.decode()
