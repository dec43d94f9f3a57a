"""Shared fixtures. The suite runs against the Postgres named by DATABASE_URL (``make test`` sets it)."""

from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image

FIXTURES = Path(__file__).parent / "fixtures"


def make_jpeg(
    path: Path,
    size: tuple[int, int] = (64, 48),
    color: tuple[int, int, int] = (200, 40, 40),
    exif: dict[int, object] | None = None,
    exif_ifd: dict[int, object] | None = None,
    pattern: bool = True,
) -> Path:
    """Write a small JPEG with an asymmetric picture (so orientation and hashes are testable) and optional EXIF."""
    image = Image.new("RGB", size, color)
    if pattern:
        # A bright block in the top-left corner and a gradient: every flip and rotation looks different.
        for x in range(size[0]):
            for y in range(size[1]):
                if x < size[0] // 3 and y < size[1] // 3:
                    image.putpixel((x, y), (255, 255, 255))
                elif (x + y) % 7 == 0:
                    image.putpixel((x, y), (x * 255 // size[0], y * 255 // size[1], 90))
    info = Image.Exif()
    for tag, value in (exif or {}).items():
        info[tag] = value
    if exif_ifd:
        info.get_ifd(0x8769).update(exif_ifd)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90, exif=info.tobytes() if (exif or exif_ifd) else b"")
    path.write_bytes(buffer.getvalue())
    return path


def exif_date(value: datetime) -> str:
    return value.strftime("%Y:%m:%d %H:%M:%S")


@pytest.fixture
def library(tmp_path: Path) -> Path:
    """An empty photo folder; tests fill it."""
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    return tmp_path / "catalog"
