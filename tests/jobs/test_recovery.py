"""Jobs that do not end on their own: cancelled while running, their worker killed with -9, their queue entry lost.

The workers here are real: ``manage.py rqworker`` processes (forking ``VamWorker``) in their own process group, so
that they can be killed whole as a lost machine would be, and ``VamSimpleWorker`` in this process. They use the
test database, so the tests commit what they write (``transaction=True``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone
from PIL import Image
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.registry import StartedJobRegistry

from catalog.models import Asset, AssetStatus
from jobs.models import FINAL_STATUSES, Job, JobKind, JobStatus
from jobs.services import job_cancel, job_reconcile, job_start
from jobs.worker import VamSimpleWorker
from tests.jobs.workers import TIMEOUT, children, wait_until
from tests.services.helpers import camera_photo

PHOTOS = 240  # distinct 640x480 pictures: about 6 s of analysis on one process, so a job can be caught mid-way

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def big_library(tmp_path_factory) -> Path:
    """Read-only for the tests: each analyzes it into its own catalog."""
    folder = tmp_path_factory.mktemp("big") / "photos"
    folder.mkdir()
    for index in range(PHOTOS):
        picture = Image.frombytes("RGB", (640, 480), os.urandom(640 * 480 * 3))  # noise: ~230 KB, no two alike
        picture.save(folder / f"IMG_{index:04d}.jpg", "JPEG", quality=85)
    return folder


@pytest.fixture
def queue(queue):
    yield queue
    started = StartedJobRegistry(queue.name, connection=queue.connection)
    for job_id in map(str, Job.objects.values_list("pk", flat=True)):  # and what RQ keeps of the test's jobs
        try:
            RQJob.fetch(job_id, connection=queue.connection).delete()
        except NoSuchJobError:
            pass
        for entry in queue.connection.zrange(started.key, 0, -1):  # the executions of killed workers
            if entry.decode().startswith(job_id):
                queue.connection.zrem(started.key, entry)


def params(catalog_dir: Path, library: Path) -> dict:
    return {"catalog_path": str(catalog_dir), "source_directories": [str(library)], "workers": 1, "thumbnails": True}


def submit(queue, job_params: dict) -> Job:
    job = job_start(kind=JobKind.ANALYZE, params=job_params)  # no transaction around it: enqueued at once
    assert queue.job_ids == [str(job.pk)]
    return job


def analyzing(job: Job) -> int:
    """How many files the job reports done while it is analyzing; 0 before that. It must not have ended."""
    status, phase, current = Job.objects.filter(pk=job.pk).values_list("status", "phase", "current").get()
    assert status not in FINAL_STATUSES, f"the job ended {status} before it could be interrupted"
    return current if status == JobStatus.PROGRESS and phase == "analyze" else 0


def assets(catalog_dir: Path):
    return Asset.objects.filter(catalog__path=str(catalog_dir.resolve()))


def kept(catalog_dir: Path) -> int:
    """Files analyzed and stored for good."""
    return assets(catalog_dir).filter(status=AssetStatus.OK, analyzed_at__isnull=False).count()


def assert_stopped_early_and_kept_its_work(job: Job, catalog_dir: Path, done_when_cancelled: int) -> None:
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED, job.error
    assert job.finished_at is not None and job.cancel_requested_at is not None
    stored = kept(catalog_dir)
    assert done_when_cancelled <= stored < PHOTOS  # it stopped early, and what it had finished is in the catalog
    assert assets(catalog_dir).count() == stored  # no half-written rows for the files it did not reach
    assert (job.current, job.total) == (stored, PHOTOS)  # the job shows how far it got
    assert job.result["analyzed"] + job.result["reused"] == stored  # and its result says the same


def test_cancel_a_running_job_on_a_simple_worker(queue, big_library, catalog_dir):
    job = submit(queue, params(catalog_dir, big_library))
    seen: dict[str, object] = {}

    def user_cancels() -> None:
        """As the web page does, from another thread and connection, once the job shows progress."""
        try:
            seen["done"] = wait_until(lambda: analyzing(job), "the job to analyze some files")
            job_cancel(job=Job.objects.get(pk=job.pk))
        except BaseException as exc:  # pytest.fail raises a BaseException: hand it to the test's thread
            seen["error"] = exc
        finally:
            connection.close()

    user = threading.Thread(target=user_cancels)
    user.start()
    try:
        VamSimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:
        user.join(TIMEOUT)
    if "error" in seen:
        raise seen["error"]  # type: ignore[misc]

    assert_stopped_early_and_kept_its_work(job, catalog_dir, seen["done"])  # type: ignore[arg-type]


def test_cancel_a_running_job_on_a_forking_worker(queue, big_library, catalog_dir, spawn):
    job = submit(queue, params(catalog_dir, big_library))
    worker = spawn()
    done = wait_until(lambda: analyzing(job), "the job to analyze some files", worker)

    job_cancel(job=job)

    assert worker.wait() == 0, worker.log()  # the job ended, so the burst worker has nothing left to do
    assert_stopped_early_and_kept_its_work(job, catalog_dir, done)


def test_a_worker_killed_mid_job_is_reconciled_and_resubmitting_resumes(queue, big_library, catalog_dir, spawn):
    job = submit(queue, params(catalog_dir, big_library))
    worker = spawn()
    # Analyze commits a batch every 2 s: wait for the first one, so that some files are done for good.
    wait_until(lambda: analyzing(job) and assets(catalog_dir).exists(), "a first batch of files to be saved", worker)

    worker.kill()  # the worker and its work-horse, as when a machine goes away

    job.refresh_from_db()
    assert job.status == JobStatus.PROGRESS  # nobody is left to record how it ended
    later = timezone.now() + timedelta(minutes=11)  # the job's last progress report is now over 10 minutes old
    job_reconcile(now=later)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.finished_at is not None
    assert job.error_type == "WorkerLost"
    assert "worker is gone" in job.error and "resubmit" in job.error, job.error

    before = dict(assets(catalog_dir).values_list("path", "analyzed_at"))
    assert 0 < len(before) < PHOTOS
    again = submit(queue, job.params)
    VamSimpleWorker([queue], connection=queue.connection).work(burst=True)

    again.refresh_from_db()
    assert again.status == JobStatus.SUCCESS, again.error
    assert kept(catalog_dir) == PHOTOS
    # The files finished before the kill were not read again; the others were analyzed now.
    assert again.result["unchanged"] == len(before)
    assert again.result["new"] == PHOTOS - len(before) and again.result["changed"] == 0
    assert dict(assets(catalog_dir).filter(path__in=before).values_list("path", "analyzed_at")) == before


def test_a_killed_work_horse_is_reconciled_without_waiting_for_its_heartbeat(queue, big_library, catalog_dir, spawn):
    """The kernel's OOM killer takes the work-horse, not the worker: RQ knows at once that the job died."""
    job = submit(queue, params(catalog_dir, big_library))
    worker = spawn()
    wait_until(lambda: analyzing(job), "the job to analyze some files", worker)
    horses = children(worker.pid)
    assert len(horses) == 1, horses

    os.kill(horses[0], signal.SIGKILL)

    assert worker.wait() == 0, worker.log()  # the worker itself carries on (and, in burst mode, ends)
    job_reconcile()  # no waiting for a stale heartbeat
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE, (job.status, worker.log())
    assert "killed" in job.error and "resubmit" in job.error, job.error


def test_a_job_abandoned_by_a_killed_worker_fails_with_a_clear_error_in_a_maintenance_pass(
    queue, big_library, catalog_dir, spawn
):
    """What a user meets in practice: RQ's own registry cleanup, run in a VamWorker's maintenance pass, is the
    first to notice a worker killed with -9 (90 s after its last heartbeat), before job_reconcile's 10 minutes."""
    job = submit(queue, params(catalog_dir, big_library))
    worker = spawn()
    wait_until(lambda: analyzing(job), "the job to analyze some files", worker)
    worker.kill()

    registry = StartedJobRegistry(queue.name, connection=queue.connection)
    entries = [m for m in queue.connection.zrange(registry.key, 0, -1) if m.decode().startswith(str(job.pk))]
    assert entries, "the killed job is not in RQ's started registry"
    queue.connection.zadd(registry.key, dict.fromkeys(entries, 1))  # its expiry has passed: 90 s went by
    queue.connection.delete(queue.registry_cleaning_key)  # a lock another test's worker may still hold
    VamSimpleWorker([queue], connection=queue.connection).run_maintenance_tasks()

    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE
    assert "worker" in job.error.lower(), f"unclear error for a lost worker: {job.error!r}"


WORK_THEN_MAINTAIN = """
import sys, django_rq
from jobs.worker import VamWorker
queue = django_rq.get_queue("default")
worker = VamWorker([queue], connection=queue.connection)
worker.work(burst=True)
sys.stdin.readline()
worker.run_maintenance_tasks()  # what a long-running worker does every 10 minutes
"""


def test_a_worker_that_has_run_a_job_still_reconciles_abandoned_jobs(queue, library, catalog_dir, spawn):
    """A long-running VamWorker reconciles in its maintenance pass, also after it forked work-horses."""
    camera_photo(library / "IMG_1.jpg")
    job = submit(queue, params(catalog_dir, library))
    worker = spawn([sys.executable, "manage.py", "shell", "-c", WORK_THEN_MAINTAIN], stdin=subprocess.PIPE)
    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, "the job to end", worker)
    assert Job.objects.get(pk=job.pk).status == JobStatus.SUCCESS

    long_ago = timezone.now() - timedelta(hours=1)
    lost = Job.objects.create(kind=JobKind.ANALYZE, status=JobStatus.PROGRESS, heartbeat_at=long_ago)
    Job.objects.filter(pk=lost.pk).update(created_at=long_ago)
    worker.process.communicate(b"\n", timeout=TIMEOUT)

    assert worker.process.returncode == 0, worker.log()
    lost.refresh_from_db()
    assert lost.status == JobStatus.FAILURE, f"the maintenance pass did not reconcile it:\n{worker.log()}"


def test_a_job_whose_queue_entry_is_gone_is_reconciled_to_failure(queue, library, catalog_dir):
    camera_photo(library / "IMG_1.jpg")
    job = submit(queue, params(catalog_dir, library))
    queue.empty()  # Redis flushed, or the entry deleted by hand: no worker will ever take the job
    with pytest.raises(NoSuchJobError):
        RQJob.fetch(str(job.pk), connection=queue.connection)

    job_reconcile()  # a pass that runs while a job is being submitted must not fail it
    job.refresh_from_db()
    assert job.status == JobStatus.PENDING

    job_reconcile(now=timezone.now() + timedelta(minutes=2))
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.error_type == "WorkerLost"
    assert "queue entry is gone" in job.error and "resubmit" in job.error, job.error
