"""The engine's parts for edited copies: the hashes of a picture's turns and mirrors, their search, and the
alignment test that confirms crops, frames and straightened copies (on a real photo, edited here)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageOps

from catalog.media import dihedral
from catalog.media.hashing import dhash, phash, to_signed64
from catalog.similarity.confirm import align, turned_alike
from catalog.similarity.variants import turned_pairs
from tests.conftest import FIXTURES

FLOWER = FIXTURES / "dupes" / "flower__original.jpg"
PATH = FIXTURES / "dupes" / "kde_path__original.jpg"
SCREENSHOT = FIXTURES / "dupes" / "ColdRipple_screenshot.jpg"


def bits(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


@pytest.fixture(scope="module")
def flower() -> Image.Image:
    return Image.open(FLOWER).convert("RGB")


def test_the_variants_are_the_hashes_of_each_turn_and_mirror_of_the_picture(flower):
    gray = flower.convert("L").resize((256, 192))
    variant_d, variant_p = dihedral.unpack(dihedral.variant_hashes(gray))
    for column, turn in enumerate(dihedral.TURNS):
        turned = gray.transpose(Image.Transpose(turn))
        assert bits(int(variant_d[column]), dhash(turned)) <= 1, dihedral.WORDS[turn]
        assert bits(int(variant_p[column]), phash(turned)) <= 2, dihedral.WORDS[turn]
        assert bits(int(variant_p[column]), phash(gray)) > 12  # a turn is another picture to the plain hashes


def test_turns_compose_and_invert_as_pillow_does():
    probe = Image.fromarray(np.arange(6, dtype=np.uint8).reshape(2, 3))
    for first in dihedral.TURNS:
        for then in dihedral.TURNS:
            both = dihedral.compose(first, then)
            expected = np.asarray(probe.transpose(Image.Transpose(first)).transpose(Image.Transpose(then)))
            got = np.asarray(probe if both == dihedral.IDENTITY else probe.transpose(Image.Transpose(both)))
            assert np.array_equal(expected, got)
        back = dihedral.inverse(first)
        assert dihedral.compose(first, back) == dihedral.IDENTITY


def test_the_search_finds_each_turned_copy_with_its_turn_and_nothing_else():
    pictures = [Image.open(path).convert("L") for path in (FLOWER, PATH, SCREENSHOT)]
    rows = []  # (picture index, turn applied, image)
    for index, picture in enumerate(pictures):
        rows.append((index, dihedral.IDENTITY, picture))
        for turn in (Image.Transpose.ROTATE_90, Image.Transpose.FLIP_LEFT_RIGHT, Image.Transpose.TRANSVERSE):
            rows.append((index, int(turn), picture.transpose(turn)))
    d = np.array([to_signed64(dhash(image)) for _, _, image in rows], dtype=np.int64)
    p = np.array([to_signed64(phash(image)) for _, _, image in rows], dtype=np.int64)
    variants = [dihedral.unpack(dihedral.variant_hashes(image)) for _, _, image in rows]
    found = turned_pairs(d, p, np.stack([v[0] for v in variants]), np.stack([v[1] for v in variants]), 6, 3)

    pairs = {(int(i), int(j)): int(turn) for i, j, turn in zip(found.i, found.j, found.turn, strict=True)}
    expected = {
        (a, b) for a in range(len(rows)) for b in range(a + 1, len(rows)) if rows[a][0] == rows[b][0]
    }  # every two versions of one picture are turns of each other (identity pairs are the plain search's)
    assert set(pairs) == expected
    for (a, b), turn in pairs.items():  # b is a turned by ``turn``
        assert dihedral.compose(rows[a][1], turn) == rows[b][1]


def test_alignment_confirms_crops_frames_and_straightened_copies_and_says_which(flower):
    width, height = flower.size
    cropped = flower.crop((int(0.12 * width), int(0.03 * height), width, int(0.9 * height)))
    framed = ImageOps.expand(flower, border=16, fill=(250, 250, 250))
    straightened = flower.rotate(4, resample=Image.Resampling.BICUBIC).crop((40, 30, width - 40, height - 30))
    half = flower.resize((width // 4, height // 4))  # a small copy: enlarged to be compared

    crop = align(flower, cropped, 56, 56)
    assert crop is not None and crop.words() == "cropped" and crop.derived
    assert abs(crop.scale - 1.0) < 0.02
    frame = align(flower, framed, 56, 56)
    assert frame is not None and frame.words() == "framed" and frame.derived
    straight = align(flower, straightened, 56, 56)
    # Pillow turns counter-clockwise; the alignment measures clockwise (image coordinates point down).
    assert straight is not None and straight.words() == "straightened, cropped" and abs(straight.degrees + 4) < 0.5
    small = align(half, cropped, 56, 56)
    assert small is not None
    wider = align(cropped, flower, 56, 56)  # the other way round: the original shows more, it is no frame
    assert wider is not None and wider.wider and not wider.derived


def test_alignment_keeps_different_pictures_apart_even_with_matching_scenery(flower):
    other = Image.open(PATH).convert("RGB").resize(flower.size)
    collage = flower.copy()
    collage.paste(other.resize((flower.width // 2, flower.height)), (0, 0))  # half of the scene replaced
    assert align(flower, other, 56, 56) is None
    assert align(flower, collage, 56, 56) is None
    assert align(flower, Image.new("RGB", flower.size, (90, 90, 90)), 56, 56) is None  # no texture: no opinion


def test_a_turned_copy_is_confirmed_only_turned_the_right_way(flower):
    turned = flower.transpose(Image.Transpose.ROTATE_270)
    assert turned_alike(flower, turned, Image.Transpose.ROTATE_270, 56, 56)
    assert not turned_alike(flower, turned, Image.Transpose.ROTATE_90, 56, 56)


def test_many_pictures_variants_unpack_in_one_buffer_with_zeros_for_pictures_without(flower):
    variants = dihedral.variant_hashes(flower.convert("L"))
    d, p = dihedral.unpack_many([variants, None, b"short"])
    one_d, one_p = dihedral.unpack(variants)
    assert (d[0] == one_d).all() and (p[0] == one_p).all()
    assert not d[1:].any() and not p[1:].any()


def test_the_plain_hashes_that_come_with_the_variants_are_those_of_hashing_bit_for_bit(flower):
    from catalog.media.hashing import image_hashes

    for size in ((256, 192), (120, 90), (33, 250)):
        gray = flower.convert("L").resize(size)
        d, p, variants = dihedral.hashes_with_variants(gray)
        assert (d, p) == image_hashes(gray)
        assert variants == dihedral.variant_hashes(gray)
