"""Jobs that do not end on their own: cancelled while running, their worker killed with -9, their queue entry lost;
and what they leave behind: no process (the analysis pool included), and a result that counts what was stored.

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
import time
from datetime import timedelta
from pathlib import Path

import django_rq
import pytest
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from PIL import Image
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.registry import StartedJobRegistry
from rq.utils import utcformat
from rq.worker import Worker

from catalog.models import Asset, AssetStatus
from jobs import heartbeat, services, tasks
from jobs.models import FINAL_STATUSES, Job, JobBatch, JobKind, JobStatus
from jobs.services import job_cancel, job_reconcile, job_start
from jobs.worker import VamSimpleWorker
from tests.jobs.workers import TIMEOUT, alive, all_descendants, children, wait_until, worker_command
from tests.services.helpers import camera_photo

PHOTOS = 240  # distinct 640x480 pictures: about 6 s of analysis on one process, so a job can be caught mid-way
DEAD_WORKER_FOUND_SECONDS = 30  # the promise: a job whose worker was killed with -9 is FAILURE within 30 s

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


def test_a_worker_killed_mid_job_is_failed_within_30_s_and_resubmitting_resumes(queue, big_library, catalog_dir, spawn):
    watcher = spawn(worker_command("gpu"))  # another live worker, on a queue of its own: nobody has to act
    job = submit(queue, params(catalog_dir, big_library))
    worker = spawn()
    # Analyze commits a batch every 2 s: wait for the first one, so that some files are done for good.
    wait_until(lambda: analyzing(job) and assets(catalog_dir).exists(), "a first batch of files to be saved", worker)

    killed_at = time.monotonic()
    worker.kill()  # the worker and its work-horse, as when a machine goes away

    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, "the job to be found abandoned", watcher)
    found_after = time.monotonic() - killed_at
    print(f"\nmeasured: kill -9 -> FAILURE in {found_after:.1f} s (same machine)")
    assert found_after < DEAD_WORKER_FOUND_SECONDS
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.finished_at is not None
    assert job.error_type == "WorkerLost"
    assert "worker" in job.error and "killed" in job.error and "resubmit" in job.error, job.error

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
    """A VamWorker's maintenance pass runs RQ's own registry cleanup too (it calls back for a job whose worker
    died once its entry expires, 65 s after the worker's last heartbeat) next to the reconcile pass: whichever is
    first, the error is clear."""
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


def test_a_job_on_another_machine_is_failed_once_its_heartbeat_is_20_s_old(queue):
    """Another machine's process cannot be looked up: its heartbeat (written every 5 s) tells, and a forking
    worker that still watches its work-horse (its own heartbeat is fresh) vouches for a silent one."""
    now = timezone.now()

    def running(seconds_ago: float, worker: str = "") -> Job:
        return Job.objects.create(
            kind=JobKind.ANALYZE,
            status=JobStatus.PROGRESS,
            process="another-machine:1",
            worker=worker,
            heartbeat_at=now - timedelta(seconds=seconds_ago),
        )

    dead, alive, watched = running(21), running(10), running(60, worker="vam-test-watcher")
    key = Worker.redis_worker_namespace_prefix + "vam-test-watcher"
    queue.connection.hset(key, mapping={"last_heartbeat": utcformat(now), "current_job": str(watched.pk)})
    try:
        assert job_reconcile(now=now) == 1
    finally:
        queue.connection.delete(key)

    statuses = dict(Job.objects.values_list("pk", "status"))
    assert statuses[alive.pk] == statuses[watched.pk] == JobStatus.PROGRESS
    dead.refresh_from_db()
    assert dead.status == JobStatus.FAILURE and dead.error_type == "WorkerLost"
    assert "no sign of life since" in dead.error and "resubmit" in dead.error, dead.error


def test_a_job_that_reports_nothing_for_a_long_time_is_never_taken_for_a_dead_one(queue, monkeypatch):
    """A phase without progress reports (a long duplicate search) on another machine: its heartbeat keeps it
    alive while reconcile passes run all along (the times are shrunk: a beat every 0.1 s, stale after 0.5 s)."""
    monkeypatch.setattr(heartbeat, "HEARTBEAT_SECONDS", 0.1)
    monkeypatch.setattr(services, "HEARTBEAT_STALE", timedelta(seconds=0.5))
    monkeypatch.setattr(tasks, "current_process", lambda: "another-machine:1")  # its pid cannot be looked up here

    def silent_search(job: Job, reporter) -> dict:
        time.sleep(2)  # four times the stale time without a word
        return {"groups": 0}

    monkeypatch.setitem(tasks.HANDLERS, JobKind.DUPLICATES, silent_search)
    job = job_start(kind=JobKind.DUPLICATES, params={"catalog_path": "/anywhere"})
    passes = []
    done = threading.Event()

    def reconcile_all_along() -> None:
        try:
            while not done.is_set():
                passes.append(job_reconcile())
                time.sleep(0.05)
        finally:
            connection.close()

    watcher = threading.Thread(target=reconcile_all_along)
    watcher.start()
    try:
        VamSimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:
        done.set()
        watcher.join(TIMEOUT)

    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS, job.error
    assert len(passes) > 10 and not any(passes)


# No process outlives its job ---------------------------------------------------------------------------------------

POOL = 2  # analysis processes per job here: a real pool, with its forkserver and resource tracker
LEFT_BEHIND_SECONDS = 30  # generous: what is measured is printed


@pytest.fixture
def analysis_queue():
    queue = django_rq.get_queue("analysis")
    queue.empty()
    yield queue
    queue.empty()
    started = StartedJobRegistry(queue.name, connection=queue.connection)
    queue.connection.delete(started.key)  # the batches of killed workers


def pooled(catalog_dir: Path, library: Path) -> dict:
    return params(catalog_dir, library) | {"workers": POOL}


def pool_running(pid: int, at_least: int) -> set[int]:
    """The processes below ``pid`` once there are ``at_least`` of them (the job's pool is up), else none."""
    found = all_descendants(pid)
    return found if len(found) >= at_least else set()


def assert_all_gone(pids: set[int], since: float, what: str) -> None:
    wait_until(lambda: not any(alive(pid) for pid in pids), f"every process of the job to be gone ({what})")
    took = time.monotonic() - since
    print(f"\nmeasured: {what} -> no process left in {took:.1f} s")
    assert took < LEFT_BEHIND_SECONDS


def cancel_and_wait(job: Job, worker=None) -> float:
    cancelled_at = time.monotonic()
    job_cancel(job=job)
    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, "the job to stop", worker)
    return cancelled_at


def test_a_cancelled_job_leaves_no_process_behind_on_a_forking_worker(queue, big_library, catalog_dir, spawn):
    job = submit(queue, pooled(catalog_dir, big_library))
    worker = spawn(worker_command("default"))  # it keeps running: idle again once the job has ended
    # Its work-horse, and the horse's pool: forkserver, resource tracker and workers.
    running = wait_until(lambda: analyzing(job) and pool_running(worker.pid, 3 + POOL), "the pool to run", worker)
    done = analyzing(job)

    cancelled_at = cancel_and_wait(job, worker)

    assert_all_gone(running, cancelled_at, "cancel on VamWorker")
    assert not worker.exited() and not all_descendants(worker.pid)  # idle again, with nothing left below it
    assert_stopped_early_and_kept_its_work(job, catalog_dir, done)


def test_a_cancelled_job_leaves_no_process_behind_on_a_simple_worker(queue, big_library, catalog_dir, spawn):
    job = submit(queue, pooled(catalog_dir, big_library))
    worker = spawn(worker_command("default", simple=True))
    running = wait_until(lambda: analyzing(job) and pool_running(worker.pid, 2 + POOL), "the pool to run", worker)
    done = analyzing(job)

    cancelled_at = cancel_and_wait(job, worker)

    assert_all_gone(running, cancelled_at, "cancel on VamSimpleWorker")
    assert not worker.exited() and not all_descendants(worker.pid)
    assert_stopped_early_and_kept_its_work(job, catalog_dir, done)


def test_a_cancelled_job_leaves_no_process_behind_in_the_embedded_runner(big_library, catalog_dir):
    """The in-process runner of a web server without Redis: the server lives on, the job's processes do not."""
    server = os.getpid()
    before = all_descendants(server)

    def pool_started() -> set[int]:
        started = all_descendants(server) - before
        return started if analyzing(job) and len(started) >= 2 + POOL else set()

    with override_settings(REDIS_URL=""):
        job = job_start(kind=JobKind.ANALYZE, params=pooled(catalog_dir, big_library))
        running = wait_until(pool_started, "the pool to run")
        done = analyzing(job)
        cancelled_at = cancel_and_wait(job)

    assert_all_gone(running, cancelled_at, "cancel in the embedded runner")
    assert_stopped_early_and_kept_its_work(job, catalog_dir, done)


def test_a_cancelled_fanned_out_job_counts_what_was_stored_and_leaves_no_process(
    queue, analysis_queue, big_library, catalog_dir, spawn
):
    env = {"VAM_ANALYZE_BATCH_FILES": str(PHOTOS // 6)}
    helper = spawn(worker_command("analysis"), env=env)
    owner = spawn(worker_command("default"), env=env)
    job = submit(queue, pooled(catalog_dir, big_library))
    seen: set[int] = set()

    def both_analyzing() -> bool:
        below = pool_running(helper.pid, 3 + POOL), pool_running(owner.pid, 3 + POOL)
        seen.update(*below)
        return bool(analyzing(job) and all(below))

    wait_until(both_analyzing, "both workers to analyze batches", owner)  # the owner helps after 2 s

    cancelled_at = cancel_and_wait(job, owner)

    assert_all_gone(seen, cancelled_at, "cancel of a fanned-out job on two VamWorkers")
    # Idle again: the queue entries of the batches that never started only claim nothing and end.
    wait_until(lambda: not (all_descendants(helper.pid) | all_descendants(owner.pid)), "both workers to be idle")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED, job.error
    stored = kept(catalog_dir)
    assert 0 < stored < PHOTOS and assets(catalog_dir).count() == stored
    assert job.result["analyzed"] + job.result["reused"] == stored  # every worker's files, counted once
    assert (job.current, job.total) == (stored, PHOTOS)


def test_a_fanned_out_job_whose_worker_is_killed_fails_within_30_s_and_resumes_with_every_file_once(
    queue, analysis_queue, big_library, catalog_dir, spawn
):
    env = {"VAM_ANALYZE_BATCH_FILES": str(PHOTOS // 6)}
    helper = spawn(worker_command("analysis"), env=env)  # busy with batches: its reconcile pass runs all the same
    owner = spawn(worker_command("default"), env=env)
    job = submit(queue, pooled(catalog_dir, big_library))
    wait_until(lambda: analyzing(job) and assets(catalog_dir).exists(), "a first batch of files to be saved", owner)

    killed_at = time.monotonic()
    owner.kill()

    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, "the job to be found abandoned", helper)
    found_after = time.monotonic() - killed_at
    print(f"\nmeasured: kill -9 of a fanned-out job's worker -> FAILURE in {found_after:.1f} s (same machine)")
    assert found_after < DEAD_WORKER_FOUND_SECONDS
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.error_type == "WorkerLost", job.error
    assert not JobBatch.objects.filter(job=job).exists()  # its file lists are dropped: the helper stops its batch
    wait_until(lambda: not all_descendants(helper.pid), "the helper to leave the dead job's batch", helper)

    before = dict(assets(catalog_dir).values_list("path", "analyzed_at"))
    # The helper goes on with its batches until the job is failed: on a fast machine it may store every file first.
    assert 0 < len(before) <= PHOTOS
    again = submit(queue, job.params)
    resumed = spawn(worker_command("default", burst=True), env=env)
    assert resumed.wait() == 0, resumed.log()

    again.refresh_from_db()
    assert again.status == JobStatus.SUCCESS, again.error
    assert kept(catalog_dir) == assets(catalog_dir).count() == PHOTOS
    assert again.result["unchanged"] == len(before)  # what the killed job stored is not read again
    assert again.result["new"] == again.result["analyzed"] == PHOTOS - len(before)
    assert (again.current, again.total) == (PHOTOS - len(before), PHOTOS - len(before))
    assert dict(assets(catalog_dir).filter(path__in=before).values_list("path", "analyzed_at")) == before


def test_a_work_horse_does_not_outlive_its_worker(queue, big_library, catalog_dir, spawn):
    """kill -9 of the worker process alone, not its process group: its work-horse and the horse's pool stop
    too (instead of working on unwatched), and another worker fails the job within 30 s."""
    watcher = spawn(worker_command("gpu"))
    job = submit(queue, pooled(catalog_dir, big_library))
    worker = spawn(worker_command("default"))
    running = wait_until(lambda: analyzing(job) and pool_running(worker.pid, 3 + POOL), "the pool to run", worker)

    killed_at = time.monotonic()
    os.kill(worker.pid, signal.SIGKILL)
    worker.process.wait(TIMEOUT)

    assert_all_gone(running, killed_at, "kill -9 of the worker alone")
    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, "the job to be found abandoned", watcher)
    found_after = time.monotonic() - killed_at
    print(f"\nmeasured: kill -9 of the worker alone -> FAILURE in {found_after:.1f} s (same machine)")
    assert found_after < DEAD_WORKER_FOUND_SECONDS
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.error_type == "WorkerLost", job.error


def test_a_simple_worker_killed_mid_job_leaves_no_process_behind(queue, big_library, catalog_dir, spawn):
    """kill -9 of a VamSimpleWorker (the job runs in it): the pool it started, its forkserver and tracker exit
    by themselves instead of waiting forever for files, and another worker fails the job."""
    watcher = spawn(worker_command("gpu"))
    job = submit(queue, pooled(catalog_dir, big_library))
    worker = spawn(worker_command("default", simple=True))
    running = wait_until(lambda: analyzing(job) and pool_running(worker.pid, 2 + POOL), "the pool to run", worker)

    killed_at = time.monotonic()
    os.kill(worker.pid, signal.SIGKILL)
    worker.process.wait(TIMEOUT)

    assert_all_gone(running, killed_at, "kill -9 of a VamSimpleWorker")
    wait_until(lambda: Job.objects.get(pk=job.pk).is_final, "the job to be found abandoned", watcher)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILURE and job.error_type == "WorkerLost", job.error
