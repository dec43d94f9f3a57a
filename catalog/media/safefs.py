"""File operations that never overwrite and survive a crash at any instant (Django-free; used by organize).

Data is written to a temporary name in the destination folder and fsynced, then linked to its final name with
``link(2)``, which fails instead of replacing an existing name; the folder is fsynced after every name change so
the change itself is durable. File systems without hard links (FAT, exFAT, some network shares) get a rename
after an existence check instead; organize holds the catalog lock, so nothing of ours races it.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator

CHUNK = 1 << 20
MAX_SUFFIX = 9999
NO_HARDLINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def fsync_dir(folder: str) -> None:
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def make_dirs(folder: str) -> None:
    """Create ``folder`` and its missing parents, each made durable in its own parent."""
    missing = []
    current = os.path.abspath(folder)
    while not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)
    for path in reversed(missing):
        try:
            os.mkdir(path)
        except FileExistsError:
            if not os.path.isdir(path):
                raise
        fsync_dir(os.path.dirname(path))


def copy_durably(source: str, temp: str) -> None:
    """Copy ``source`` to the new file ``temp`` (which must not exist), with its times and mode, and fsync it."""
    with open(source, "rb") as reader:
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as writer:
            shutil.copyfileobj(reader, writer, CHUNK)
            writer.flush()
            os.fsync(writer.fileno())
    shutil.copystat(source, temp)  # the mtime stays the camera's file's, so a rescan finds it unchanged


def link_no_replace(existing: str, new: str, *, rename: bool = True) -> None:
    """Give ``existing`` the name ``new``, failing with FileExistsError if ``new`` is taken.

    Both names stay (a hard link). On a file system without hard links, and only with ``rename``, ``existing`` is
    renamed instead: the name is first taken with ``O_CREAT | O_EXCL`` (which fails if anyone has it), and the
    rename then replaces that empty placeholder of ours and nothing else.
    """
    try:
        os.link(existing, new, follow_symlinks=False)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in NO_HARDLINKS or not rename:
            raise
        os.close(os.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.rename(existing, new)


def remove_durably(path: str) -> None:
    os.unlink(path)
    fsync_dir(os.path.dirname(path))


def remove_if_present(path: str) -> bool:
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def identity(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path`` (not following a symbolic link), or None when there is none."""
    try:
        stat = os.lstat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def holds(path: str, sha256: str, size: int) -> bool:
    """Whether ``path`` is a regular file with this content (size first: the cheap check)."""
    try:
        if not os.path.isfile(path) or os.path.islink(path) or os.path.getsize(path) != size:
            return False
        return sha256_file(path) == sha256
    except OSError:
        return False


def name_candidates(path: str) -> Iterator[str]:
    """``path``, then ``stem_001.ext``, ``stem_002.ext``, …: the names a file may take when its own is taken."""
    yield path
    stem, extension = os.path.splitext(path)
    for number in range(1, MAX_SUFFIX + 1):
        yield f"{stem}_{number:03d}{extension}"


def free_name(
    path: str, sha256: str, size: int, may_share: Callable[[str], bool] = lambda name: True
) -> tuple[str, bool]:
    """The first candidate name for a file of this content: one that is free, or one that already holds the same
    content and ``may_share`` allows (then True: nothing needs writing)."""
    for candidate in name_candidates(path):
        if not os.path.lexists(candidate):
            return candidate, False
        if may_share(candidate) and holds(candidate, sha256, size):
            return candidate, True
    raise OSError(errno.EEXIST, f"no free name: {MAX_SUFFIX} suffixes taken", path)
