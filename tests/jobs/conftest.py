"""Fixtures of the jobs tests: the real RQ queue, emptied around each test, and a library root."""

from __future__ import annotations

import django_rq
import pytest
from django.test import override_settings

from catalog.services.analyze import catalog_analyze, catalog_get_or_create
from tests.jobs.workers import FORKING_WORKER, WorkerProcess
from tests.services.helpers import camera_photo, plain_photo


@pytest.fixture
def queue():
    queue = django_rq.get_queue("default")
    queue.empty()
    yield queue
    queue.empty()


@pytest.fixture
def roots(tmp_path):
    """A library root (VAM_LIBRARY_ROOTS) holding an empty photos folder."""
    library = tmp_path / "library"
    (library / "photos").mkdir(parents=True)
    with override_settings(VAM_LIBRARY_ROOTS=[str(library.resolve())]):
        yield library


@pytest.fixture
def spawn(tmp_path):
    """Start real worker processes (default: a forking worker in burst mode on ``default``); whatever is left of
    them is killed after the test."""
    started: list[WorkerProcess] = []

    def start(command: list[str] | None = None, stdin=None, env: dict[str, str] | None = None) -> WorkerProcess:
        worker = WorkerProcess(command or FORKING_WORKER, tmp_path / f"worker-{len(started)}.log", stdin=stdin, env=env)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if not worker.exited():
            worker.kill()


@pytest.fixture
def analyzed(roots):
    """A catalog of three dated photos and one undated one, analyzed, inside the library roots."""
    photos = roots / "photos"
    camera_photo(photos / "DSC_0001.jpg", "2019:03:15 14:22:33")
    camera_photo(photos / "DSC_0002.jpg", "2019:03:16 09:00:00", color=(10, 200, 10))
    camera_photo(photos / "trip" / "DSC_0003.jpg", "2020:08:01 07:05:09", color=(20, 20, 200))
    plain_photo(photos / "scan.jpg")
    catalog = catalog_get_or_create(path=roots / "catalog")
    catalog_analyze(catalog=catalog, sources=[str(photos)], workers=1, thumbnails=False)
    return catalog
