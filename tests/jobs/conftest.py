"""Fixtures of the jobs tests: the real RQ queue, emptied around each test, and a library root."""

from __future__ import annotations

import django_rq
import pytest
from django.test import override_settings


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
