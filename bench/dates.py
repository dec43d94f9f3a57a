"""Dates from file and folder names: how many names of a mix that cameras, phones and peers write get a date,
and how fast the name parsers run (they run once per file on every analyze).

Usage (from the repository root; no database needed)::

    python -m bench.dates [--names 20000] [--repeat 7]

The mix: phone and camera names that carry a date (``IMG_20190315_142233.jpg``, ``PXL_…``, ``Screenshot_…``,
WhatsApp, Nextcloud's ``22-04-06 15-21-03.jpg``, epoch milliseconds, 14-digit stamps with a counter) and ones that
must not (``IMG_0001.JPG``, ``DSC01234.ARW``, ``P1000123.RW2``, 8-digit counters), each in folders that do
(``2019/5/3``, ``20221109``, ``Trip 2011-05-11 Rome``) or do not (``DCIM/100CANON``). Each figure is the best of
``--repeat`` rounds. The last lines are ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import datetime

from catalog.media.dates import date_from_filename, date_from_folders

DATED_NAMES = [
    "IMG_20190315_142233.jpg", "PXL_20230704_183005123.jpg", "VID_20200101_000001.mp4", "2019-03-15 14.22.33.jpg",
    "IMG-20190315-WA0001.jpg", "Screenshot_20210102-030405.png", "22-04-06 15-21-03.jpg",
    "IMG_BURST1723801037429.jpg", "201801261147521000.jpg", "20190315_142233.HEIC",
]  # fmt: skip
UNDATED_NAMES = ["IMG_0001.JPG", "DSC01234.ARW", "P1000123.RW2", "100_0001.JPG", "DSCF1234.RAF", "12345678.jpg"]
DATED_FOLDERS = ["Photos/2019/5/3", "Photos/20221109", "Archive/Trip 2011-05-11 Rome", "2016/08/18 iPhone"]
UNDATED_FOLDERS = ["DCIM/100CANON", "Pictures/Family", "Backup/phone"]


def sample(count: int, seed: int = 20261203) -> list[str]:
    """``count`` paths: a name from the mix (dated or not) in a folder from the mix (dated or not)."""
    rng = random.Random(seed)
    names = DATED_NAMES + UNDATED_NAMES
    folders = DATED_FOLDERS + UNDATED_FOLDERS
    return [f"/srv/{rng.choice(folders)}/{rng.choice(names)}" for _ in range(count)]


def best_rate(function, items: list[str], now: datetime, repeat: int) -> float:
    """Items per second, best of ``repeat`` rounds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for item in items:
            function(item, now)
        best = min(best, time.perf_counter() - started)
    return len(items) / best if best > 0 else 0.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.dates", description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", type=int, default=20000, help="paths in the mix (default 20000)")
    parser.add_argument("--repeat", type=int, default=7, help="rounds; the best counts (default 7)")
    args = parser.parse_args(argv)
    now = datetime(2026, 12, 3, 12, 0, 0)
    paths = sample(args.names)
    names = [path.rpartition("/")[2] for path in paths]
    print(f"{len(paths):,} paths; best of {args.repeat} rounds")
    for name in DATED_NAMES + UNDATED_NAMES:
        found = date_from_filename(name, now)
        print(f"  {name:32} {found.value.isoformat() if found else '—':20} {found.confidence if found else ''}")
    for folder in DATED_FOLDERS + UNDATED_FOLDERS:
        found = date_from_folders(f"/srv/{folder}/x.jpg", now)
        print(f"  {folder + '/':32} {found.value.isoformat() if found else '—':20} {found.confidence if found else ''}")
    dated_names = sum(date_from_filename(name, now) is not None for name in names)
    dated_folders = sum(date_from_folders(path, now) is not None for path in paths)
    names_rate = best_rate(date_from_filename, names, now, args.repeat)
    folders_rate = best_rate(date_from_folders, paths, now, args.repeat)
    print(f"date_from_filename: {names_rate:,.0f} names/s; date_from_folders: {folders_rate:,.0f} paths/s")
    print()
    for key, value in (
        ("paths", len(paths)), ("dated_by_name", dated_names), ("dated_by_folder", dated_folders),
        ("filename_names_per_s", round(names_rate)), ("folders_paths_per_s", round(folders_rate)),
    ):  # fmt: skip
        print(f"{key}={value}")


if __name__ == "__main__":
    main()
