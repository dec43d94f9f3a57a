"""Duplicate detection for a catalog: groups, primaries, users' decisions, commands, export and the fine hash.

Most tests insert asset rows with chosen hashes (what analysis would have stored) and run the detection; the
last ones run ``analyze`` on real pictures from ``tests/fixtures/dupes``.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil

import numpy as np
import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from catalog.models import Asset, DuplicateGroup, DuplicateMember, NotDuplicate
from catalog.services.analyze import catalog_get_or_create
from catalog.services.duplicates import (
    DuplicatesError,
    catalog_find_duplicates,
    group_dismiss,
    group_set_primary,
    member_dismiss,
)
from catalog.similarity.grouping import MAX_THRESHOLD, Thresholds
from tests.conftest import FIXTURES
from tests.services.helpers import analyze, asset_at, export_csv, export_json
from tests.similarity.helpers import (
    FLOWER,
    add_asset,
    assert_cliques,
    clustered_hashes,
    copies,
    fine_near,
    flip_int,
    group_view,
    new_asset,
    normal_hash,
    similar_groups,
)

pytestmark = pytest.mark.django_db

# The export contract (DESIGN.md, "Export formats"), spelled out so a renamed field fails.
GROUP_KEYS = ["id", "kind", "primary", "members"]
MEMBER_KEYS = ["path", "sha256", "distance", "quality_score"]
DUPLICATE_COLUMNS = ["id", "kind", "primary", "path", "sha256", "distance", "quality_score"]


@pytest.fixture
def catalog(catalog_dir):
    return catalog_get_or_create(path=catalog_dir)


@pytest.fixture
def rng():
    return np.random.default_rng(42)


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def similar_group(catalog) -> DuplicateGroup:
    return DuplicateGroup.objects.get(catalog=catalog, kind="similar")


def snapshot(catalog) -> tuple[list, list]:
    """Everything a run writes: the groups and their member rows."""
    groups = DuplicateGroup.objects.filter(catalog=catalog).order_by("id")
    fields = ("id", "kind", "key", "primary_id", "primary_chosen", "member_count", "cluster_id", "updated_at")
    members = DuplicateMember.objects.filter(group__catalog=catalog).order_by("id")
    return list(groups.values_list(*fields)), list(
        members.values_list("id", "group_id", "asset_id", "distance", "phash_distance", "quality_score")
    )


# No chains, the 256-bit check, order ---------------------------------------------------------------------------


def test_chain_of_similar_pictures_never_puts_its_ends_together(catalog, rng):
    d, p = normal_hash(rng), normal_hash(rng)
    # Each picture 6 dHash bits from the next: neighbours are similar, two steps apart (12) still are,
    # three steps (18) are not.
    chain = [flip_int(d, range(6 * k)) for k in range(5)]
    for k, value in enumerate(chain):
        add_asset(catalog, f"/lib/{k}.jpg", value, p)

    summary = catalog_find_duplicates(catalog=catalog)

    assert summary.similar_pairs == 4 + 3
    groups = similar_groups(catalog)
    assert sorted(map(len, groups)) == [2, 3]
    for group in groups:
        steps = sorted(int(path[5]) for path in group)
        assert steps[-1] - steps[0] <= 2, f"{steps}: a chain was grouped"
    assert_cliques(catalog, Thresholds.scaled())


def test_fine_hashes_keep_apart_pictures_whose_64_bit_hashes_match(catalog, rng):
    d, p = normal_hash(rng), normal_hash(rng)
    fine = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    add_asset(catalog, "/lib/lake.jpg", d, p, fine)
    add_asset(catalog, "/lib/lake_small.jpg", d, p, fine_near(fine, 20, 30))  # the same picture, resized
    add_asset(catalog, "/lib/lake_later.jpg", d, p, fine_near(fine, 90, 80, start=100))  # 22 minutes later

    catalog_find_duplicates(catalog=catalog)

    assert similar_groups(catalog) == [{"/lib/lake.jpg", "/lib/lake_small.jpg"}]


def test_groups_do_not_depend_on_the_order_rows_were_inserted(tmp_path, rng):
    dhash, phash = clustered_hashes(rng, 400)
    order_rng = random.Random(1)
    rows = [
        # A few sizes and path lengths, so that quality ties are common and broken by the path.
        (f"/lib/{'x' * order_rng.randrange(3)}{k}.jpg", int(d), int(p), order_rng.choice([1000, 1000, 2000]))
        for k, (d, p) in enumerate(zip(dhash.view(np.uint64), phash.view(np.uint64), strict=True))
    ]
    views = []
    for attempt in range(3):
        catalog = catalog_get_or_create(path=tmp_path / f"catalog{attempt}")
        Asset.objects.bulk_create([new_asset(catalog, path, d, p, size=size) for path, d, p, size in rows])
        catalog_find_duplicates(catalog=catalog)
        views.append(group_view(catalog))
        order_rng.shuffle(rows)

    assert sum(kind == "similar" for kind, _, _ in views[0]) >= 30
    assert views[1] == views[0]
    assert views[2] == views[0]


# Primaries -----------------------------------------------------------------------------------------------------


PRIMARY_CASES = {
    "pixels over format and camera": ({"width": 700}, {"fmt": "RAW/CR2", "camera_make": "Canon", "size": 900_000}),
    "pixels within 1 % tie": ({"fmt": "PNG", "height": 476}, {"size": 900_000}),
    "camera over format": ({"camera_model": "E-M1"}, {"fmt": "PNG", "size": 900_000}),
    "EXIF date over format": (
        {"date_source": "exif_digitized", "date_confidence": 0.8},
        {"fmt": "TIFF", "size": 900_000, "date_source": "filename", "date_confidence": 0.9},
    ),
    "RAW over its camera's JPEG": (
        {"fmt": "RAW/CR2", "camera_make": "Canon", "width": 644},
        {"camera_make": "Canon", "size": 900_000},
    ),
    "PNG over JPEG": ({"fmt": "PNG"}, {"fmt": "JPEG", "size": 900_000}),
    "HEIC over WebP": ({"fmt": "HEIC", "size": 10}, {"fmt": "WEBP"}),
    "JPEG over GIF": ({"fmt": "JPEG"}, {"fmt": "GIF", "size": 900_000}),
    "file size": ({"size": 100_001}, {"gps_latitude": 1.0, "date_confidence": 0.9}),
    "date confidence": ({"date_confidence": 0.9}, {"date_confidence": 0.5, "gps_latitude": 1.0}),
    "GPS": ({"gps_latitude": 48.8}, {}),
    "shortest path": ({"path": "/lib/b.jpg"}, {"path": "/lib/aa.jpg", "mtime_ns": 1}),
    "oldest file": ({"mtime_ns": 1}, {"mtime_ns": 2}),
}


@pytest.mark.parametrize(("better", "worse"), PRIMARY_CASES.values(), ids=PRIMARY_CASES.keys())
def test_primary_is_the_best_copy(catalog, rng, better, worse):
    d, p = normal_hash(rng), normal_hash(rng)
    # The worse copy comes first and its path sorts first: only the rule under test can make the other win.
    add_asset(catalog, **{"path": "/lib/a.jpg", "dhash": d, "phash": p, "mtime_ns": 5, **worse})
    winner = add_asset(catalog, **{"path": "/lib/b.jpg", "dhash": d, "phash": p, "mtime_ns": 5, **better})

    catalog_find_duplicates(catalog=catalog)

    group = similar_group(catalog)
    assert group.primary == winner and not group.primary_chosen


def test_members_carry_distance_to_the_primary_and_quality_score(catalog, rng):
    d, p = normal_hash(rng), normal_hash(rng)
    raw = add_asset(catalog, "/lib/IMG_1.CR2", d, p, fmt="RAW/CR2", width=6000, height=4000)
    jpeg = add_asset(catalog, "/lib/IMG_1.jpg", flip_int(d, range(5)), flip_int(p, range(2)))
    copy = add_asset(catalog, "/backup/IMG_1.jpg", flip_int(d, range(5)), flip_int(p, range(2)), sha256=jpeg.sha256)

    catalog_find_duplicates(catalog=catalog)

    group = similar_group(catalog)
    assert group.primary == raw and group.member_count == 3
    members = {m.asset_id: (m.distance, m.phash_distance, m.quality_score) for m in group.members.all()}
    assert members == {raw.pk: (0, 0, 24.0), jpeg.pk: (5, 2, 0.31), copy.pk: (5, 2, 0.31)}


# Users' decisions ----------------------------------------------------------------------------------------------


def three_similar(catalog, rng) -> list[Asset]:
    d, p = normal_hash(rng), normal_hash(rng)
    return [
        add_asset(catalog, "/lib/a.png", d, p, fmt="PNG"),
        add_asset(catalog, "/lib/b.jpg", flip_int(d, [1, 2]), p),
        add_asset(catalog, "/lib/c.jpg", flip_int(d, [3, 4, 5]), flip_int(p, [9])),
    ]


def test_rerun_with_nothing_changed_changes_nothing(catalog, rng):
    three_similar(catalog, rng)
    add_asset(catalog, "/lib/copy/b.jpg", sha256=Asset.objects.get(path="/lib/b.jpg").sha256)
    catalog_find_duplicates(catalog=catalog)
    before = snapshot(catalog)
    assert len(before[0]) == 2  # a similar group and the exact group of b.jpg

    catalog_find_duplicates(catalog=catalog)

    assert snapshot(catalog) == before


def test_chosen_primary_survives_reruns_and_a_new_member(catalog, rng):
    a, b, c = three_similar(catalog, rng)
    catalog_find_duplicates(catalog=catalog)
    group = similar_group(catalog)
    assert group.primary == a

    group_set_primary(group=group, asset=c)
    distances = dict(group.members.values_list("asset_id", "distance"))
    assert distances == {a.pk: 3, b.pk: 5, c.pk: 0}  # now measured from the chosen primary

    catalog_find_duplicates(catalog=catalog)
    group = similar_group(catalog)
    assert (group.primary, group.primary_chosen) == (c, True)
    assert dict(group.members.values_list("asset_id", "distance")) == distances

    # A better copy joins the group: the group changes, the user's choice stays.
    add_asset(
        catalog, "/lib/a.tiff", a.dhash & 0xFFFFFFFFFFFFFFFF, a.phash & 0xFFFFFFFFFFFFFFFF, fmt="TIFF", width=9000
    )
    catalog_find_duplicates(catalog=catalog)
    group = similar_group(catalog)
    assert group.member_count == 4
    assert (group.primary, group.primary_chosen) == (c, True)


def test_choosing_which_identical_copy_to_keep_leaves_the_similar_group_alone(catalog, rng):
    a, b, _ = three_similar(catalog, rng)
    b_copy = add_asset(catalog, "/lib/copy/b.jpg", b.dhash, b.phash, sha256=b.sha256)
    catalog_find_duplicates(catalog=catalog)
    exact = DuplicateGroup.objects.get(catalog=catalog, kind="exact")
    assert (similar_group(catalog).primary, exact.primary) == (a, b)

    group_set_primary(group=exact, asset=b_copy)  # keep the backup's copy of b.jpg
    catalog_find_duplicates(catalog=catalog)

    exact.refresh_from_db()
    assert (exact.primary, exact.primary_chosen) == (b_copy, True)
    similar = similar_group(catalog)
    assert (similar.primary, similar.primary_chosen) == (a, False), "the PNG stays the primary of the similar group"


def test_chosen_primary_and_dismissed_member_survive_a_rerun(catalog, rng):
    a, b, c = three_similar(catalog, rng)  # b is closer to a than c is
    catalog_find_duplicates(catalog=catalog)
    group = similar_group(catalog)
    group_set_primary(group=group, asset=c)

    member_dismiss(member=group.members.get(asset=b))  # "b is not a duplicate of c"
    seen = group_view(catalog)
    assert seen == [("similar", (a.path, c.path), c.path)]

    catalog_find_duplicates(catalog=catalog)

    assert group_view(catalog) == seen


def test_primary_must_be_a_member(catalog, rng):
    three_similar(catalog, rng)
    stranger = add_asset(catalog, "/lib/other.jpg", normal_hash(rng), normal_hash(rng))
    catalog_find_duplicates(catalog=catalog)

    with pytest.raises(DuplicatesError, match="not a member"):
        group_set_primary(group=similar_group(catalog), asset=stranger)


def test_dismissed_group_is_never_built_again(catalog, rng):
    a, b, c = three_similar(catalog, rng)
    catalog_find_duplicates(catalog=catalog)

    group_dismiss(group=similar_group(catalog))

    assert not DuplicateGroup.objects.filter(catalog=catalog).exists()
    assert NotDuplicate.objects.filter(catalog=catalog).count() == 3
    mark = NotDuplicate.objects.filter(catalog=catalog).first()
    assert mark is not None and mark.sha256_a < mark.sha256_b
    summary = catalog_find_duplicates(catalog=catalog)
    assert summary.similar_pairs == 0
    assert group_view(catalog) == []


def test_dismissed_member_leaves_and_is_never_grouped_with_the_primary_again(catalog, rng):
    a, b, c = three_similar(catalog, rng)
    catalog_find_duplicates(catalog=catalog)
    group = similar_group(catalog)

    member_dismiss(member=group.members.get(asset=b))

    group.refresh_from_db()
    assert group.member_count == 2
    assert set(group.members.values_list("asset_id", flat=True)) == {a.pk, c.pk}
    for _ in range(2):
        catalog_find_duplicates(catalog=catalog)
        assert similar_groups(catalog) == [{a.path, c.path}]


def test_exact_groups_and_copies_of_the_primary_cannot_be_dismissed(catalog, rng):
    a, b, _ = three_similar(catalog, rng)
    a_copy = add_asset(catalog, "/lib/copy/a.png", fmt="PNG", sha256=a.sha256)
    catalog_find_duplicates(catalog=catalog)
    group = similar_group(catalog)

    with pytest.raises(DuplicatesError, match="byte-identical"):
        group_dismiss(group=DuplicateGroup.objects.get(catalog=catalog, kind="exact"))
    with pytest.raises(DuplicatesError, match="byte-identical"):
        member_dismiss(member=group.members.get(asset=a_copy))
    assert NotDuplicate.objects.count() == 0


# Exact groups --------------------------------------------------------------------------------------------------


def test_exact_group_lists_every_copy_and_sits_whole_in_its_similar_group(catalog, rng):
    d, p = normal_hash(rng), normal_hash(rng)
    original = add_asset(catalog, "/lib/IMG_1.jpg", d, p)
    copies_ = [add_asset(catalog, f"/backup{k}/IMG_1.jpg", d, p, sha256=original.sha256) for k in range(3)]
    resized = add_asset(catalog, "/lib/IMG_1_small.jpg", flip_int(d, [7]), p, width=320, height=240)
    lonely = add_asset(catalog, "/lib/IMG_2.jpg", normal_hash(rng), normal_hash(rng))
    add_asset(catalog, "/backup0/IMG_2.jpg", sha256=lonely.sha256)  # hashes not read: still the same bytes

    summary = catalog_find_duplicates(catalog=catalog)

    exact = {g.members.count(): g for g in DuplicateGroup.objects.filter(catalog=catalog, kind="exact")}
    assert sorted(exact) == [2, 4]
    assert set(exact[4].members.values_list("asset__path", flat=True)) == {original.path} | {c.path for c in copies_}
    similar = similar_group(catalog)
    assert exact[4].cluster == similar
    assert exact[2].cluster is None
    assert set(similar.members.values_list("asset_id", flat=True)) == {original.pk, resized.pk} | {
        c.pk for c in copies_
    }
    assert similar.member_count == 5
    assert (summary.exact_groups, summary.similar_groups, summary.grouped_files) == (2, 1, 7)


def test_videos_and_pictures_without_hashes_are_only_exact_duplicates(catalog, rng):
    d, p = normal_hash(rng), normal_hash(rng)
    add_asset(catalog, "/lib/photo.jpg", d, p)
    clip = add_asset(catalog, "/lib/clip.mov", d, p, fmt="MOV", media_type="video")  # hashes of its poster frame
    add_asset(catalog, "/backup/clip.mov", d, p, fmt="MOV", media_type="video", sha256=clip.sha256)
    other_clip = add_asset(catalog, "/lib/clip2.mov", flip_int(d, [1]), p, fmt="MOV", media_type="video")
    broken = add_asset(catalog, "/lib/broken.jpg")
    add_asset(catalog, "/backup/broken.jpg", sha256=broken.sha256)

    summary = catalog_find_duplicates(catalog=catalog)

    assert group_view(catalog) == [
        ("exact", ("/backup/broken.jpg", "/lib/broken.jpg"), "/lib/broken.jpg"),
        ("exact", ("/backup/clip.mov", "/lib/clip.mov"), "/lib/clip.mov"),
    ]
    assert summary.contents == 1 and other_clip.pk


def test_missing_and_empty_files_are_left_out(catalog, rng):
    d, p = normal_hash(rng), normal_hash(rng)
    kept = add_asset(catalog, "/lib/a.jpg", d, p)
    add_asset(catalog, "/old/a.jpg", d, p, sha256=kept.sha256, status="missing")
    add_asset(catalog, "/old/a_small.jpg", flip_int(d, [3]), p, status="missing")
    add_asset(catalog, "/lib/empty.jpg", size=0, sha256=hashlib.sha256(b"").hexdigest())
    add_asset(catalog, "/lib/empty2.jpg", size=0, sha256=hashlib.sha256(b"").hexdigest())

    summary = catalog_find_duplicates(catalog=catalog)

    assert group_view(catalog) == []
    assert summary.contents == 1


# Commands ------------------------------------------------------------------------------------------------------


def test_find_duplicates_prints_a_summary(library, catalog_dir):
    copies(FLOWER, library, only=("resize_50",))

    out, _ = run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1", "--no-thumbnails")
    assert "duplicates: 1 exact group, 1 similar group, 3 files in groups" in out
    DuplicateGroup.objects.all().delete()

    out, _ = run("find_duplicates", str(catalog_dir))

    assert out.startswith("duplicates: 1 exact group, 1 similar group, 3 files in groups; ")
    assert "2 pictures compared at threshold 16 (0 flat ones left out)" in out
    assert DuplicateGroup.objects.count() == 2
    out, _ = run("find_duplicates", str(catalog_dir), "--threshold", "0")
    assert "0 similar groups" in out and "threshold 0" in out


def test_find_duplicates_fails_clearly(tmp_path, catalog_dir, library):
    with pytest.raises(CommandError, match=r"no catalog at .*nowhere: run analyze first"):
        run("find_duplicates", str(tmp_path / "nowhere"))
    run("analyze", str(catalog_dir), "-s", str(library), "--workers", "1")
    for bad in ("99", "-1", str(MAX_THRESHOLD + 1)):
        with pytest.raises(CommandError, match=f"--threshold must lie between 0 and {MAX_THRESHOLD}"):
            run("find_duplicates", str(catalog_dir), "--threshold", bad)
    with pytest.raises(CommandError, match="--threshold"):
        run("analyze", str(catalog_dir), "-s", str(library), "--threshold", "99")


def test_analyze_no_duplicates_and_threshold(library, catalog_dir):
    flower = copies(FLOWER, library, only=("q40", "png"))
    args = ["analyze", str(catalog_dir), "-s", str(library), "--workers", "1", "--no-thumbnails"]

    out, _ = run(*args, "--no-duplicates")
    assert "duplicates:" not in out
    assert not DuplicateGroup.objects.exists()

    run(*args, "--threshold", "0")  # only pictures with identical hashes: the PNG has the JPEG's pixels
    catalog = catalog_get_or_create(path=catalog_dir)
    assert similar_groups(catalog) == [{str(flower["original"]), str(flower["copy"]), str(flower["png"])}]

    run(*args)
    assert similar_groups(catalog) == [{str(path) for path in flower.values()}]


# Primaries of analyzed copies ----------------------------------------------------------------------------------


def test_primary_is_the_camera_original_not_its_export_or_a_messenger_copy(library, catalog_dir):
    made = copies(FLOWER, library, only=("png",))  # the Canon's JPEG, a backup copy, a PNG export without EXIF
    with Image.open(FLOWER) as image:
        image.convert("RGB").resize((360, 270)).save(library / "IMG-20190315-WA0001.jpg", quality=60)

    catalog, _ = analyze(catalog_dir, library, thumbnails=False)

    group = similar_group(catalog)
    assert set(group.members.values_list("asset__path", flat=True)) == {
        str(made["original"]), str(made["copy"]), str(made["png"]), str(library / "IMG-20190315-WA0001.jpg")
    }  # fmt: skip
    assert (group.primary.path, group.primary_chosen) == (str(made["original"]), False)

    # A user who keeps the export keeps it through every later run.
    group_set_primary(group=group, asset=asset_at(catalog, made["png"]))
    analyze(catalog_dir, library, thumbnails=False)
    group = similar_group(catalog)
    assert (group.primary.path, group.primary_chosen) == (str(made["png"]), True)


def test_larger_jpeg_is_the_primary_over_a_smaller_tiff(library, catalog_dir):
    with Image.open(FLOWER) as image:
        picture = image.convert("RGB").transpose(Image.Transpose.ROTATE_90)
    picture.resize((500, 667), Image.Resampling.LANCZOS).save(library / "flower.jpg", quality=90)
    picture.resize((300, 400), Image.Resampling.LANCZOS).save(library / "flower.tif")

    catalog, _ = analyze(catalog_dir, library, thumbnails=False)

    group = similar_group(catalog)
    assert group.member_count == 2
    assert group.primary.path == str(library / "flower.jpg")
    scores = dict(group.members.values_list("asset__format", "quality_score"))
    assert scores == {"JPEG": 0.33, "TIFF": 0.12}


# Export --------------------------------------------------------------------------------------------------------


@pytest.fixture
def grouped(library, catalog_dir):
    """The flower, a byte-identical copy, a PNG conversion and a 50% resize, analyzed."""
    made = copies(FLOWER, library, only=("png", "resize_50"))
    analyze(catalog_dir, library, thumbnails=False)
    return made


def test_duplicates_json_matches_the_contract(grouped, catalog_dir, tmp_path):
    document = export_json(catalog_dir, "duplicates", tmp_path / "dupes.json")

    assert list(document) == ["catalog", "groups"]
    assert document["catalog"] == str(catalog_dir.resolve())
    assert [group["kind"] for group in document["groups"]] == ["exact", "similar"]
    exact, similar = document["groups"]
    for group in (exact, similar):
        assert list(group) == GROUP_KEYS
        assert isinstance(group["id"], int)
        assert group["id"] == DuplicateGroup.objects.get(kind=group["kind"]).pk
        for member in group["members"]:
            assert list(member) == MEMBER_KEYS
            with open(member["path"], "rb") as handle:
                assert member["sha256"] == hashlib.sha256(handle.read()).hexdigest()
            assert isinstance(member["distance"], int) and isinstance(member["quality_score"], float)

    original, copy = str(grouped["original"]), str(grouped["copy"])
    assert exact["primary"] == original  # the shorter path
    assert sorted(m["path"] for m in exact["members"]) == sorted([original, copy])
    assert similar["primary"] == original  # the camera's JPEG over its PNG export
    assert sorted(m["path"] for m in similar["members"]) == sorted(str(p) for p in grouped.values())
    scores = {m["path"]: m["quality_score"] for m in similar["members"]}
    assert scores == {str(grouped["png"]): 0.17, original: 0.17, copy: 0.17, str(grouped["resize_50"]): 0.04}
    assert next(m for m in similar["members"] if m["path"] == original) == {
        "path": original,
        "sha256": asset_at(catalog_get_or_create(path=catalog_dir), grouped["original"]).sha256,
        "distance": 0,
        "quality_score": 0.17,
    }


def test_duplicates_csv_has_the_contract_columns_and_one_row_per_member(grouped, catalog_dir, tmp_path):
    document = export_json(catalog_dir, "duplicates", tmp_path / "dupes.json")
    columns, rows = export_csv(catalog_dir, "duplicates", tmp_path / "dupes.csv")

    assert columns == DUPLICATE_COLUMNS
    expected = [
        {
            "id": str(group["id"]),
            "kind": group["kind"],
            "primary": group["primary"],
            **{key: str(value) for key, value in member.items()},
        }
        for group in document["groups"]
        for member in group["members"]
    ]
    assert rows == expected
    assert len(rows) == 2 + 4


# The fine hash -------------------------------------------------------------------------------------------------


def test_analyze_stores_a_fine_hash_for_pictures_only(library, catalog_dir):
    photo = shutil.copyfile(FLOWER, library / FLOWER.name)
    clip = shutil.copyfile(FIXTURES / "BlueSquare.mov", library / "BlueSquare.mov")

    catalog, _ = analyze(catalog_dir, library)

    picture = asset_at(catalog, photo)
    assert picture.fine_hash is not None and len(bytes(picture.fine_hash)) == 64
    assert bytes(picture.fine_hash) != bytes(64)
    video = asset_at(catalog, clip)
    assert video.media_type == "video" and video.dhash is None and video.fine_hash is None


def test_rows_from_before_fine_hashes_are_read_again_once(library, catalog_dir):
    made = copies(FLOWER, library, only=("resize_50",))
    catalog, _ = analyze(catalog_dir, library, thumbnails=False)
    fine = {path: bytes(asset_at(catalog, path).fine_hash) for path in made.values()}
    assert fine[made["original"]] == fine[made["copy"]] != fine[made["resize_50"]]

    # What the previous version left: 64-bit hashes and no fine hash.
    Asset.objects.filter(catalog=catalog).exclude(path=str(made["copy"])).update(fine_hash=None)
    catalog, summary = analyze(catalog_dir, library, thumbnails=False)

    assert (summary.unchanged, summary.changed) == (1, 2)
    assert {path: bytes(asset_at(catalog, path).fine_hash) for path in made.values()} == fine
    assert similar_groups(catalog) == [{str(path) for path in made.values()}]

    _, summary = analyze(catalog_dir, library, thumbnails=False)
    assert summary.unchanged == 3
