"""Sidecars found by the walk and used by analyze: XMP, Google Takeout JSON, Apple AAE, video THM."""

from __future__ import annotations

from pathlib import Path

from catalog.media.analyze import AnalyzeOptions, analyze_file
from catalog.media.sidecars import folder_sidecars, renamed_sidecar
from catalog.media.walk import media_kind, walk_media
from tests.conftest import make_jpeg

XMP_SIDECAR = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:Rating="4"
  exif:DateTimeOriginal="2018-07-01T10:00:00">
<dc:subject><rdf:Bag><rdf:li>Beach</rdf:li><rdf:li>Summer</rdf:li></rdf:Bag></dc:subject>
<dc:title><rdf:Alt><rdf:li xml:lang="x-default">At the sea</rdf:li></rdf:Alt></dc:title>
</rdf:Description></rdf:RDF></x:xmpmeta>"""
TAKEOUT = '{"title": "IMG_1.jpg", "photoTakenTime": {"timestamp": "1552659753", "formatted": "…"}, ' \
    '"geoData": {"latitude": 48.8566, "longitude": 2.3522, "altitude": 35.0}}'  # fmt: skip


def links(media: list[str], others: list[str]) -> dict[str, list[tuple[str, str]]]:
    return folder_sidecars(media, others, media_kind)


def test_matching_rules():
    found = links(
        ["IMG_1234.CR2", "IMG_1234.JPG", "IMG_1.jpg", "IMG(1).jpg", "MVI_1.MOV", "IMG_2.HEIC", "IMG_9.jpg"],
        [
            "IMG_1234.xmp", "IMG_1234.CR2.XMP", "IMG_1.jpg.json", "IMG.jpg(1).json", "MVI_1.THM", "IMG_2.AAE",
            "IMG_9.jpg.supplemental-metadata.json", "orphan.xmp", "IMG_1.THM",
        ],
    )  # fmt: skip
    assert found == {
        "IMG_1234.CR2": [("IMG_1234.CR2.XMP", "xmp"), ("IMG_1234.xmp", "xmp")],  # NAME.xmp goes to the RAW
        "IMG_1.jpg": [("IMG_1.jpg.json", "takeout")],  # a THM is a video's only
        "IMG(1).jpg": [("IMG.jpg(1).json", "takeout")],
        "IMG_9.jpg": [("IMG_9.jpg.supplemental-metadata.json", "takeout")],
        "MVI_1.MOV": [("MVI_1.THM", "thm")],
        "IMG_2.HEIC": [("IMG_2.AAE", "aae")],
    }


def test_walk_links_sidecars_and_never_lists_them_as_media(tmp_path: Path):
    make_jpeg(tmp_path / "IMG_1.jpg")
    (tmp_path / "IMG_1.xmp").write_text(XMP_SIDECAR)
    (tmp_path / "orphan.xmp").write_text(XMP_SIDECAR)
    (tmp_path / "folder.json").mkdir()  # a folder named like a sidecar is still walked
    make_jpeg(tmp_path / "folder.json" / "inside.jpg")
    entries = {Path(e.path).name: e for e in walk_media([str(tmp_path)])}
    assert sorted(entries) == ["IMG_1.jpg", "inside.jpg"]
    (sidecar,) = entries["IMG_1.jpg"].sidecars
    assert (sidecar.path, sidecar.kind, sidecar.size) == (str(tmp_path / "IMG_1.xmp"), "xmp", len(XMP_SIDECAR))


def test_xmp_sidecar_wins_over_the_embedded_metadata(tmp_path: Path):
    make_jpeg(tmp_path / "IMG_1.jpg", exif_ifd={0x9003: "2019:03:15 14:22:33"})
    (tmp_path / "IMG_1.jpg.xmp").write_text(XMP_SIDECAR)
    (entry,) = walk_media([str(tmp_path)])
    result = analyze_file(entry.path, AnalyzeOptions(), frozenset(), entry.size, entry.mtime_ns, entry.sidecars)
    assert (result.rating, result.keywords, result.title) == (4, ["Beach", "Summer"], "At the sea")
    assert result.exif["DateTimeOriginal"] == "2018-07-01T10:00:00"
    assert result.problem_kind == ""


def test_takeout_json_gives_a_date_and_a_place(tmp_path: Path):
    make_jpeg(tmp_path / "IMG_1.jpg")
    (tmp_path / "IMG_1.jpg.json").write_text(TAKEOUT)
    (entry,) = walk_media([str(tmp_path)])
    result = analyze_file(entry.path, AnalyzeOptions(), frozenset(), entry.size, entry.mtime_ns, entry.sidecars)
    assert result.exif["TakeoutTakenTime"] == "2019-03-15T14:22:33Z"
    assert result.gps == (48.8566, 2.3522)
    assert result.gps_altitude == 35.0


def test_json_that_is_not_takeout_and_zero_gps_are_ignored(tmp_path: Path):
    make_jpeg(tmp_path / "A.jpg")
    (tmp_path / "A.jpg.json").write_text('{"hello": 1}')
    make_jpeg(tmp_path / "B.jpg")
    (tmp_path / "B.jpg.json").write_text('{"photoTakenTime": {"timestamp": "1552659753"}, "geoData": '
                                         '{"latitude": 0.0, "longitude": 0.0}}')  # fmt: skip
    make_jpeg(tmp_path / "C.jpg")
    (tmp_path / "C.jpg.json").write_text("not json at all {")
    results = {}
    for entry in walk_media([str(tmp_path)]):
        results[Path(entry.path).name] = analyze_file(
            entry.path, AnalyzeOptions(), frozenset(), entry.size, entry.mtime_ns, entry.sidecars
        )
    assert "TakeoutTakenTime" not in results["A.jpg"].exif and results["A.jpg"].gps is None
    assert results["B.jpg"].exif["TakeoutTakenTime"] == "2019-03-15T14:22:33Z" and results["B.jpg"].gps is None
    assert results["C.jpg"].problem_kind == "" and "TakeoutTakenTime" not in results["C.jpg"].exif


def test_the_files_own_xmp_wins_over_the_shared_one_even_with_dots_in_the_name(tmp_path: Path):
    make_jpeg(tmp_path / "2019.03.15 trip.jpg")
    (tmp_path / "2019.03.15 trip.jpg.xmp").write_text(XMP_SIDECAR)
    (tmp_path / "2019.03.15 trip.xmp").write_text(XMP_SIDECAR.replace('Rating="4"', 'Rating="1"'))
    (entry,) = walk_media([str(tmp_path)])
    result = analyze_file(entry.path, AnalyzeOptions(), frozenset(), entry.size, entry.mtime_ns, entry.sidecars)
    assert len(entry.sidecars) == 2 and result.rating == 4


def test_a_renamed_file_takes_each_sidecar_along_under_a_name_that_links_the_same_way():
    media = ["IMG_1234.CR2", "IMG_1234.JPG", "IMG_1.jpg", "IMG(1).jpg", "MVI_1.MOV", "IMG_2.HEIC", "IMG_9.jpg"]
    others = [
        "IMG_1234.xmp", "IMG_1234.CR2.XMP", "IMG_1.jpg.json", "IMG.jpg(1).json", "MVI_1.THM", "IMG_2.AAE",
        "IMG_9.jpg.supplemental-metadata.json",
    ]  # fmt: skip
    before = links(media, others)
    new_names = {name: f"2019-03-15_142233_{index:08x}{Path(name).suffix}" for index, name in enumerate(media)}
    # A RAW and its JPEG take one stem (organize files a pair under one name): the shared XMP stays the RAW's.
    new_names["IMG_1234.JPG"] = new_names["IMG_1234.CR2"].replace(".CR2", ".JPG")
    renamed = {
        new_names[owner]: sorted((renamed_sidecar(owner, sidecar, new_names[owner]), kind) for sidecar, kind in found)
        for owner, found in before.items()
    }
    after = links(list(new_names.values()), [name for found in renamed.values() for name, _ in found])
    assert {owner: sorted(found) for owner, found in after.items()} == renamed
    assert renamed[new_names["IMG(1).jpg"]] == [(new_names["IMG(1).jpg"] + ".json", "takeout")]
    assert renamed[new_names["IMG_1234.CR2"]] == sorted([
        (new_names["IMG_1234.CR2"] + ".XMP", "xmp"), (new_names["IMG_1234.CR2"][:-4] + ".xmp", "xmp"),
    ])  # fmt: skip


def test_takeouts_cut_json_names_link_to_their_long_file_unless_two_long_names_cut_the_same():
    long_name = "Screenshot_20200101-123456_Some Long App Name Here.jpg"  # 55 characters
    cut = long_name[:46] + ".json"  # Takeout: at most 51 characters in all
    supplemental = (long_name + ".supplemental-metadata")[:46] + ".json"
    assert links([long_name, "IMG_1.jpg"], [cut]) == {long_name: [(cut, "takeout")]}
    assert links([long_name], [supplemental]) == {long_name: [(supplemental, "takeout")]}
    twin = long_name.replace(".jpg", " (edited).jpg")  # the same first 46 characters
    assert links([long_name, twin], [cut]) == {}
    assert renamed_sidecar(long_name, cut, "2020-01-01_123456_ab12cd34.jpg") == "2020-01-01_123456_ab12cd34.jpg.json"
