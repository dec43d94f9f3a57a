"""Benchmark the browse reads on a catalog of a million synthetic assets: the grid API's first page, a deep page
and each filter and sort, through Django's test client (the whole request: routing, auth, query, JSON).

Usage (from the repository root; needs Postgres)::

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/vam python -m bench.pages [--assets 1000000] [--repeat 20]

The run uses its own database on the ``DATABASE_URL`` server (the URL's name with ``_bench_pages`` appended,
created and migrated when missing). The synthetic catalog is built once with ``COPY`` and kept for later runs
(``--rebuild`` makes it again): capture dates over 25 years (3% undated, 1% suspicious; a fifth of the dated
only by the file's modification time, all within the three days before the build, as copied files without EXIF
are), 20 camera models, 5% videos, 1% problem files, 5% of assets in exact duplicate groups of two, 400 folders.

It prints p50 and p95 per request and the slowest p95; the target (from the issue) is p95 < 200 ms for every
page at 1M assets. The last lines are ``key=value`` pairs.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import secrets
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bench.database import bench_database_url, ensure_database

REPO = Path(__file__).resolve().parents[1]
DATA_VERSION = 2  # of the recipe in ``build``: a catalog made by another is made again
CATALOG_PATH = f"/bench/pages/catalog-v{DATA_VERSION}-{{count}}"  # one synthetic catalog per size, kept between runs
CAMERAS = [f"Camera {index:02d}" for index in range(20)]
TARGET_P95_S = 0.2


def build(count: int, seed: int) -> int:
    """The synthetic catalog (made once); returns its id."""
    from django.db import connection

    from catalog.models import Asset, Catalog, DuplicateGroup, DuplicateMember

    path = CATALOG_PATH.format(count=count)
    catalog = Catalog.objects.filter(path=path).first()
    if catalog is not None and Asset.objects.filter(catalog=catalog).count() == count:
        return catalog.pk
    if catalog is not None:
        catalog.delete()
    catalog = Catalog.objects.create(path=path, name=f"bench {count}", source_directories=["/photos"])
    rng = random.Random(seed)
    start = datetime(2000, 1, 1, tzinfo=UTC)
    now = datetime.now(UTC)
    columns = [
        "catalog_id", "path", "size", "mtime_ns", "sha256", "media_type", "format", "width", "height",
        "taken_at", "date_source", "date_confidence", "date_suspicious", "camera_make", "camera_model",
        "status", "problem_kind", "problem_message", "exif", "lens_model", "date_note", "note",
        "created_at", "updated_at", "analyzed_at",
    ]  # fmt: skip
    print(f"building {count} synthetic assets …", flush=True)
    began = time.monotonic()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {Asset._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for index in range(count):
            undated = rng.random() < 0.03
            taken = None if undated else start + timedelta(seconds=rng.randrange(25 * 365 * 86400))
            mtime = not undated and rng.random() < 0.2  # copied without EXIF: the copy's modification time
            if mtime:
                taken = now - timedelta(seconds=rng.randrange(3 * 86400))
            video = rng.random() < 0.05
            problem = rng.random() < 0.01
            folder = f"/photos/{rng.randrange(400):03d}"
            sha = hashlib.sha256(f"{seed}-{index // 2 if index % 40 < 4 else index}".encode()).hexdigest()
            copy.write_row([
                catalog.pk, f"{folder}/IMG_{index:07d}.{'mp4' if video else 'jpg'}", rng.randrange(10**5, 10**7),
                int(taken.timestamp()) * 10**9 if mtime else 0, sha, "video" if video else "image",
                "MP4" if video else "JPEG", 4000, 3000, taken, "" if undated else "mtime" if mtime else "exif_original",
                None if undated else 0.1 if mtime else 0.95, rng.random() < 0.01, "Bench",
                rng.choice(CAMERAS), "problem" if problem else "ok", "truncated" if problem else "",
                "the file ends early" if problem else "", "{}", "", "", "", now, now, now,
            ])  # fmt: skip
    print(f"  copied in {time.monotonic() - began:.0f} s; duplicate groups …", flush=True)
    rows = Asset.objects.filter(catalog=catalog).values_list("sha256", "pk").order_by("sha256", "pk")
    by_content: dict[str, list[int]] = {}
    for sha, pk in rows.iterator(chunk_size=20_000):
        by_content.setdefault(sha, []).append(pk)
    groups, members = [], []
    for sha, ids in by_content.items():
        if len(ids) > 1:
            groups.append(DuplicateGroup(catalog=catalog, kind="exact", key=sha, primary_id=ids[0],
                                         member_count=len(ids)))  # fmt: skip
    DuplicateGroup.objects.bulk_create(groups, batch_size=5000)
    for group in DuplicateGroup.objects.filter(catalog=catalog).only("pk", "key"):
        members += [DuplicateMember(group_id=group.pk, asset_id=pk) for pk in by_content[group.key]]
    DuplicateMember.objects.bulk_create(members, batch_size=10_000)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE catalog_duplicategroup g SET redundant_bytes = (SELECT SUM(a.size) FROM catalog_duplicatemember m"
            " JOIN catalog_asset a ON a.id = m.asset_id WHERE m.group_id = g.id)"
            " - (SELECT a.size FROM catalog_asset a WHERE a.id = g.primary_id) WHERE g.catalog_id = %s",
            [catalog.pk],
        )
        cursor.execute("ANALYZE")
    print(f"  built in {time.monotonic() - began:.0f} s ({len(groups)} groups)", flush=True)
    return catalog.pk


def requests_to_time(catalog_id: int) -> list[tuple[str, str]]:
    from catalog.grid import AssetQuery, cursor_of
    from catalog.models import Asset, DuplicateGroup

    deep_query = AssetQuery()
    deep_row = deep_query.queryset(catalog_id)[int(Asset.objects.filter(catalog_id=catalog_id).count() * 0.9)]
    deep = cursor_of(deep_row, deep_query.sort)
    # The oldest asset with a capture date (not a modification time): the last of the dated part of the default
    # order; the page after it is the first of the undated (and, where they sort with them, the mtime-dated).
    dated = Asset.objects.filter(catalog_id=catalog_id, taken_at__isnull=False).exclude(date_source="mtime")
    past_dated = cursor_of(dated.order_by("taken_at", "id")[0], deep_query.sort)
    mtime_ids = Asset.objects.filter(catalog_id=catalog_id, date_source="mtime").order_by("pk")
    mtime_dated = mtime_ids.values_list("pk", flat=True)[mtime_ids.count() // 2]
    group = (
        DuplicateGroup.objects.filter(catalog_id=catalog_id)
        .order_by("-redundant_bytes")
        .values_list("pk", flat=True)[0]
    )
    grid = f"/api/catalogs/{catalog_id}/assets"
    return [
        ("grid, first page", grid),
        ("grid, page at 90%", f"{grid}?after={deep}"),
        ("grid, after the dated", f"{grid}?after={past_dated}"),
        ("grid, year", f"{grid}?year=2012"),
        ("grid, year and month", f"{grid}?year=2012&month=6"),
        ("grid, date range", f"{grid}?date_from=2010-03-01&date_to=2010-03-31"),
        ("grid, camera", f"{grid}?camera=Camera%2007"),
        ("grid, videos", f"{grid}?media_type=video"),
        ("grid, problems", f"{grid}?problem=1"),
        ("grid, undated or suspicious", f"{grid}?undated=1"),
        ("grid, in duplicate groups", f"{grid}?duplicates=1"),
        ("grid, folder", f"{grid}?folder=/photos/123"),
        ("grid, by path", f"{grid}?sort=path"),
        ("grid, by size, largest first", f"{grid}?sort=-size"),
        ("grid, oldest first", f"{grid}?sort=taken_at"),
        ("duplicate review, first page", f"/api/catalogs/{catalog_id}/duplicates"),
        ("duplicate review, exact groups", f"/api/catalogs/{catalog_id}/duplicates?kind=exact&reviewed=0"),
        ("duplicate group", f"/api/duplicates/{group}"),
        ("asset", f"/api/assets/{deep_row.pk}"),
        ("dashboard", f"/api/catalogs/{catalog_id}"),
        ("catalog list", "/api/catalogs"),
        ("page: dashboard", f"/catalogs/{catalog_id}/"),
        ("page: grid", f"/catalogs/{catalog_id}/photos/"),
        ("page: grid, oldest first", f"/catalogs/{catalog_id}/photos/?sort=taken_at"),
        ("page: grid at 90%", f"/catalogs/{catalog_id}/photos/?after={deep}"),
        ("page: grid, after the dated", f"/catalogs/{catalog_id}/photos/?after={past_dated}"),
        ("page: grid, camera and year", f"/catalogs/{catalog_id}/photos/?camera=Camera%2003&year=2015"),
        ("page: asset with neighbours", f"/assets/{deep_row.pk}/?camera=Camera%2003"),
        ("page: asset, file date", f"/assets/{mtime_dated}/"),
        ("page: catalog list", "/catalogs/"),
    ]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.pages", description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20, help="timed requests of each kind (default 20)")
    parser.add_argument("--rebuild", action="store_true", help="make the synthetic catalog again")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        raise SystemExit("bench.pages needs DATABASE_URL (Postgres), e.g. postgres://postgres@127.0.0.1:5432/vam")
    url = bench_database_url(os.environ["DATABASE_URL"], "_bench_pages", "bench.pages")
    ensure_database(url)
    os.environ.update(DATABASE_URL=url, DJANGO_SETTINGS_MODULE="vamsite.settings")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(32))
    os.environ.pop("REDIS_URL", None)
    sys.path.insert(0, str(REPO))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    call_command("migrate", verbosity=0)
    if args.rebuild:
        from catalog.models import Catalog

        Catalog.objects.filter(path=CATALOG_PATH.format(count=args.assets)).delete()
    catalog_id = build(args.assets, args.seed)
    user, _ = get_user_model().objects.get_or_create(username="bench-pages")
    client = Client()
    client.force_login(user)
    results = []
    print(f"{'request':<32}{'p50 ms':>9}{'p95 ms':>9}{'rows':>7}")
    for name, path in requests_to_time(catalog_id):
        timings = []
        rows = 0
        for attempt in range(args.repeat + 2):
            began = time.perf_counter()
            response = client.get(path, HTTP_HOST="127.0.0.1")
            elapsed = time.perf_counter() - began
            if response.status_code != 200:
                raise SystemExit(f"{path} answered {response.status_code}: {response.content[:300]!r}")
            if attempt >= 2:  # two warm-up requests
                timings.append(elapsed)
            if response["Content-Type"].startswith("text/html"):
                rows = response.content.count(b'class="tile') - response.content.count(b'class="tiles"')
                continue
            body = response.json()
            if isinstance(body, list):
                rows = len(body)
            elif "stats" in body:
                rows = len(body["stats"]["timeline"])
            else:
                rows = len(body["results"]) if "results" in body else len(body.get("members", [body]))
        timings.sort()
        p50, p95 = statistics.median(timings), timings[max(0, int(round(0.95 * len(timings))) - 1)]
        results.append((name, p50, p95))
        print(f"{name:<32}{p50 * 1000:>9.1f}{p95 * 1000:>9.1f}{rows:>7}", flush=True)
    worst = max(results, key=lambda item: item[2])
    verdict = "pass" if worst[2] < TARGET_P95_S else "FAIL"
    print(f"target: p95 < {TARGET_P95_S * 1000:.0f} ms for every request at {args.assets} assets: {verdict} "
          f"(slowest p95: {worst[0]}, {worst[2] * 1000:.1f} ms)")  # fmt: skip
    print()
    print(f"assets={args.assets}")
    for name, p50, p95 in results:
        key = name.replace(",", "").replace(":", "").replace(" ", "_")
        print(f"{key}_p50_ms={p50 * 1000:.1f}")
        print(f"{key}_p95_ms={p95 * 1000:.1f}")
    print(f"target={'pass' if verdict == 'pass' else 'fail'}")


if __name__ == "__main__":
    main()
