"""Fixtures of the jobs tests: the real RQ queue, emptied around each test, and a library root."""

from __future__ import annotations

import django_rq
import pytest
from django.test import override_settings

from tests.jobs.workers import FORKING_WORKER, WorkerProcess


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
