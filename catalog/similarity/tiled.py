"""All near pairs by brute force in tiles of matrix products: the pair search for a GPU and wide radii.

Multi-index hashing (``search.mih_pairs``) probes Σ C(21, r_i) buckets per hash and chunk; from a pHash radius
of 10 (user threshold 20) that is thousands of probes per hash and minutes at 1M hashes. Brute force costs the
same n²/2 distances at every radius, and a GPU computes them as matrix products:

with each pHash as a vector of ±1 (bit set +1, clear −1), the dot product of two vectors is (bits that agree) −
(bits that differ) = 64 − 2·distance, so distance ≤ r ⇔ dot ≥ 64 − 2r. A tile of rows × columns is one matmul
with K = 64; its few cells at or above the bound are the candidates. Their dHash and pHash distances are then
counted exactly (XOR and a SWAR popcount on int64), and the dHash bound applied, still on the device; only the
surviving pairs come back to the host. The output is the same as ``mih_pairs`` and ``brute_force_pairs``: every
pair i < j within both bounds, sorted, with both distances.

Exactness: products are ±1 and every partial sum an integer of magnitude ≤ 64, which float16 (exact to 2048)
and float32 hold exactly in any accumulation order. So the GPU takes float16 inputs (the tensor cores) and the
CPU float32 (torch's CPU float16 matmul is slow).

Only tiles on and above the diagonal are computed (a hash's own cell is masked out on the diagonal, and there
j > i is kept). A tile's row maxima say which rows have a candidate, so the tile is scanned once and only those
rows are compared and gathered, ``ROWS_PER_STEP`` at a time.

Memory, on CUDA (tile 32,768), for 10M hashes: the ±1 matrix (n × 64 int8, 640 MB; a block of rows is made
float16 for each matmul), the hashes (160 MB), one dot tile (2 GiB), the pairs found (18 bytes each, sent to the
host every ``FLUSH_PAIRS``: ≤ 300 MB), and per step at most 1,024 rows × 32,768 cells: 32M cells of 2 + 1 bytes,
and, if every cell is a candidate (all hashes alike), ~64 bytes per candidate: 2.2 GB. So ~3 GB for a photo
library, ~6 GB at most whatever the input. On the CPU (tile 2,048): a 16 MiB tile,
≤ 2M cells per step, ~150 MB in the worst case. On the GPU a larger tile only saves per-tile overhead (launches
and a host-device sync for the rows that hit); on the CPU a smaller one stays nearer the caches.

Time, 10M hashes on an H200: 5·10¹³ pairs × 64 multiply-adds = 6.4·10¹⁵ FLOP, ~9 s on float16 tensor cores at
~700 TFLOP/s; but every dot cell is written once (2 bytes) and read once for the row maxima (2 bytes): 2·10¹⁴
bytes, ~42 s at 4.8 TB/s. With ~47,000 tiles of ~1 ms and their syncs, about a minute (an estimate, not a
measurement); 1M hashes, ~500 tiles, about a second. On a 2-core CPU, measured: 0.7·10⁹ pairs/s, 100k hashes in
7 s and 300k in 63 s whatever the radius (the multi-index search: 1 s at T=16 and 17 s at T=24 for 100k).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .search import HASH_BITS, Pairs, as_uint64, concat_pairs

if TYPE_CHECKING:
    import torch

# The user-facing threshold from which the GPU search beats the multi-index search (pHash radius 10 and up).
TILED_FROM_THRESHOLD = 20
CUDA_TILE = 32_768  # a 2 GiB float16 dot tile
CPU_TILE = 2_048  # a 16 MiB float32 dot tile: measured faster on 2 cores than 1,024 or 4,096
ROWS_PER_STEP = 1_024  # rows of a tile compared and gathered at once: bounds the memory of dense tiles
FLUSH_PAIRS = 1 << 24  # found pairs kept on the device before they go to the host (~300 MB)
SIGN_BLOCK = 1 << 20  # hashes unpacked to ±1 at a time on the host
LOW32 = 0xFFFF_FFFF


def gpu_search_wanted(threshold: int, device: str | None) -> bool:
    """Whether the grouping should search with ``tiled_pairs``: on a GPU, from the threshold where the
    multi-index search gets slow. Not on the CPU, where brute force's n² loses on large libraries: at T=24 on 2
    cores it takes 7 s for 100k hashes against the multi-index search's 17 s, but ~12 min for 1M against 2 min."""
    return device == "cuda" and threshold >= TILED_FROM_THRESHOLD


def tiled_pairs(
    dhash: np.ndarray,
    phash: np.ndarray,
    max_d: int,
    max_p: int,
    device: str | None = None,
    tile: int | None = None,
) -> Pairs:
    """Every pair with dHash distance ≤ max_d and pHash distance ≤ max_p (exact), as ``mih_pairs`` gives them.

    ``device`` is a torch device ("cuda", "cpu"); None takes the GPU when torch sees one. ``tile`` is the side
    of the square tiles (default: ``CUDA_TILE`` or ``CPU_TILE``). Returns once the device is done.
    """
    import torch

    d64, p64 = as_uint64(dhash), as_uint64(phash)
    n = len(p64)
    if n < 2 or max_d < 0 or max_p < 0:
        return Pairs.empty()
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = torch.device(device).type == "cuda"
    tile = max(1, tile or (CUDA_TILE if on_gpu else CPU_TILE))
    dtype = torch.float16 if on_gpu else torch.float32
    signs = _signs(p64, device)
    d_all = torch.tensor(d64.view(np.int64), device=device)
    p_all = torch.tensor(p64.view(np.int64), device=device)
    bound = HASH_BITS - 2 * max_p
    scratch = torch.empty(min(tile, n) ** 2, dtype=dtype, device=device)
    found: list[Pairs] = []
    pending: list[tuple[torch.Tensor, ...]] = []  # pairs still on the device
    held = 0

    with torch.inference_mode():
        for row in range(0, n, tile):
            rows = signs[row : row + tile].to(dtype)
            for col in range(row, n, tile):
                cols = rows if col == row else signs[col : col + tile].to(dtype)
                dot = scratch[: len(rows) * len(cols)].view(len(rows), len(cols))
                torch.mm(rows, cols.T, out=dot)
                if col == row:
                    dot.fill_diagonal_(float("-inf"))  # a hash and itself
                hit = torch.nonzero(dot.amax(dim=1) >= bound).flatten()
                for start in range(0, len(hit), ROWS_PER_STEP):
                    step = hit[start : start + ROWS_PER_STEP]
                    r, c = torch.nonzero(dot[step] >= bound).unbind(1)
                    i, j = step[r] + row, c + col
                    if col == row:  # the lower triangle repeats the upper one
                        i, j = i[i < j], j[i < j]
                    d = _popcount(d_all[i] ^ d_all[j])
                    keep = d <= max_d
                    i, j, d = i[keep], j[keep], d[keep]
                    if len(i):
                        p = _popcount(p_all[i] ^ p_all[j])
                        pending.append((i, j, d.to(torch.uint8), p.to(torch.uint8)))
                        held += len(i)
                        if held >= FLUSH_PAIRS:
                            found.append(_to_host(pending))
                            pending, held = [], 0
        if pending:
            found.append(_to_host(pending))
    if on_gpu:
        torch.cuda.synchronize(device)
    return concat_pairs(found)


def _signs(values: np.ndarray, device: str) -> torch.Tensor:
    """(n, 64) int8 rows of ±1 for the bits of uint64 ``values`` (any fixed bit order gives the same distances);
    a quarter of float32's memory, converted a block of rows at a time for the matmul."""
    import torch

    out = torch.empty((len(values), HASH_BITS), dtype=torch.int8, device=device)
    for start in range(0, len(values), SIGN_BLOCK):
        bits = np.unpackbits(values[start : start + SIGN_BLOCK].view(np.uint8).reshape(-1, 8), axis=1)
        out[start : start + len(bits)] = torch.from_numpy(bits.view(np.int8)).to(device) * 2 - 1
    return out


def _to_host(pending: list[tuple[torch.Tensor, ...]]) -> Pairs:
    import torch

    i, j, d, p = (torch.cat(column).cpu().numpy() for column in zip(*pending, strict=True))
    return Pairs(i, j, d, p)


def _popcount(values: torch.Tensor) -> torch.Tensor:
    """Set bits of each int64 (all 64, the sign bit too), as int64: a SWAR count on each 32-bit half, where no
    step can overflow a signed 64-bit integer."""
    return _popcount32(values & LOW32) + _popcount32((values >> 32) & LOW32)


def _popcount32(x: torch.Tensor) -> torch.Tensor:
    x = x - ((x >> 1) & 0x5555_5555)
    x = (x & 0x3333_3333) + ((x >> 2) & 0x3333_3333)
    x = (x + (x >> 4)) & 0x0F0F_0F0F
    return ((x * 0x0101_0101) >> 24) & 0xFF
