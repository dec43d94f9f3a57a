"""Checks of the folders a user types: where a catalog may live, which source and output folders may be used.

Shared by the jobs API and forms and by the catalog pages, so every place refuses the same paths in the same
words. They raise DRF's ``ValidationError`` (code ``refused``): a serializer files the message under its field,
and a page shows it as it is. A message about one field's only path reads under that field ("must be an absolute
path"); one about an entry of a list of folders names the entry.
"""

from __future__ import annotations

import os
from typing import NoReturn

from django.conf import settings
from rest_framework import serializers

from catalog.media.paths import is_inside, really_inside_any
from catalog.selectors import catalog_by_path

REFUSED = "refused"


def refuse(message: str) -> NoReturn:
    raise serializers.ValidationError(message, code=REFUSED)


NAME_MAX = 255  # bytes in one file or folder name on Linux file systems (ext4, xfs, btrfs, zfs)
PATH_MAX = 4096


def _fits(path: str) -> None:
    """A path the file system can hold, refused at the door rather than by a job that fails later."""
    encoded = os.fsencode(path)
    if len(encoded) >= PATH_MAX:
        refuse(f"is too long for the file system (at most {PATH_MAX - 1} bytes)")
    if any(len(part) > NAME_MAX for part in encoded.split(b"/")):
        refuse(f"has a folder or file name too long for the file system (at most {NAME_MAX} bytes each)")


def inside_roots(path: str) -> bool:
    return really_inside_any(path, settings.VAM_LIBRARY_ROOTS)


def _roots() -> str:
    return ", ".join(settings.VAM_LIBRARY_ROOTS)


def _no_roots() -> None:
    if not settings.VAM_LIBRARY_ROOTS:
        refuse("cannot be used: no library roots are configured (VAM_LIBRARY_ROOTS)")


def library_folder(path: str) -> str:
    """A source folder: one that exists inside the library roots, as a real absolute path."""
    if "\x00" in path:
        refuse("a folder's path cannot contain a NUL character")
    _no_roots()
    if not os.path.isabs(path):
        refuse(f"{path} must be an absolute path")
    _fits(path)
    if not inside_roots(path):
        refuse(f"{path} is outside the library roots ({_roots()})")
    if not os.path.isdir(path):
        refuse(f"{path} is not an existing folder")
    return os.path.realpath(path)


def new_catalog_path(path: str) -> str:
    """Where a catalog may live: a known catalog, or a folder inside the data folder or the library roots."""
    if "\x00" in path:
        refuse("cannot contain a NUL character")
    if not os.path.isabs(path):
        refuse("must be an absolute path")
    _fits(path)
    if catalog_by_path(path) is not None:
        return os.path.realpath(path)
    real = os.path.realpath(path)
    if not (inside_roots(path) or is_inside(real, str(settings.VAM_DATA_DIR))):
        places = ", ".join([str(settings.VAM_DATA_DIR), *settings.VAM_LIBRARY_ROOTS])
        refuse(f"must be inside the data folder or the library roots ({places})")
    return real


def known_catalog(path: str) -> str:
    if not os.path.isabs(path):  # (before any lookup: "~nobody/x" would not even expand)
        refuse("must be an absolute path")
    catalog = catalog_by_path(path) if "\x00" not in path else None
    if catalog is None:
        refuse(f"no catalog at {path}: analyze it first")
    return catalog.path


def output_folder(path: str) -> str:
    """Where organize may write: an absolute path inside the library roots (it need not exist yet)."""
    if "\x00" in path:
        refuse("cannot contain a NUL character")
    _no_roots()
    if not os.path.isabs(path):
        refuse("must be an absolute path")
    _fits(path)
    if not inside_roots(path):
        refuse(f"{path} is outside the library roots ({_roots()})")
    return os.path.realpath(path)
