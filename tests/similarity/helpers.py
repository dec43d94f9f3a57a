"""Helpers for the duplicate tests: hash sets with known structure, transformed copies of a photo, asset rows."""

from __future__ import annotations

import hashlib
import io
import shutil
from itertools import combinations
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from catalog.media.hashing import to_signed64
from catalog.models import Asset, Catalog, DuplicateGroup, DuplicateMember
from catalog.similarity.grouping import Thresholds, degenerate
from tests.conftest import FIXTURES

DUPES = FIXTURES / "dupes"
FLOWER = DUPES / "flower__original.jpg"  # Canon PowerShot S40, 480x360
PATH = DUPES / "kde_path__original.jpg"  # Olympus E-M1, 400x250
DARKEST_HOUR = DUPES / "neg02__DarkestHour_screenshot.jpg"  # a lake at 01:43...
COLD_RIPPLE = DUPES / "ColdRipple_screenshot.jpg"  # ...the same lake, same camera, at 02:05


# Hashes --------------------------------------------------------------------------------------------------------


def random_hashes(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniform 64-bit hashes as the database stores them (signed int64, about half negative)."""
    return rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, n, dtype=np.int64, endpoint=True)


def flip(values: np.ndarray, bits: np.ndarray | int, rng: np.random.Generator) -> np.ndarray:
    """Each int64 hash with ``bits`` (one count per hash, or one for all) distinct random bits inverted."""
    values = np.asarray(values, dtype=np.int64)
    counts = np.broadcast_to(np.asarray(bits), values.shape)
    masks = np.zeros(values.shape, dtype=np.uint64)
    for k, count in enumerate(counts.tolist()):
        for bit in rng.choice(64, size=count, replace=False).tolist():
            masks[k] |= np.uint64(1) << np.uint64(bit)
    return (values.view(np.uint64) ^ masks).view(np.int64)


def clustered_hashes(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(dhash, phash) of n pictures: tight clusters with exact repeats, near-duplicate chains, and loners.

    Roughly half the hashes sit in clusters of 2–20 around a centre (a tenth are the centre itself, the others
    0–6 pHash and 0–12 dHash bits away, so two members can be up to 12 / 24 bits apart), a quarter in chains
    whose every step moves 2–4 pHash and 3–8 dHash bits (so the ends of a chain drift out of range), the rest
    are uniform.
    """
    d_parts, p_parts, total = [], [], 0
    while total < n // 2:
        size = int(rng.integers(2, 21))
        centre_d, centre_p = random_hashes(rng, 1), random_hashes(rng, 1)
        exact = rng.random(size) < 0.1  # copies of the centre itself
        d_parts.append(flip(np.repeat(centre_d, size), rng.integers(0, 13, size) * ~exact, rng))
        p_parts.append(flip(np.repeat(centre_p, size), rng.integers(0, 7, size) * ~exact, rng))
        total += size
    while total < 3 * n // 4:
        length = int(rng.integers(3, 12))
        d, p = random_hashes(rng, 1), random_hashes(rng, 1)
        chain_d, chain_p = [d], [p]
        for _ in range(length - 1):
            d, p = flip(d, int(rng.integers(3, 9)), rng), flip(p, int(rng.integers(2, 5)), rng)
            chain_d.append(d)
            chain_p.append(p)
        d_parts.append(np.concatenate(chain_d))
        p_parts.append(np.concatenate(chain_p))
        total += length
    d_parts.append(random_hashes(rng, n))
    p_parts.append(random_hashes(rng, n))
    order = rng.permutation(n)
    return np.concatenate(d_parts)[:n][order], np.concatenate(p_parts)[:n][order]


def distance(a: int, b: int) -> int:
    return ((a ^ b) & 0xFFFFFFFFFFFFFFFF).bit_count()


def normal_hash(rng: np.random.Generator) -> int:
    """A random unsigned 64-bit hash that does not look like a flat picture's."""
    while True:
        value = int(random_hashes(rng, 1)[0])
        if not degenerate(np.array([value]), np.array([value]))[0]:
            return value & 0xFFFFFFFFFFFFFFFF


def flip_int(value: int, positions: range | list[int]) -> int:
    for bit in positions:
        value ^= 1 << bit
    return value


def fine_near(fine: bytes, dhash_bits: int, phash_bits: int, start: int = 0) -> bytes:
    """The 64-byte fine hash with ``dhash_bits`` bits of its dHash half and ``phash_bits`` of its pHash half
    inverted, from bit ``start`` of each half on."""
    bits = np.unpackbits(np.frombuffer(fine, dtype=np.uint8)).copy()
    bits[start : start + dhash_bits] ^= 1
    bits[256 + start : 256 + start + phash_bits] ^= 1
    return np.packbits(bits).tobytes()


# Pictures ------------------------------------------------------------------------------------------------------


def strip_exif(data: bytes) -> bytes:
    """The JPEG without its APP1 (EXIF, XMP) segments, every other byte unchanged: the same picture."""
    assert data[:2] == b"\xff\xd8"
    out, at = bytearray(data[:2]), 2
    while data[at] == 0xFF and data[at + 1] != 0xDA:  # segments up to the start of scan
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if data[at + 1] != 0xE1:
            out += data[at : at + 2 + length]
        at += 2 + length
    return bytes(out + data[at:])


def _save(image: Image.Image, path: Path, fmt: str = "JPEG", **options) -> Path:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    path.write_bytes(buffer.getvalue())
    return path


def copies(source: Path, folder: Path, only: tuple[str, ...] | None = None) -> dict[str, Path]:
    """The photo and what a library makes of it, by name: the original, a byte-identical copy in another folder,
    50% and 25% resizes, JPEG q70 and q40, a PNG conversion, +10% brightness and a copy with EXIF stripped."""
    stem = source.name.split("__")[0].split(".")[0]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "backup").mkdir(exist_ok=True)
    made = {
        "original": shutil.copyfile(source, folder / source.name),
        "copy": shutil.copyfile(source, folder / "backup" / source.name),
    }
    with Image.open(source) as image:
        picture = image.convert("RGB")
    width, height = picture.size
    makers = {
        "resize_50": lambda p: _save(picture.resize((width // 2, height // 2), Image.Resampling.LANCZOS), p),
        "resize_25": lambda p: _save(picture.resize((width // 4, height // 4), Image.Resampling.LANCZOS), p),
        "q70": lambda p: _save(picture, p, quality=70),
        "q40": lambda p: _save(picture, p, quality=40),
        "bright": lambda p: _save(ImageEnhance.Brightness(picture).enhance(1.1), p, quality=90),
    }
    for name, make in makers.items():
        if only is None or name in only:
            made[name] = make(folder / f"{stem}__{name}.jpg")
    if only is None or "png" in only:
        made["png"] = _save(picture, folder / f"{stem}__converted.png", "PNG")
    if only is None or "stripped" in only:
        made["stripped"] = folder / f"{stem}__exif_stripped.jpg"
        made["stripped"].write_bytes(strip_exif(source.read_bytes()))
    return made


def solid_jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (320, 240)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return _save(Image.new("RGB", size, color), path, quality=90)


def gradient_jpeg(path: Path, size: tuple[int, int] = (320, 240)) -> Path:
    """A near-uniform picture: grey brightening by 30 levels from left to right."""
    row = np.linspace(110, 140, size[0]).astype(np.uint8)
    return _save(Image.fromarray(np.tile(row, (size[1], 1))), path, quality=90)


# Rows ----------------------------------------------------------------------------------------------------------


def new_asset(
    catalog: Catalog,
    path: str,
    dhash: int | None = None,
    phash: int | None = None,
    fine: bytes | None = None,
    *,
    sha256: str | None = None,
    fmt: str = "JPEG",
    media_type: str = "image",
    width: int = 640,
    height: int = 480,
    size: int = 100_000,
    **fields,
) -> Asset:
    """An analyzed asset (unsaved) with chosen hashes (unsigned, as computed); its own content unless sha256 is
    given."""
    return Asset(
        catalog=catalog,
        path=path,
        sha256=sha256 or hashlib.sha256(path.encode()).hexdigest(),
        media_type=media_type,
        format=fmt,
        width=width,
        height=height,
        size=size,
        dhash=None if dhash is None else to_signed64(dhash & 0xFFFFFFFFFFFFFFFF),
        phash=None if phash is None else to_signed64(phash & 0xFFFFFFFFFFFFFFFF),
        fine_hash=fine,
        **fields,
    )


def add_asset(catalog: Catalog, path: str, *args, **fields) -> Asset:
    """``new_asset``, saved."""
    asset = new_asset(catalog, path, *args, **fields)
    asset.save()
    return asset


def group_view(catalog: Catalog) -> list[tuple[str, tuple[str, ...], str]]:
    """Every group as a user sees it: (kind, sorted member paths, primary path), sorted."""
    paths: dict[int, list[str]] = {}
    for group_id, path in DuplicateMember.objects.filter(group__catalog=catalog).values_list("group_id", "asset__path"):
        paths.setdefault(group_id, []).append(path)
    groups = DuplicateGroup.objects.filter(catalog=catalog).values_list("id", "kind", "primary__path")
    return sorted((kind, tuple(sorted(paths.get(pk, []))), primary or "") for pk, kind, primary in groups)


def similar_groups(catalog: Catalog) -> list[set[str]]:
    return [set(paths) for kind, paths, _ in group_view(catalog) if kind == "similar"]


def assert_cliques(catalog: Catalog, thresholds: Thresholds) -> None:
    """Every two contents of every similar group are within the 64-bit thresholds of each other."""
    for group in DuplicateGroup.objects.filter(catalog=catalog, kind="similar"):
        rows = {a.sha256: a for a in Asset.objects.filter(duplicate_memberships__group=group)}
        for a, b in combinations(rows.values(), 2):
            assert distance(a.dhash, b.dhash) <= thresholds.dhash, (a.path, b.path)
            assert distance(a.phash, b.phash) <= thresholds.phash, (a.path, b.path)
