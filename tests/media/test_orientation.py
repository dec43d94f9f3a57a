"""Orientation: thumbnails are written upright and width/height are as displayed, for all 8 EXIF orientations."""

from __future__ import annotations

import io
from pathlib import Path

import pillow_heif
import pytest
from PIL import Image

from catalog.media.analyze import AnalyzeOptions, analyze_file
from catalog.media.thumbnails import thumbnail_path

WHITE, BLUE = (255, 255, 255), (0, 0, 200)
# The transform that turns the upright picture into what a camera stores with the given Orientation tag.
STORED = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def upright_picture(size: tuple[int, int] = (120, 60)) -> Image.Image:
    """Blue, with a white block in the top-left corner: every flip and rotation of it looks different."""
    image = Image.new("RGB", size, BLUE)
    image.paste(WHITE, (0, 0, size[0] // 3, size[1] // 3))
    return image


def stored_picture(orientation: int, size: tuple[int, int] = (120, 60)) -> Image.Image:
    transform = STORED[orientation]
    picture = upright_picture(size)
    return picture if transform is None else picture.transpose(transform)


def orientation_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    return exif.tobytes()


def is_white(pixel: tuple[int, ...]) -> bool:
    return all(channel > 200 for channel in pixel[:3])


def is_blue(pixel: tuple[int, ...]) -> bool:
    return pixel[0] < 60 and pixel[1] < 60 and pixel[2] > 150


def assert_upright(thumbnail: Image.Image) -> None:
    """The white block is in the top-left corner and only there."""
    image = thumbnail.convert("RGB")
    width, height = image.size
    assert width > height, f"thumbnail is {width}x{height}: lying on its side"
    corners = {
        "top-left": (2, 2),
        "top-right": (width - 3, 2),
        "bottom-left": (2, height - 3),
        "bottom-right": (width - 3, height - 3),
    }
    colours = {name: image.getpixel(xy) for name, xy in corners.items()}
    assert is_white(colours["top-left"]), colours
    for name in ("top-right", "bottom-left", "bottom-right"):
        assert is_blue(colours[name]), colours


def read_thumbnail(root: Path, size: int, sha256: str) -> Image.Image:
    path = thumbnail_path(root, size, sha256)
    assert path.is_file()
    image = Image.open(path)
    image.load()
    return image


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize(("fmt", "ext"), [("JPEG", "jpg"), ("AVIF", "avif")])
def test_thumbnail_is_upright(tmp_path: Path, orientation: int, fmt: str, ext: str) -> None:
    """Pillow leaves JPEG and AVIF pixels as stored and reports the tag: the engine must turn them."""
    path = tmp_path / f"o{orientation}.{ext}"
    stored_picture(orientation).save(path, fmt, quality=95, exif=orientation_exif(orientation))
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), AnalyzeOptions(thumbnails_root=str(root), sizes=(64,)))
    assert result.problem_kind == ""
    assert result.format == fmt
    assert (result.orientation or 1) == orientation  # AVIF drops an Orientation of 1
    assert (result.width, result.height) == (120, 60)
    assert result.thumbnails == [64]
    thumbnail = read_thumbnail(root, 64, result.sha256)
    assert thumbnail.size == (64, 32)
    assert_upright(thumbnail)


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_large_jpeg_decoded_at_reduced_scale_is_upright(tmp_path: Path, orientation: int) -> None:
    # 1600x800 is decoded with JPEG DCT scaling for the 256/512 thumbnails; the transpose must still follow.
    path = tmp_path / f"big{orientation}.jpg"
    stored_picture(orientation, (1600, 800)).save(path, "JPEG", quality=90, exif=orientation_exif(orientation))
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), AnalyzeOptions(thumbnails_root=str(root)))
    assert (result.width, result.height) == (1600, 800)
    for size in (256, 512):
        thumbnail = read_thumbnail(root, size, result.sha256)
        assert thumbnail.size == (size, size // 2)
        assert_upright(thumbnail)


@pytest.mark.parametrize("orientation", [2, 5, 6, 7])
def test_hashes_do_not_depend_on_orientation(tmp_path: Path, orientation: int) -> None:
    plain = tmp_path / "plain.jpg"
    upright_picture().save(plain, "JPEG", quality=95)
    rotated = tmp_path / "rotated.jpg"
    stored_picture(orientation).save(rotated, "JPEG", quality=95, exif=orientation_exif(orientation))
    a = analyze_file(str(plain), AnalyzeOptions())
    b = analyze_file(str(rotated), AnalyzeOptions())
    assert bin(a.dhash ^ b.dhash).count("1") <= 4
    assert bin(a.phash ^ b.phash).count("1") <= 6


def test_png_with_xmp_orientation_is_upright(tmp_path: Path) -> None:
    from PIL import PngImagePlugin

    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:tiff="http://ns.adobe.com/tiff/1.0/" tiff:Orientation="6"/>'
        "</rdf:RDF></x:xmpmeta>"
    )
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", xmp)
    path = tmp_path / "xmp.png"
    stored_picture(6).save(path, "PNG", pnginfo=info)
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), AnalyzeOptions(thumbnails_root=str(root), sizes=(64,)))
    assert result.orientation == 6
    assert (result.width, result.height) == (120, 60)
    assert_upright(read_thumbnail(root, 64, result.sha256))


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
def test_heic_thumbnail_is_upright_not_rotated_twice(tmp_path: Path, orientation: int) -> None:
    pillow_heif.register_heif_opener()
    path = tmp_path / f"o{orientation}.heic"
    buffer = io.BytesIO()
    stored_picture(orientation).save(buffer, "HEIF", quality=95, exif=orientation_exif(orientation))
    path.write_bytes(buffer.getvalue())
    with Image.open(path) as stored:  # the file really is stored rotated, with the rotation in its header
        assert stored.info.get("original_orientation") == (None if orientation == 1 else orientation)
    root = tmp_path / "thumbs"
    result = analyze_file(str(path), AnalyzeOptions(thumbnails_root=str(root), sizes=(64,)))
    assert result.problem_kind == ""
    assert result.format == "HEIC"
    assert (result.width, result.height) == (120, 60)
    assert_upright(read_thumbnail(root, 64, result.sha256))
