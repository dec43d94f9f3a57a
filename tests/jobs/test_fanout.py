"""A large analyze job split into batches that every worker on the ``analysis`` queue shares (``jobs.fanout``)."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from pathlib import Path

import django_rq
import pytest
from django.utils import timezone
from PIL import Image
from rq import Worker

from catalog.media.progress import NullReporter
from catalog.media.walk import WalkEntry
from catalog.models import Asset, AssetStatus
from catalog.services.analyze import AnalyzeSummary, analyze_options, catalog_get_or_create
from jobs import fanout
from jobs.fanout import BatchReporter, FanOutRunner, batch_claim
from jobs.models import BatchStatus, Job, JobBatch, JobKind, JobStatus
from jobs.services import job_start
from tests.jobs.workers import FORKING_WORKER, wait_until

PHOTOS = 120  # about 3 s of analysis on one process: more than one worker can do before the job's own helps
BATCH_FILES = 6


def noise_photos(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True)
    for index in range(count):
        picture = Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3))
        picture.save(folder / f"IMG_{index:04d}.jpg", "JPEG", quality=85)
    return folder


@pytest.fixture
def analysis_queue():
    queue = django_rq.get_queue("analysis")
    queue.empty()
    yield queue
    queue.empty()


@pytest.mark.django_db(transaction=True)
def test_two_worker_processes_share_the_batches_of_one_job(tmp_path, queue, analysis_queue, spawn):
    library = noise_photos(tmp_path / "photos", PHOTOS)
    env = {"VAM_ANALYZE_BATCH_FILES": str(BATCH_FILES)}
    helper = spawn(
        [sys.executable, "manage.py", "rqworker", "analysis", "--worker-class", "jobs.worker.VamSimpleWorker"],
        env=env,
    )  # on another node in production: it listens on the analysis queue only
    wait_until(lambda: Worker.all(queue=analysis_queue), "the helper to listen", helper)
    params = {"catalog_path": str(tmp_path / "catalog"), "source_directories": [str(library)], "workers": 1}
    job = job_start(kind=JobKind.ANALYZE, params=params)
    owner = spawn(FORKING_WORKER, env=env)  # takes the job from the default queue, then batches too

    assert owner.wait() == 0, owner.log()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS, job.error
    fan_out = job.result["fan_out"]
    assert fan_out["batches"] == PHOTOS // BATCH_FILES
    assert sum(fan_out["workers"].values()) == PHOTOS // BATCH_FILES
    assert len(fan_out["workers"]) == 2, (fan_out, helper.log())  # both processes took some
    assert job.worker in fan_out["workers"]
    # One progress count over every worker, and every file stored once.
    assert (job.current, job.total) == (PHOTOS, PHOTOS)
    assert job.result["analyzed"] == job.result["new"] == PHOTOS
    assert Asset.objects.filter(catalog=job.catalog, status=AssetStatus.OK).count() == PHOTOS
    assert job.result["duplicates"] is not None  # the last step ran after the batches
    assert not JobBatch.objects.exists()  # the file lists are dropped once the job ends


def running_job(tmp_path: Path, files: int) -> tuple[Job, list[WalkEntry]]:
    library = noise_photos(tmp_path / "photos", files)
    catalog = catalog_get_or_create(path=tmp_path / "catalog")
    job = Job.objects.create(kind=JobKind.ANALYZE, catalog=catalog, status=JobStatus.PROGRESS, total=files)
    entries = []
    for path in sorted(library.iterdir()):
        stat = path.stat()
        entries.append(WalkEntry(path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns))
    return job, entries


@pytest.mark.django_db
def test_a_batch_whose_worker_stopped_reporting_is_taken_back_and_counted_once(tmp_path, monkeypatch):
    monkeypatch.setattr(fanout, "HELP_AFTER_SECONDS", 0)
    job, entries = running_job(tmp_path, 8)
    fanout._create_batches(job, entries, {}, size=4)
    first = JobBatch.objects.get(job=job, index=0)

    # A worker takes the first batch, counts 3 files done, then its machine goes away.
    lost = batch_claim(first.pk)
    assert lost is not None and batch_claim(first.pk) is None  # a claimed batch is nobody else's
    dead = BatchReporter(lost)
    dead.update(phase="analyze", current=3, total=4)
    dead.flush()
    assert Job.objects.get(pk=job.pk).current == 3
    JobBatch.objects.filter(pk=first.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))

    catalog = job.catalog
    FanOutRunner(job, workers=1)._take_part(catalog, analyze_options(catalog, thumbnails=False), NullReporter())

    batches = list(JobBatch.objects.filter(job=job))
    assert [(b.status, b.attempt) for b in batches] == [(BatchStatus.DONE, 2), (BatchStatus.DONE, 1)]
    assert Job.objects.get(pk=job.pk).current == 8  # the lost worker's 3 were taken off before the redo
    assert Asset.objects.filter(catalog=catalog).count() == 8

    # The lost worker comes back: it can no longer write to the batch or the job, and it stops.
    dead.update(phase="analyze", current=4, total=4)
    dead.flush()
    assert dead.lost and dead.is_cancelled()
    assert Job.objects.get(pk=job.pk).current == 8


@pytest.mark.django_db
def test_cancelling_a_fanned_out_job_stops_its_batches(tmp_path):
    job, entries = running_job(tmp_path, 6)
    fanout._create_batches(job, entries, {}, size=2)
    running = batch_claim(JobBatch.objects.get(job=job, index=0).pk)
    reporter = BatchReporter(running)
    Job.objects.filter(pk=job.pk).update(cancel_requested_at=timezone.now())

    class Cancelled(NullReporter):
        def is_cancelled(self) -> bool:
            return Job.objects.filter(pk=job.pk, cancel_requested_at__isnull=False).exists()

    catalog = job.catalog
    FanOutRunner(job, workers=1)._take_part(catalog, analyze_options(catalog, thumbnails=False), Cancelled())
    statuses = dict(JobBatch.objects.filter(job=job).values_list("index", "status"))
    assert statuses == {0: BatchStatus.RUNNING, 1: BatchStatus.CANCELLED, 2: BatchStatus.CANCELLED}
    assert not Asset.objects.filter(catalog=catalog).exists()  # nobody started the cancelled batches

    reporter.update(phase="analyze", current=1, total=2)
    reporter.flush()
    assert reporter.is_cancelled() and not reporter.lost  # the running batch sees the cancel at its next write


@pytest.mark.django_db
def test_a_job_smaller_than_one_batch_is_analyzed_by_its_own_worker(tmp_path):
    job, entries = running_job(tmp_path, 3)
    catalog = job.catalog
    runner = FanOutRunner(job, workers=1, batch_files=3)
    summary = AnalyzeSummary()
    runner(catalog, entries, {}, analyze_options(catalog, thumbnails=False), summary, NullReporter())
    assert runner.report is None and not JobBatch.objects.exists()
    assert summary.analyzed == 3 and Asset.objects.filter(catalog=catalog).count() == 3
