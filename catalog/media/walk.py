"""Walk source folders: media files only, symlinks followed without loops, junk and the catalog folder skipped."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from stat import S_ISREG

from .analyze import MEDIA_EXTENSIONS, RAW_EXTENSIONS, VIDEO_EXTENSIONS, Problem, extension_of
from .paths import inside_any
from .sidecars import SidecarEntry, folder_sidecars, is_sidecar_name

# Folders that NAS boxes, desktops and photo tools fill with copies and previews of the real files.
JUNK_FOLDERS = {"@eadir", "#recycle", "#snapshot", "$recycle.bin", "system volume information", "lost+found"}


@dataclass(frozen=True)
class WalkEntry:
    path: str
    size: int = 0
    mtime_ns: int = 0
    problem_kind: str = ""
    problem_message: str = ""
    sidecars: tuple[SidecarEntry, ...] = ()  # the XMP, Takeout JSON, AAE and THM files that go with it


def display_path(path: str) -> str:
    """A path that can be stored and printed: undecodable bytes become \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_decodable(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


OUTSIDE_ROOTS_MESSAGE = (
    "this link leads outside the library roots: nothing of it is cataloged from the web pages or the API "
    "(analyze it from the command line)"
)


def walk_media(
    sources: Sequence[str],
    exclude: Sequence[str] = (),
    errors: list[str] | None = None,
    roots: Sequence[str] | None = None,
) -> Iterator[WalkEntry]:
    """Yield every media file under ``sources`` (absolute paths), and problem entries for what cannot be read.

    Symlinked folders are followed; a link back to one of its own ancestors is a loop and is reported once.
    A folder reachable twice (two links to it) is walked once. Folders that cannot be listed are appended to
    ``errors`` rather than stopping the walk. With ``roots`` (a run asked for through the web or the API), a
    folder or file link that resolves outside them is an ``outside_roots`` problem entry, never followed or read.
    """
    excluded = {os.path.realpath(path) for path in exclude}
    visited: set[tuple[int, int]] = set()
    boundary = None if roots is None else [os.path.realpath(root) for root in roots]
    for source in sources:
        yield from _walk_dir(os.path.abspath(source), excluded, visited, (), errors, boundary)


def _outside(path: str, boundary: list[str] | None) -> bool:
    return boundary is not None and not inside_any(os.path.realpath(path), boundary)


def _walk_dir(directory, excluded, visited, ancestors, errors, boundary=None) -> Iterator[WalkEntry]:
    try:
        stat = os.stat(directory)
    except OSError as exc:
        if errors is not None:
            errors.append(f"{display_path(directory)}: {exc.strerror or exc}")
        return
    identity = (stat.st_dev, stat.st_ino)
    if identity in ancestors:
        yield WalkEntry(
            display_path(directory),
            problem_kind=Problem.SYMLINK_LOOP,
            problem_message="symbolic link loop: this folder links back to one of its own parent folders",
        )
        return
    if identity in visited or os.path.realpath(directory) in excluded:
        return
    visited.add(identity)
    ancestors = (*ancestors, identity)
    try:
        with os.scandir(directory) as iterator:
            entries = sorted(iterator, key=lambda entry: entry.name)
    except OSError as exc:
        if errors is not None:
            errors.append(f"{display_path(directory)}: {exc.strerror or exc}")
        return
    subdirectories = []
    media: list[os.DirEntry] = []
    others: dict[str, os.DirEntry] = {}
    for entry in entries:
        name = entry.name
        if name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
        except OSError:
            is_dir = False
        if is_dir:
            if name.lower() not in JUNK_FOLDERS:
                subdirectories.append(entry.path)
            continue
        if extension_of(name) in MEDIA_EXTENSIONS:
            media.append(entry)
        elif is_sidecar_name(name):
            others[name] = entry
    links = folder_sidecars((entry.name for entry in media), others, media_kind) if others else {}
    for entry in media:
        if _outside(entry.path, boundary):
            yield _outside_entry(entry.path)
        elif (found := _file_entry(entry)) is not None:
            if entry.name in links and not found.problem_kind:
                found = replace(found, sidecars=_sidecar_entries(links[entry.name], others, boundary))
            yield found
    for subdirectory in subdirectories:
        if _outside(subdirectory, boundary):
            yield _outside_entry(subdirectory)
            continue
        yield from _walk_dir(subdirectory, excluded, visited, ancestors, errors, boundary)


def media_kind(extension: str) -> str:
    if extension in RAW_EXTENSIONS:
        return "raw"
    return "video" if extension in VIDEO_EXTENSIONS else "image"


def _sidecar_entries(links, others: dict[str, os.DirEntry], boundary) -> tuple[SidecarEntry, ...]:
    """The linked sidecars that can be read: one stat each; unreadable or out-of-bounds ones are left out."""
    found = []
    for name, kind in links:
        entry = others[name]
        if not is_decodable(entry.path) or _outside(entry.path, boundary):
            continue
        try:
            info = entry.stat(follow_symlinks=True)
        except OSError:
            continue
        if S_ISREG(info.st_mode):
            found.append(SidecarEntry(entry.path, kind, info.st_size, info.st_mtime_ns))
    return tuple(found)


def _outside_entry(path: str) -> WalkEntry:
    return WalkEntry(display_path(path), problem_kind=Problem.OUTSIDE_ROOTS, problem_message=OUTSIDE_ROOTS_MESSAGE)


def _file_entry(entry: os.DirEntry) -> WalkEntry | None:
    path = entry.path
    if not is_decodable(path):
        return WalkEntry(
            display_path(path),
            problem_kind=Problem.UNDECODABLE_NAME,
            problem_message="the file name is not valid UTF-8; rename the file to catalog it",
        )
    try:
        stat = entry.stat(follow_symlinks=True)
    except FileNotFoundError:
        if entry.is_symlink():
            return WalkEntry(path, problem_kind=Problem.BROKEN_LINK, problem_message="symbolic link to a missing file")
        return None  # deleted between the listing and now: nothing to catalog
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # a link that points at itself
            return WalkEntry(path, problem_kind=Problem.SYMLINK_LOOP, problem_message="symbolic link loop")
        return WalkEntry(path, problem_kind=Problem.UNREADABLE, problem_message=f"cannot read file: {exc.strerror}")
    return WalkEntry(path, stat.st_size, stat.st_mtime_ns)
