"""Organize end to end through the API, a real RQ worker and the job page: submit, the plan export, the page's
counts and file lists, rollback and resume as new jobs, and their refusals."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.urls import reverse

from catalog.models import OrganizeStep, StepState
from catalog.services.analyze import catalog_analyze, catalog_get_or_create
from jobs.models import Job, JobStatus
from tests.jobs.test_api import post
from tests.jobs.test_jobs import work
from tests.services.helpers import camera_photo

pytestmark = pytest.mark.django_db


def files(folder) -> list[str]:
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file())


def run(client, queue, path: str, body=None, capture=None) -> Job:
    with capture(execute=True):
        response = post(client, path, body or {})
    assert response.status_code == 202, response.json()
    work(queue)
    job = Job.objects.get(pk=response.json()["job_id"])
    assert job.status == JobStatus.SUCCESS, job.error
    return job


def test_organize_through_the_api_then_export_roll_back_and_refuse_a_second_rollback_of_nothing(
    admin_client, roots, queue, analyzed, django_capture_on_commit_callbacks
):
    sorted_dir = roots / "sorted"
    body = {"catalog_path": analyzed.path, "output_directory": str(sorted_dir), "directory_structure": "YYYY/MM-DD",
            "naming_strategy": "date_time_original"}  # fmt: skip
    job = run(admin_client, queue, "/api/jobs/organize", body, django_capture_on_commit_callbacks)
    assert files(sorted_dir) == [
        "2019/03-15/2019-03-15_142233_DSC_0001.jpg",
        "2019/03-16/2019-03-16_090000_DSC_0002.jpg",
        "2020/08-01/2020-08-01_070509_DSC_0003.jpg",
        "undated/scan.jpg",
    ]
    assert job.result["done"] == 4 and job.result["failed"] == 0 and job.result["output"] == str(sorted_dir)
    assert job.result["folders"] == {"2019/03-15": 1, "2019/03-16": 1, "2020/08-01": 1, "undated": 1}

    plan = admin_client.get(f"/api/jobs/{job.pk}/plan?format=csv")
    assert plan.status_code == 200 and plan["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(plan.streaming_content).decode())))
    assert [row["state"] for row in rows] == ["done"] * 4
    assert {row["target"] for row in rows} == {str(sorted_dir / name) for name in files(sorted_dir)}
    as_json = json.loads(b"".join(admin_client.get(f"/api/jobs/{job.pk}/plan?state=done").streaming_content))
    assert as_json["job"] == str(job.pk) and len(as_json["steps"]) == 4
    assert admin_client.get(f"/api/jobs/{job.pk}/plan?format=xml").status_code == 404

    undo = run(admin_client, queue, f"/api/jobs/{job.pk}/rollback", capture=django_capture_on_commit_callbacks)
    assert undo.result["rolled_back"] == 4 and undo.result["rollback"] == str(job.pk)
    assert files(sorted_dir) == [] and len(files(roots / "photos")) == 4
    assert set(OrganizeStep.objects.filter(job=job).values_list("state", flat=True)) == {StepState.ROLLED_BACK}
    again = run(admin_client, queue, f"/api/jobs/{undo.pk}/rollback", capture=django_capture_on_commit_callbacks)
    assert again.result["rolled_back"] == 0  # the rollback of a rollback job is that of its journal: nothing left


def test_resume_and_plan_are_refused_where_they_mean_nothing(
    admin_client, roots, queue, analyzed, django_capture_on_commit_callbacks
):
    body = {"catalog_path": analyzed.path, "output_directory": str(roots / "sorted"), "dry_run": True}
    dry = run(admin_client, queue, "/api/jobs/organize", body, django_capture_on_commit_callbacks)
    assert dry.result["dry_run"] is True and dry.result["planned"] == 4 and not (roots / "sorted").exists()
    response = post(admin_client, f"/api/jobs/{dry.pk}/resume", {})
    assert response.status_code == 400 and "dry run" in response.json()["error"]

    other = Job.objects.create(kind="analyze", status=JobStatus.SUCCESS)
    for path in (f"/api/jobs/{other.pk}/resume", f"/api/jobs/{other.pk}/rollback"):
        assert post(admin_client, path, {}).status_code == 404
    assert admin_client.get(f"/api/jobs/{other.pk}/plan").status_code == 404
    assert post(admin_client, "/api/jobs/not-a-job/rollback", {}).status_code == 404


def test_the_job_page_shows_counts_that_link_to_their_files_and_resumes_a_failed_run(
    admin_client, roots, queue, analyzed, django_capture_on_commit_callbacks
):
    (roots / "photos" / "DSC_0002.jpg").unlink()  # vanished since the scan: skipped with its reason
    body = {"catalog_path": analyzed.path, "output_directory": str(roots / "sorted")}
    job = run(admin_client, queue, "/api/jobs/organize", body, django_capture_on_commit_callbacks)
    assert job.result["done"] == 3 and job.result["skipped"] == 1

    page = admin_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "3 files done</a>" in page and "1 file skipped</a>" in page and "?steps=skipped" in page
    assert "Roll back" in page and "plan.csv" in page
    skipped = admin_client.get(reverse("jobs:detail", args=[job.pk]) + "?steps=skipped").content.decode()
    assert "DSC_0002.jpg" in skipped and "vanished since the last scan" in skipped and "DSC_0001.jpg" not in skipped

    # A run cut short: its last step is back to planned, with its file gone from the output.
    last = OrganizeStep.objects.filter(job=job, state=StepState.DONE).order_by("-seq").first()
    (roots / "sorted").joinpath(last.target).unlink()
    OrganizeStep.objects.filter(pk=last.pk).update(state=StepState.PLANNED)
    Job.objects.filter(pk=job.pk).update(status=JobStatus.FAILURE, error="its worker died")
    page = admin_client.get(reverse("jobs:detail", args=[job.pk])).content.decode()
    assert "Resume" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("jobs:organize-again", args=[job.pk, "resume"]))
    resumed = Job.objects.exclude(pk=job.pk).get(kind="organize")
    assert response.status_code == 302 and response.url == reverse("jobs:detail", args=[resumed.pk])
    work(queue)
    resumed.refresh_from_db()
    assert resumed.status == JobStatus.SUCCESS and resumed.result["resume"] == str(job.pk)
    assert (roots / "sorted").joinpath(last.target).is_file()
    page = admin_client.get(reverse("jobs:detail", args=[resumed.pk])).content.decode()
    assert f'of organize job <a href="{reverse("jobs:detail", args=[job.pk])}"' in page  # the journal it finished
    csv_page = admin_client.get(reverse("jobs:plan", args=[resumed.pk, "csv"]))
    assert csv_page["Content-Disposition"] == f'attachment; filename="organize-{job.pk}.csv"'
    assert admin_client.post(reverse("jobs:organize-again", args=[job.pk, "shred"])).status_code == 404


def test_the_admin_shows_the_journal_read_only(
    admin_client, roots, queue, analyzed, django_capture_on_commit_callbacks
):
    body = {"catalog_path": analyzed.path, "output_directory": str(roots / "sorted"), "skip_undated": True}
    job = run(admin_client, queue, "/api/jobs/organize", body | {"undated_folder": None},
              django_capture_on_commit_callbacks)  # fmt: skip
    listing = admin_client.get(f"/admin/catalog/organizestep/?q={job.pk}&state__exact=skipped").content.decode()
    assert "scan.jpg" in listing and "no reliable capture date" in listing and "DSC_0001.jpg" not in listing
    step = OrganizeStep.objects.get(job=job, state=StepState.SKIPPED)
    assert admin_client.get("/admin/catalog/organizestep/add/").status_code == 403
    assert admin_client.post(f"/admin/catalog/organizestep/{step.pk}/delete/", {"post": "yes"}).status_code == 403
    assert OrganizeStep.objects.filter(pk=step.pk).exists()


def test_the_web_cannot_organize_or_undo_files_outside_the_library_roots(
    admin_client, roots, tmp_path, queue, django_capture_on_commit_callbacks
):
    outside = tmp_path / "outside"
    camera_photo(outside / "a.jpg", "2019:03:15 14:22:33")
    catalog = catalog_get_or_create(path=roots / "catalog-outside")
    catalog_analyze(catalog=catalog, sources=[str(outside)], workers=1, thumbnails=False)  # from the command line
    body = {"catalog_path": catalog.path, "output_directory": str(roots / "sorted"), "operation": "move"}
    response = post(admin_client, "/api/jobs/organize", body)
    assert (
        response.status_code == 400
        and "outside the library roots: organize it from the command line" in (response.json()["error"])
    )
    journal = Job.objects.create(kind="organize", catalog=catalog, status=JobStatus.FAILURE,
                                 params={"output_directory": str(tmp_path / "elsewhere")})  # fmt: skip
    OrganizeStep.objects.create(job=journal, seq=1, operation="move", source=str(outside / "a.jpg"),
                                target=str(tmp_path / "elsewhere" / "a.jpg"))  # fmt: skip
    for action in ("resume", "rollback"):
        response = post(admin_client, f"/api/jobs/{journal.pk}/{action}", {})
        assert response.status_code == 400 and "outside the library roots" in response.json()["error"]
        page = admin_client.post(reverse("jobs:organize-again", args=[journal.pk, action]))
        assert page.status_code == 400
    assert (outside / "a.jpg").is_file() and Job.objects.filter(kind="organize").count() == 1
