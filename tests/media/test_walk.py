"""Walking source folders: media only, junk and hidden folders skipped, links and odd names reported, never stuck."""

from __future__ import annotations

import os
from pathlib import Path

from catalog.media.analyze import Problem
from catalog.media.walk import WalkEntry, display_path, walk_media
from tests.conftest import make_jpeg


def walk(*sources: Path, exclude: tuple[Path, ...] = (), errors: list[str] | None = None) -> list[WalkEntry]:
    return list(walk_media([str(s) for s in sources], [str(e) for e in exclude], errors))


def relative(entries: list[WalkEntry], root: Path) -> list[str]:
    return sorted(os.path.relpath(entry.path, root) for entry in entries)


def touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_media_files_are_found_with_size_and_mtime(library: Path) -> None:
    photo = make_jpeg(library / "2019" / "IMG_0001.jpg")
    touch(library / "2019" / "clip.MP4", b"0123456789")
    touch(library / "raw" / "DSC_0001.NEF")
    entries = walk(library)
    assert relative(entries, library) == ["2019/IMG_0001.jpg", "2019/clip.MP4", "raw/DSC_0001.NEF"]
    by_name = {Path(entry.path).name: entry for entry in entries}
    assert by_name["IMG_0001.jpg"].size == photo.stat().st_size
    assert by_name["IMG_0001.jpg"].mtime_ns == photo.stat().st_mtime_ns
    assert by_name["clip.MP4"].size == 10
    assert all(entry.problem_kind == "" for entry in entries)
    assert all(os.path.isabs(entry.path) for entry in entries)


def test_non_media_files_are_skipped(library: Path) -> None:
    for name in ("notes.txt", "IMG_0001.xmp", "IMG_0001.jpg.json", "Thumbs.db", "album.pdf", "README"):
        touch(library / name)
    touch(library / "IMG_0001.jpg")
    assert relative(walk(library), library) == ["IMG_0001.jpg"]


def test_hidden_and_junk_folders_are_skipped(library: Path) -> None:
    touch(library / "keep" / "a.jpg")
    for junk in (".thumbnails", ".git", "@eaDir", "#recycle", "#snapshot", "$RECYCLE.BIN", "System Volume Information"):
        touch(library / junk / "b.jpg")
        touch(library / "keep" / junk / "nested" / "c.jpg")
    touch(library / ".hidden.jpg")
    touch(library / "keep" / "@eaDir" / "a.jpg" / "SYNOPHOTO_THUMB_XL.jpg")
    assert relative(walk(library), library) == ["keep/a.jpg"]


def test_folder_symlink_loop_is_reported_once_and_the_walk_finishes(library: Path) -> None:
    touch(library / "dir" / "a.jpg")
    os.symlink(library / "dir", library / "dir" / "link")
    entries = walk(library)
    loops = [entry for entry in entries if entry.problem_kind == Problem.SYMLINK_LOOP]
    assert len(loops) == 1
    assert loops[0].path == str(library / "dir" / "link")
    assert "loop" in loops[0].problem_message
    assert relative([e for e in entries if not e.problem_kind], library) == ["dir/a.jpg"]


def test_link_to_the_source_root_is_a_loop(library: Path) -> None:
    touch(library / "a" / "b" / "c.jpg")
    os.symlink(library, library / "a" / "b" / "up")
    entries = walk(library)
    assert [entry.problem_kind for entry in entries].count(Problem.SYMLINK_LOOP) == 1
    assert relative([e for e in entries if not e.problem_kind], library) == ["a/b/c.jpg"]


def test_folder_reachable_twice_is_walked_once(library: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    touch(elsewhere / "x.jpg")
    os.symlink(elsewhere, library / "one")
    os.symlink(elsewhere, library / "two")
    entries = walk(library)
    assert len(entries) == 1
    assert entries[0].problem_kind == ""


def test_linked_folder_outside_the_source_is_followed(library: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "phone-backup"
    touch(elsewhere / "IMG_0002.jpg")
    os.symlink(elsewhere, library / "phone")
    assert relative(walk(library), library) == ["phone/IMG_0002.jpg"]


def test_dangling_symlink_is_a_broken_link(library: Path) -> None:
    os.symlink(library / "gone.jpg", library / "IMG_0001.jpg")
    entries = walk(library)
    assert len(entries) == 1
    assert entries[0].problem_kind == Problem.BROKEN_LINK
    assert entries[0].path == str(library / "IMG_0001.jpg")


def test_file_symlink_to_itself_is_a_loop(library: Path) -> None:
    os.symlink(library / "self.jpg", library / "self.jpg")
    entries = walk(library)
    assert [entry.problem_kind for entry in entries] == [Problem.SYMLINK_LOOP]


def test_symlink_to_a_file_is_a_normal_entry(library: Path, tmp_path: Path) -> None:
    target = make_jpeg(tmp_path / "target.jpg")
    os.symlink(target, library / "alias.jpg")
    entries = walk(library)
    assert len(entries) == 1
    assert entries[0].problem_kind == ""
    assert entries[0].size == target.stat().st_size


def test_undecodable_file_name(library: Path) -> None:
    touch(library / "good.jpg")
    raw = os.path.join(os.fsencode(str(library)), b"bad\xff.jpg")
    with open(raw, "wb") as handle:
        handle.write(b"x")
    entries = walk(library)
    bad = [entry for entry in entries if entry.problem_kind]
    assert len(bad) == 1
    assert bad[0].problem_kind == Problem.UNDECODABLE_NAME
    assert bad[0].path == str(library) + "/bad\\xff.jpg"
    bad[0].path.encode("utf-8")  # storable and printable
    assert "rename" in bad[0].problem_message
    assert relative([e for e in entries if not e.problem_kind], library) == ["good.jpg"]


def test_display_path_escapes_only_undecodable_bytes() -> None:
    assert display_path(os.fsdecode(b"/photos/caf\xc3\xa9/bad\xff.jpg")) == "/photos/café/bad\\xff.jpg"


def test_excluded_catalog_folder_is_not_walked(library: Path) -> None:
    touch(library / "IMG_0001.jpg")
    catalog = library / "catalog"
    touch(catalog / "thumbnails" / "256" / "ab" / "abc.webp")
    touch(catalog / "export" / "IMG_0001.jpg")
    assert relative(walk(library, exclude=(catalog,)), library) == ["IMG_0001.jpg"]


def test_excluded_folder_reached_through_a_link_is_not_walked(library: Path, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    touch(catalog / "thumbnails" / "256" / "ab" / "abc.webp")
    os.symlink(catalog, library / "catalog-link")
    touch(library / "IMG_0001.jpg")
    assert relative(walk(library, exclude=(catalog,)), library) == ["IMG_0001.jpg"]


def test_missing_source_is_an_error_not_an_exception(tmp_path: Path) -> None:
    errors: list[str] = []
    assert walk(tmp_path / "not-there", errors=errors) == []
    assert len(errors) == 1 and "not-there" in errors[0]


def test_several_sources_are_walked_in_order(tmp_path: Path) -> None:
    touch(tmp_path / "b" / "2.jpg")
    touch(tmp_path / "a" / "1.jpg")
    entries = walk(tmp_path / "b", tmp_path / "a")
    assert [Path(entry.path).name for entry in entries] == ["2.jpg", "1.jpg"]


def test_files_before_subfolders_in_name_order(library: Path) -> None:
    touch(library / "b.jpg")
    touch(library / "a" / "z.jpg")
    touch(library / "c.png")
    touch(library / "a.jpg")
    assert [os.path.relpath(entry.path, library) for entry in walk(library)] == ["a.jpg", "b.jpg", "c.png", "a/z.jpg"]


def test_within_roots_links_that_lead_out_are_problems_never_followed_or_read(library: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    make_jpeg(outside / "secret.jpg")
    make_jpeg(outside / "deeper" / "more.jpg")
    make_jpeg(library / "mine.jpg")
    (library / "folder-link").symlink_to(outside)
    (library / "file-link.jpg").symlink_to(outside / "secret.jpg")
    (library / "inside-link.jpg").symlink_to(library / "mine.jpg")  # a link that stays inside is a file like others

    entries = {Path(entry.path).name: entry for entry in walk_media([str(library)], roots=[str(library)])}

    assert set(entries) == {"mine.jpg", "inside-link.jpg", "file-link.jpg", "folder-link"}
    for name in ("file-link.jpg", "folder-link"):
        assert entries[name].problem_kind == Problem.OUTSIDE_ROOTS and entries[name].size == 0
        assert "outside the library roots" in entries[name].problem_message
    assert entries["inside-link.jpg"].problem_kind == "" and entries["inside-link.jpg"].size > 0
    # The command line (no roots) keeps its freedom: the links are followed.
    followed = {Path(entry.path).name for entry in walk_media([str(library)])}
    assert {"secret.jpg", "more.jpg", "file-link.jpg"} <= followed
