"""One writer per catalog: analyze, duplicate detection and organize never run on the same catalog at once.

On Postgres the lock is a session advisory lock, so it holds across processes and machines and goes away with
the session that holds it (a worker killed with -9 releases it). On SQLite, the single-machine default, it is
an ``flock`` on a file in the catalog folder, which the kernel releases the same way. The lock is re-entrant
within a thread: analyze holds it while it runs duplicate detection.

A session outlives its killed client for a moment: the server notices the closed connection when it next reads
from it, or, in the middle of a long statement, at its next connection check (which the holder's session turns
on). So a catalog found locked is tried again for ``GRACE_SECONDS`` before it counts as busy, and a run started
right after a kill -9 resumes instead of being refused.
"""

from __future__ import annotations

import fcntl
import functools
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from django.db import DatabaseError, connection

from catalog.models import Catalog

NAMESPACE = 0x56414D  # "VAM": the first key of the two-key advisory lock, the catalog id being the second
LOCK_FILE = ".vam.lock"
GRACE_SECONDS = 5.0  # how long a locked catalog is tried again before it is busy
RETRY_SECONDS = 0.1
CONNECTION_CHECK_MS = 1000  # the holder's session checks this often, mid-statement, that its client still lives

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
    if not _retry_for_grace(lambda: _try_advisory(catalog)):
        raise _busy(catalog)
    if connection.pg_version >= 140000:  # type: ignore[attr-defined]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('client_connection_check_interval', %s, false)", [str(CONNECTION_CHECK_MS)]
            )

    def release() -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [NAMESPACE, catalog.pk])
        except DatabaseError:
            pass  # the session is gone, and its locks with it

    return release


def _try_advisory(catalog: Catalog) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE, catalog.pk])
        (taken,) = cursor.fetchone()
    return bool(taken)


def _retry_for_grace(attempt: Callable[[], bool]) -> bool:
    """True once ``attempt`` takes the lock, False when it still could not after the grace period."""
    deadline = time.monotonic() + GRACE_SECONDS
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(RETRY_SECONDS)
    return True


def _acquire_file(catalog: Catalog) -> Callable[[], None]:
    descriptor = os.open(os.path.join(catalog.path, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o600)
    if not _retry_for_grace(lambda: _try_flock(descriptor)):
        os.close(descriptor)
        raise _busy(catalog)

    def release() -> None:
        os.close(descriptor)  # closing drops the flock

    return release


def _try_flock(descriptor: int) -> bool:
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
