"""Whether a path lies inside a folder: the one check behind library roots, sources, exclusions and outputs."""

from __future__ import annotations

import os
from collections.abc import Iterable


def is_inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it, comparing the strings as given (no link is resolved)."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def inside_any(path: str, folders: Iterable[str]) -> bool:
    return any(is_inside(path, folder) for folder in folders)


def really_inside_any(path: str, folders: Iterable[str]) -> bool:
    """Whether ``path``, symbolic links resolved, lies inside one of ``folders`` (resolved too)."""
    return inside_any(os.path.realpath(path), (os.path.realpath(folder) for folder in folders))
