"""Content-addressed thumbnails: ``<root>/<size>/<sha256[:2]>/<sha256>.<ext>``, so identical files share them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from PIL import Image

DEFAULT_SIZES = (256, 512)
DEFAULT_QUALITY = 80


def thumbnail_path(root: str | Path, size: int, sha256: str, fmt: str = "webp") -> Path:
    return Path(root) / str(size) / sha256[:2] / f"{sha256}.{'jpg' if fmt == 'jpeg' else fmt}"


def displayable(image: Image.Image, fmt: str) -> Image.Image:
    """Convert any decoded mode (CMYK, I;16, P, LA, ...) into one the thumbnail encoder writes faithfully."""
    keep_alpha = fmt == "webp" and (
        image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    )
    target = "RGBA" if keep_alpha else "RGB"
    if image.mode == target:
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit grayscale: scale to 8 bits instead of clipping at 255.
        image = image.point(lambda value: value / 256).convert("L")
    return image.convert(target)


def _save_atomic(image: Image.Image, destination: Path, fmt: str, quality: int) -> None:
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=destination.parent, prefix=".tmp-", suffix=destination.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            if fmt == "webp":
                # method 0: a quarter of method 4's encode time for files about a fifth larger (bench/analyze.py).
                image.save(handle, "WEBP", quality=quality, method=0)
            else:
                image.save(handle, "JPEG", quality=quality, optimize=True)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def shrink_chain(image: Image.Image, sizes: Iterable[int]) -> Iterator[tuple[int, Image.Image]]:
    """The image fitted into each size (longest side), largest first, each made from the one before.

    Bilinear resampling: Pillow widens the filter with the scale, so it is antialiased, and each step here is
    at most ~2x (the decode was DCT-scaled close to the largest size). Images are never enlarged.
    """
    current = image
    for size, target in chain_plan(*image.size, sizes):
        if target is not None:
            current = current.resize(target, Image.Resampling.BILINEAR, reducing_gap=CHAIN_REDUCING_GAP)
        yield size, current


CHAIN_REDUCING_GAP = 2.0


def chain_plan(width: int, height: int, sizes: Iterable[int]) -> list[tuple[int, tuple[int, int] | None]]:
    """``shrink_chain``'s steps for a ``width`` x ``height`` picture: each size, largest first, with the
    dimensions to resize to, or None where the picture already fits (it is kept as it is)."""
    steps: list[tuple[int, tuple[int, int] | None]] = []
    for size in sorted(set(sizes), reverse=True):
        scale = size / max(width, height)
        # Dimensions from the original, so rounding does not accumulate along the chain.
        target = (max(1, round(width * scale)), max(1, round(height * scale))) if scale < 1 else None
        steps.append((size, target))
    return steps


def write_thumbnail(
    image: Image.Image, sha256: str, root: str | Path, size: int, quality: int, fmt: str, force: bool = False
) -> bool:
    """Write one already-fitted thumbnail; False when it exists (named by content, so never stale) and not forced."""
    destination = thumbnail_path(root, size, sha256, fmt)
    if destination.exists() and not force:
        return False
    _save_atomic(image, destination, fmt, quality)
    return True
