"""Perceptual hashes match imagehash bit for bit; 64-bit conversions; sha256 matches hashlib."""

from __future__ import annotations

import hashlib
import io
import random
from pathlib import Path

import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageOps

from catalog.media.analyze import AnalyzeOptions, analyze_file
from catalog.media.hashing import dhash, image_hashes, phash, sha256_stream, to_signed64, to_unsigned64
from tests.conftest import FIXTURES, make_jpeg


def reference(image: Image.Image) -> tuple[int, int]:
    return int(str(imagehash.dhash(image)), 16), int(str(imagehash.phash(image)), 16)


def distance(a: int, b: int) -> int:
    return bin(a ^ b).count("1")


def circle() -> Image.Image:
    image = Image.new("L", (128, 128), 30)
    ImageDraw.Draw(image).ellipse((32, 32, 96, 96), fill=220)
    return image


def noise() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 255, (120, 160, 3), dtype=np.uint8))


def shapes() -> Image.Image:
    image = Image.new("RGB", (160, 120), (20, 80, 160))
    draw = ImageDraw.Draw(image)
    draw.rectangle((10, 20, 70, 90), fill=(250, 200, 0))
    draw.ellipse((90, 30, 150, 110), fill=(0, 200, 90))
    return image


def waves() -> Image.Image:
    x, y = np.meshgrid(np.linspace(0, 6, 300), np.linspace(0, 4, 200))
    return Image.fromarray(((np.sin(x * y) + 1) * 127).astype(np.uint8))


def rgba_shapes() -> Image.Image:
    image = shapes().convert("RGBA")
    image.putalpha(200)
    return image


def flat() -> Image.Image:
    return Image.new("L", (50, 50), 200)


def horizontal_gradient() -> Image.Image:
    return Image.fromarray(np.tile(np.linspace(0, 255, 200).astype(np.uint8), (100, 1)))


def vertical_gradient() -> Image.Image:
    """Like a clear sky: light at the top, darker towards the horizon."""
    return Image.fromarray(np.tile(np.linspace(0, 255, 100).astype(np.uint8)[:, None], (1, 200)))


def fixture(name: str):
    def load() -> Image.Image:
        with Image.open(FIXTURES / name) as image:
            return ImageOps.exif_transpose(image)

    load.__name__ = name
    return load


@pytest.mark.parametrize(
    "make",
    [
        circle,
        noise,
        shapes,
        waves,
        rgba_shapes,
        fixture("hachoir_gps.jpg"),
        fixture("exif-ifd-offset.jpg"),
        fixture("empty_gps_ifd.jpg"),
        fixture("L_exif_xmp_iptc.heic"),
    ],
    ids=lambda make: make.__name__,
)
def test_hashes_equal_imagehash(make) -> None:
    image = make()
    assert image_hashes(image) == reference(image)


@pytest.mark.parametrize(
    "make",
    [flat, horizontal_gradient, vertical_gradient, fixture("r_canon.jpg")],
    ids=lambda make: make.__name__,
)
def test_phash_equals_imagehash_for_flat_and_one_axis_pictures(make) -> None:
    # Blank frames, plain scans and skies: their DCT has many coefficients that are exactly zero in imagehash.
    image = make()
    assert image_hashes(image) == reference(image)


def test_dhash_and_phash_take_grayscale_images_directly() -> None:
    image = shapes()
    gray = image.convert("L")
    assert (dhash(gray), phash(gray)) == image_hashes(image)


def test_hashes_are_unsigned_64_bit() -> None:
    for make in (circle, noise, shapes, waves):
        for value in image_hashes(make()):
            assert 0 <= value < 1 << 64


def test_analyze_file_hashes_equal_imagehash_of_the_upright_picture(tmp_path: Path) -> None:
    path = tmp_path / "IMG_0001.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6
    shapes().save(path, "JPEG", quality=95, exif=exif.tobytes())
    result = analyze_file(str(path), AnalyzeOptions())
    with Image.open(path) as stored:
        upright = ImageOps.exif_transpose(stored)
    assert (result.dhash, result.phash) == reference(upright)


def test_near_duplicates_are_close_and_different_pictures_are_far(tmp_path: Path) -> None:
    original = waves().convert("RGB")
    small = original.resize((150, 100), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    original.save(buffer, "JPEG", quality=40)
    recompressed = Image.open(io.BytesIO(buffer.getvalue()))
    base_d, base_p = image_hashes(original)
    for copy in (small, recompressed):
        d, p = image_hashes(copy)
        assert distance(base_d, d) <= 6
        assert distance(base_p, p) <= 6
    other_d, other_p = image_hashes(shapes())
    assert distance(base_d, other_d) > 12
    assert distance(base_p, other_p) > 12


# 64-bit conversions ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 1, 2**62, 2**63 - 1, 2**63, 2**63 + 1, 2**64 - 2, 2**64 - 1])
def test_signed_unsigned_round_trip(value: int) -> None:
    signed = to_signed64(value)
    assert -(2**63) <= signed < 2**63  # fits a Postgres bigint
    assert (signed < 0) == (value >= 2**63)
    assert to_unsigned64(signed) == value


def test_signed_conversion_keeps_hamming_distance() -> None:
    rng = random.Random(7)
    for _ in range(200):
        a, b = rng.getrandbits(64), rng.getrandbits(64)
        assert distance(to_unsigned64(to_signed64(a)), to_unsigned64(to_signed64(b))) == distance(a, b)


def test_known_signed_values() -> None:
    assert to_signed64(2**64 - 1) == -1
    assert to_signed64(2**63) == -(2**63)
    assert to_unsigned64(-1) == 2**64 - 1


# sha256 ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [1, 7, 1 << 20])
def test_sha256_stream_equals_hashlib(chunk_size: int) -> None:
    data = np.random.default_rng(3).bytes(10_000)
    digest, count = sha256_stream(io.BytesIO(data), chunk_size)
    assert digest == hashlib.sha256(data).hexdigest()
    assert count == len(data)


def test_sha256_of_empty_stream() -> None:
    assert sha256_stream(io.BytesIO(b"")) == (hashlib.sha256(b"").hexdigest(), 0)


@pytest.mark.parametrize("name", ["r_canon.jpg", "L_exif_xmp_iptc.heic", "pentax_320x240.mov", "canon.raw.cr2"])
def test_analyze_file_sha256_equals_hashlib(name: str) -> None:
    path = FIXTURES / name
    result = analyze_file(str(path), AnalyzeOptions())
    assert result.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert result.size == path.stat().st_size


def test_identical_bytes_identical_hashes_under_different_names(tmp_path: Path) -> None:
    first = make_jpeg(tmp_path / "a" / "IMG_0001.jpg")
    second = tmp_path / "b" / "copy.jpg"
    second.parent.mkdir()
    second.write_bytes(first.read_bytes())
    a = analyze_file(str(first), AnalyzeOptions())
    b = analyze_file(str(second), AnalyzeOptions())
    assert (a.sha256, a.dhash, a.phash) == (b.sha256, b.dhash, b.phash)
