"""Content-addressed thumbnails: ``<root>/<size>/<sha256[:2]>/<sha256>.<ext>``, so identical files share them."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from PIL import Image

FORMATS = {"webp": "WEBP", "jpeg": "JPEG"}
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
            options = {"quality": quality}
            if fmt == "webp":
                options["method"] = 4
            else:
                options["optimize"] = True
            image.save(handle, FORMATS[fmt], **options)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_thumbnails(
    image: Image.Image,
    sha256: str,
    root: str | Path,
    sizes: tuple[int, ...] | list[int] = DEFAULT_SIZES,
    quality: int = DEFAULT_QUALITY,
    fmt: str = "webp",
    force: bool = False,
) -> list[int]:
    """Write one thumbnail per size (longest side) from an upright image; returns the sizes written.

    Sizes are made largest first, each from the previous one, so a big decode is resampled only once. Existing
    files are kept unless ``force``: they are named by content, so they cannot be stale.
    """
    written: list[int] = []
    current = displayable(image, fmt)
    for size in sorted(set(sizes), reverse=True):
        destination = thumbnail_path(root, size, sha256, fmt)
        longest = max(current.width, current.height)
        if longest > size:
            scale = size / longest
            target = (max(1, round(current.width * scale)), max(1, round(current.height * scale)))
            current = current.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        if destination.exists() and not force:
            continue
        _save_atomic(current, destination, fmt, quality)
        written.append(size)
    return written
