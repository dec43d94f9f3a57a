"""The eight turns and mirrors of a picture (the dihedral group of the square), and the hashes of each.

An editor that turns a picture's pixels (rather than setting the EXIF orientation) or mirrors it makes a copy whose
hashes share nothing with the original's. Analysis therefore stores, beside a picture's dHash and pHash, those of
its seven other turns and mirrors (``variant_hashes``): the duplicate search looks each up among the others'
plain hashes.

They cost two small resizes more than the plain hashes, not seven: a flip or a half turn of a picture resized to
9x8 is the same flip of the resized picture, and a quarter turn is a flip of the picture resized to 8x9 and
transposed. The pHash variants come from the plain pHash's DCT by signs and a transposition (the DCT-II of a
reversed row is the row's DCT with every odd coefficient negated), so they are exact, not approximations.

Transform codes follow Pillow's ``Image.Transpose`` (0 = FLIP_LEFT_RIGHT … 6 = TRANSVERSE), with ``IDENTITY``
= 7 for "unchanged"; ``apply`` applies one to an array the way ``Image.transpose`` does to a picture.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM, ROTATE_90, ROTATE_180, ROTATE_270, TRANSPOSE, TRANSVERSE = range(7)
IDENTITY = 7
TURNS = (FLIP_LEFT_RIGHT, FLIP_TOP_BOTTOM, ROTATE_90, ROTATE_180, ROTATE_270, TRANSPOSE, TRANSVERSE)
VARIANT_BYTES = 16 * len(TURNS)  # per turn: dHash then pHash, 8 bytes each, big-endian
SWAPS_AXES = {ROTATE_90, ROTATE_270, TRANSPOSE, TRANSVERSE}
# What each transform does, in words (what was done to the first picture to give the second).
WORDS = {
    FLIP_LEFT_RIGHT: "mirrored", FLIP_TOP_BOTTOM: "mirrored top to bottom", ROTATE_90: "turned 90° to the left",
    ROTATE_180: "turned 180°", ROTATE_270: "turned 90° to the right", TRANSPOSE: "mirrored and turned",
    TRANSVERSE: "mirrored and turned", IDENTITY: "",
}  # fmt: skip
_DCT32 = 2.0 * np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(32)[None, :] + 1) / 64)


def apply(array: np.ndarray, transform: int) -> np.ndarray:
    """``array`` (rows × columns) as ``Image.transpose(transform)`` would turn or mirror the picture."""
    if transform == IDENTITY:
        return array
    if transform == FLIP_LEFT_RIGHT:
        return array[:, ::-1]
    if transform == FLIP_TOP_BOTTOM:
        return array[::-1, :]
    if transform == ROTATE_180:
        return array[::-1, ::-1]
    if transform == ROTATE_90:  # counter-clockwise
        return array.T[::-1, :]
    if transform == ROTATE_270:  # clockwise
        return array.T[:, ::-1]
    if transform == TRANSPOSE:
        return array.T
    if transform == TRANSVERSE:
        return array.T[::-1, ::-1]
    raise ValueError(f"no transform {transform}")


_COMPOSE: dict[tuple[int, int], int] = {}


def compose(first: int, then: int) -> int:
    """The transform that does ``first`` and then ``then``."""
    if not _COMPOSE:
        probe = np.arange(6).reshape(2, 3)
        results = {apply(probe, t).tobytes() + bytes(apply(probe, t).shape): t for t in (*TURNS, IDENTITY)}
        for a in (*TURNS, IDENTITY):
            for b in (*TURNS, IDENTITY):
                both = apply(apply(probe, a), b)
                _COMPOSE[(a, b)] = results[both.tobytes() + bytes(both.shape)]
    return _COMPOSE[(first, then)]


def inverse(transform: int) -> int:
    """The transform that undoes ``transform``."""
    return next(t for t in (*TURNS, IDENTITY) if compose(transform, t) == IDENTITY)


def variant_hashes(gray: Image.Image) -> bytes:
    """dHash and pHash (imagehash's algorithms, as ``hashing.dhash``/``phash``) of each of the seven turns and
    mirrors of ``gray``, in ``TURNS`` order: 16 bytes each (dHash then pHash, big-endian)."""
    return hashes_with_variants(gray)[2]


def hashes_with_variants(gray: Image.Image) -> tuple[int, int, bytes]:
    """The plain dHash and pHash (bit for bit ``hashing.image_hashes``) and the variants, from one set of resizes:
    what analysis stores for every picture."""
    return hashes_with_variants_from(
        *(np.asarray(gray.resize(size, Image.Resampling.LANCZOS)) for size in ((9, 8), (8, 9), (32, 32)))
    )


def hashes_with_variants_from(wide: np.ndarray, tall: np.ndarray, square: np.ndarray) -> tuple[int, int, bytes]:
    """``hashes_with_variants`` from the picture already resized (LANCZOS) to 9x8, 8x9 and 32x32: the GPU path
    resizes on its device and hashes here, so both paths share the hash arithmetic."""
    wide, tall = wide.astype(np.int16), tall.astype(np.int16)  # tall: 9 rows of 8
    low = np.round(_DCT32 @ square.astype(np.float64) @ _DCT32.T, 6)
    small = np.stack([apply(tall if turn in SWAPS_AXES else wide, turn) for turn in TURNS])  # (7, 8, 9)
    d_bits = (small[:, :, 1:] > small[:, :, :-1]).reshape(len(TURNS), 64)
    coefficients = np.where(_SWAPPED[:, None, None], low.T[None], low[None]) * _SIGNS  # (7, 8, 8)
    flat = coefficients.reshape(len(TURNS), 64)
    p_bits = flat > np.median(flat, axis=1, keepdims=True)
    variants = np.concatenate([np.packbits(d_bits, axis=1), np.packbits(p_bits, axis=1)], axis=1).tobytes()
    return _bits(wide[:, 1:] > wide[:, :-1]), _bits(low > np.median(low)), variants


def _bits(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.reshape(-1)).tobytes(), "big")


def _signs(transform: int) -> np.ndarray:
    """The signs a turn gives the 8x8 low DCT coefficients (after the transposition, for a quarter turn): a mirror
    negates the odd frequencies along its axis (the DCT-II of a reversed row is the row's with odd terms negated)."""
    remaining = compose(TRANSPOSE, transform) if transform in SWAPS_AXES else transform
    odd = np.where(np.arange(8) % 2 == 1, -1.0, 1.0)
    signs = np.ones((8, 8))
    if remaining in (FLIP_LEFT_RIGHT, ROTATE_180):
        signs = signs * odd[None, :]
    if remaining in (FLIP_TOP_BOTTOM, ROTATE_180):
        signs = signs * odd[:, None]
    return signs


_SWAPPED = np.array([turn in SWAPS_AXES for turn in TURNS])
_SIGNS = np.stack([_signs(turn) for turn in TURNS])


def unpack(variants: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(dHashes, pHashes) of the seven turns, as two uint64 arrays of 7."""
    words = np.frombuffer(variants, dtype=">u8").astype(np.uint64).reshape(len(TURNS), 2)
    return words[:, 0], words[:, 1]


def unpack_many(rows: list[bytes | None]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 7) dHash and pHash variant arrays of many pictures; zeros for rows without variants (one buffer)."""
    empty = bytes(VARIANT_BYTES)
    joined = b"".join(raw if raw and len(raw) == VARIANT_BYTES else empty for raw in rows)
    words = np.frombuffer(joined, dtype=">u8").astype(np.uint64).reshape(len(rows), len(TURNS), 2)
    return np.ascontiguousarray(words[:, :, 0]), np.ascontiguousarray(words[:, :, 1])
