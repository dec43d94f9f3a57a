"""EXIF metadata: camera, exposure and GPS from real camera files and Pillow-written JPEGs; text cleaning; structure."""

from __future__ import annotations

import struct
from datetime import datetime
from pathlib import Path

import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from catalog.media.analyze import AnalyzeOptions, Problem, analyze_file
from catalog.media.dates import capture_date
from catalog.media.exif import camera_label, clean_text, exif_structure_problems, metadata_from_tags, to_float
from tests.conftest import FIXTURES, exif_date, make_jpeg

MAKE, MODEL, ORIENTATION = 0x010F, 0x0110, 0x0112
EXPOSURE, FNUMBER, ISO, FOCAL, LENS, ORIGINAL = 0x829A, 0x829D, 0x8827, 0x920A, 0xA434, 0x9003
FOCAL_35 = 0xA405


def analyze(path: Path, **options) -> object:
    return analyze_file(str(path), AnalyzeOptions(**options))


def write_jpeg(path: Path, base: dict | None = None, exif_ifd: dict | None = None, gps: dict | None = None) -> Path:
    """A small JPEG whose EXIF holds exactly the given tags (GPS included, which make_jpeg cannot write)."""
    info = Image.Exif()
    for tag, value in (base or {}).items():
        info[tag] = value
    if exif_ifd:
        info.get_ifd(0x8769).update(exif_ifd)
    if gps:
        info.get_ifd(0x8825).update(gps)
    Image.new("RGB", (40, 30), (10, 120, 200)).save(path, "JPEG", exif=info.tobytes())
    return path


# Real camera files -----------------------------------------------------------------------------------------------


def test_canon_camera_file() -> None:
    result = analyze(FIXTURES / "r_canon.jpg")
    assert result.problem_kind == ""
    assert (result.camera_make, result.camera_model) == ("Canon", "Canon PowerShot G1 X Mark II")
    assert result.exposure_time == pytest.approx(1 / 50)
    assert result.f_number == pytest.approx(5.6)
    assert result.iso == 100
    assert result.focal_length == pytest.approx(12.5)
    assert result.gps is None
    assert (result.width, result.height) == (80, 80)
    assert result.exif["DateTimeOriginal"] == "2013:12:17 14:04:24"
    chosen = capture_date(result.dates, result.path, result.mtime_ns)
    assert (chosen.source, chosen.taken_at) == ("exif_original", datetime(2013, 12, 17, 14, 4, 24))


def test_phone_gps_file() -> None:
    result = analyze(FIXTURES / "hachoir_gps.jpg")
    assert result.problem_kind == ""
    assert (result.camera_make, result.camera_model) == ("KDDI-TS", "A5301T")
    assert result.gps == pytest.approx((35.6160194, 139.6973167))
    assert result.gps_altitude == pytest.approx(78.0)
    assert (result.exif["GPSLatitude"], result.exif["GPSLongitude"]) == pytest.approx((35.6160194, 139.6973167))


def test_heic_camera_file_with_lens_and_offset() -> None:
    result = analyze(FIXTURES / "L_exif_xmp_iptc.heic")
    assert result.problem_kind == ""
    assert result.format == "HEIC"
    assert (result.camera_make, result.camera_model) == ("SONY", "ILCE-7SM3")
    assert result.lens_model == "FE 24-70mm F2.8 GM"
    assert (result.exposure_time, result.f_number, result.iso, result.focal_length) == pytest.approx(
        (0.005, 3.2, 80, 48.0)
    )
    chosen = capture_date(result.dates, result.path, result.mtime_ns)
    assert chosen.taken_at == datetime(2020, 9, 14, 11, 9, 34)
    assert chosen.offset_minutes == -300


# Pillow-written EXIF ---------------------------------------------------------------------------------------------


def test_exposure_lens_and_date_from_pillow_exif(tmp_path: Path) -> None:
    path = write_jpeg(
        tmp_path / "a.jpg",
        base={MAKE: "FUJIFILM", MODEL: "X-T3"},
        exif_ifd={
            EXPOSURE: IFDRational(1, 250),
            FNUMBER: IFDRational(28, 10),
            ISO: 400,
            FOCAL: IFDRational(35, 1),
            LENS: "XF35mmF1.4 R",
            ORIGINAL: exif_date(datetime(2019, 3, 15, 14, 22, 33)),
        },
    )
    result = analyze(path)
    assert result.problem_kind == ""
    assert (result.camera_make, result.camera_model, result.lens_model) == ("FUJIFILM", "X-T3", "XF35mmF1.4 R")
    assert result.exposure_time == pytest.approx(0.004)
    assert result.f_number == pytest.approx(2.8)
    assert result.iso == 400
    assert result.focal_length == pytest.approx(35.0)
    assert result.exif["ExposureTime"] == pytest.approx(0.004)
    assert capture_date(result.dates, str(path), None).taken_at == datetime(2019, 3, 15, 14, 22, 33)


def test_make_jpeg_helper_exif_is_read(tmp_path: Path) -> None:
    path = make_jpeg(tmp_path / "b.jpg", exif={MAKE: "Canon", MODEL: "EOS 5D"}, exif_ifd={ISO: 3200})
    result = analyze(path)
    assert (result.camera_make, result.camera_model, result.iso) == ("Canon", "EOS 5D", 3200)


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        (("N", "E"), (48.8581944, 2.2944444)),
        (("S", "W"), (-48.8581944, -2.2944444)),
        (("N", "W"), (48.8581944, -2.2944444)),
    ],
)
def test_gps_from_pillow_exif(tmp_path: Path, refs: tuple[str, str], expected: tuple[float, float]) -> None:
    gps = {
        1: refs[0],
        2: (IFDRational(48), IFDRational(51), IFDRational(295, 10)),
        3: refs[1],
        4: (IFDRational(2), IFDRational(17), IFDRational(40)),
        6: IFDRational(35),
    }
    result = analyze(write_jpeg(tmp_path / "g.jpg", base={MAKE: "Apple"}, gps=gps))
    assert result.gps == pytest.approx(expected)
    assert result.gps_altitude == pytest.approx(35.0)


def test_gps_altitude_below_sea_level(tmp_path: Path) -> None:
    gps = {1: "N", 2: (31, 30, 0), 3: "E", 4: (35, 28, 0), 5: b"\x01", 6: IFDRational(430)}
    result = analyze(write_jpeg(tmp_path / "dead-sea.jpg", gps=gps))
    assert result.gps == pytest.approx((31.5, 35.4666667))
    assert result.gps_altitude == pytest.approx(-430.0)


def test_null_island_gps_is_ignored(tmp_path: Path) -> None:
    gps = {1: "N", 2: (0, 0, 0), 3: "E", 4: (0, 0, 0)}
    assert analyze(write_jpeg(tmp_path / "zero.jpg", gps=gps)).gps is None


def test_empty_gps_ifd_is_no_gps_and_no_problem() -> None:
    result = analyze(FIXTURES / "empty_gps_ifd.jpg")
    assert result.gps is None
    assert result.problem_kind == ""
    assert (result.camera_make, result.camera_model) == ("Xiaomi", "Redmi Note 9S")


# Text cleaning ---------------------------------------------------------------------------------------------------


def test_make_with_nul_byte_is_cut_in_a_real_file(tmp_path: Path) -> None:
    result = analyze(write_jpeg(tmp_path / "n.jpg", base={MAKE: "Nokia\x002", MODEL: "Lumia 1020   "}))
    assert result.camera_make == "Nokia"
    assert result.camera_model == "Lumia 1020"
    assert result.exif["Make"] == "Nokia"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nokia\x002", "Nokia"),
        (b"Nokia\x002", "Nokia"),
        ("Canon   ", "Canon"),
        (b"Canon\x00\x00\x00\x00", "Canon"),
        ("  OLYMPUS IMAGING CORP.  \x00", "OLYMPUS IMAGING CORP."),
        (b"Caf\xc3\xa9", "Café"),
        (b"Caf\xe9 Cam", "Café Cam"),  # Latin-1/cp1252 bytes, not UTF-8
        (b"\xff\xfe\x81Cam", "ÿþ\ufffdCam"),
        ("Bell\x07Cam", "BellCam"),  # control characters are not printable
        (None, ""),
        ((1, 2), ""),
    ],
)
def test_clean_text(raw: object, expected: str) -> None:
    text = clean_text(raw)
    assert text == expected
    text.encode("utf-8")  # always storable


def test_clean_text_limits_length() -> None:
    assert len(clean_text("x" * 1000)) == 128


def test_non_utf8_make_is_stored_safely(tmp_path: Path) -> None:
    result = analyze(write_jpeg(tmp_path / "l.jpg", base={MAKE: b"Caf\xe9 Cam", MODEL: b"\xc4\x80\xff"}))
    assert result.camera_make == "Café Cam"
    result.camera_model.encode("utf-8")
    assert "\x00" not in result.camera_model


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ((1, 250), 0.004),
        ((0, 0), None),
        (IFDRational(28, 10), 2.8),
        (float("nan"), None),
        ("junk", None),
        (5, 5.0),
        ((0xFFFFFFFF, 1), None),  # "unknown", as some cameras write it
        ((1, 0xFFFFFFFF), None),
        (IFDRational(0xFFFFFFFF, 1), None),
        (IFDRational(1, 0), None),
        (0x7FFFFFFF, None),
        (4294967295.0, None),
    ],
)
def test_to_float(value: object, expected: float | None) -> None:
    assert to_float(value) == (pytest.approx(expected) if expected is not None else None)


def test_implausible_iso_is_dropped() -> None:
    assert metadata_from_tags({}, {ISO: 0}, {}).iso is None
    assert metadata_from_tags({}, {ISO: (800, 0)}, {}).iso == 800


# (tag, value as written, what is stored): the bounds of what a camera can record, and just outside them.
SANITY = [
    (EXPOSURE, (30, 1), 30.0),
    (EXPOSURE, (3600, 1), 3600.0),
    (EXPOSURE, (3601, 1), None),
    (EXPOSURE, (1, 8000), 0.000125),
    (EXPOSURE, (0, 1), None),
    (FNUMBER, (5, 10), 0.5),
    (FNUMBER, (4, 10), None),
    (FNUMBER, (128, 1), 128.0),
    (FNUMBER, (129, 1), None),
    (ISO, 65535, 65535),  # EXIF's "65535 or more"
    (ISO, 9_999_999, 9_999_999),
    (ISO, 10_000_000, None),
    (ISO, 0xFFFFFFFF, None),
    (FOCAL, (10_000, 1), 10_000.0),
    (FOCAL, (10_001, 1), None),
    (FOCAL, (0, 1), None),
]


@pytest.mark.parametrize(("tag", "value", "expected"), SANITY)
def test_values_no_camera_records_are_stored_as_none(tag: int, value: object, expected: float | None) -> None:
    meta = metadata_from_tags({}, {tag: value}, {})
    stored = {EXPOSURE: meta.exposure_time, FNUMBER: meta.f_number, ISO: meta.iso, FOCAL: meta.focal_length}[tag]
    assert stored == (pytest.approx(expected) if expected is not None else None)
    name = {EXPOSURE: "ExposureTime", FNUMBER: "FNumber", ISO: "ISO", FOCAL: "FocalLength"}[tag]
    assert meta.exif.get(name) == stored  # the stored EXIF subset never shows what the field refused


def test_sentinels_in_a_real_file_are_stored_as_none(tmp_path: Path) -> None:
    # The asset page showed "exposure 4294967295 s" for such a file.
    path = write_jpeg(
        tmp_path / "sentinels.jpg",
        base={MAKE: "Canon", MODEL: "Canon EOS 5D"},
        exif_ifd={
            EXPOSURE: IFDRational(0xFFFFFFFF, 1),
            FNUMBER: IFDRational(1, 0xFFFFFFFF),
            ISO: 0,
            FOCAL: IFDRational(0xFFFFFFFF, 1),
            FOCAL_35: 0,
        },
        gps={1: "N", 2: (48, 51, 29), 3: "E", 4: (2, 17, 40), 6: IFDRational(0xFFFFFFFF, 1)},
    )
    result = analyze(path)
    assert result.problem_kind == ""
    assert (result.exposure_time, result.f_number, result.iso, result.focal_length) == (None, None, None, None)
    assert result.gps_altitude is None
    assert result.gps == pytest.approx((48.8580556, 2.2944444))
    assert not {"ExposureTime", "FNumber", "ISO", "FocalLength", "FocalLengthIn35mmFormat", "GPSAltitude"} & set(
        result.exif
    )
    assert (result.camera_make, result.camera_model) == ("Canon", "Canon EOS 5D")


# Camera labels ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("make", "model", "label"),
    [
        ("Canon", "Canon EOS 5D", "Canon EOS 5D"),
        ("Canon", "EOS 5D Mark IV", "Canon EOS 5D Mark IV"),
        ("NIKON CORPORATION", "NIKON D800", "NIKON D800"),
        ("OLYMPUS IMAGING CORP.", "E-M1", "OLYMPUS E-M1"),
        ("samsung", "Galaxy S24 Ultra", "samsung Galaxy S24 Ultra"),
        ("Apple", "iPhone 11", "Apple iPhone 11"),
        ("LG Electronics", "LG-H870", "LG-H870"),
        (
            "EASTMAN KODAK COMPANY",
            "KODAK EASYSHARE C533 ZOOM DIGITAL CAMERA",
            "KODAK EASYSHARE C533 ZOOM DIGITAL CAMERA",
        ),
        ("CASIO COMPUTER CO.,LTD.", "EX-Z750", "CASIO EX-Z750"),
        ("Leica Camera AG", "LEICA Q2", "LEICA Q2"),
        ("KDDI-TS", "A5301T", "KDDI-TS A5301T"),
        ("", "Redmi Note 9S", "Redmi Note 9S"),
        ("Xiaomi", "", "Xiaomi"),
        ("", "", ""),
    ],
)
def test_camera_label(make: str, model: str, label: str) -> None:
    assert camera_label(make, model) == label


def test_camera_label_of_real_files() -> None:
    labels = {}
    for name in ("r_canon.jpg", "hachoir_gps.jpg", "L_exif_xmp_iptc.heic"):
        result = analyze(FIXTURES / name)
        labels[name] = camera_label(result.camera_make, result.camera_model)
    assert labels == {
        "r_canon.jpg": "Canon PowerShot G1 X Mark II",  # make "Canon", model "Canon PowerShot G1 X Mark II"
        "hachoir_gps.jpg": "KDDI-TS A5301T",
        "L_exif_xmp_iptc.heic": "SONY ILCE-7SM3",
    }


# Orientation tag -------------------------------------------------------------------------------------------------


def test_orientation_zero_is_unset_without_a_problem(tmp_path: Path) -> None:
    result = analyze(write_jpeg(tmp_path / "o0.jpg", base={MAKE: "samsung", ORIENTATION: 0}))
    assert result.orientation is None
    assert result.problem_kind == ""
    assert (result.width, result.height) == (40, 30)


def test_orientation_above_eight_is_a_problem(tmp_path: Path) -> None:
    result = analyze(write_jpeg(tmp_path / "o9.jpg", base={ORIENTATION: 9}))
    assert result.orientation is None
    assert result.problem_kind == Problem.BAD_EXIF
    assert "Orientation" in result.problem_message
    assert result.dhash is not None


# Structure checks ------------------------------------------------------------------------------------------------


def tiff_block(entries: list[tuple[int, int, int, int]], order: str = "<", first_ifd: int = 8) -> bytes:
    """A TIFF header and one IFD of (tag, type, count, value-or-offset) entries, behind an Exif marker."""
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, first_ifd)
    ifd = struct.pack(order + "H", len(entries))
    for tag, kind, count, value in entries:
        ifd += struct.pack(order + "HHII", tag, kind, count, value)
    ifd += struct.pack(order + "I", 0)
    return b"Exif\x00\x00" + head + ifd + b"\x00" * 16


@pytest.mark.parametrize("fixture", ["r_canon.jpg", "hachoir_gps.jpg", "empty_gps_ifd.jpg"])
def test_healthy_files_have_no_structure_problems(fixture: str) -> None:
    with Image.open(FIXTURES / fixture) as image:
        assert exif_structure_problems(image.info["exif"]) == []


def test_pillow_written_exif_has_no_structure_problems(tmp_path: Path) -> None:
    path = write_jpeg(
        tmp_path / "ok.jpg",
        base={MAKE: "Canon", ORIENTATION: 6},
        exif_ifd={EXPOSURE: IFDRational(1, 60), ORIGINAL: "2019:03:15 14:22:33"},
        gps={},
    )
    with Image.open(path) as image:
        assert exif_structure_problems(image.info["exif"]) == []


@pytest.mark.parametrize("order", ["<", ">"])
def test_sub_ifd_offset_outside_the_block_is_a_problem(order: str) -> None:
    block = tiff_block([(0x8769, 4, 1, 5000)], order)
    problems = exif_structure_problems(block)
    assert len(problems) == 1
    assert "Exif IFD offset 5000 lies outside" in problems[0]


def test_gps_ifd_offset_outside_the_block_in_a_real_file() -> None:
    with Image.open(FIXTURES / "broken-exif-tag.jpg") as image:
        problems = exif_structure_problems(image.info["exif"])
    assert any("GPS IFD offset" in problem and "outside" in problem for problem in problems)


def test_first_ifd_offset_outside_the_block_is_a_problem() -> None:
    problems = exif_structure_problems(tiff_block([], first_ifd=900))
    assert problems and "IFD0 IFD offset 900" in problems[0]


def test_ifd_with_too_many_entries_is_a_problem() -> None:
    block = bytearray(tiff_block([(MAKE, 2, 4, 0)]))
    block[6 + 8 : 6 + 10] = struct.pack("<H", 500)  # claim 500 entries
    assert any("500 entries" in problem for problem in exif_structure_problems(bytes(block)))


def test_value_past_the_end_is_a_problem() -> None:
    problems = exif_structure_problems(tiff_block([(MODEL, 2, 40, 4000)]))
    assert problems == ["EXIF IFD0 tag 0x0110 points past the end of the EXIF block"]


def test_wrong_type_xresolution_in_a_real_file() -> None:
    with Image.open(FIXTURES / "broken_exif_dpi.jpg") as image:
        problems = exif_structure_problems(image.info["exif"])
    assert "EXIF XResolution is stored as ASCII, not RATIONAL" in problems


def test_wrong_type_xresolution_in_a_built_block() -> None:
    problems = exif_structure_problems(tiff_block([(0x011A, 2, 4, 0x00303732)]))
    assert problems == ["EXIF XResolution is stored as ASCII, not RATIONAL"]


@pytest.mark.parametrize(
    "raw", [b"Exif\x00\x00II", b"Exif\x00\x00XX*\x00\x08\x00\x00\x00", b"MM\x00\x2b\x00\x00\x00\x08"]
)
def test_block_without_tiff_header_is_a_problem(raw: bytes) -> None:
    assert len(exif_structure_problems(raw)) == 1


def test_broken_exif_file_reports_bad_exif_but_keeps_camera() -> None:
    result = analyze(FIXTURES / "broken_exif_dpi.jpg")
    assert result.problem_kind == Problem.BAD_EXIF
    assert "XResolution" in result.problem_message
    assert (result.camera_make, result.camera_model) == ("NIKON CORPORATION", "NIKON D800")
    assert result.exif["DateTimeOriginal"] == "2013:09:11 16:45:13"
