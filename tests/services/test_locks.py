"""One writer per catalog: a second analyze or duplicate search on a busy catalog is refused with a clear error,
and the lock goes away with the process that held it, even when that process is killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection

from catalog.models import Catalog
from catalog.services import locks
from catalog.services.analyze import catalog_analyze, catalog_get_or_create
from catalog.services.locks import LOCK_FILE, NAMESPACE, CatalogBusy, _acquire_file, catalog_lock
from tests.services.helpers import camera_photo

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def short_grace(monkeypatch):
    """A busy catalog is told after a fraction of a second instead of the grace a dying holder gets."""
    monkeypatch.setattr(locks, "GRACE_SECONDS", 0.3)


def other_session() -> psycopg.Connection:
    """A second database session, as another worker (or machine) has."""
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db["HOST"] or "127.0.0.1", port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"], autocommit=True
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("short_grace")
def test_a_busy_catalog_refuses_a_second_analyze_until_the_first_session_ends(tmp_path):
    library = tmp_path / "photos"
    camera_photo(library / "a.jpg")
    catalog = catalog_get_or_create(path=tmp_path / "catalog")
    other = other_session()
    other.execute("SELECT pg_advisory_lock(%s, %s)", [NAMESPACE, catalog.pk])

    with pytest.raises(CatalogBusy, match="is busy"):
        catalog_analyze(catalog=catalog, sources=[str(library)], workers=1)
    with pytest.raises(CommandError, match="is busy"):
        call_command("find_duplicates", str(tmp_path / "catalog"))
    assert not catalog.assets.exists()

    other.close()  # its session ends (as when its worker is killed): the lock goes with it
    summary = catalog_analyze(catalog=catalog, sources=[str(library)], workers=1)
    assert summary.new == 1 and catalog.assets.count() == 1


@pytest.mark.django_db
def test_the_lock_is_reentrant_in_one_thread_and_released_after(tmp_path):
    catalog = catalog_get_or_create(path=tmp_path / "catalog")
    with catalog_lock(catalog), catalog_lock(catalog):  # analyze runs duplicate detection under its lock
        held = other_session().execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE, catalog.pk]).fetchone()
        assert held == (False,)
    free = other_session()
    assert free.execute("SELECT pg_try_advisory_lock(%s, %s)", [NAMESPACE, catalog.pk]).fetchone() == (True,)
    free.close()


@pytest.mark.django_db(transaction=True)
def test_a_holder_killed_in_the_middle_of_a_statement_frees_the_catalog_for_the_next_run(tmp_path):
    """kill -9 of a worker that is waiting on the database (a long insert, a slow query): its session would go on
    until the statement ends, holding the lock; it notices the dead client within a second, and the next run
    gets the catalog instead of "busy"."""
    catalog = catalog_get_or_create(path=tmp_path / "catalog")
    db = connection.settings_dict
    env = dict(os.environ, DATABASE_URL=f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}")
    holder = subprocess.Popen(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", HOLD_ADVISORY_LOCK.format(pk=catalog.pk)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        time.sleep(0.5)  # it is now inside its 60-second statement
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        started = time.monotonic()
        with catalog_lock(catalog):
            waited = time.monotonic() - started
    finally:
        if holder.poll() is None:
            holder.kill()
    assert waited < locks.GRACE_SECONDS


HOLD_ADVISORY_LOCK = """
from django.db import connection
from catalog.models import Catalog
from catalog.services.locks import catalog_lock
with catalog_lock(Catalog.objects.get(pk={pk})):
    print("held", flush=True)
    connection.cursor().execute("SELECT pg_sleep(60)")
"""


@pytest.mark.usefixtures("short_grace")
def test_without_postgres_a_file_lock_in_the_catalog_folder_does_the_same(tmp_path):
    catalog = Catalog(pk=1, path=str(tmp_path))
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_FILE_LOCK, str(tmp_path / LOCK_FILE)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(CatalogBusy, match="is busy"):
        _acquire_file(catalog)
    holder.send_signal(signal.SIGKILL)  # the kernel drops the lock of a killed process
    holder.wait(timeout=30)
    release = _acquire_file(catalog)
    with pytest.raises(CatalogBusy):
        _acquire_file(catalog)  # a second holder in this process is refused too
    release()
    _acquire_file(catalog)()


HOLD_FILE_LOCK = """
import fcntl, os, sys, time
descriptor = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
fcntl.flock(descriptor, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""
