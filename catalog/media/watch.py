"""Following source folders with file-system events (watchfiles: inotify, FSEvents, ReadDirectoryChangesW, or
polling where none works), as bursts of changes that concern a catalog.

A burst ends once the folders have been quiet for ``quiet_ms`` after the last write, so that a camera card being
copied in is one burst (and one analyze job), not one per file; writes that never pause are cut into bursts of at
most ``longest_ms``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence

from .analyze import MEDIA_EXTENSIONS, extension_of
from .paths import inside_any
from .sidecars import is_sidecar_name
from .walk import JUNK_FOLDERS

QUIET_MS = 2000
LONGEST_MS = 10 * 60 * 1000


def concerns_catalog(path: str, excluded: Sequence[str]) -> bool:
    """Whether a change at ``path`` may change what analyze finds: a media file or a sidecar, or a folder (a
    folder moved in or away holds files of its own), outside the skipped folders, hidden files and NAS junk."""
    parts = path.split(os.sep)
    if any(part.startswith(".") or part.lower() in JUNK_FOLDERS for part in parts if part):
        return False
    if inside_any(path, excluded):
        return False
    name = parts[-1]
    if extension_of(name) in MEDIA_EXTENSIONS or is_sidecar_name(name):
        return True
    return os.path.isdir(path) or not os.path.splitext(name)[1]  # a folder, or (deleted) what was one


def change_bursts(
    folders: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    quiet_ms: int = QUIET_MS,
    longest_ms: int = LONGEST_MS,
    stop: threading.Event | None = None,
    force_polling: bool | None = None,
) -> Iterator[set[str]]:
    """Yield the paths changed under ``folders`` (absolute), one set per burst, until ``stop`` is set (or Ctrl-C
    raises KeyboardInterrupt)."""
    from watchfiles import watch

    excluded = [os.path.realpath(path) for path in exclude] + [os.path.abspath(path) for path in exclude]
    for changes in watch(
        *folders,
        watch_filter=lambda change, path: concerns_catalog(path, excluded),
        step=quiet_ms,
        debounce=longest_ms,
        stop_event=stop,
        force_polling=force_polling,
        ignore_permission_denied=True,
    ):
        paths = {path for _, path in changes}
        if paths:
            yield paths
