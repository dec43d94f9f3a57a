"""A worker on the ``gpu`` queue takes the batches of a fanned-out analyze job and runs them on the GPU path
(``catalog.media.gpu``), here on torch's CPU: the catalog it leaves equals the CPU engine's."""

from __future__ import annotations

import sys

import django_rq
import pytest
from rq import Worker

from catalog.media.analyze import AnalyzeOptions, analyze_file
from catalog.media.thumbnails import thumbnail_path
from catalog.models import Asset, AssetStatus
from jobs.fanout import gpu_workers_alive
from jobs.models import Job, JobKind, JobStatus
from jobs.services import job_start
from tests.jobs.test_fanout import noise_photos
from tests.jobs.workers import FORKING_WORKER, WorkerProcess, wait_until

pytest.importorskip("torch")

GPU_WORKER = [sys.executable, "manage.py", "rqworker", "gpu", "--worker-class", "jobs.worker.VamGpuWorker"]
PHOTOS = 48
BATCH_FILES = 6


@pytest.fixture
def gpu_queue():
    queues = [django_rq.get_queue(name) for name in ("analysis", "gpu")]
    for queue in queues:
        queue.empty()
    yield queues[1]
    for queue in queues:
        queue.empty()


def analyze_with(tmp_path, spawn, device: str) -> tuple[Job, str, WorkerProcess]:
    """An analyze job of ``PHOTOS`` files in batches, with a ``gpu`` worker (``VAM_DEVICE=device``) alive and the
    job's own worker on ``default``; returns the finished job, the gpu worker's name and the gpu worker."""
    library = noise_photos(tmp_path / "photos", PHOTOS)
    env = {"VAM_ANALYZE_BATCH_FILES": str(BATCH_FILES), "VAM_DEVICE": device}
    gpu = spawn(GPU_WORKER, env=env)
    listening = wait_until(
        lambda: [w for w in Worker.all(queue=django_rq.get_queue("gpu")) if w.pid == gpu.pid], "it to listen", gpu
    )
    assert gpu_workers_alive()
    params = {"catalog_path": str(tmp_path / "catalog"), "source_directories": [str(library)], "workers": 1}
    job = job_start(kind=JobKind.ANALYZE, params=params)
    owner = spawn(FORKING_WORKER, env=env)
    assert owner.wait() == 0, owner.log()
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCESS, job.error
    return job, listening[0].name, gpu


@pytest.mark.django_db(transaction=True)
def test_a_gpu_worker_takes_batches_and_stores_what_the_cpu_engine_would(tmp_path, queue, gpu_queue, spawn):
    job, gpu_name, gpu = analyze_with(tmp_path, spawn, "cpu")

    workers = job.result["fan_out"]["workers"]
    assert workers.get(gpu_name, 0) >= 1, (workers, gpu.log())
    assert sum(workers.values()) == PHOTOS // BATCH_FILES
    assert job.result["analyzed"] == PHOTOS and (job.current, job.total) == (PHOTOS, PHOTOS)
    # Bit for bit what the CPU engine makes of each file (torch's CPU decodes with Pillow's DCT scaling).
    options = AnalyzeOptions(thumbnails_root=str(tmp_path / "cpu-thumbnails"))
    assets = Asset.objects.filter(catalog=job.catalog, status=AssetStatus.OK)
    assert assets.count() == PHOTOS
    for asset in assets:
        expected = analyze_file(asset.path, options)
        assert (asset.sha256, asset.width, asset.height) == (expected.sha256, expected.width, expected.height)
        assert (asset.dhash & (2**64 - 1), asset.phash & (2**64 - 1)) == (expected.dhash, expected.phash), asset.path
        assert bytes(asset.fine_hash) == expected.fine_hash and bytes(asset.hash_variants) == expected.hash_variants
        for size in options.sizes:
            made = thumbnail_path(job.catalog.thumbnails_dir, size, asset.sha256).read_bytes()
            assert made == thumbnail_path(options.thumbnails_root, size, asset.sha256).read_bytes()


def test_a_gpu_worker_on_a_node_without_a_gpu_refuses_to_start(tmp_path, spawn):
    gpu = spawn(GPU_WORKER, env={"VAM_DEVICE": "cuda"})  # this machine has no CUDA device

    assert gpu.wait() != 0
    assert "gpu worker: VAM_DEVICE=cuda, but torch sees no CUDA device on this machine" in gpu.log()
