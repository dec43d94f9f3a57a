"""Perceptual hashes (imagehash's dHash and pHash, 64-bit) and content checksums.

The algorithms match imagehash bit for bit: grayscale, LANCZOS resize, bits packed row by row with the first bit
most significant. pHash takes the 8x8 low-frequency corner of scipy's unnormalised DCT-II, done here as two small
matrix products so numpy is the only dependency.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np
from PIL import Image

from .dihedral import hashes_with_variants_from

HASH_BITS = 64
_U64_SIGN = 1 << 63


def _dct_matrix(size: int, keep: int) -> np.ndarray:
    """Rows 0..keep-1 of scipy.fftpack.dct's type-II matrix (unnormalised: 2·cos(π·k·(2n+1)/2N))."""
    k = np.arange(keep)[:, None]
    n = np.arange(size)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * n + 1) / (2 * size))


_DCT_32x8 = _dct_matrix(32, 8)
_DCT_64x16 = _dct_matrix(64, 16)
FINE_HASH_BYTES = 64  # 256-bit dHash followed by 256-bit pHash


def _bits_to_int(bits: np.ndarray) -> int:
    return int.from_bytes(np.packbits(bits.reshape(-1)).tobytes(), "big")


def dhash(gray: Image.Image) -> int:
    """Difference hash: 9x8 grayscale, one bit per horizontal neighbour pair (right brighter than left)."""
    pixels = np.asarray(gray.resize((9, 8), Image.Resampling.LANCZOS), dtype=np.int16)
    return _bits_to_int(pixels[:, 1:] > pixels[:, :-1])


def phash(gray: Image.Image) -> int:
    """Perceptual hash: 32x32 grayscale, 2-D DCT, low 8x8 frequencies compared with their median."""
    pixels = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    # Rounding drops the matrix products' float noise where scipy's DCT gives exact zeros (flat pictures).
    low = np.round(_DCT_32x8 @ pixels @ _DCT_32x8.T, 6)
    return _bits_to_int(low > np.median(low))


def fine_hash(gray: Image.Image) -> bytes:
    """The 256-bit versions of both hashes, concatenated (64 bytes): 17x16 dHash, then 16x16 of a 64x64 pHash.

    The 64-bit hashes find near-duplicate candidates fast; these four times finer ones confirm them. At 8x8 a
    stereo pair or two frames of a burst look alike, while at 16x16 they differ in a quarter of the bits or more,
    and a resized, recompressed or watermarked copy stays within a fifth (measured on the shared corpus, see
    ``catalog.duplicates``).
    """
    return fine_hash_from(*(np.asarray(gray.resize(size, Image.Resampling.LANCZOS)) for size in ((17, 16), (64, 64))))


def fine_hash_from(wide: np.ndarray, square: np.ndarray) -> bytes:
    """``fine_hash`` from the picture already resized (LANCZOS) to 17x16 and 64x64."""
    pixels = wide.astype(np.int16)
    d_bits = pixels[:, 1:] > pixels[:, :-1]
    low = np.round(_DCT_64x16 @ square.astype(np.float64) @ _DCT_64x16.T, 6)
    p_bits = low > np.median(low)
    return np.packbits(np.concatenate([d_bits.reshape(-1), p_bits.reshape(-1)])).tobytes()


# Every LANCZOS resize of the hash basis that analysis hashes: the 64-bit hashes with their turns, the fine hashes.
HASH_SIZES = ((9, 8), (8, 9), (32, 32), (17, 16), (64, 64))


def picture_hashes(resized: Sequence[np.ndarray]) -> tuple[int, int, bytes, bytes]:
    """(dHash, pHash, their turns and mirrors, fine hash) from the basis resized to each of ``HASH_SIZES``."""
    dhash_value, phash_value, variants = hashes_with_variants_from(*resized[:3])
    return dhash_value, phash_value, variants, fine_hash_from(*resized[3:])


def hash_inputs(gray: Image.Image) -> list[np.ndarray]:
    """The grayscale hash basis resized to each of ``HASH_SIZES`` (what ``picture_hashes`` takes)."""
    return [np.asarray(gray.resize(size, Image.Resampling.LANCZOS)) for size in HASH_SIZES]


def image_hashes(image: Image.Image) -> tuple[int, int]:
    """(dHash, pHash) of an already oriented image, as unsigned 64-bit integers."""
    gray = image if image.mode == "L" else image.convert("L")
    return dhash(gray), phash(gray)


def to_signed64(value: int) -> int:
    """Unsigned 64-bit hash to the signed integer the database stores."""
    return value - (1 << 64) if value >= _U64_SIGN else value


def to_unsigned64(value: int) -> int:
    return value & 0xFFFFFFFFFFFFFFFF


def sha256_stream(handle: BinaryIO, chunk_size: int = 1 << 20) -> tuple[str, int]:
    """sha256 hex digest and byte count of a stream read to its end."""
    digest = hashlib.sha256()
    total = 0
    while chunk := handle.read(chunk_size):
        digest.update(chunk)
        total += len(chunk)
    return digest.hexdigest(), total
