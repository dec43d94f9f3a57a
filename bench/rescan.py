"""Re-analyze an unchanged library: how long the incremental path takes when nothing needs reading.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vam_bench python -m bench.rescan --files 100000

Creates N small files in nested folders and the matching analyzed rows (as a first analyze would leave them),
then times ``catalog_analyze`` over the unchanged folder. Prints seconds and files/s.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--per-folder", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vamsite.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from catalog.models import Asset
    from catalog.services.analyze import catalog_analyze, catalog_get_or_create

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory(prefix="vam-rescan-") as scratch:
        library = Path(scratch) / "photos"
        for index in range(args.files):
            folder = library / f"{index // args.per_folder:05d}"
            if index % args.per_folder == 0:
                folder.mkdir(parents=True)
            (folder / f"IMG_{index:07d}.jpg").write_bytes(b"\xff\xd8")
        catalog = catalog_get_or_create(path=Path(scratch) / "catalog")
        now = timezone.now()
        rows = []
        for root, _dirs, files in os.walk(library):
            for name in files:
                path = os.path.join(root, name)
                stat = os.stat(path)
                rows.append(
                    Asset(catalog=catalog, path=path, size=stat.st_size, mtime_ns=stat.st_mtime_ns, analyzed_at=now)
                )
        Asset.objects.bulk_create(rows, batch_size=5000)
        timings = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            summary = catalog_analyze(catalog=catalog, sources=[str(library)], thumbnails=False)
            timings.append(time.perf_counter() - started)
            assert summary.unchanged == args.files, summary.line()
        catalog.delete()
    best = sorted(timings)[len(timings) // 2]
    print(f"rescan of {args.files} unchanged files: median {best:.2f} s ({args.files / best:,.0f} files/s)")
    print(f"rescan_seconds={best:.3f}")


if __name__ == "__main__":
    main()
