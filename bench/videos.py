"""Seconds per video for the near-duplicate video signature (``catalog.media.videohash``), on one core.

Usage (from the repository root; Django is not needed, the media core is Django-free)::

    python -m bench.videos                                   # generated clips and a one-hour file
    python -m bench.videos --corpus ~/Videos                 # and every video under a folder
    python -m bench.videos --lengths 3 --hd-seconds 0 --hour-seconds 20   # a quick try

Generated with ffmpeg's lavfi ``sierpinski`` source (a moving fractal, with sensor-like noise) into ``--work``
(kept there, so later runs reuse them): 640x360 clips at 30 fps of each ``--lengths``, a 1920x1080 phone-like
clip (30 fps, a keyframe a second, 12 Mbit/s), and a long file (320x180, 10 fps, libx264 ultrafast with its
default GOP of 250 frames) of ``--hour-seconds``. Every video under ``--corpus`` is timed too.

For each video it prints the frames sampled, the frames that vote, and the seconds of ``video_signature``
(median of ``--repeat``) as the module makes it (clips up to ``DECODE_THROUGH`` decoded once through, longer
videos by seeks batched several to an ffmpeg process) and, for comparison, with every frame sought: batched,
and one ffmpeg process per seek. Then the time ``video_pairs`` takes over ``--pairs`` synthetic signatures.
The last lines are ``key=value`` pairs for scripts.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from unittest import mock

import numpy as np

from catalog.media import videohash
from catalog.media.analyze import VIDEO_EXTENSIONS, extension_of
from catalog.media.video import VideoParseError, video_info
from catalog.media.videohash import (
    VideoSignature,
    VideoSignatureError,
    grid_step,
    sample_times,
    video_pairs,
    video_signature,
)
from catalog.similarity.grouping import DEFAULT_THRESHOLD


@dataclass
class Timing:
    name: str
    size: tuple[int, int] | None
    duration: float
    frames: int = 0
    voting: int = 0
    seconds: float = 0.0  # video_signature as it is
    sought_s: float = 0.0  # every frame by a seek, several seeks per process (how longer videos are done)
    one_per_process_s: float = 0.0  # every frame by a seek, one ffmpeg process each
    error: str = ""


def generate(ffmpeg: str, path: str, source: str, seconds: float, *options: str) -> str:
    if not os.path.exists(path):
        partial = path + ".partial" + os.path.splitext(path)[1]
        command = [ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", source, "-t", str(seconds), *options, partial]
        started = time.perf_counter()
        subprocess.run(command, check=True)
        os.replace(partial, path)
        print(f"made {os.path.basename(path)} in {time.perf_counter() - started:.1f} s", flush=True)
    return path


def generated(ffmpeg: str, work: str, lengths: list[float], hd_seconds: float, hour_seconds: float) -> list[str]:
    x264 = ("-c:v", "libx264", "-pix_fmt", "yuv420p")
    paths = []
    for seconds in lengths:
        name = os.path.join(work, f"clip_{seconds:g}s_640x360.mp4")
        source = "sierpinski=s=640x360:r=30,noise=alls=6:allf=t"
        paths.append(generate(ffmpeg, name, source, seconds, *x264, "-preset", "veryfast", "-g", "60"))
    if hd_seconds > 0:
        name = os.path.join(work, f"phone_{hd_seconds:g}s_1920x1080.mp4")
        source = "sierpinski=s=1920x1080:r=30,noise=alls=8:allf=t"
        paths.append(
            generate(ffmpeg, name, source, hd_seconds, *x264, "-preset", "ultrafast", "-g", "30", "-b:v", "12M")
        )
    if hour_seconds > 0:
        name = os.path.join(work, f"long_{hour_seconds:g}s_320x180.mp4")
        paths.append(generate(ffmpeg, name, "sierpinski=s=320x180:r=10", hour_seconds, *x264, "-preset", "ultrafast"))
    return paths


def corpus_videos(folders: list[str]) -> list[str]:
    found = []
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            found += [os.path.join(root, name) for name in files if extension_of(name) in VIDEO_EXTENSIONS]
    return sorted(found)


def timed(ffmpeg: str, path: str, duration: float, size: tuple[int, int] | None, repeat: int) -> tuple[float, int, int]:
    runs, signature = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        signature = video_signature(ffmpeg, path, duration, size=size)
        runs.append(time.perf_counter() - started)
    assert signature is not None
    return statistics.median(runs), len(signature.hashes), signature.voting


def measure(ffmpeg: str, ffprobe: str | None, path: str, repeat: int, compare: bool) -> Timing:
    try:
        with open(path, "rb") as handle:
            info = video_info(handle, path, extension_of(path), os.path.getsize(path), ffprobe)
    except (VideoParseError, OSError) as exc:
        return Timing(os.path.basename(path), None, 0.0, error=f"no duration: {exc}")
    size = (info.width, info.height) if info.width and info.height else None
    timing = Timing(os.path.basename(path), size, info.duration or 0.0)
    try:
        timing.seconds, timing.frames, timing.voting = timed(ffmpeg, path, timing.duration, size, repeat)
        if compare:
            with mock.patch.object(videohash, "DECODE_THROUGH", -1.0):
                timing.sought_s = timed(ffmpeg, path, timing.duration, size, repeat)[0]
                with mock.patch.object(videohash, "BATCH_PIXELS", 0):  # a batch of one
                    timing.one_per_process_s = timed(ffmpeg, path, timing.duration, size, repeat)[0]
    except VideoSignatureError as exc:
        timing.error = str(exc)
    return timing


def report(label: str, timings: list[Timing]) -> dict[str, str]:
    print(f"\n{label}: seconds per video (signature: as the module does it; sought: every frame by a seek, batched")
    print("  in one ffmpeg process or one process per seek)")
    print(f"  {'video':<34} {'size':>10} {'duration':>9} {'frames':>6} {'voting':>6} {'signature':>9} {'sought':>9}"
          f" {'1/process':>9}")  # fmt: skip
    for t in timings:
        size = f"{t.size[0]}x{t.size[1]}" if t.size else "?"
        if t.error:
            print(f"  {t.name:<34} {size:>10} {t.duration:>8.1f}s  {t.error}")
            continue
        compared = "".join(f" {value:>8.3f}s" if value else f" {'-':>9}" for value in (t.sought_s, t.one_per_process_s))
        print(f"  {t.name:<34} {size:>10} {t.duration:>8.1f}s {t.frames:>6} {t.voting:>6} {t.seconds:>8.3f}s{compared}")
    done = [t for t in timings if not t.error]
    figures = {f"{label}_videos": str(len(done)), f"{label}_failed": str(len(timings) - len(done))}
    if done:
        figures[f"{label}_frames_per_video"] = f"{statistics.mean(t.frames for t in done):.1f}"
        figures[f"{label}_seconds_per_video"] = f"{statistics.mean(t.seconds for t in done):.3f}"
        figures[f"{label}_seconds_per_video_max"] = f"{max(t.seconds for t in done):.3f}"
        if all(t.sought_s for t in done):
            figures[f"{label}_seconds_per_video_sought"] = f"{statistics.mean(t.sought_s for t in done):.3f}"
            figures[f"{label}_seconds_per_video_one_per_process"] = (
                f"{statistics.mean(t.one_per_process_s for t in done):.3f}"
            )
    return figures


def pairs_figures(count: int) -> dict[str, str]:
    """``video_pairs`` over ``count`` synthetic signatures (durations log-uniform over 1 s to 10 min, random
    hashes) of which a tenth have a copy with 3 bits of every hash flipped: the copies are the pairs to find."""
    rng = np.random.default_rng(1)
    library: list[tuple[str, VideoSignature]] = []
    for index in range(count - count // 11):
        duration = float(np.exp(rng.uniform(0, np.log(600))))
        frames = len(sample_times(duration, grid_step(duration))[0])
        values = rng.integers(0, 2**64, size=(frames, 2), dtype=np.uint64).tolist()
        library.append((f"v{index}", VideoSignature(duration, tuple((int(d), int(p)) for d, p in values))))
    for key, signature in library[: count // 11]:
        flips = [(1 << int(a)) | (1 << int(b)) | (1 << int(c)) for a, b, c in rng.choice(64, size=(100, 3))]
        hashes = tuple(h and (h[0] ^ flips[k % 100], h[1] ^ flips[-k % 100]) for k, h in enumerate(signature.hashes))
        library.append((f"{key}-copy", VideoSignature(signature.duration, hashes)))
    started = time.perf_counter()
    found = video_pairs(library, radius=DEFAULT_THRESHOLD)
    seconds = time.perf_counter() - started
    print(f"\nvideo_pairs over {len(library)} signatures: {len(found)} pairs in {seconds:.2f} s")
    return {"pairs_signatures": str(len(library)), "pairs_found": str(len(found)), "pairs_seconds": f"{seconds:.3f}"}


def parse_lengths(text: str) -> list[float]:
    try:
        lengths = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lengths: expected comma-separated seconds, got {text!r}") from None
    if any(length <= 0 for length in lengths):
        raise argparse.ArgumentTypeError("--lengths: every length must be positive")
    return lengths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.videos", description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", action="append", default=[], help="folder of videos (repeatable)")
    parser.add_argument("--lengths", type=parse_lengths, default=[10.0, 60.0, 600.0], help="640x360 clips (s)")
    parser.add_argument("--hd-seconds", type=float, default=20.0, help="1080p clip length (0: none; default 20)")
    parser.add_argument("--hour-seconds", type=float, default=3600.0, help="long file length (0: none)")
    parser.add_argument("--work", default=None, help="where generated videos are kept (default: system temp)")
    parser.add_argument("--repeat", type=int, default=3, help="timed repeats; the median is reported (default 3)")
    parser.add_argument("--pairs", type=int, default=10_000, help="synthetic signatures for video_pairs (0: none)")
    parser.add_argument("--no-compare", action="store_true", help="time the signature only, not the seek variants")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    ffmpeg, ffprobe = shutil.which("ffmpeg"), shutil.which("ffprobe")
    if ffmpeg is None:
        parser.error("ffmpeg is not installed")
    work = args.work or os.path.join(tempfile.gettempdir(), "vam-bench-videos")
    os.makedirs(work, exist_ok=True)

    figures: dict[str, str] = {}
    paths = generated(ffmpeg, work, args.lengths, args.hd_seconds, args.hour_seconds)
    timings = [measure(ffmpeg, ffprobe, path, args.repeat, not args.no_compare) for path in paths]
    figures.update(report("generated", timings))
    for timing in timings:
        if timing.name.startswith("long_") and not timing.error:
            figures["long_duration_s"] = f"{timing.duration:.0f}"
            figures["long_seconds"] = f"{timing.seconds:.3f}"
            figures["long_frames"] = str(timing.frames)
    if args.corpus:
        corpus = [
            measure(ffmpeg, ffprobe, path, args.repeat, not args.no_compare) for path in corpus_videos(args.corpus)
        ]
        figures.update(report("corpus", corpus))
    if args.pairs > 0:
        figures.update(pairs_figures(args.pairs))
    print()
    for key, value in figures.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
