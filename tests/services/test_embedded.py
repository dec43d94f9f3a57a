"""The embedded default: no DATABASE_URL or REDIS_URL, so SQLite in VAM_DATA_DIR, driven from a real shell."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services.helpers import camera_photo, plain_photo

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.embedded
def test_fresh_embedded_install_analyzes_and_exports(tmp_path):
    photos = tmp_path / "photos"
    camera_photo(photos / "DSC_0001.jpg", "2019:03:15 14:22:33")
    camera_photo(photos / "trip" / "DSC_0002.jpg", "2020:08:01 07:05:09", color=(20, 180, 60))
    plain_photo(photos / "IMG_20210102_030405.jpg")
    plain_photo(photos / "PXL_20220304_050607123.jpg", color=(220, 220, 10))
    data_dir, catalog, out = tmp_path / "data", tmp_path / "catalog", tmp_path / "out.json"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}}
    env.update(VAM_DATA_DIR=str(data_dir), TZ_NAME="America/New_York", TZ="Asia/Tokyo")

    def manage(*args: str) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180
        )
        assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    manage("migrate", "--noinput")
    analyzed = manage("analyze", str(catalog), "-s", str(photos), "--workers", "2")
    manage("export", str(catalog), "assets", "-o", str(out))

    assert (data_dir / "vam.sqlite3").is_file()
    assert "4 files seen: 4 new" in analyzed.stdout
    document = json.loads(out.read_text(encoding="utf-8"))
    assert document["catalog"] == str(catalog.resolve())
    dates = {Path(record["path"]).name: (record["taken_at"], record["date_source"]) for record in document["assets"]}
    assert dates == {
        "DSC_0001.jpg": ("2019-03-15T14:22:33", "exif_original"),
        "DSC_0002.jpg": ("2020-08-01T07:05:09", "exif_original"),
        "IMG_20210102_030405.jpg": ("2021-01-02T03:04:05", "filename"),
        "PXL_20220304_050607123.jpg": ("2022-03-04T05:06:07", "filename"),
    }
    assert {record["status"] for record in document["assets"]} == {"ok"}
    assert all(len(record["dhash"]) == 16 for record in document["assets"])
    assert (catalog / "thumbnails" / "256").is_dir()

    # The grid's keyset pages on SQLite: every asset once, in both date orders (SQLite compares datetimes as text).
    walk = manage("shell", "-v", "0", "-c", WALK_PAGES)
    assert walk.stdout.split() == ["4", "4", "4", "4"], walk.stdout

    # Organize on the embedded default too: a move into date folders (the lock is a file lock without Postgres),
    # then its rollback from the job id it printed.
    sorted_dir = tmp_path / "sorted"
    moved = manage("organize", str(catalog), str(sorted_dir), "--operation", "move", "--structure", "YYYY")
    assert "4 planned, 4 done" in moved.stdout
    placed = sorted(p.relative_to(sorted_dir).as_posix()[:23] for p in sorted_dir.rglob("*.jpg"))
    assert placed == ["2019/2019-03-15_142233_", "2020/2020-08-01_070509_", "2021/2021-01-02_030405_",
                      "2022/2022-03-04_050607_"]  # fmt: skip
    assert not list(photos.rglob("*.jpg"))
    job_id = moved.stdout.split("job ", 1)[1].split()[0]
    manage("organize", "--rollback", job_id)
    assert sorted(p.name for p in photos.rglob("*.jpg")) == [
        "DSC_0001.jpg",
        "DSC_0002.jpg",
        "IMG_20210102_030405.jpg",
        "PXL_20220304_050607123.jpg",
    ]
    assert not list(sorted_dir.rglob("*.jpg"))


WALK_PAGES = """
from catalog.grid import AssetQuery
from catalog.models import Catalog
catalog = Catalog.objects.get()
for sort in ("-taken_at", "taken_at"):
    query, seen, cursor = AssetQuery(sort=sort), [], None
    while True:
        rows, cursor = query.page(catalog.pk, after=cursor, limit=1)
        seen += [row.pk for row in rows]
        if not cursor or len(seen) > 20:
            break
    print(len(seen), len(set(seen)))
"""
