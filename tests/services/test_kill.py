"""kill -9 in the middle of analyze loses nothing: committed batches stay, the next run finishes the rest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from django.db import connection
from PIL import Image

from catalog.models import Asset, AssetStatus, Catalog
from catalog.services.analyze import catalog_analyze

REPO = Path(__file__).resolve().parents[2]
FILES = 160


def noisy_photos(folder: Path, count: int) -> None:
    """Photos that take a measurable time to decode and thumbnail, so the run can be killed half way."""
    rng = np.random.default_rng(7)
    folder.mkdir(parents=True)
    for index in range(count):
        pixels = rng.integers(0, 256, size=(900, 1200, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"IMG_{index:04d}.jpg", quality=85)


@pytest.mark.django_db(transaction=True)
def test_analyze_killed_half_way_resumes_without_losing_or_redoing_files(tmp_path):
    photos, catalog_dir = tmp_path / "photos", tmp_path / "catalog"
    noisy_photos(photos, FILES)
    settings = connection.settings_dict
    env = dict(os.environ)
    env["DATABASE_URL"] = f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT']}/{settings['NAME']}"
    command = [sys.executable, "manage.py", "analyze", str(catalog_dir), "-s", str(photos), "--workers", "1"]
    process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        committed = 0
        while time.monotonic() < deadline and process.poll() is None:
            committed = Asset.objects.count()
            if committed:
                break
            time.sleep(0.05)
        assert process.poll() is None, "analyze finished before it could be killed: make the photos bigger"
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    committed = Asset.objects.count()
    assert 0 < committed < FILES, "the kill must land after the first batch and before the last"
    first_rows = dict(Asset.objects.values_list("path", "analyzed_at"))

    catalog = Catalog.objects.get()
    summary = catalog_analyze(catalog=catalog, sources=[str(photos)], workers=1)

    assert summary.unchanged == committed
    assert summary.new == FILES - committed
    assert Asset.objects.count() == FILES
    assert set(Asset.objects.values_list("status", flat=True)) == {AssetStatus.OK}
    # Rows written before the kill were not analyzed again.
    assert all(Asset.objects.get(path=path).analyzed_at == analyzed for path, analyzed in first_rows.items())
    for sha256 in Asset.objects.values_list("sha256", flat=True):
        for size in (256, 512):
            thumbnail = catalog_dir / "thumbnails" / str(size) / sha256[:2] / f"{sha256}.webp"
            assert thumbnail.is_file()
            with Image.open(thumbnail) as image:
                image.load()  # complete, not a half-written file
