"""``manage.py analyze CATALOG --watch``: real file-system events on a real folder, a real command process."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from catalog.media.watch import concerns_catalog
from catalog.models import Asset, AssetStatus
from jobs.models import Job, JobKind, JobStatus
from tests.jobs.workers import REPO, TIMEOUT, wait_until
from tests.services.helpers import camera_photo, plain_photo


@pytest.mark.parametrize(
    ("path", "concerns"),
    [("/photos/2024/IMG_0001.JPG", True), ("/photos/2024/IMG_0001.CR2.xmp", True), ("/photos/clip.mov", True),
     ("/photos/notes.txt", False), ("/photos/.hidden/IMG_0002.jpg", False), ("/photos/@eaDir/IMG_0003.jpg", False),
     ("/photos/catalog/thumbnails/256/ab.webp", False), ("/photos/IMG_0004.jpg.part", False),
     ("/photos/a-folder-moved-away", True)],
)  # fmt: skip
def test_only_changes_that_analyze_would_see_count(path, concerns):
    assert concerns_catalog(path, ["/photos/catalog"]) is concerns


def _env() -> dict[str, str]:
    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return os.environ | {"DATABASE_URL": url, "REDIS_URL": settings.REDIS_URL, "SECRET_KEY": "test"}


def _analyze_jobs():
    return list(Job.objects.filter(kind=JobKind.ANALYZE).order_by("created_at"))


@pytest.mark.django_db(transaction=True)
def test_watch_analyzes_a_burst_of_new_files_as_one_run_and_sees_removals(tmp_path):
    photos, catalog, card = tmp_path / "photos", tmp_path / "catalog", tmp_path / "card"
    camera_photo(photos / "DSC_0001.jpg", "2019:03:15 14:22:33")
    for number in range(5):  # a camera card, copied in below
        plain_photo(card / f"IMG_{number:04d}.jpg", color=(40 * number, 90, 200 - 30 * number))
    log_path = tmp_path / "watch.log"
    command = [sys.executable, "manage.py", "analyze", str(catalog), "-s", str(photos), "--watch", "--no-thumbnails"]
    with log_path.open("wb") as log:
        watcher = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=log, stderr=subprocess.STDOUT)
    try:

        def log_says(pattern: str, times: int = 1):
            def check():
                if watcher.poll() is not None:
                    pytest.fail(f"the watch ended ({watcher.returncode}):\n{log_path.read_text()}")
                return len(re.findall(pattern, log_path.read_text())) >= times

            return check

        wait_until(log_says("watching 1 folder"), "the first run and the watch to start")
        assert [job.result["new"] for job in _analyze_jobs()] == [1]
        time.sleep(0.5)  # (inotify's watches are in place once the watch says so; a moment more for its thread)

        (photos / "card").mkdir()
        for source in sorted(card.iterdir()):  # copied one by one, as a file manager does
            shutil.copy2(source, photos / "card" / source.name)
            time.sleep(0.3)
        (photos / "notes.txt").write_text("not a photo")
        wait_until(log_says(r"job \S+ SUCCESS", 2), "the run after the burst")
        jobs = _analyze_jobs()
        assert len(jobs) == 2, log_path.read_text()
        assert jobs[1].result["new"] == 5 and jobs[1].status == JobStatus.SUCCESS
        assert Asset.objects.filter(path__startswith=str(photos / "card")).count() == 5

        (photos / "card" / "IMG_0003.jpg").unlink()
        wait_until(log_says(r"job \S+ SUCCESS", 3), "the run after a removal")
        assert _analyze_jobs()[2].result["missing"] == 1
        assert Asset.objects.get(path=str(photos / "card" / "IMG_0003.jpg")).status == AssetStatus.MISSING
    finally:
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            watcher.kill()
            raise
    assert watcher.returncode == 0, log_path.read_text()
    assert "stopped watching" in log_path.read_text()
    assert len(_analyze_jobs()) == 3  # the text file and the thumbnails written meanwhile started nothing


def test_watch_cannot_be_enqueued(tmp_path):
    done = subprocess.run(
        [sys.executable, "manage.py", "analyze", str(tmp_path), "-s", str(tmp_path), "--watch", "--enqueue"],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=TIMEOUT,
    )  # fmt: skip
    assert done.returncode != 0 and "use --wait to run them on the workers" in done.stderr
