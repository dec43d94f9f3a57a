"""Real photos and what a library makes of them: copies group with their original, other pictures do not.

The originals are in ``tests/fixtures/dupes`` (see its README); the copies are made at run time.
"""

from __future__ import annotations

import shutil

import pytest

from catalog.models import Asset, DuplicateGroup
from catalog.similarity.grouping import Thresholds
from tests.services.helpers import analyze
from tests.similarity.helpers import (
    COLD_RIPPLE,
    DARKEST_HOUR,
    FLOWER,
    PATH,
    assert_cliques,
    copies,
    gradient_jpeg,
    group_view,
    similar_groups,
    solid_jpeg,
)

pytestmark = pytest.mark.django_db


def paths(made: dict) -> set[str]:
    return {str(p) for p in made.values()}


def test_resized_recompressed_and_converted_copies_group_with_their_original(library, catalog_dir):
    flower = copies(FLOWER, library / "flower")
    path = copies(PATH, library / "path")
    darkest = copies(DARKEST_HOUR, library / "lake", only=("resize_50", "q70"))
    cold_ripple = shutil.copyfile(COLD_RIPPLE, library / "lake" / COLD_RIPPLE.name)  # same lake, 22 min later

    catalog, summary = analyze(catalog_dir, library, thumbnails=False)

    assert similar_groups(catalog) == sorted([paths(flower), paths(path), paths(darkest)], key=sorted)
    assert all(str(cold_ripple) not in group for group in similar_groups(catalog))
    assert summary.duplicates is not None
    assert (summary.duplicates.similar_groups, summary.duplicates.exact_groups) == (3, 3)
    assert summary.duplicates.degenerate == 0
    assert_cliques(catalog, Thresholds.scaled())

    # The camera's original is the primary, not its lossless conversion; the copy and the PNG sit 0 bits from it.
    group = DuplicateGroup.objects.get(catalog=catalog, kind="similar", primary__path=str(flower["original"]))
    distances = dict(group.members.values_list("asset__path", "distance"))
    assert distances[str(flower["original"])] == distances[str(flower["copy"])] == distances[str(flower["png"])] == 0
    assert max(distances.values()) <= 16

    # Each original and its byte-identical copy also form an exact group, shown inside their similar group.
    exact = DuplicateGroup.objects.filter(catalog=catalog, kind="exact").select_related("cluster")
    assert sorted(sorted(g.members.values_list("asset__path", flat=True)) for g in exact) == sorted(
        sorted([str(made["original"]), str(made["copy"])]) for made in (flower, path, darkest)
    )
    for g in exact:
        assert g.cluster is not None and g.cluster.kind == "similar"
        assert set(g.members.values_list("asset_id", flat=True)) <= set(
            g.cluster.members.values_list("asset_id", flat=True)
        )


def test_threshold_zero_groups_only_pictures_with_identical_hashes(library, catalog_dir):
    flower = copies(FLOWER, library, only=("q40", "bright", "png", "stripped"))
    same_pixels = {str(flower[name]) for name in ("original", "copy", "png", "stripped")}

    catalog, _ = analyze(catalog_dir, library, thumbnails=False, threshold=0)
    assert similar_groups(catalog) == [same_pixels]

    analyze(catalog_dir, library, thumbnails=False)  # the default threshold takes the re-encoded copies in too
    assert similar_groups(catalog) == [paths(flower)]


def test_flat_pictures_never_form_near_groups_but_identical_files_are_exact_duplicates(library, catalog_dir):
    red = solid_jpeg(library / "red.jpg", (200, 30, 30))
    red_copy = solid_jpeg(library / "again" / "red.jpg", (200, 30, 30))
    solid_jpeg(library / "blue.jpg", (30, 30, 200))
    solid_jpeg(library / "white.jpg", (255, 255, 255), size=(640, 480))
    gradient_jpeg(library / "gradient.jpg")
    assert red.read_bytes() == red_copy.read_bytes()

    catalog, summary = analyze(catalog_dir, library, thumbnails=False)

    assert group_view(catalog) == [("exact", tuple(sorted([str(red), str(red_copy)])), str(red))]
    assert summary.duplicates is not None and summary.duplicates.degenerate == 4
    assert Asset.objects.filter(catalog=catalog, dhash__isnull=False).count() == 5  # hashed, only left out
