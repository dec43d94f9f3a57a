"""ExifTool as the metadata reader for what Pillow and exifread cannot see: one long-lived process per worker.

Why ExifTool (measured by ``python -m bench.metadata``, the table is in the README): on real sample files it is
the only reader that gets the capture date, camera, lens and ISO out of every RAW format the catalog accepts
(CR3, RAF, MRW, X3F, CRW, RW2's own ISO tag), the lens and ISO that only maker notes hold (Canon, Nikon, Casio,
Kodak), XMP and IPTC keywords, rating, title and description (reconciled by the Metadata Working Group's rules,
``-use MWG``), and camcorder metadata inside AVCHD's H.264 stream and the WMV/ASF header. exiv2's Python
bindings (0.19.2, libexiv2 0.28.9) read RAF, MRW and CRW and XMP/IPTC too, but neither CR3 nor X3F, nor any
video tag, and fewer maker-note lenses (54 of 270 JPEGs against ExifTool's 69). Pillow and exifread stay the
first readers (about 2,000 files/s here, in-process, and they check the EXIF structure); ExifTool, about 12 ms a
file even in ``-stay_open`` mode, only fills the fields they left empty, and a Pillow image is sent to it only
when it can add something (``analyze.needs_exiftool``: an IPTC block, or a camera maker note where EXIF lacks
the lens or the ISO; RAW and videos always are).

ExifTool is optional, like ffmpeg: without it (``VAM_EXIFTOOL`` not found) the fields above stay empty for the
formats only it reads, and the asset says so in a note.

One process per pool worker, started on first use with ``-stay_open True -@ -`` and restarted if it dies or
stalls; never one per file. It is stopped when the worker exits (a ``multiprocessing`` finalizer), and it is
started through ``setpriv --pdeathsig KILL`` so that the kernel kills it when its worker is killed (a cancelled
job, a stuck file, ``kill -9``): ExifTool itself keeps polling a closed stdin forever.
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import subprocess
import threading
from collections.abc import Callable
from typing import Any

NO_EXIFTOOL = "no maker-note, XMP or RAW-only metadata: exiftool is not installed"
READY = b"{ready}"
READ_SECONDS = 30.0  # one file; ExifTool reads headers only, so longer means it is stuck
MAX_OUTPUT = 4 << 20

# Numeric values (``#``) where the catalog computes with them; printed values where a person reads them.
TAGS = [
    "-Make", "-Model", "-LensModel", "-LensID", "-Lens", "-LensType", "-ISO#", "-ExposureTime#", "-FNumber#",
    "-FocalLength#", "-ImageSize#", "-Orientation#", "-GPSLatitude#", "-GPSLongitude#", "-GPSAltitude#",
    "-DateTimeOriginal", "-CreateDate", "-ModifyDate", "-DateCreated", "-TimeCreated", "-CreationDate",
    "-OffsetTimeOriginal", "-MWG:Keywords", "-MWG:Rating#", "-MWG:Description", "-XMP:Title", "-IPTC:ObjectName",
    "-XMP:HierarchicalSubject",
]  # fmt: skip
COMMON = ["-json", "-G0", "-fast", "-use", "MWG", "-api", "LargeFileSupport=1", "-charset", "filename=utf8", *TAGS]


class ExifToolError(Exception):
    pass


def find_exiftool(name: str | None = "exiftool") -> str | None:
    return shutil.which(name) if name else None


class ExifTool:
    """A running ``exiftool -stay_open`` process; ``read`` sends it one file and returns its JSON tags."""

    def __init__(self, executable: str) -> None:
        self.executable = executable
        self.process: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()
        self.starts = 0

    def _start(self) -> subprocess.Popen[bytes]:
        command = [self.executable, "-stay_open", "True", "-@", "-", "-common_args", *COMMON]
        setpriv = shutil.which("setpriv")
        if setpriv:
            command = [setpriv, "--pdeathsig", "KILL", *command]
        self.starts += 1
        return subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, close_fds=True
        )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None and self.process.poll() is None else None

    def read(self, path: str) -> dict[str, Any]:
        """The tags of one file (``Group:Tag`` keys); ExifToolError when ExifTool cannot answer."""
        return self.begin(path)()

    def begin(self, path: str) -> Callable[[], dict[str, Any]]:
        """Send one file now and return the call that waits for its tags: ExifTool reads the file in its own
        process while the caller decodes the picture. The call must be made (it frees this reader for the next
        file), also when the caller fails in between; ExifToolError when ExifTool cannot answer."""
        if "\n" in path or "\r" in path:
            raise ExifToolError("a file name with a line break cannot be passed to exiftool")
        if not self.lock.acquire(timeout=2 * READ_SECONDS):  # (a caller that never took its answer: a bug)
            raise ExifToolError("exiftool is still busy with another file")
        try:
            try:
                fresh = self._send(path)
            except OSError:  # it died since the last file, and its pipe says so first: once more, on a fresh one
                self._kill()
                fresh = self._send(path)
        except OSError as exc:
            self._kill()
            self.lock.release()
            raise ExifToolError(f"exiftool stopped answering: {exc}") from exc

        def finish() -> dict[str, Any]:
            try:
                output = self._receive(path, fresh)
            finally:
                self.lock.release()
            return _first_record(output)

        return finish

    def _send(self, path: str) -> bool:
        """Write the request; True when a fresh process had to be started for it."""
        fresh = self.process is None or self.process.poll() is not None
        if fresh:
            self.process = self._start()
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(os.fsencode(path) + b"\n-execute\n")
        self.process.stdin.flush()
        return fresh

    def _receive(self, path: str, fresh: bool) -> bytes:
        """The answer to the request sent. A process that died since the last file (killed, crashed) is found
        out here: a fresh one is asked once more. One that is alive but fails on this file is not asked again."""
        for attempt in (1, 2):
            process = self.process
            try:
                assert process is not None and process.stdout is not None
                return self._answer(process.stdout.fileno())
            except (OSError, ExifToolError) as exc:
                exited = process is None or process.poll() is not None or isinstance(exc, OSError)
                exited = exited or "exited" in str(exc)
                self._kill()
                if fresh or attempt == 2 or not exited:
                    raise ExifToolError(f"exiftool stopped answering: {exc}") from exc
                try:
                    fresh = self._send(path)
                except OSError as again:
                    self._kill()
                    raise ExifToolError(f"exiftool stopped answering: {again}") from again
        raise AssertionError("unreachable")

    def _answer(self, fd: int) -> bytes:
        chunks = bytearray()
        while True:
            ready, _, _ = select.select([fd], [], [], READ_SECONDS)
            if not ready:
                raise ExifToolError(f"no answer within {READ_SECONDS:.0f} s")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise ExifToolError("the process exited")
            chunks += chunk
            if len(chunks) > MAX_OUTPUT:
                raise ExifToolError("the answer is too long")
            stripped = chunks.rstrip()
            if stripped.endswith(READY):
                return bytes(stripped[: -len(READY)])

    def _kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def close(self) -> None:
        """Ask the process to exit (kill it if it does not within a few seconds)."""
        with self.lock:
            process, self.process = self.process, None
        if process is None:
            return
        try:
            if process.poll() is None and process.stdin is not None:
                process.stdin.write(b"-stay_open\nFalse\n")
                process.stdin.close()
            process.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            process.kill()
            process.wait()
        finally:
            if process.stdout is not None:
                process.stdout.close()


def _first_record(output: bytes) -> dict[str, Any]:
    try:
        records = json.loads(output.decode("utf-8", "replace")) if output.strip() else []
    except ValueError as exc:
        raise ExifToolError("exiftool's answer is not JSON") from exc
    return records[0] if records and isinstance(records[0], dict) else {}


_readers: dict[str, ExifTool] = {}
_readers_pid = 0
_readers_lock = threading.Lock()


def reader(executable: str) -> ExifTool:
    """This process's ExifTool for ``executable`` (a process forked from another starts its own)."""
    global _readers_pid
    with _readers_lock:
        if _readers_pid != os.getpid():
            _readers.clear()
            _readers_pid = os.getpid()
            _register_exit()
        tool = _readers.get(executable)
        if tool is None:
            tool = _readers[executable] = ExifTool(executable)
        return tool


def close_readers() -> None:
    """Stop every ExifTool process this process started."""
    with _readers_lock:
        tools = list(_readers.values()) if _readers_pid == os.getpid() else []
        _readers.clear()
    for tool in tools:
        tool.close()


def _register_exit() -> None:
    # Pool workers leave through os._exit, which skips atexit; multiprocessing's finalizers run first.
    import atexit
    import multiprocessing.util

    atexit.register(close_readers)
    multiprocessing.util.Finalize(None, close_readers, exitpriority=100)


# What ExifTool writes when a maker note has no lens name.
_NO_LENS = ("unknown", "n/a", "none", "0", "")


def _first(tags: dict[str, Any], *names: str) -> Any:
    """The first value among ``Group:Tag`` names ("*:Tag" matches any group, in the order ExifTool gave)."""
    for name in names:
        if name.startswith("*:"):
            suffix = name[1:]
            for key, value in tags.items():
                if key.endswith(suffix) and value not in (None, "", []):
                    return value
        elif tags.get(name) not in (None, "", []):
            return tags[name]
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = ", ".join(str(v) for v in value)
    return str(value).strip() if value is not None else ""


def lens_name(tags: dict[str, Any]) -> str:
    """The lens as a person names it: EXIF LensModel, else the maker note's lens name or ExifTool's lens
    identification, else the zoom range ("18.0 - 55.0 mm") that Canon's maker notes give for unknown lenses."""
    for name in ("EXIF:LensModel", "MakerNotes:LensModel", "Composite:LensID", "MakerNotes:LensType", "*:LensType"):
        text = _text(tags.get(name) if not name.startswith("*") else _first(tags, name))
        known = text and not text.lower().startswith("unknown") and text.lower() not in _NO_LENS
        if known and not re.fullmatch(r".*\(0x[0-9a-f]+\)|\d+", text, re.IGNORECASE):  # "Sigma Lens (0x145)"
            return text
    text = _text(tags.get("Composite:Lens") or tags.get("MakerNotes:Lens"))
    return text if re.search(r"\d", text) else ""


def keywords(tags: dict[str, Any]) -> list[str]:
    value = tags.get("Composite:Keywords") or tags.get("XMP:Subject") or tags.get("IPTC:Keywords")
    values = value if isinstance(value, list) else ([value] if value not in (None, "") else [])
    seen: dict[str, None] = {}
    for item in values:
        text = " ".join(str(item).split())[:100]
        if text:
            seen.setdefault(text)
    return list(seen)[:200]


def fields(tags: dict[str, Any]) -> dict[str, Any]:
    """The catalog's fields from ExifTool's tags (values as ExifTool read them; the caller checks ranges)."""
    out: dict[str, Any] = {
        "camera_make": _text(_first(tags, "EXIF:Make", "*:Make")),
        "camera_model": _text(_first(tags, "EXIF:Model", "*:Model")),
        "lens_model": lens_name(tags),
        "iso": _number(_first(tags, "EXIF:ISO", "Composite:ISO", "*:ISO")),
        "exposure_time": _number(_first(tags, "EXIF:ExposureTime", "*:ExposureTime")),
        "f_number": _number(_first(tags, "EXIF:FNumber", "*:FNumber")),
        "focal_length": _number(_first(tags, "EXIF:FocalLength", "*:FocalLength")),
        "orientation": _number(_first(tags, "EXIF:Orientation", "*:Orientation")),
        "keywords": keywords(tags),
        "title": _text(_first(tags, "XMP:Title", "IPTC:ObjectName")),
        "description": _text(tags.get("Composite:Description")),
    }
    rating = _number(tags.get("Composite:Rating"))
    out["rating"] = int(rating) if rating is not None and rating.is_integer() and -1 <= rating <= 5 else None
    size = str(tags.get("Composite:ImageSize") or "").replace("x", " ").split()
    if len(size) == 2 and all(part.isdigit() for part in size):
        out["width"], out["height"] = int(size[0]), int(size[1])
    latitude, longitude = _number(tags.get("Composite:GPSLatitude")), _number(tags.get("Composite:GPSLongitude"))
    if latitude is not None and longitude is not None:
        out["gps"] = (latitude, longitude)
    out["gps_altitude"] = _number(_first(tags, "Composite:GPSAltitude", "*:GPSAltitude"))
    out["dates"] = {
        "DateTimeOriginal": _text(
            _first(tags, "EXIF:DateTimeOriginal", "Composite:DateTimeOriginal", "*:DateTimeOriginal")
        ),
        "CreateDate": _text(_first(tags, "EXIF:CreateDate", "Composite:CreateDate", "*:CreateDate")),
        "ModifyDate": _text(_first(tags, "EXIF:ModifyDate")),
        "OffsetTimeOriginal": _text(tags.get("EXIF:OffsetTimeOriginal")),
        "DateCreated": _text(_first(tags, "IPTC:DateCreated", "XMP:DateCreated", "Composite:DateCreated")),
        "CreationDate": _text(_first(tags, "ASF:CreationDate", "*:CreationDate")),
    }
    return out
