"""Thumbnails: content-addressed paths, sizes, no needless rewrites, and every decoded mode made displayable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from catalog.media.analyze import AnalyzeOptions, analyze_file
from catalog.media.thumbnails import thumbnail_path
from tests.conftest import make_jpeg


def options(root: Path, **extra) -> AnalyzeOptions:
    return AnalyzeOptions(thumbnails_root=str(root), **extra)


def open_thumbnail(path: Path) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image


def test_thumbnail_path_is_content_addressed(tmp_path: Path) -> None:
    sha = "ab" + "c" * 62
    assert thumbnail_path(tmp_path, 256, sha) == tmp_path / "256" / "ab" / f"{sha}.webp"
    assert thumbnail_path(tmp_path, 512, sha, "jpeg") == tmp_path / "512" / "ab" / f"{sha}.jpg"


def test_big_image_gets_one_webp_per_size_with_the_longest_side_equal_to_the_size(tmp_path: Path) -> None:
    source = make_jpeg(tmp_path / "IMG_0001.jpg", size=(1200, 800), pattern=False)
    root = tmp_path / "thumbs"
    result = analyze_file(str(source), options(root))
    assert sorted(result.thumbnails) == [256, 512]
    files = sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())
    assert files == [
        Path("256") / result.sha256[:2] / f"{result.sha256}.webp",
        Path("512") / result.sha256[:2] / f"{result.sha256}.webp",
    ]
    for size in (256, 512):
        image = open_thumbnail(thumbnail_path(root, size, result.sha256))
        assert image.format == "WEBP"
        assert max(image.size) == size
        assert image.width == size
        assert abs(image.height - size * 2 / 3) <= 1  # aspect ratio kept


def test_portrait_image_longest_side_is_the_height(tmp_path: Path) -> None:
    source = make_jpeg(tmp_path / "IMG_0002.jpg", size=(500, 1000), pattern=False)
    root = tmp_path / "thumbs"
    result = analyze_file(str(source), options(root, sizes=(300,)))
    assert open_thumbnail(thumbnail_path(root, 300, result.sha256)).size == (150, 300)


def test_small_image_is_not_enlarged(tmp_path: Path) -> None:
    source = make_jpeg(tmp_path / "tiny.jpg", size=(64, 48))
    root = tmp_path / "thumbs"
    result = analyze_file(str(source), options(root))
    for size in (256, 512):
        assert open_thumbnail(thumbnail_path(root, size, result.sha256)).size == (64, 48)


def test_identical_files_share_their_thumbnails(tmp_path: Path) -> None:
    first = make_jpeg(tmp_path / "a.jpg", size=(300, 200))
    second = tmp_path / "b.jpg"
    second.write_bytes(first.read_bytes())
    root = tmp_path / "thumbs"
    a = analyze_file(str(first), options(root))
    b = analyze_file(str(second), options(root))
    assert a.thumbnails == [512, 256]
    assert b.thumbnails == []  # already there
    assert len([p for p in root.rglob("*") if p.is_file()]) == 2


def test_existing_thumbnails_are_kept_unless_forced(tmp_path: Path) -> None:
    source = make_jpeg(tmp_path / "IMG_0003.jpg", size=(600, 400))
    root = tmp_path / "thumbs"
    first = analyze_file(str(source), options(root, sizes=(128,)))
    path = thumbnail_path(root, 128, first.sha256)
    path.write_bytes(b"placeholder")  # a marker the analysis must not overwrite

    again = analyze_file(str(source), options(root, sizes=(128,)))
    assert again.thumbnails == []
    assert path.read_bytes() == b"placeholder"

    forced = analyze_file(str(source), options(root, sizes=(128,), force_thumbnails=True))
    assert forced.thumbnails == [128]
    assert open_thumbnail(path).size == (128, 85)
    assert not list(path.parent.glob(".tmp-*"))


def test_jpeg_format_option(tmp_path: Path) -> None:
    source = make_jpeg(tmp_path / "IMG_0004.jpg", size=(400, 300))
    root = tmp_path / "thumbs"
    result = analyze_file(str(source), options(root, sizes=(200,), thumbnail_format="jpeg", quality=70))
    path = thumbnail_path(root, 200, result.sha256, "jpeg")
    assert path.suffix == ".jpg"
    image = open_thumbnail(path)
    assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (200, 150))
    assert not thumbnail_path(root, 200, result.sha256).exists()


def test_no_thumbnails_root_writes_nothing(tmp_path: Path) -> None:
    result = analyze_file(str(make_jpeg(tmp_path / "a.jpg")), AnalyzeOptions())
    assert result.thumbnails == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg"]


def test_cmyk_jpeg_thumbnail_has_the_right_colour(tmp_path: Path) -> None:
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (300, 150), (0, 255, 255, 0)).save(path, "JPEG", quality=95)  # pure red ink
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), options(root, sizes=(100,)))
    assert result.problem_kind == ""
    assert result.dhash is not None
    image = open_thumbnail(thumbnail_path(root, 100, result.sha256)).convert("RGB")
    red, green, blue = image.getpixel((50, 25))
    assert red > 200 and green < 60 and blue < 60


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grayscale_keeps_its_gradient(tmp_path: Path, fmt: str) -> None:
    ramp = np.tile(np.linspace(0, 65535, 400).astype(np.uint16), (200, 1))
    path = tmp_path / f"scan.{fmt.lower()}"
    Image.fromarray(ramp).save(path, fmt)
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), options(root, sizes=(100,)))
    assert result.problem_kind == ""
    assert (result.width, result.height) == (400, 200)
    image = open_thumbnail(thumbnail_path(root, 100, result.sha256)).convert("L")
    row = [image.getpixel((x, 25)) for x in (1, 25, 50, 75, 98)]
    assert row == sorted(row)
    assert row[0] < 20 and row[-1] > 235  # scaled to 8 bits, not clipped white
    assert 100 < row[2] < 160


def test_palette_with_transparency_keeps_it_in_webp(tmp_path: Path) -> None:
    image = Image.new("P", (200, 100), 0)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    image.paste(1, (100, 0, 200, 100))
    path = tmp_path / "logo.png"
    image.save(path, transparency=0)
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), options(root, sizes=(100,)))
    assert result.problem_kind == ""
    thumbnail = open_thumbnail(thumbnail_path(root, 100, result.sha256))
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((10, 25))[3] == 0  # transparent half
    assert thumbnail.getpixel((90, 25))[:2] == pytest.approx((0, 255), abs=8)
    assert thumbnail.getpixel((90, 25))[3] == 255


def test_palette_with_transparency_as_jpeg_is_opaque_rgb(tmp_path: Path) -> None:
    image = Image.new("P", (200, 100), 1)
    image.putpalette([255, 0, 0, 0, 255, 0] + [0] * 762)
    path = tmp_path / "logo.gif"
    image.save(path, transparency=0)
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), options(root, sizes=(100,), thumbnail_format="jpeg"))
    thumbnail = open_thumbnail(thumbnail_path(root, 100, result.sha256, "jpeg"))
    assert thumbnail.mode == "RGB"
    green = thumbnail.getpixel((50, 25))
    assert green[1] > 200 and green[0] < 60


def test_thumbnails_largest_first_from_an_rgba_image(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    Image.new("RGBA", (1000, 500), (10, 20, 30, 128)).save(path)
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), options(root, sizes=(100, 400, 100)))
    assert result.thumbnails == [400, 100]
    assert open_thumbnail(thumbnail_path(root, 100, result.sha256)).size == (100, 50)
    assert open_thumbnail(thumbnail_path(root, 400, result.sha256)).mode == "RGBA"
