"""The jobs pages: login, submitting through the forms (same validation as the API, errors at their field with
what was typed kept), job pages that tell the job in words, cancel."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.media.words import duration_words
from catalog.models import Catalog
from jobs.models import Job, JobStatus
from tests.jobs.test_api import post
from tests.jobs.test_jobs import work
from tests.services.helpers import camera_photo, plain_photo

pytestmark = pytest.mark.django_db


def form_of(page: str, kind: str) -> str:
    """The HTML of one of the jobs page's forms."""
    start = page.index(f'action="{reverse("jobs:submit", args=[kind])}')
    return page[start : page.index("</form>", start)]


def error_at(form: str, name: str) -> str:
    """The error shown right after the field ``name`` (before the next field), '' if none."""
    after = form[form.index(f'name="{name}"') :]
    found = re.search(r'<p class="error">(.*?)</p>', after[: after.find("<label", 1)])
    return html.unescape(found.group(1)) if found else ""


def top_error(form: str) -> str:
    found = re.search(r'<p class="error">(.*?)</p>', form[: form.index("<label")])
    return html.unescape(found.group(1)) if found else ""


def text_of(page: str) -> str:
    """What a person reads on the page: its main part without tags, scripts or attributes."""
    main = page[page.index("<main>") : page.index("</main>")]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", main)))


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


def test_login_page_logs_in(client, admin_user):
    page = client.get(reverse("login")).content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    response = client.post(reverse("login"), {"username": "admin", "password": "password"}, follow=True)
    assert response.status_code == 200 and not response.redirect_chain[-1][0].startswith(reverse("login"))
    assert "Active jobs" in client.get(reverse("jobs:index")).content.decode()


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
    words = text_of(page)
    assert "Analyze of catalog" in words and "Similarity threshold 12" in words and "Detect duplicates yes" in words
    assert "waiting" in words and "The result shows here when the job ends." in words


def test_a_relative_path_is_refused_at_its_field_with_everything_typed_kept(admin_client, roots):
    form = {"catalog_path": "catalog", "source_directories": "/etc\nphotos", "similarity_threshold": "99"}
    response = admin_client.post(reverse("jobs:submit", args=["analyze"]), form)
    assert response.status_code == 400 and not Job.objects.exists()
    page = response.content.decode()
    analyze = form_of(page, "analyze")
    assert error_at(analyze, "catalog_path") == "must be an absolute path"
    assert "/etc is outside the library roots" in error_at(analyze, "source_directories")
    assert "photos must be an absolute path" in error_at(analyze, "source_directories")
    assert error_at(analyze, "similarity_threshold") == "must be between 0 and 24"
    assert 'name="catalog_path" placeholder="/data/catalogs/family" value="catalog"' in analyze
    assert ">/etc\nphotos</textarea>" in analyze and 'value="99"' in analyze
    assert 'name="detect_duplicates" checked' not in analyze  # it was not ticked
    assert "job-form failed" in page and "autofocus" in analyze  # shown: scrolled to, its field in focus
    assert "non_field_errors" not in page and "ErrorDetail" not in page


def test_thumbnails_errors_read_as_words(admin_client, roots):
    response = admin_client.post(reverse("jobs:submit", args=["thumbnails"]), {"catalog_path": "/nowhere"})
    assert response.status_code == 400
    assert error_at(form_of(response.content.decode(), "thumbnails"), "catalog_path").startswith(
        "no catalog at /nowhere: analyze it first"
    )
    catalog = Catalog.objects.create(path=str(roots / "cat"), name="Family")
    form = {"catalog_path": catalog.path, "sizes": "0, 1", "quality": "101", "force": "on"}
    page = admin_client.post(reverse("jobs:submit", args=["thumbnails"]), form).content.decode()
    thumbnails = form_of(page, "thumbnails")
    assert error_at(thumbnails, "sizes") == "each size must be between 16 and 4096"
    assert error_at(thumbnails, "quality") == "must be between 1 and 100"
    assert 'value="0, 1"' in thumbnails and 'name="force" checked' in thumbnails
    assert f'value="{catalog.path}" selected' in thumbnails
    assert admin_client.post(reverse("jobs:submit", args=["format"]), {}).status_code == 404
    assert not Job.objects.exists()


def test_organize_form_keeps_what_was_typed_and_puts_refusals_where_they_belong(admin_client, roots):
    Catalog.objects.create(path=str(roots / "aaa"), name="Another")
    catalog = Catalog.objects.create(path=str(roots / "cat"), name="cat", source_directories=[str(roots / "photos")])
    form = {"catalog_path": catalog.path, "output_directory": "sorted", "operation": "hardlink",
            "directory_structure": "YYYY-MM-DD", "naming_strategy": "original", "dry_run": "on",
            "skip_duplicates": "on", "undated_folder": "no date"}  # fmt: skip
    response = admin_client.post(reverse("jobs:submit", args=["organize"]), form)
    assert response.status_code == 400
    page = response.content.decode()
    organize = form_of(page, "organize")
    assert error_at(organize, "output_directory") == "must be an absolute path"
    assert 'value="sorted"' in organize and 'value="no date"' in organize
    assert 'name="dry_run" checked' in organize and 'name="skip_duplicates" checked' in organize
    assert 'name="verify_checksums">' in organize  # not ticked, as posted
    assert '<option value="hardlink" selected>' in organize and '<option value="YYYY-MM-DD" selected>' in organize
    assert '<option value="original" selected>' in organize and f'value="{catalog.path}" selected' in organize
    assert "non_field_errors" not in page and "output_directory:" not in page

    inside = form | {"output_directory": str(roots / "photos" / "sorted")}
    organize = form_of(
        admin_client.post(reverse("jobs:submit", args=["organize"]), inside).content.decode(), "organize"
    )
    assert "is inside the source folder" in error_at(organize, "output_directory") and not top_error(organize)

    response = admin_client.post(reverse("jobs:submit", args=["organize"]), form | {"output_directory": str(roots)})
    assert "is inside the output" in error_at(form_of(response.content.decode(), "organize"), "output_directory")

    move = form | {"output_directory": str(roots / "sorted"), "operation": "move"}
    organize = form_of(admin_client.post(reverse("jobs:submit", args=["organize"]), move).content.decode(), "organize")
    assert top_error(organize) == "This catalog has never been analyzed: run analyze before a move"
    assert not error_at(organize, "output_directory")

    undated = form | {"output_directory": str(roots / "sorted"), "undated_folder": "../up"}
    organize = form_of(
        admin_client.post(reverse("jobs:submit", args=["organize"]), undated).content.decode(), "organize"
    )
    assert error_at(organize, "undated_folder") == "must be a plain folder name, without /"
    assert not Job.objects.exists()

    response = admin_client.post(
        reverse("jobs:submit", args=["organize"]),
        form | {"output_directory": str(roots / "sorted"), "skip_undated": "on", "verify_checksums": "on"},
    )
    job = Job.objects.get()
    assert response.status_code == 302 and response.url == reverse("jobs:detail", args=[job.pk])
    assert job.params["undated_folder"] is None and job.params["naming_strategy"] == "original"
    assert job.catalog == catalog  # its catalog is known from the start: the lists can name it


def test_analyze_form_offers_the_catalogs_and_analyzes_the_stored_sources(
    admin_client, roots, django_capture_on_commit_callbacks
):
    photos = str((roots / "photos").resolve())
    catalog = Catalog.objects.create(path=str(roots / "cat"), name="Family photos", source_directories=[photos])
    page = admin_client.get(reverse("jobs:index") + "?catalog=" + catalog.path).content.decode()
    analyze = form_of(page, "analyze")
    assert f'<option value="{catalog.path}" data-sources="{photos}" selected>Family photos — {catalog.path}' in analyze
    assert '<option value="">New catalog…</option>' in analyze and f">{photos}</textarea>" in analyze
    fresh = form_of(admin_client.get(reverse("jobs:index") + "?catalog=/data/new").content.decode(), "analyze")
    assert '<option value="" selected>New catalog…' in fresh and 'value="/data/new"' in fresh

    with django_capture_on_commit_callbacks(execute=False):
        response = admin_client.post(
            reverse("jobs:submit", args=["analyze"]),
            {"catalog": catalog.path, "catalog_path": "", "source_directories": "", "detect_duplicates": "on"},
        )
    job = Job.objects.get()
    assert response.status_code == 302 and job.params["source_directories"] == [photos]
    assert job.params["catalog_path"] == catalog.path and job.catalog == catalog

    # Without JavaScript the list keeps its first catalog beside a typed new one: the typed one is meant.
    (roots / "trip").mkdir()
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(reverse("jobs:submit", args=["analyze"]), {
            "catalog": catalog.path, "catalog_path": str(roots / "trip-catalog"),
            "source_directories": str(roots / "trip"), "detect_duplicates": "on"})  # fmt: skip
    trip = Job.objects.order_by("-created_at").first()
    assert trip.params["catalog_path"] == str((roots / "trip-catalog").resolve())
    assert trip.params["source_directories"] == [str((roots / "trip").resolve())]

    Catalog.objects.filter(pk=catalog.pk).update(source_directories=[])
    response = admin_client.post(reverse("jobs:submit", args=["analyze"]), {"catalog": catalog.path})
    analyze = form_of(response.content.decode(), "analyze")
    assert error_at(analyze, "source_directories") == "give at least one source folder"
    assert f'value="{catalog.path}" data-sources="" selected' in analyze


@pytest.fixture
def analyzed_through_the_form(admin_client, roots, queue, django_capture_on_commit_callbacks):
    """A real analyze job, submitted by the form and run by a worker: two photos and one broken file."""
    photos = roots / "photos"
    camera_photo(photos / "2019" / "IMG_0001.jpg", "2019:03:15 14:22:33")
    plain_photo(photos / "scan.jpg")
    (photos / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not the rest of a picture")
    form = {"catalog_path": str(roots / "family"), "source_directories": str(photos), "detect_duplicates": "on"}
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(reverse("jobs:submit", args=["analyze"]), form)
    work(queue)
    job = Job.objects.get()
    assert job.status == JobStatus.SUCCESS, job.error
    return job


def test_an_analyze_job_page_reads_in_words(admin_client, analyzed_through_the_form):
    job = analyzed_through_the_form
    page = admin_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    words = text_of(page)
    assert "Analyze of family" in words and "SUCCESS" in words
    assert f'href="{reverse("catalog:dashboard", args=[job.catalog.pk])}"' in page
    assert "Source folders " + str(job.params["source_directories"][0]) in words
    assert "Detect duplicates yes" in words and "Similarity threshold 16 (default)" in words
    assert "3 files seen: 3 new, 0 changed, 0 unchanged, 0 moved, 0 marked missing." in words
    assert "Files seen 3" in words and "Exact duplicate groups 0" in words and "Duration" in words
    assert "files/s" in words and "Submitted by admin" in words
    assert "This run found a problem with 1 file:" in words and "broken.jpg" in words
    assert f'href="{reverse("catalog:problems", args=[job.catalog.pk])}"' in page
    assert not any(noise in words for noise in ("{", "}", "'", '"', "None", "True", "elapsed_seconds", "[")), words


def test_organize_dry_run_and_rollback_job_pages(
    admin_client, roots, queue, analyzed_through_the_form, django_capture_on_commit_callbacks
):
    catalog = analyzed_through_the_form.catalog
    sorted_dir = str((roots / "sorted").resolve())
    body = {"catalog_path": catalog.path, "output_directory": sorted_dir}
    for extra in ({"dry_run": True}, {}):
        with django_capture_on_commit_callbacks(execute=True):
            post(admin_client, "/api/jobs/organize", body | extra)
        work(queue)
    dry, real = Job.objects.filter(kind="organize").order_by("created_at")
    words = text_of(admin_client.get(reverse("jobs:detail", args=[dry.pk])).content.decode())
    assert f"Organize of family into {sorted_dir} (dry run)" in words
    assert "Dry run yes" in words and "Operation copy" in words and "would be organized" in words
    assert "Folders YYYY/MM (like 2019/03)" in words and "{" not in words and "'" not in words

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("jobs:organize-again", args=[real.pk, "rollback"]))
    work(queue)
    undo = Job.objects.get(params__rollback=str(real.pk))
    assert response.url == reverse("jobs:detail", args=[undo.pk]) and undo.status == JobStatus.SUCCESS
    page = admin_client.get(reverse("jobs:detail", args=[undo.pk])).content.decode()
    words = text_of(page)
    assert f"Rollback of organize job {str(real.pk)[:8]}" in words and "Organize of" not in words
    assert f"Rolls back organize job {str(real.pk)[:8]}" in words and "rolled back" in words
    assert "<title>Rollback of organize job" in page
    listed = text_of(admin_client.get(reverse("jobs:index")).content.decode())
    assert f"Rollback of organize job {str(real.pk)[:8]}" in listed and "Analyze of family" in listed


def test_the_body_live_js_reloads_holds_the_organize_files(
    admin_client, roots, queue, analyzed_through_the_form, django_capture_on_commit_callbacks
):
    body = {"catalog_path": analyzed_through_the_form.catalog.path, "output_directory": str(roots / "sorted"),
            "dry_run": True}  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        job_id = post(admin_client, "/api/jobs/organize", body).json()["job_id"]
    before = admin_client.get(reverse("jobs:detail", args=[job_id])).content.decode()
    assert '<div id="job-body">' in before and 'id="files"' not in before  # nothing planned yet
    work(queue)
    body = admin_client.get(reverse("jobs:detail", args=[job_id]) + "?part=body").content.decode()
    assert 'id="files"' in body and "files planned" in body and "<html" not in body
    row = admin_client.get(reverse("jobs:detail", args=[job_id]) + "?part=row").content.decode()
    assert row.startswith("<tr") and "Organize of family into" in row


def test_a_failed_job_says_why_in_a_sentence(admin_client, admin_user):
    started = timezone.now() - timedelta(minutes=3, seconds=4)
    job = Job.objects.create(
        kind="thumbnails", status=JobStatus.FAILURE, params={"catalog_path": "/data/gone"}, created_by=admin_user,
        started_at=started, finished_at=started + timedelta(minutes=3, seconds=4),
        error='Traceback (most recent call last):\n  File "x.py", line 1\nLookupError: no catalog at /data/gone',
    )  # fmt: skip
    words = text_of(admin_client.get(reverse("jobs:detail", args=[job.pk])).content.decode())
    assert "Why it failed LookupError: no catalog at /data/gone." in words and "Traceback" not in words
    assert "Thumbnails of gone" in words and "Duration 3 min 4 s" in words and "No result was recorded." in words
    assert "Sizes 256, 512 px (default)" in words


def test_jobs_page_lists_active_and_paginated_history_and_cancels(admin_client):
    running = Job.objects.create(
        kind="analyze", status=JobStatus.PROGRESS, phase="analyze", current=5, total=10,
        params={"catalog_path": "/data/family"}, started_at=timezone.now() - timedelta(seconds=75),
    )  # fmt: skip
    for _ in range(25):
        Job.objects.create(kind="thumbnails", status=JobStatus.SUCCESS, params={"catalog_path": "/data/family"})
    page = admin_client.get(reverse("jobs:index")).content.decode()
    assert f'data-job-id="{running.pk}"' in page and "50.0%" in page and "page 1 of 2" in page
    words = text_of(page)
    assert "Analyze of family" in words and "analyzing 5 of 10" in words and "running for 1 min 15 s" in words
    assert "Thumbnails of family" in words and "older" in words
    response = admin_client.post(reverse("jobs:cancel", args=[running.pk]), {"next": "/jobs/"})
    assert response.status_code == 302 and response["Location"] == "/jobs/"
    running.refresh_from_db()
    assert running.cancel_requested_at is not None  # a running job stops at its next progress check
    for elsewhere in ("https://evil.example/phish", "//evil.example/phish", "/\\evil.example"):  # no open redirect
        response = admin_client.post(reverse("jobs:cancel", args=[running.pk]), {"next": elsewhere})
        assert response.status_code == 302 and response["Location"] == "/jobs/", elsewhere


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(0.3, "under 1 s"), (4.24, "4.2 s"), (12.4, "12 s"), (184, "3 min 4 s"), (180, "3 min"), (3720, "1 h 2 min"),
     (90000, "1 d 1 h")],
)  # fmt: skip
def test_durations_read_as_people_say_them(seconds, words):
    assert duration_words(seconds) == words


def test_other_users_jobs_are_not_found(client, django_user_model, admin_user):
    job = Job.objects.create(kind="analyze", created_by=admin_user)
    client.force_login(django_user_model.objects.create_user("gina", password="pw"))
    assert client.get(reverse("jobs:detail", args=[job.pk])).status_code == 404
    assert client.get(reverse("jobs:detail", args=[job.pk]) + "?part=body").status_code == 404
    assert client.post(reverse("jobs:cancel", args=[job.pk])).status_code == 404
    assert str(job.pk) not in client.get(reverse("jobs:index")).content.decode()
