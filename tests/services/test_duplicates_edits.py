"""Near duplicates that survive editing: copies turned, mirrored, cropped, straightened, framed or colourized in
the test (with Pillow, as an editor would) join the original's group with the reason said, the original stays
the primary, and look-alikes with the same capture data stay apart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from catalog.media.dihedral import IDENTITY
from catalog.models import Asset, DuplicateGroup, DuplicateMember
from tests.conftest import FIXTURES
from tests.services.helpers import analyze, asset_at

pytestmark = pytest.mark.django_db

ORIGINAL = FIXTURES / "dupes" / "flower__original.jpg"  # 480x360, a camera's EXIF (see tests/fixtures/README.md)
OTHER = FIXTURES / "dupes" / "kde_path__original.jpg"


def save_edit(image: Image.Image, path: Path, exif: bytes) -> Path:
    """Saved as an editor saves: a new JPEG that keeps the camera's EXIF (orientation 1, the pixels turned)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image.convert("RGB").save(path, "JPEG", quality=88, exif=exif)
    return path


@pytest.fixture
def edited(tmp_path: Path) -> dict[str, Path]:
    library = tmp_path / "photos"
    (library / "camera").mkdir(parents=True)
    original = shutil.copy(ORIGINAL, library / "camera" / "flower.jpg")
    picture = Image.open(original)
    tags = picture.getexif()
    tags[0x0131] = "GIMP 2.10.34"  # Software: an editor writes its name when it saves
    exif = tags.tobytes()
    width, height = picture.size
    edits = library / "edits"
    files = {"original": Path(original)}
    for name, transpose in (
        ("turned_left", Image.Transpose.ROTATE_90), ("turned_right", Image.Transpose.ROTATE_270),
        ("upside_down", Image.Transpose.ROTATE_180), ("mirrored", Image.Transpose.FLIP_LEFT_RIGHT),
        ("transverse", Image.Transpose.TRANSVERSE),
    ):  # fmt: skip
        files[name] = save_edit(picture.transpose(transpose), edits / f"{name}.jpg", exif)
    # A crop of 12 % of the width and 8 % of the height, off centre.
    files["cropped"] = save_edit(
        picture.crop((int(0.10 * width), int(0.02 * height), int(0.98 * width), int(0.94 * height))),
        edits / "cropped.jpg", exif,
    )  # fmt: skip
    # Straightened: turned by 3 degrees, the corners cut away.
    straight = picture.rotate(3, resample=Image.Resampling.BICUBIC)
    margin_w, margin_h = int(0.07 * width), int(0.07 * height)
    files["straightened"] = save_edit(
        straight.crop((margin_w, margin_h, width - margin_w, height - margin_h)), edits / "straightened.jpg", exif
    )
    files["framed"] = save_edit(ImageOps.expand(picture, border=18, fill="white"), edits / "framed.jpg", exif)
    files["sepia"] = save_edit(ImageOps.colorize(picture.convert("L"), "#2b1a0a", "#f4e4c4"), edits / "sepia.jpg", exif)
    # Look-alikes with the same capture data: half the picture replaced, and another picture altogether.
    collage = picture.copy()
    collage.paste(Image.open(OTHER).convert("RGB").resize((width // 2, height)), (0, 0))
    files["collage"] = save_edit(collage, library / "other" / "collage.jpg", exif)
    files["other"] = save_edit(Image.open(OTHER).resize((width, height)), library / "other" / "path.jpg", exif)
    return files


def reasons(catalog, files: dict[str, Path]) -> dict[str, str]:
    """name → the reason its group gives (primary: "primary"); absent when the file is in no similar group."""
    found = {}
    for name, path in files.items():
        asset = asset_at(catalog, path)
        member = DuplicateMember.objects.filter(asset=asset, group__kind="similar").select_related("group").first()
        if member is not None:
            found[name] = "primary" if member.group.primary_id == asset.pk else member.edit
    return found


def test_turned_mirrored_cropped_straightened_framed_and_colourized_copies_join_the_original(tmp_path, edited):
    catalog, _ = analyze(tmp_path / "catalog", tmp_path / "photos")

    groups = DuplicateGroup.objects.filter(catalog=catalog, kind="similar")
    assert groups.count() == 1
    group = groups.get()
    assert group.primary == asset_at(catalog, edited["original"])  # not the framed copy, larger as it is
    assert reasons(catalog, edited) == {
        "original": "primary",
        "turned_left": "turned 90° to the left",
        "turned_right": "turned 90° to the right",
        "upside_down": "turned 180°",
        "mirrored": "mirrored",
        "transverse": "mirrored and turned",
        "cropped": "cropped",
        "straightened": "straightened, cropped",
        "framed": "framed",
        "sepia": "recompressed",
    }
    turns = {
        name: DuplicateMember.objects.get(group=group, asset=asset_at(catalog, path)).turn
        for name, path in edited.items()
        if name in ("original", "turned_left", "cropped")
    }
    assert turns == {"original": IDENTITY, "turned_left": Image.Transpose.ROTATE_90, "cropped": IDENTITY}


def test_the_same_capture_data_alone_never_joins_two_different_pictures(tmp_path, edited):
    catalog, _ = analyze(tmp_path / "catalog", tmp_path / "photos")
    grouped = set(
        DuplicateMember.objects.filter(group__catalog=catalog, group__kind="similar").values_list("asset_id", flat=True)
    )
    assert asset_at(catalog, edited["collage"]).pk not in grouped
    assert asset_at(catalog, edited["other"]).pk not in grouped


def test_pictures_analyzed_before_hash_variants_get_them_from_their_thumbnails(tmp_path, edited):
    from catalog.models import Asset
    from catalog.services.duplicates import catalog_find_duplicates

    catalog, _ = analyze(tmp_path / "catalog", tmp_path / "photos")
    Asset.objects.filter(catalog=catalog).update(hash_variants=None)  # as a catalog of the previous version

    catalog_find_duplicates(catalog=catalog)

    assert not Asset.objects.filter(catalog=catalog, media_type="image", hash_variants__isnull=True).exists()
    assert reasons(catalog, edited)["turned_left"] == "turned 90° to the left"


def test_a_primary_chosen_by_hand_turns_the_other_members_relations_with_it(tmp_path, edited):
    from catalog.services.duplicates import group_set_primary

    catalog, _ = analyze(tmp_path / "catalog", tmp_path / "photos")
    group = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    group_set_primary(group=group, asset=asset_at(catalog, edited["turned_left"]))

    def member(name):
        return DuplicateMember.objects.get(group=group, asset=asset_at(catalog, edited[name]))

    # The original is the new primary turned back; the copy turned the other way is turned twice from it.
    assert (member("original").turn, member("original").edit) == (Image.Transpose.ROTATE_270, "turned 90° to the right")
    assert (member("turned_right").turn, member("turned_right").edit) == (Image.Transpose.ROTATE_180, "turned 180°")
    assert (member("turned_left").turn, member("turned_left").edit) == (IDENTITY, "")


def test_the_api_says_how_each_member_was_edited(tmp_path, edited, client, admin_user):
    from django.urls import reverse

    catalog, _ = analyze(tmp_path / "catalog", tmp_path / "photos")
    group = DuplicateGroup.objects.get(catalog=catalog, kind="similar")
    client.force_login(admin_user)
    members = client.get(reverse("catalog:api-duplicate", args=[group.pk])).json()["members"]
    by_name = {Path(member["path"]).stem: (member["edit"], member["turn"]) for member in members}
    assert by_name["flower"] == ("", IDENTITY)
    assert by_name["turned_right"] == ("turned 90° to the right", Image.Transpose.ROTATE_270)
    assert by_name["framed"] == ("framed", IDENTITY)


def test_each_pair_is_tested_once_and_a_later_run_reads_what_the_test_said(tmp_path, edited, monkeypatch):
    from catalog.models import EditCheck
    from catalog.services import edits
    from catalog.services.duplicates import catalog_find_duplicates

    catalog, _ = analyze(tmp_path / "catalog", tmp_path / "photos")
    first = reasons(catalog, edited)
    assert EditCheck.objects.filter(catalog=catalog, same=True).exists()
    assert EditCheck.objects.filter(catalog=catalog, same=False).exists()  # the look-alikes were tested too
    calls = []
    monkeypatch.setattr(edits, "align", lambda *args: calls.append(args))
    monkeypatch.setattr(edits, "turned_alike", lambda *args: calls.append(args))

    catalog_find_duplicates(catalog=catalog)

    assert calls == [] and reasons(catalog, edited) == first
    edited["cropped"].unlink()  # a content gone: what was said of it goes too
    analyze(tmp_path / "catalog", tmp_path / "photos")
    gone = Asset.objects.get(catalog=catalog, path=str(edited["cropped"])).sha256
    assert not EditCheck.objects.filter(catalog=catalog, sha256_a=gone).exists()
    assert not EditCheck.objects.filter(catalog=catalog, sha256_b=gone).exists()


def test_a_crop_and_a_turned_copy_without_exif_still_pair_with_each_other(tmp_path):
    """Neither keeps the camera's EXIF: the crop is a plain near duplicate (named by its shape), the turned copy is
    found through its hash variant, and the two pair with each other through the keypoint test."""
    library = tmp_path / "photos"
    library.mkdir()
    picture = Image.open(ORIGINAL).convert("RGB")  # pixels only: no EXIF anywhere
    width, height = picture.size
    files = {
        "original": picture,
        "turned": picture.transpose(Image.Transpose.ROTATE_270),
        "cropped": picture.crop((0, int(0.04 * height), width, height)),  # close enough for the plain rule
    }
    paths = {}
    for name, image in files.items():
        paths[name] = library / f"{name}.jpg"
        image.save(paths[name], "JPEG", quality=90)
    catalog, _ = analyze(tmp_path / "catalog", library)

    assert reasons(catalog, paths) == {"original": "primary", "turned": "turned 90° to the right", "cropped": "cropped"}
