"""The library roots of the embedded default: `make run`'s folders are kept in the data folder and read by every
later start, unless VAM_LIBRARY_ROOTS says otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHOW_ROOTS = "from django.conf import settings; print(settings.VAM_LIBRARY_ROOTS_FROM, *settings.VAM_LIBRARY_ROOTS)"


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )


def embedded_env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "VAM_LIBRARY_ROOTS"}}
    return env | {"VAM_DATA_DIR": str(data_dir)}


def test_added_roots_are_kept_across_restarts_and_the_environment_overrides_them(tmp_path):
    photos, elsewhere = tmp_path / "photos", tmp_path / "elsewhere"
    photos.mkdir()
    elsewhere.mkdir()
    env = embedded_env(tmp_path / "data")

    empty = manage(env, "library_roots")
    assert empty.returncode == 0 and "no library roots" in empty.stdout and "library_roots add DIR" in empty.stdout

    added = manage(env, "library_roots", "add", str(photos), str(tmp_path / "catalog"))
    assert added.returncode == 0
    assert added.stdout.splitlines() == [f"added {photos}", f"added {tmp_path / 'catalog'}"]
    again = manage(env, "library_roots", "add", str(photos) + "/")  # the same folder, written another way
    assert "nothing added: already a root" in again.stdout

    # A new process (a restart of the server) reads them.
    shown = manage(env, "shell", "-v", "0", "-c", SHOW_ROOTS)
    assert shown.stdout.split() == ["data", "folder", str(photos), str(tmp_path / "catalog")]
    listed = manage(env, "library_roots")
    assert str(photos) in listed.stdout and "library_roots" in listed.stdout.splitlines()[0]

    overridden = manage(env | {"VAM_LIBRARY_ROOTS": str(elsewhere)}, "shell", "-v", "0", "-c", SHOW_ROOTS)
    assert overridden.stdout.split() == ["environment", str(elsewhere)]
    blank = manage(env | {"VAM_LIBRARY_ROOTS": ""}, "shell", "-v", "0", "-c", SHOW_ROOTS)
    assert blank.stdout.split() == ["environment"]  # set and empty: no roots at all, whatever the list holds
    noted = manage(env | {"VAM_LIBRARY_ROOTS": str(elsewhere)}, "library_roots", "add", str(elsewhere))
    assert "VAM_LIBRARY_ROOTS is set" in noted.stderr  # (kept for the day it is unset)

    removed = manage(env, "library_roots", "remove", str(tmp_path / "catalog"))
    assert removed.stdout.strip() == f"removed {tmp_path / 'catalog'}"
    after = manage(env, "shell", "-v", "0", "-c", SHOW_ROOTS).stdout.split()
    assert after == ["data", "folder", str(photos), str(elsewhere)]


def test_a_folder_is_required_to_add_and_a_line_break_cannot_make_two(tmp_path):
    failed = manage(embedded_env(tmp_path / "data"), "library_roots", "add")
    assert failed.returncode != 0 and "give at least one folder" in failed.stderr
    split = manage(embedded_env(tmp_path / "data"), "library_roots", "add", f"{tmp_path}/x\n/home")
    assert split.returncode != 0 and "line break" in split.stderr
    assert not (tmp_path / "data" / "library_roots").exists()
