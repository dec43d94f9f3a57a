"""Choose the metadata reader by measurement: field coverage per format, and files per second.

Usage (from the repository root)::

    python -m bench.metadata [--files DIR ...] [--speed-files DIR] [--repeat 3] [--exiv2-path DIR] [--analyze N]

Three readers are compared on the same files:

* ``exifread+pillow`` (what analyze used alone before): Pillow's ``getexif`` plus its XMP fallback for every
  format Pillow opens, exifread for RAW (``catalog.media.exif``);
* ``exiv2``: the exiv2 Python bindings (PyPI ``exiv2``, a manylinux wheel bundling libexiv2), EXIF + XMP +
  IPTC with its "easy access" lens/ISO functions, each file read in a forked child (a libexiv2 or bindings
  crash costs that file and is counted, not the run); skipped with a note when it cannot be imported
  (``--exiv2-path`` adds a folder it was ``pip install --target``-ed into, so the project needs no copy);
* ``exiftool``: one ``exiftool -stay_open`` process (``catalog.media.exiftool``), as each pool worker runs it.

For each format (file extension) the coverage table gives, per field, how many files the reader got a value for.
Speed is files/s over ``--speed-files`` (metadata only, files in the page cache, median of ``--repeat``).
``--analyze N`` also times a full ``analyze_file`` pass (thumbnails on, one process) over N of those files
without and with ExifTool, the cost a scan really pays, and says how many of them the Pillow path sent to
ExifTool (an IPTC block, or a camera maker note where EXIF lacks the lens or ISO; RAW and videos always go).
The last lines are ``key=value`` pairs for scripts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from catalog.media import exif as exif_meta
from catalog.media import exiftool
from catalog.media.analyze import RAW_EXTENSIONS, VIDEO_EXTENSIONS, AnalyzeOptions, analyze_file

FIELDS = ["date", "make", "model", "lens", "iso", "exposure", "focal", "size", "gps", "keywords", "rating"]
MEDIA = {"jpg", "jpeg", "tif", "tiff", "png", "heic", "heif", "avif", "webp", "gif", "mpo"}


def read_pillow(path: str) -> dict[str, Any]:
    from PIL import Image

    ext = Path(path).suffix.lower().lstrip(".")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if ext in RAW_EXTENSIONS:
            import exifread

            with open(path, "rb") as handle:
                meta = exif_meta.metadata_from_exifread(exifread.process_file(handle, details=False))
            size: tuple[int, int] | None = None
        elif ext in VIDEO_EXTENSIONS:
            return {}
        else:
            image = Image.open(path)
            meta = exif_meta.metadata_from_pillow(image)
            size = image.size
    return {
        "date": meta.exif.get("DateTimeOriginal") or meta.exif.get("CreateDate"),
        "make": meta.camera_make,
        "model": meta.camera_model,
        "lens": meta.lens_model,
        "iso": meta.iso,
        "exposure": meta.exposure_time,
        "focal": meta.focal_length,
        "size": size,
        "gps": meta.gps,
    }


def exiv2_reader(extra_path: str | None) -> Callable[[str], dict[str, Any]] | None:
    if extra_path:
        sys.path.insert(0, extra_path)
    try:
        import exiv2
    except ImportError:
        return None
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exiv2.enableBMFF(True)  # CR3, HEIC

    def value(data: Any, key: str) -> str:
        try:
            found = data.findKey(exiv2.ExifKey(key) if key.startswith("Exif.") else exiv2.XmpKey(key))
        except exiv2.Exiv2Error:
            return ""
        return "" if found == data.end() else str(found.print())

    def easy(function: Callable, data: Any) -> str:
        try:
            found = function(data)
        except exiv2.Exiv2Error:
            return ""
        # None when absent (comparing None with an iterator segfaults the process in 0.19.2)
        return "" if found is None or found == data.end() else str(found.print(data))

    def read(path: str) -> dict[str, Any]:
        try:
            image = exiv2.ImageFactory.open(path)
            image.readMetadata()
        except exiv2.Exiv2Error:
            return {}
        data, xmp, iptc = image.exifData(), image.xmpData(), image.iptcData()
        keywords = [str(d.print()) for d in iptc if d.key() == "Iptc.Application2.Keywords"]
        keywords += [str(d.print()) for d in xmp if d.key() == "Xmp.dc.subject"]
        return {
            "date": easy(exiv2.dateTimeOriginal, data) or value(xmp, "Xmp.photoshop.DateCreated"),
            "make": easy(exiv2.make, data),
            "model": easy(exiv2.model, data),
            "lens": easy(exiv2.lensName, data),
            "iso": easy(exiv2.isoSpeed, data),
            "exposure": easy(exiv2.exposureTime, data),
            "focal": easy(exiv2.focalLength, data),
            "size": (image.pixelWidth(), image.pixelHeight()) if image.pixelWidth() else None,
            "gps": value(data, "Exif.GPSInfo.GPSLatitude"),
            "keywords": keywords,
            "rating": value(xmp, "Xmp.xmp.Rating"),
        }

    return read


def exiftool_reader(executable: str) -> Callable[[str], dict[str, Any]]:
    tool = exiftool.ExifTool(executable)

    def read(path: str) -> dict[str, Any]:
        found = exiftool.fields(tool.read(path))
        dates = found["dates"]
        return {
            "date": dates["DateTimeOriginal"] or dates["CreateDate"] or dates["DateCreated"] or dates["CreationDate"],
            "make": found["camera_make"],
            "model": found["camera_model"],
            "lens": found["lens_model"],
            "iso": found["iso"],
            "exposure": found["exposure_time"],
            "focal": found["focal_length"],
            "size": (found["width"], found["height"]) if "width" in found else None,
            "gps": found.get("gps"),
            "keywords": found["keywords"],
            "rating": found["rating"],
        }

    read.tool = tool  # type: ignore[attr-defined]
    return read


def media_files(folders: list[str]) -> list[str]:
    found = []
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in sorted(names):
                ext = Path(name).suffix.lower().lstrip(".")
                if ext in MEDIA or ext in RAW_EXTENSIONS or ext in VIDEO_EXTENSIONS:
                    found.append(os.path.join(root, name))
    return sorted(found)


def forked(read: Callable[[str], dict[str, Any]]) -> Callable[[str], dict[str, Any]]:
    """``read`` in a forked child, so a reader that crashes the process (exiv2 does) costs only that file;
    the child's answer comes back as JSON, a crash as ``{"crashed": True}``."""
    import json
    import signal

    def run(path: str) -> dict[str, Any]:
        reader_fd, writer_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child
            os.close(reader_fd)
            try:
                data = json.dumps(read(path), default=str).encode()
            except Exception:
                data = b"{}"
            os.write(writer_fd, data)
            os._exit(0)
        os.close(writer_fd)
        chunks = []
        while chunk := os.read(reader_fd, 65536):
            chunks.append(chunk)
        os.close(reader_fd)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            return {"crashed": signal.Signals(os.WTERMSIG(status)).name}
        return json.loads(b"".join(chunks) or b"{}")

    return run


def coverage(readers: dict[str, Callable], files: list[str]) -> dict[str, set[str]]:
    by_format: dict[str, list[str]] = defaultdict(list)
    for path in files:
        by_format[Path(path).suffix.lower().lstrip(".")].append(path)
    print(f"Coverage: files with a value, per format and field ({len(files)} files)\n")
    print(f"| format | files | reader | {' | '.join(FIELDS)} | crashed |")
    print(f"|---|---:|---|{'---:|' * (len(FIELDS) + 1)}")
    totals: dict[str, int] = defaultdict(int)
    crashed: dict[str, set[str]] = defaultdict(set)
    for fmt in sorted(by_format):
        paths = by_format[fmt]
        for name, read in readers.items():
            counts = dict.fromkeys(FIELDS, 0)
            if name == "exiv2":
                read = forked(read)
            for path in paths:
                try:
                    values = read(path)
                except Exception:  # a reader that fails on a file covers nothing of it
                    values = {}
                if values.get("crashed"):
                    crashed[name].add(path)
                for field in FIELDS:
                    if values.get(field) not in (None, "", [], 0):
                        counts[field] += 1
            totals[name] += sum(counts.values())
            lost = len(crashed[name] & set(paths))
            print(f"| {fmt} | {len(paths)} | {name} | {' | '.join(str(counts[f]) for f in FIELDS)} | {lost} |")
    print()
    for name, total in totals.items():
        print(f"fields_found_{name.replace('+', '_')}={total}")
        print(f"files_crashed_{name.replace('+', '_')}={len(crashed[name])}")
    return crashed


def files_per_second(read: Callable, files: list[str], repeat: int) -> float:
    for path in files[:5]:
        try:
            read(path)
        except Exception:  # the timed loop below counts such a file as read too
            pass
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        for path in files:
            try:
                read(path)
            except Exception:  # measured as read, whatever it found
                pass
        rates.append(len(files) / (time.perf_counter() - start))
    return statistics.median(rates)


def analyze_rate(files: list[str], tool: str | None, repeat: int) -> float:
    """A full ``analyze_file`` pass, thumbnails (256 and 512 px WebP) written into a fresh folder each time."""
    import tempfile

    rates = []
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as thumbnails:
            options = AnalyzeOptions(exiftool=tool, thumbnails_root=thumbnails)
            start = time.perf_counter()
            for path in files:
                analyze_file(path, options)
            rates.append(len(files) / (time.perf_counter() - start))
    exiftool.close_readers()
    return statistics.median(rates)


def sent_to_exiftool(files: list[str]) -> int:
    """How many of these images the Pillow path hands to ExifTool (``needs_exiftool``)."""
    from PIL import Image

    from catalog.media.analyze import needs_exiftool

    count = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in files:
            try:
                count += needs_exiftool(exif_meta.metadata_from_pillow(Image.open(path)))
            except Exception:  # unreadable: analyze reports it, and does not ask ExifTool either
                pass
    return count


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).resolve().parent.parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", action="append", help="folders whose media files are read for coverage")
    parser.add_argument("--speed-files", help="folder for the files/s figures (default: the first --files)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--exiv2-path", help="a folder holding the exiv2 package (pip install --target)")
    parser.add_argument("--analyze", type=int, default=0, help="also time a full analyze pass over N files")
    args = parser.parse_args(argv)
    folders = args.files or [str(here / "tests" / "fixtures")]
    files = media_files(folders)
    speed_files = media_files([args.speed_files]) if args.speed_files else files
    executable = shutil.which("exiftool")
    readers: dict[str, Callable] = {"exifread+pillow": read_pillow}
    exiv2 = exiv2_reader(args.exiv2_path)
    if exiv2 is not None:
        readers["exiv2"] = exiv2
    else:
        print("note: exiv2 is not importable (pip install --target DIR exiv2, then --exiv2-path DIR)")
    if executable:
        readers["exiftool"] = exiftool_reader(executable)
    else:
        print("note: exiftool is not installed")
    crashed = coverage(readers, files)
    print(
        f"\nSpeed: metadata only, {len(speed_files)} files (less those a reader crashed on), median of {args.repeat}\n"
    )
    for name, read in readers.items():
        survivors = [path for path in speed_files if path not in crashed[name]]
        if name == "exiv2" and args.speed_files:  # files the coverage pass did not try may crash it too
            survivors = [path for path in survivors if not forked(read)(path).get("crashed")]
        rate = files_per_second(read, survivors, args.repeat)
        print(f"files_per_s_{name.replace('+', '_')}={rate:.0f}")
    if args.analyze:
        images = [path for path in speed_files if Path(path).suffix.lower().lstrip(".") in MEDIA][: args.analyze]
        print(f"analyze_files={len(images)}")
        print(f"analyze_files_sent_to_exiftool={sent_to_exiftool(images)}")
        before = analyze_rate(images, None, args.repeat)
        print(f"analyze_files_per_s_without_exiftool={before:.1f}")
        if executable:
            after = analyze_rate(images, executable, args.repeat)
            print(f"analyze_files_per_s_with_exiftool={after:.1f}")
    for read in readers.values():
        tool = getattr(read, "tool", None)
        if tool is not None:
            tool.close()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
