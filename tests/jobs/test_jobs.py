"""Jobs on real Redis and Postgres: submit, run on an RQ worker or the embedded runner, cancel, reconcile."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from datetime import timedelta

import django_rq
import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from rq import SimpleWorker

from catalog.models import Asset, Catalog
from jobs.models import Job, JobKind, JobStatus
from jobs.reporter import JobReporter
from jobs.selectors import job_status
from jobs.services import JobError, job_cancel, job_reconcile, job_start
from jobs.worker import VamSimpleWorker
from tests.services.helpers import camera_photo

STATUS_KEYS = [
    "job_id", "kind", "status", "phase", "current", "total", "percent", "message", "eta_seconds", "result", "error",
    "created_at", "started_at", "finished_at",
]  # fmt: skip


@pytest.fixture
def submit(django_capture_on_commit_callbacks):
    """job_start as a request makes it: the job is enqueued when the transaction commits."""

    def start(kind: str, params: dict) -> Job:
        with django_capture_on_commit_callbacks(execute=True):
            return job_start(kind=kind, params=params)

    return start


def work(queue) -> None:
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


def photos(library, count: int = 3):
    for index in range(count):
        camera_photo(library / f"IMG_{index}.jpg", color=(40 * index, 90, 200))
    return library


def analyze_params(catalog_dir, library, **extra) -> dict:
    return {"catalog_path": str(catalog_dir), "source_directories": [str(library)], "workers": 1} | extra


@pytest.mark.django_db
def test_analyze_job_runs_on_a_worker_and_analyzes_the_catalog(queue, library, catalog_dir, submit):
    photos(library)
    job = submit(JobKind.ANALYZE, analyze_params(catalog_dir, library))
    assert job.status == JobStatus.PENDING
    assert queue.count == 1 and queue.job_ids == [str(job.pk)]  # the RQ job id is the row's primary key

    work(queue)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS, job.error
    assert job.started_at and job.finished_at and job.started_at <= job.finished_at
    catalog = Catalog.objects.get(path=str(catalog_dir.resolve()))
    assert job.catalog == catalog
    assert Asset.objects.filter(catalog=catalog).count() == 3
    assert job.result["new"] == 3 and job.result["duplicates"]["exact_groups"] == 0
    status = job_status(job)
    assert list(status) == STATUS_KEYS
    assert (status["percent"], status["phase"]) == (100.0, "done")


@pytest.mark.django_db
def test_a_failing_job_records_the_error(queue, tmp_path, submit):
    job = submit(JobKind.DUPLICATES, {"catalog_path": str(tmp_path / "nowhere")})
    work(queue)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert "no catalog at" in job.error and job.error_type == "LookupError"


@pytest.mark.django_db
def test_unknown_kind_is_refused():
    with pytest.raises(JobError, match="unknown job kind"):
        job_start(kind="format_disk", params={})
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_cancelling_a_queued_job_means_it_never_runs(queue, library, catalog_dir, submit):
    photos(library)
    job = submit(JobKind.ANALYZE, analyze_params(catalog_dir, library))
    job_cancel(job=job)
    assert job.status == JobStatus.CANCELLED and job.finished_at is not None
    work(queue)
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert not Asset.objects.exists()


@pytest.mark.django_db
def test_a_running_job_stops_at_its_next_progress_check(queue, library, catalog_dir, submit):
    photos(library, 4)
    job = submit(JobKind.ANALYZE, analyze_params(catalog_dir, library))

    # The cancel arrives while the job is analyzing: from inside its first progress report.
    original = JobReporter.update

    def update(self, **kwargs):
        if kwargs["phase"] == "analyze" and kwargs["current"] == 1:
            Job.objects.filter(pk=self.job.pk).update(cancel_requested_at=timezone.now())
            self._checked_cancel_at = float("-inf")
        original(self, **kwargs)

    JobReporter.update = update
    try:
        work(queue)
    finally:
        JobReporter.update = original
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert Asset.objects.count() < 4  # it stopped early; what it finished is kept
    assert Asset.objects.count() >= 1


@pytest.mark.django_db
def test_reconcile_fails_jobs_whose_worker_is_gone(queue):
    lost = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, heartbeat_at=timezone.now())
    silent = Job.objects.create(
        kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, heartbeat_at=timezone.now() - timedelta(hours=1)
    )
    Job.objects.filter(pk__in=[lost.pk, silent.pk]).update(created_at=timezone.now() - timedelta(hours=1))
    assert job_reconcile() == 2
    for job in (lost, silent):
        job.refresh_from_db()
        assert job.status == JobStatus.FAILURE and job.error_type == "WorkerLost"
    assert "queue entry is gone" in lost.error and "no sign of life since" in silent.error
    assert job_reconcile() == 0  # harmless to run again


@pytest.mark.django_db
def test_reporter_writes_at_most_20_times_per_1000_files():
    job = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS)
    clock = [0.0]
    reporter = JobReporter(job, clock=lambda: clock[0])
    for done in range(1, 1001):
        clock[0] += 0.016  # 60 files a second
        reporter.update(phase="analyze", current=done, total=1000, message=f"IMG_{done}.jpg")
    assert reporter.writes <= 20
    job.refresh_from_db()
    assert (job.current, job.total, job.message) == (1000, 1000, "IMG_1000.jpg")  # the end is always written

    fast = JobReporter(job, clock=lambda: clock[0])
    for done in range(1, 1001):
        clock[0] += 0.0005  # 2,000 unchanged files a second
        fast.update(phase="scan", current=done, total=None)
    assert fast.writes <= 4


@pytest.mark.django_db
def test_reporter_eta_follows_the_recent_rate():
    job = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS)
    clock = [0.0]
    reporter = JobReporter(job, clock=lambda: clock[0])
    for done in range(101):
        clock[0] = done * 0.1  # 10 files a second
        reporter.update(phase="analyze", current=done, total=400)
    job.refresh_from_db()
    assert job.eta_seconds == pytest.approx(30.0, abs=1.0)  # 300 files left at 10/s


@pytest.mark.django_db(transaction=True)
def test_embedded_runner_runs_jobs_without_redis(library, catalog_dir):
    photos(library, 2)
    with override_settings(REDIS_URL=""):
        job = job_start(kind=JobKind.ANALYZE, params=analyze_params(catalog_dir, library))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job.refresh_from_db()
            if job.is_final:
                break
            time.sleep(0.1)
    assert job.status == JobStatus.SUCCESS, job.error
    assert Asset.objects.filter(catalog=job.catalog).count() == 2


@pytest.mark.django_db(transaction=True)
def test_wait_follows_a_job_to_the_end_and_enqueue_prints_its_id(library, catalog_dir, capsys):
    photos(library, 2)
    with override_settings(REDIS_URL=""):
        call_command("analyze", str(catalog_dir), "-s", str(library), "--workers", "1", "--wait")
        out = capsys.readouterr().out
        job = Job.objects.get()
        assert str(job.pk) in out and "SUCCESS" in out
        assert job.status == JobStatus.SUCCESS
        with pytest.raises(CommandError, match="REDIS_URL"):
            call_command("find_duplicates", str(catalog_dir), "--enqueue")

    queue = django_rq.get_queue("default")
    queue.empty()
    call_command("find_duplicates", str(catalog_dir), "--enqueue")
    printed = capsys.readouterr().out.strip()
    assert queue.job_ids == [printed]
    assert Job.objects.get(pk=printed).kind == JobKind.DUPLICATES
    queue.empty()


@pytest.mark.django_db
def test_reconcile_command_and_worker_maintenance_pass(queue):
    Job.objects.create(
        kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, heartbeat_at=timezone.now() - timedelta(hours=2)
    )
    call_command("jobs_reconcile")
    assert Job.objects.get().status == JobStatus.FAILURE

    Job.objects.create(
        kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, heartbeat_at=timezone.now() - timedelta(hours=2)
    )
    VamSimpleWorker([queue], connection=queue.connection).run_maintenance_tasks()
    assert not Job.objects.exclude(status=JobStatus.FAILURE).exists()


@pytest.mark.django_db
def test_admin_lists_jobs_and_cancels_and_resubmits_them(
    admin_client, client, queue, submit, django_capture_on_commit_callbacks
):
    job = submit(JobKind.DUPLICATES, {"catalog_path": "/nowhere"})
    url = reverse("admin:jobs_job_changelist")
    assert client.get(url).status_code == 302  # login first
    page = admin_client.get(url, {"status__exact": "PENDING"}).content.decode()
    assert str(job.pk) in page

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "resubmit", "_selected_action": [job.pk]})
    admin_client.post(url, {"action": "cancel", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    again = Job.objects.exclude(pk=job.pk).get()
    assert (again.kind, again.params, again.status) == (job.kind, job.params, JobStatus.PENDING)
    assert queue.job_ids == [str(again.pk)]  # the cancelled one left the queue


@pytest.mark.django_db
def test_queue_statistics_are_for_staff_only(admin_client, client, django_user_model):
    url = reverse("rq_home")
    assert admin_client.get(url).status_code == 200
    assert client.get(url).status_code == 302
    user = django_user_model.objects.create_user("viewer", password="pw")
    client.force_login(user)
    assert client.get(url).status_code == 302


@pytest.mark.django_db
def test_admin_job_page_has_the_live_progress_widget(admin_client):
    job = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, phase="analyze", current=3, total=4)
    page = admin_client.get(reverse("admin:jobs_job_change", args=[job.pk])).content.decode()
    assert f'data-live="{job.pk}"' in page and "/static/jobs/live.js" in page and "75.0%" in page


@pytest.mark.django_db
def test_jobs_of_an_embedded_runner_whose_process_ended_are_reconciled(queue):
    finished = subprocess.Popen(["true"])  # a process that has ended: its pid is free
    finished.wait()
    dead_pid = finished.pid
    host = socket.gethostname()
    gone = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, worker=f"embedded:{host}:{dead_pid}")
    waiting = Job.objects.create(kind=JobKind.ANALYZE, worker=f"embedded:{host}:{dead_pid}")
    alive = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, worker=f"embedded:{host}:{os.getpid()}")
    elsewhere = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, worker="embedded:other-host:1")
    Job.objects.update(heartbeat_at=timezone.now())  # all recently alive: only their process tells them apart

    with override_settings(REDIS_URL=""):
        assert job_reconcile() == 2
    statuses = dict(Job.objects.values_list("pk", "status"))
    assert statuses[gone.pk] == statuses[waiting.pk] == JobStatus.FAILURE
    assert statuses[alive.pk] == statuses[elsewhere.pk] == JobStatus.PROGRESS
    gone.refresh_from_db()
    assert f"(pid {dead_pid}) has ended" in gone.error and gone.error_type == "WorkerLost"


def test_an_idle_worker_wakes_for_maintenance_every_minute(queue):
    worker = VamSimpleWorker([queue], connection=queue.connection)
    assert worker.dequeue_timeout <= 60 < SimpleWorker([queue], connection=queue.connection).dequeue_timeout
