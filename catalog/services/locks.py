"""One writer per catalog: analyze, duplicate detection and organize never run on the same catalog at once.

On Postgres the lock is a session advisory lock, so it holds across processes and machines and goes away with
the session that holds it (a worker killed with -9 releases it). On SQLite, the single-machine default, it is
an ``flock`` on a file in the catalog folder, which the kernel releases the same way. The lock is re-entrant
within a thread: analyze holds it while it runs duplicate detection.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, connection

from catalog.models import Catalog

NAMESPACE = 0x56414D  # "VAM": the first key of the two-key advisory lock, the catalog id being the second
LOCK_FILE = ".vam.lock"

P = ParamSpec("P")
R = TypeVar("R")
_local = threading.local()


class CatalogBusy(Exception):
    """Another analyze, duplicate detection or organize is running on this catalog."""


@contextmanager
def catalog_lock(catalog: Catalog) -> Iterator[None]:
    held: set[int] = _local.__dict__.setdefault("held", set())
    if catalog.pk in held:
        yield
        return
    release = _acquire_advisory(catalog) if connection.vendor == "postgresql" else _acquire_file(catalog)
    held.add(catalog.pk)
    try:
        yield
    finally:
        held.discard(catalog.pk)
        release()


def with_catalog_lock(function: Callable[P, R]) -> Callable[P, R]:
    """Run a service that takes ``catalog=`` under that catalog's lock."""

    @functools.wraps(function)
    def locked(*args: P.args, **kwargs: P.kwargs) -> R:
        catalog = kwargs["catalog"]
        assert isinstance(catalog, Catalog)
        with catalog_lock(catalog):
            return function(*args, **kwargs)

    return locked


def _busy(catalog: Catalog) -> CatalogBusy:
    return CatalogBusy(
        f"catalog {catalog.path} is busy: another analyze, duplicate search or organize is running on it; "
        "try again when it has ended (see the jobs page)"
    )


def _acquire_advisory(catalog: Catalog) -> Callable[[], None]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE, catalog.pk])
        (taken,) = cursor.fetchone()
    if not taken:
        raise _busy(catalog)

    def release() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [NAMESPACE, catalog.pk])
        except DatabaseError:
            pass  # the session is gone, and its locks with it

    return release


def _acquire_file(catalog: Catalog) -> Callable[[], None]:
    descriptor = os.open(os.path.join(catalog.path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        raise _busy(catalog) from None

    def release() -> None:
        os.close(descriptor)  # closing drops the flock

    return release
