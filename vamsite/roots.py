"""The library roots: the folders that paths given through the web pages and the API must lie in.

``VAM_LIBRARY_ROOTS`` (":"-separated, like $PATH) decides when it is set. Without it, the roots are the folders
kept one per line in ``VAM_DATA_DIR/library_roots``: ``make run PHOTOS=dir`` adds its photo folder and its catalog
folder there (``manage.py library_roots add``), so the embedded default works from the browser at once and after
every restart. Read once at start-up, by the settings; kept free of Django so the settings can import it.
"""

from __future__ import annotations

import os
from pathlib import Path

ENVIRONMENT = "VAM_LIBRARY_ROOTS"
FILE_NAME = "library_roots"


def normalized(folder: str) -> str:
    return str(Path(folder).expanduser().resolve())


def roots_file(data_dir: Path) -> Path:
    return data_dir / FILE_NAME


def from_environment() -> list[str] | None:
    """The roots the environment sets, or None when it does not set the variable. Set and empty, it means no
    roots at all: a deployment that blanks it to refuse every path gets just that, whatever the file says."""
    if ENVIRONMENT not in os.environ:
        return None
    folders = [item for item in os.environ[ENVIRONMENT].split(os.pathsep) if item.strip()]
    return [normalized(folder) for folder in folders]


def from_file(data_dir: Path) -> list[str]:
    try:
        lines = roots_file(data_dir).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [line.strip() for line in lines if line.strip() and os.path.isabs(line.strip())]


def library_roots(data_dir: Path) -> tuple[list[str], str]:
    """(the roots, where they come from: "environment", "data folder" or "")."""
    folders = from_environment()
    if folders is not None:
        return folders, "environment"
    folders = from_file(data_dir)
    return folders, "data folder" if folders else ""


def roots_add(data_dir: Path, folders: list[str]) -> list[str]:
    """Add ``folders`` (made absolute, links resolved) to the data folder's list; returns the ones that were new.
    The list is written whole under a temporary name and renamed into place, so a reader never sees half of it."""
    if any("\n" in folder or "\r" in folder for folder in folders):
        raise ValueError("a folder name with a line break cannot be a library root")
    kept = from_file(data_dir)
    added = [folder for folder in dict.fromkeys(normalized(f) for f in folders) if folder not in kept]
    if added:
        _write(data_dir, kept + added)
    return added


def roots_remove(data_dir: Path, folders: list[str]) -> list[str]:
    kept = from_file(data_dir)
    gone = {normalized(folder) for folder in folders} | set(folders)
    removed = [folder for folder in kept if folder in gone]
    if removed:
        _write(data_dir, [folder for folder in kept if folder not in gone])
    return removed


def _write(data_dir: Path, folders: list[str]) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    temporary = data_dir / f".{FILE_NAME}.{os.getpid()}"
    temporary.write_text("".join(f"{folder}\n" for folder in folders))
    os.replace(temporary, roots_file(data_dir))
