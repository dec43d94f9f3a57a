"""Metadata only ExifTool reads: RAW formats exifread cannot parse, maker-note lens and ISO, XMP/IPTC keywords,
rating, title and dates, camcorder tags in AVCHD and WMV, and what a file gets when ExifTool is not installed."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import pytest

from catalog.media.analyze import AnalyzeOptions, Problem, analyze_file
from catalog.media.dates import capture_date
from catalog.media.exiftool import NO_EXIFTOOL, close_readers
from catalog.media.pool import analyze_many
from catalog.media.walk import WalkEntry
from tests.conftest import FIXTURES

SAMPLES = FIXTURES / "exiftool"
EXIFTOOL = shutil.which("exiftool")
FFPROBE = shutil.which("ffprobe")


def analyze(name: str, tool: str | None = EXIFTOOL):
    return analyze_file(str(SAMPLES / name), AnalyzeOptions(exiftool=tool, ffprobe=FFPROBE))


def date_of(result) -> tuple:
    chosen = capture_date(result.dates, result.path, None)
    return chosen.taken_at, chosen.source, chosen.confidence


@pytest.mark.parametrize(
    ("name", "make", "model", "taken", "size", "lens"),
    [
        ("CanonRaw.cr3", "Canon", "Canon EOS M50", datetime(2018, 2, 21, 12, 8, 56), (6000, 4000),
         "EF-M15-45mm f/3.5-6.3 IS STM"),
        ("FujiFilm.raf", "FUJIFILM", "FinePix S5Pro", datetime(2007, 5, 22, 13, 58, 30), None, ""),
        ("Minolta.mrw", "Konica Minolta Camera, Inc.", "DiMAGE A2", datetime(2004, 11, 18, 23, 14, 58),
         (3264, 2448), ""),
        ("Sigma.x3f", "SIGMA", "SIGMA SD10", datetime(2001, 1, 1, 0, 36, 35), (2268, 1512),
         "Sigma 15-30mm F3.5-4.5 EX DG Aspherical"),
        ("CanonRaw.crw", "Canon", "Canon EOS DIGITAL REBEL", datetime(2003, 11, 10, 17, 39, 26), (3072, 2048),
         "18.0 - 55.0 mm"),
        ("Nikon.nef", "NIKON CORPORATION", "NIKON D70", datetime(2004, 6, 9, 16, 2, 35), None,
         "AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED"),
    ],
)  # fmt: skip
def test_raw_formats_get_camera_date_lens_and_size(name, make, model, taken, size, lens):
    result = analyze(name)
    assert (result.camera_make, result.camera_model, result.lens_model) == (make, model, lens)
    assert date_of(result)[:2] == (taken, "exif_original")
    if size:  # these samples have no pixel data: the size comes from the metadata
        assert (result.width, result.height) == size
    assert result.problem_kind != Problem.BAD_EXIF


def test_panasonic_iso_and_maker_note_iso():
    assert analyze("Panasonic.rw2").iso == 80  # RW2 keeps ISO in its own tag, not EXIF's
    assert analyze("Kodak.jpg").iso == 108  # only the Kodak maker note has it
    assert analyze("Casio2.jpg").iso == 50  # only the Casio maker note has it
    canon = analyze("Canon.jpg")
    assert canon.lens_model == "18.0 - 55.0 mm"  # Canon's maker note: the zoom range of an unnamed lens
    assert canon.exif["LensModel"] == "18.0 - 55.0 mm"


def test_a_failure_while_exiftool_reads_leaves_it_answering_the_next_file_about_that_file(monkeypatch):
    """ExifTool reads a picture while it is decoded; a decode that fails in between still takes its answer, so
    the next file never gets the tags of the one before."""
    from catalog.media import analyze as core

    def broken(*args, **kwargs):
        raise MemoryError("the decode failed half way")

    monkeypatch.setattr(core, "decode_upright", broken)
    path = SAMPLES / "IPTC.jpg"
    with pytest.raises(MemoryError):
        result = core.FileAnalysis(path=str(path), size=0, mtime_ns=0)
        core._analyze_pillow(result, path.read_bytes(), "jpg", AnalyzeOptions(exiftool=EXIFTOOL))
    monkeypatch.undo()
    assert analyze("Kodak.jpg").keywords == [] and analyze("Kodak.jpg").iso == 108
    assert analyze("IPTC.jpg").title == "Test IPTC picture"


def test_iptc_keywords_title_and_a_date_without_time():
    result = analyze("IPTC.jpg")
    assert result.keywords == ["ExifTool", "Test", "IPTC"]
    assert result.title == "Test IPTC picture"
    assert result.description == "A witty caption"
    taken, source, confidence = date_of(result)
    # IPTC DateCreated without TimeCreated: the day, as a day, below any date that has a time.
    assert (taken, source) == (datetime(2004, 2, 26), "metadata_date")
    assert confidence == 0.6


def test_xmp_keywords_and_rating_win_over_iptc():
    result = analyze("MWG.jpg")
    assert result.keywords == ["RIGHT1of2-XMP-Keywords", "RIGHT2of2-XMP-Keywords"]
    assert result.rating == 3
    assert result.description == "RIGHT-EXIF-Description"


def test_tiff_with_iptc_is_healthy():
    result = analyze("ExifTool.tif")
    assert result.problem_kind == ""  # Pillow warns about the IPTC tag's count; the file is fine
    assert result.title == "This is the title"
    assert result.keywords == ["exiftool", "test", "picture"]


def test_tiff_with_iptc_is_healthy_without_exiftool():
    assert analyze("ExifTool.tif", tool=None).problem_kind == ""


def test_avchd_camcorder_date_and_camera():
    result = analyze("M2TS.mts")
    assert result.camera_make == "Canon"
    assert (result.width, result.height) == (1920, 1080)
    chosen = capture_date(result.dates, result.path, None)
    # The H.264 stream's camcorder clock: wall-clock time with its offset.
    assert (chosen.taken_at, chosen.source, chosen.offset_minutes) == (
        datetime(2008, 12, 31, 23, 16, 24),
        "video_created",
        60,
    )


def test_wmv_header_date():
    result = analyze("ASF.wmv")
    assert result.exif["CreationTime"] == "2004-10-28T17:23:34Z"
    assert (result.width, result.height) == (160, 120)


def test_without_exiftool_files_still_analyze_and_say_what_is_missing():
    jpeg = analyze("Canon.jpg", tool=None)
    assert (jpeg.problem_kind, jpeg.camera_model, jpeg.lens_model) == ("", "Canon EOS DIGITAL REBEL", "")
    raw = analyze("CanonRaw.cr3", tool=None)
    assert raw.sha256 and raw.format == "RAW/CR3"
    assert raw.note == NO_EXIFTOOL
    # Nothing readable is a problem, never a silent "ok".
    assert "no metadata (camera, capture date) could be read" in raw.problem_message
    raf = analyze("FujiFilm.raf", tool=None)
    assert raf.problem_kind == Problem.BAD_EXIF
    assert "no metadata (camera, capture date) could be read" in raf.problem_message


def _exiftool_pids() -> set[int]:
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                command = handle.read().split(b"\0")
        except OSError:
            continue
        if any(part.endswith(b"exiftool") for part in command) and b"-stay_open" in command:
            pids.add(int(entry))
    return pids


def _entries(tmp_path: Path) -> list[WalkEntry]:
    entries = []
    for index in range(12):
        for name in ("Canon.jpg", "Kodak.jpg", "Sigma.x3f"):
            path = tmp_path / f"{index}_{name}"
            shutil.copyfile(SAMPLES / name, path)
            stat = path.stat()
            entries.append(WalkEntry(path=str(path), size=stat.st_size, mtime_ns=stat.st_mtime_ns))
    return entries


@pytest.mark.parametrize("workers", [1, 2])
def test_a_run_leaves_no_exiftool_process(tmp_path, workers):
    before = _exiftool_pids()
    options = AnalyzeOptions(exiftool=EXIFTOOL)
    results = list(analyze_many(_entries(tmp_path), options, {}, workers))
    assert len(results) == 36 and {r.iso for r in results if r.path.endswith("Kodak.jpg")} == {108}
    assert _exiftool_pids() - before == set()


def test_a_cancelled_run_leaves_no_exiftool_process(tmp_path):
    before = _exiftool_pids()
    run = analyze_many(_entries(tmp_path), AnalyzeOptions(exiftool=EXIFTOOL), {}, 2)
    first = next(run)
    assert first.sha256
    run.close()  # a cancelled job closes its run early
    assert _exiftool_pids() - before == set()


def test_a_dead_exiftool_is_restarted():
    from catalog.media.exiftool import reader

    tool = reader(EXIFTOOL)
    assert analyze("Kodak.jpg").iso == 108
    first = tool.pid
    assert first is not None
    os.kill(first, 9)
    assert analyze("Casio2.jpg").iso == 50
    assert tool.pid not in (None, first)
    close_readers()


XMP = b"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:xmp="http://ns.adobe.com/xap/1.0/"
 xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" xmp:Rating="4" photoshop:DateCreated="2019-03-15">
<dc:subject><rdf:Bag><rdf:li>Rome</rdf:li><rdf:li>Fish &amp; Chips</rdf:li></rdf:Bag></dc:subject>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Trevi</rdf:li></rdf:Alt></dc:title>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize("tool", [EXIFTOOL, None])
def test_xmp_keywords_rating_title_and_date_only_without_any_tool(tmp_path, tool):
    from PIL import Image

    path = tmp_path / "trevi.jpg"
    Image.new("RGB", (40, 30), (10, 120, 200)).save(path, "JPEG", xmp=XMP)
    result = analyze_file(str(path), AnalyzeOptions(exiftool=tool))
    assert (result.keywords, result.rating, result.title) == (["Rome", "Fish & Chips"], 4, "Trevi")
    # A date-only XMP date is that day at lower confidence, never midnight taken for a time.
    assert date_of(result) == (datetime(2019, 3, 15), "metadata_date", 0.6)
    assert result.problem_kind == ""
