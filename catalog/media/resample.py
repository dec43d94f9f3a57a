"""Pillow's resize and grayscale conversion, bit for bit, on torch tensors of any device (the GPU path).

Pillow resizes 8-bit pictures in two separable passes, horizontal then vertical, each output pixel a weighted sum
of its input neighbours in fixed point: the filter's weights are normalised per output pixel, turned into integers
of ``PRECISION_BITS`` fractional bits, summed from a rounding term of half a unit, and the sum's integer part is
clipped to 0..255 between the passes (``libImaging/Resample.c``). Doing the same integer arithmetic here, with
the weights computed the same way in double precision (``math.sin`` is the C library's ``sin``, as in Pillow),
gives the same bytes: the hashes and thumbnails of the GPU path equal the CPU engine's from the same pixels.

Tensors are ``(N, C, H, W)`` uint8 batches of equally sized pictures; C is 1 (L) or 3 (RGB).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    import torch

PRECISION_BITS = 32 - 8 - 2
BILINEAR, LANCZOS = Image.Resampling.BILINEAR, Image.Resampling.LANCZOS


def _bilinear(x: float) -> float:
    x = -x if x < 0.0 else x
    return 1.0 - x if x < 1.0 else 0.0


def _sinc(x: float) -> float:
    if x == 0.0:
        return 1.0
    x = x * math.pi
    return math.sin(x) / x


def _lanczos(x: float) -> float:
    return _sinc(x) * _sinc(x / 3) if -3.0 <= x < 3.0 else 0.0


_FILTERS: dict[int, tuple[Callable[[float], float], float]] = {BILINEAR: (_bilinear, 1.0), LANCZOS: (_lanczos, 3.0)}


@lru_cache(maxsize=4096)
def coefficients(in_size: int, out_size: int, resample: int) -> tuple[np.ndarray, np.ndarray]:
    """(input index, fixed-point weight) of every tap of every output pixel, both ``(out_size, ksize)``.

    Pillow's ``precompute_coeffs`` and ``normalize_coeffs_8bpc`` for a whole-picture box; taps past an output
    pixel's window weigh 0 (their index repeats the window's first pixel). Pictures of one camera share sizes, so
    the tables are cached.
    """
    kernel, base_support = _FILTERS[resample]
    scale = filterscale = in_size / out_size
    filterscale = max(filterscale, 1.0)
    support = base_support * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    inverse = 1.0 / filterscale
    index = np.zeros((out_size, ksize), dtype=np.int64)
    weight = np.zeros((out_size, ksize), dtype=np.int32)
    unit = float(1 << PRECISION_BITS)
    for xx in range(out_size):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - xmin
        taps = [kernel((x + xmin - center + 0.5) * inverse) for x in range(count)]
        total = 0.0
        for tap in taps:  # summed in order, as C does (Python's sum() compensates from 3.12)
            total += tap
        if total != 0.0:
            taps = [tap / total for tap in taps]
        index[xx, :] = xmin
        index[xx, :count] = np.arange(xmin, xmin + count)
        weight[xx, :count] = [int(-0.5 + tap * unit) if tap < 0 else int(0.5 + tap * unit) for tap in taps]
    return index, weight


def _pass(pixels: torch.Tensor, out_size: int, resample: int) -> torch.Tensor:
    """One pass along the last axis: (..., L) uint8 to (..., out_size) uint8."""
    import torch

    index, weight = coefficients(pixels.shape[-1], out_size, resample)
    taps = pixels[..., torch.from_numpy(index).to(pixels.device)].to(torch.int32)  # (..., out, ksize)
    total = (taps * torch.from_numpy(weight).to(pixels.device)).sum(-1, dtype=torch.int64)
    return ((total + (1 << (PRECISION_BITS - 1))) >> PRECISION_BITS).clamp_(0, 255).to(torch.uint8)


def resize(pixels: torch.Tensor, size: tuple[int, int], resample: int) -> torch.Tensor:
    """``Image.resize(size, resample)`` (no box, no reducing gap) of every picture of an (N, C, H, W) batch."""
    width, height = size
    # Pillow 13 runs the vertical pass first when it drops more than twice as many rows as the other drops columns.
    rows_dropped, columns_dropped = pixels.shape[-2] - height, pixels.shape[-1] - width
    vertical_first = rows_dropped > 0 and rows_dropped > columns_dropped * 2
    for axis in ("y", "x") if vertical_first else ("x", "y"):
        if axis == "x" and pixels.shape[-1] != width:
            pixels = _pass(pixels, width, resample)
        elif axis == "y" and pixels.shape[-2] != height:
            pixels = _pass(pixels.transpose(-1, -2), height, resample).transpose(-1, -2)
    return pixels.contiguous()


def reduces_first(source: tuple[int, int], size: tuple[int, int], reducing_gap: float) -> bool:
    """Whether ``Image.resize(size, reducing_gap=...)`` would first shrink ``source`` by an integer factor (an
    ``Image.reduce`` step, which ``resize`` here does not do)."""
    factor_x = int(source[0] / size[0] / reducing_gap) or 1
    factor_y = int(source[1] / size[1] / reducing_gap) or 1
    return factor_x > 1 or factor_y > 1


def to_gray(pixels: torch.Tensor) -> torch.Tensor:
    """``Image.convert("L")`` of an RGB batch (ITU-R 601-2 luma in 16-bit fixed point, rounded)."""
    import torch

    if pixels.shape[1] == 1:
        return pixels
    rgb = pixels.to(torch.int32)
    luma = rgb[:, 0:1] * 19595 + rgb[:, 1:2] * 38470 + rgb[:, 2:3] * 7471 + 0x8000
    return (luma >> 16).to(torch.uint8)
