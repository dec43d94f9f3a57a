"""Near-duplicate videos from a few frames hashed like pictures (no Django here).

A video's *signature* is its duration and the dHash and pHash of frames taken at fixed positions of it, so it
costs a few frames whatever the video's length: each is decoded by seeking (``-ss T -i file``: from the keyframe
before T, never the whole file), several seeks to one ffmpeg process; a clip of a few seconds, where 7–30 seeks
would each decode most of it again, is decoded once through instead (the same frames: the first at or after T).

The positions survive a trim. The step is the power of two seconds that puts duration/step in [8, 16), and there
are two grids: ``start`` at j·step from the start and ``end`` at j·step before the end. A copy cut at the end
keeps the start grid's content, one cut at the start keeps the end grid's; when a cut crosses a power of two the
steps differ by 2 and the coarser grid's offsets are a subset of the finer's. A time both grids hold is decoded
once.

Before hashing, rows and columns dark in *every* sampled frame are cropped (a letterbox or pillarbox added by a
re-encode; a dark scene in one frame is not a bar), and frames with too little detail (black, a fade, a flat
wall: a low standard deviation, or hashes ``grouping.degenerate`` calls flat) carry no vote: they are alike in
every video.

Two videos are near duplicates when their durations agree within ``DURATION_TOLERANCE`` (plus
``DURATION_SLACK``) and, for the start or the end grids aligned, at least ``MIN_VOTES`` frame pairs vote (both
have detail) and ``AGREEMENT`` of them are within the picture radius: dHash ≤ T and pHash ≤ T/2, the bounds
``catalog.similarity.grouping.Thresholds`` gives a threshold T. Measured on the tests' videos: the aligned
frames of a copy (re-encoded, scaled, cut, boxed) are 0–9 dHash and 0–8 pHash bits apart; other videos' frames,
and a copy's frames on the grid that does not align, 23–44 and 22–44 (but for what they really share: 0).
"""

from __future__ import annotations

import bisect
import math
import os
import statistics
import struct
import subprocess
import tempfile
import time
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
from PIL import Image

from catalog.similarity.grouping import DEFAULT_THRESHOLD, Thresholds, degenerate
from catalog.similarity.search import mih_pairs

from .hashing import dhash, phash
from .video import _ffmpeg_reason

SIGNATURE_VERSION = 1
GRID_POINTS = 8  # the step puts duration/step in [GRID_POINTS, 2·GRID_POINTS): 7–15 times per grid
MIN_STEP = 1 / 8  # seconds: a clip under 1 s has fewer points rather than frames a few milliseconds apart
SHORT_CLIP = 0.5  # seconds: shorter clips get one frame, at the start
SAME_FRAME = 0.02  # seconds: the two grids' times closer than this share one decoded frame
FRAME_SIDE = 128  # frames are decoded to FRAME_SIDE² gray, whatever their aspect (the hashes squash it anyway)
BATCH_PIXELS = 16_000_000  # source pixels decoded by one ffmpeg process at once (one decoder per seek)
UNKNOWN_PIXELS = 3840 * 2160  # what a video of unknown size is assumed to be, for the batch size
DECODE_THROUGH = 8.0  # seconds: a clip up to this long is decoded once rather than sought (bench/videos.py)
SCALE = f"scale={FRAME_SIDE}:{FRAME_SIDE}:flags=area,format=gray"
# Containers without a keyframe index (MPEG transport and program streams: camcorders' .mts, DVDs, old .flv): a
# seek there can land on the keyframe *after* its time, so each seek starts this much earlier and decodes up to it.
SEEKS_LATE = {"ts", "mts", "m2ts", "m2t", "mpg", "mpeg", "vob", "flv"}
SEEK_PREROLL = 3.0

BAR_LEVEL = 32  # a letterbox row or column: mean gray at most this, ...
BAR_SPREAD = 8  # ... and standard deviation at most this, in every sampled frame
MAX_BARS = 0.75  # never crop more than this fraction of either dimension (an all-dark video keeps its frames)
DETAIL_MIN = 6.0  # standard deviation of the 32x32 gray below which a frame carries no vote

DURATION_TOLERANCE = 0.12  # of the longer duration: a 10 % cut
DURATION_SLACK = 0.25  # seconds, for short clips and containers that round
MIN_VOTES = 3
AGREEMENT = 0.75

ANCHORS = ("start", "end")
Hashes = tuple[int, int]  # (dHash, pHash), unsigned 64-bit
Key = TypeVar("Key", bound=Hashable)


class VideoSignatureError(Exception):
    """No signature could be made; the message says why in words."""


# Grid ------------------------------------------------------------------------------------------------------------


def grid_step(duration: float) -> float:
    """The power of two seconds with duration/step in [GRID_POINTS, 2·GRID_POINTS), at least ``MIN_STEP``;
    0 for a clip shorter than ``SHORT_CLIP`` (one frame)."""
    if not duration >= SHORT_CLIP:  # also NaN
        return 0.0
    step = 2.0 ** math.floor(math.log2(duration / GRID_POINTS))
    while duration / step >= 2 * GRID_POINTS:  # log2 rounding at exact powers of two
        step *= 2
    while duration / step < GRID_POINTS:
        step /= 2
    return max(step, MIN_STEP)


def grid_points(duration: float, step: float) -> list[tuple[str, float, float]]:
    """(anchor, offset from the anchor, time) of every grid point; a short clip's one frame is both grids' 0."""
    if step <= 0:
        return [(anchor, 0.0, 0.0) for anchor in ANCHORS]
    points = []
    j = 1
    while j * step < duration:
        points.append(("start", j * step, j * step))
        points.append(("end", j * step, duration - j * step))
        j += 1
    return points


def sample_times(duration: float, step: float) -> tuple[list[float], list[int]]:
    """The distinct times to decode, ascending, and for each of ``grid_points`` the index of its time."""
    points = grid_points(duration, step)
    times: list[float] = []
    for at in sorted(point[2] for point in points):
        if not times or at - times[-1] >= SAME_FRAME:
            times.append(at)
    return times, [bisect.bisect_right(times, at) - 1 for _, _, at in points]  # the kept time at or just before


# Signature -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoSignature:
    """A video's duration and the hashes of its sampled frames, in ``sample_times`` order (None: no vote)."""

    duration: float
    hashes: tuple[Hashes | None, ...]

    @property
    def step(self) -> float:
        return grid_step(self.duration)

    @property
    def times(self) -> list[float]:
        return sample_times(self.duration, self.step)[0]

    @property
    def voting(self) -> int:
        """Frames with enough detail to vote."""
        return sum(h is not None for h in self.hashes)

    @cached_property
    def grids(self) -> dict[str, dict[float, Hashes | None]]:
        """For each anchor, offset from it (seconds, exact: multiples of a power of two) to the frame's hashes."""
        points = grid_points(self.duration, self.step)
        index = sample_times(self.duration, self.step)[1]
        grids: dict[str, dict[float, Hashes | None]] = {anchor: {} for anchor in ANCHORS}
        for (anchor, offset, _), k in zip(points, index, strict=True):
            grids[anchor][offset] = self.hashes[k]
        return grids

    def to_bytes(self) -> bytes:
        """Version, duration (float64: the grid is recomputed from it), frame count, a bitmap of the frames that
        vote, then 16 bytes of hashes for each of those: at most 8 + 4 + 4 + 30·16 bytes, well under 1 KB."""
        count = len(self.hashes)
        present = np.array([h is not None for h in self.hashes], dtype=bool)
        body = b"".join(struct.pack(">QQ", *h) for h in self.hashes if h is not None)
        return struct.pack(">BdB", SIGNATURE_VERSION, self.duration, count) + np.packbits(present).tobytes() + body

    @classmethod
    def from_bytes(cls, data: bytes) -> VideoSignature:
        if len(data) < 10 or data[0] != SIGNATURE_VERSION:
            raise ValueError(f"not a version {SIGNATURE_VERSION} video signature")
        _, duration, count = struct.unpack(">BdB", data[:10])
        bitmap_end = 10 + (count + 7) // 8
        present = np.unpackbits(np.frombuffer(data[10:bitmap_end], dtype=np.uint8))[:count].astype(bool)
        body = data[bitmap_end:]
        if len(present) != count or len(body) != 16 * int(present.sum()):
            raise ValueError("truncated video signature")
        if count != len(sample_times(duration, grid_step(duration))[0]):
            raise ValueError("video signature does not fit its duration's grid")
        values = iter(struct.iter_unpack(">QQ", body))
        hashes = tuple(next(values) if voting else None for voting in present.tolist())
        return cls(duration=duration, hashes=hashes)


def video_signature(
    ffmpeg: str,
    path: str,
    duration: float,
    *,
    size: tuple[int, int] | None = None,
    threads: int = 1,
    timeout: float = 120,
) -> VideoSignature:
    """The signature of the video at ``path``, whose ``duration`` (seconds) the caller knows from its header.

    A clip up to ``DECODE_THROUGH`` seconds is decoded once from start to end, a longer video by one seek per
    time (``_Runner``). ``size`` (width, height), when known, sets how many seeks share one ffmpeg process.
    ``threads`` is each decoder's thread count: 1 spends the least CPU and memory per video (a scan runs videos
    in parallel anyway). ``timeout`` bounds the whole signature. Raises VideoSignatureError when ffmpeg is
    missing, fails, times out, or gives no frame.
    """
    times = sample_times(duration, grid_step(duration))[0]
    deadline = time.monotonic() + timeout
    with tempfile.TemporaryDirectory(prefix="vam-videohash-") as scratch:
        preroll = SEEK_PREROLL if os.path.splitext(path)[1][1:].lower() in SEEKS_LATE else 0.0
        run = _Runner(ffmpeg, path, scratch, threads, deadline, timeout, preroll)
        if duration <= DECODE_THROUGH:
            frames = run.through(times)
        else:
            pixels = size[0] * size[1] if size and size[0] and size[1] else UNKNOWN_PIXELS
            batch = max(1, min(len(times), BATCH_PIXELS // max(pixels, 1)))
            frames = [frame for k in range(0, len(times), batch) for frame in run.seeking(times[k : k + batch])]
        if not any(frame is not None for frame in frames):
            # Nothing at or after any time: a still shown for the whole duration (one frame, or a screen
            # recording's sparse ones), or timestamps a seek cannot use. The first frame is what a player shows.
            frames = run.seeking([0.0]) * len(times)
    if frames[0] is None:
        raise VideoSignatureError("no video signature: ffmpeg could not decode this video (it holds no video frame)")
    return VideoSignature(duration=float(duration), hashes=tuple(frame_hashes(frames)))


def _seek_ms(at: float) -> int:
    """Rounded down: a time on a frame's start (a trim at a frame boundary) must give that frame, not the next."""
    return math.floor(at * 1000)


def _seconds(ms: int) -> str:
    return f"{ms / 1000:.3f}"


@dataclass
class _Runner:
    """ffmpeg commands that give one gray FRAME_SIDE² frame per time: the first frame at or after it (what
    ``-ss T`` gives), or None where the video has none."""

    ffmpeg: str
    path: str
    scratch: str
    threads: int
    deadline: float
    timeout: float
    preroll: float = 0.0  # seconds sought before each time, decoded and dropped (containers that seek late)

    def seeking(self, times: Sequence[float]) -> list[np.ndarray | None]:
        """One seek per time, all in one ffmpeg process that opens the file once per time (a decoder each):
        process start-up is most of the cost for a small video."""
        command = [self.ffmpeg, "-v", "error", "-nostdin", "-y"]
        wanted = [_seek_ms(at) for at in times]
        starts = [max(0, ms - round(self.preroll * 1000)) for ms in wanted]
        for start in starts:
            command += ["-threads", str(self.threads), "-ss", _seconds(start), "-i", self.path]
        outputs = [os.path.join(self.scratch, f"{index}.gray") for index in range(len(times))]
        for index, output in enumerate(outputs):
            skip = ["-ss", _seconds(wanted[index] - starts[index])] if wanted[index] > starts[index] else []
            command += ["-map", f"{index}:V:0", *skip, "-frames:v", "1", "-vf", SCALE, "-f", "rawvideo", output]
        self._run(command)
        return [_frame(Path(output).read_bytes() if os.path.exists(output) else b"") for output in outputs]

    def through(self, times: Sequence[float]) -> list[np.ndarray | None]:
        """One decode from start to end, keeping the first frame at or after each time: a seek decodes from the
        keyframe before its time, so a short clip costs less decoded once than sought 7–30 times."""
        cut = [_seconds(_seek_ms(at)) for at in times]
        first_after = "+".join(f"gte(t,{at})*(isnan(prev_t)+lt(prev_t,{at}))" for at in cut)
        # The metadata filter writes each kept frame's time (a kept frame may serve two close times).
        chain = f"select='{first_after}',{SCALE},metadata=mode=add:key=vam:value=1,metadata=mode=print:file=kept.txt"
        command = [self.ffmpeg, "-v", "error", "-nostdin", "-y", "-threads", str(self.threads)]
        command += ["-i", os.path.abspath(self.path), "-map", "0:V:0", "-vf", chain, "-vsync", "passthrough"]
        # Stopping at the last frame wanted, a header that understates the duration never costs the whole file.
        command += ["-frames:v", str(len(times)), "-f", "rawvideo", "kept.gray"]
        self._run(command, cwd=self.scratch)
        data, listing = (Path(self.scratch, name) for name in ("kept.gray", "kept.txt"))
        lines = listing.read_text().splitlines() if listing.exists() else []
        kept = [float(line.split("pts_time:")[1]) for line in lines if "pts_time:" in line]
        size = FRAME_SIDE * FRAME_SIDE
        pixels = data.read_bytes() if data.exists() else b""
        frames = [_frame(pixels[k * size : (k + 1) * size]) for k in range(min(len(kept), len(pixels) // size))]
        chosen = [bisect.bisect_left(kept, float(at) - 1e-5) for at in cut]  # pts_time has 6 significant digits
        return [frames[k] if k < len(frames) else None for k in chosen]

    def _run(self, command: list[str], cwd: str | None = None) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise VideoSignatureError(f"no video signature: it took longer than {self.timeout:.0f} s")
        try:
            completed = subprocess.run(command, capture_output=True, timeout=left, check=False, cwd=cwd)
        except FileNotFoundError as exc:
            raise VideoSignatureError("no video signature: ffmpeg is not installed") from exc
        except OSError as exc:
            raise VideoSignatureError(f"no video signature: ffmpeg cannot be run ({exc.strerror or exc})") from exc
        except subprocess.TimeoutExpired as exc:
            raise VideoSignatureError(f"no video signature: it took longer than {self.timeout:.0f} s") from exc
        if completed.returncode != 0:
            reason = _ffmpeg_reason(completed.stderr)
            raise VideoSignatureError(f"no video signature: ffmpeg could not decode this video ({reason})")


def _frame(data: bytes) -> np.ndarray | None:
    """A decoded frame, or None for an empty output (no frame at or after that time)."""
    if len(data) != FRAME_SIDE * FRAME_SIDE:
        return None
    return np.frombuffer(data, np.uint8).reshape(FRAME_SIDE, FRAME_SIDE)


# Frames ----------------------------------------------------------------------------------------------------------


def bars(frames: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) rows and columns that are dark in every frame of ``frames`` (n, h, w)."""
    rows = ((frames.mean(axis=2) <= BAR_LEVEL) & (frames.std(axis=2) <= BAR_SPREAD)).all(axis=0)
    columns = ((frames.mean(axis=1) <= BAR_LEVEL) & (frames.std(axis=1) <= BAR_SPREAD)).all(axis=0)

    def edges(dark: np.ndarray) -> tuple[int, int]:
        if dark.all():
            return 0, 0
        lead, trail = int(np.argmin(dark)), int(np.argmin(dark[::-1]))
        return (lead, trail) if lead + trail <= MAX_BARS * len(dark) else (0, 0)

    return (*edges(rows), *edges(columns))


def frame_hashes(frames: Sequence[np.ndarray | None]) -> list[Hashes | None]:
    """(dHash, pHash) of each frame with its bars cropped; None for a missing frame or one without detail."""
    present = [frame for frame in frames if frame is not None]
    if not present:
        return [None] * len(frames)
    top, bottom, left, right = bars(np.stack(present))
    hashes: list[Hashes | None] = []
    for frame in frames:
        if frame is None:
            hashes.append(None)
            continue
        gray = Image.fromarray(frame[top : frame.shape[0] - bottom, left : frame.shape[1] - right])
        detail = float(np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float32).std())
        values = (dhash(gray), phash(gray))
        flat = degenerate(np.array([values[0]], dtype=np.uint64), np.array([values[1]], dtype=np.uint64))[0]
        hashes.append(None if detail < DETAIL_MIN or flat else values)
    return hashes


# Matching --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoMatch:
    """Why two signatures match: ``distance`` is the median dHash distance (0–64) of the agreeing frames."""

    anchor: str  # "start": the grids from the start agree (a copy cut at the end, or uncut); "end": from the end
    distance: int
    votes: int  # frame pairs where both frames have detail
    agreeing: int  # of those, the pairs within the radius

    @property
    def rank(self) -> tuple[float, int]:
        """Better matches rank higher: more of the votes agree, then a smaller distance."""
        return self.agreeing / self.votes, -self.distance


def durations_agree(a: float, b: float) -> bool:
    return abs(a - b) <= DURATION_TOLERANCE * max(a, b) + DURATION_SLACK


def video_match(
    a: VideoSignature, b: VideoSignature, *, radius: int = DEFAULT_THRESHOLD, phash_radius: int | None = None
) -> VideoMatch | None:
    """How ``a`` and ``b`` match as near duplicates, or None. ``radius`` is the picture threshold T (dHash bits);
    the pHash bound is ``Thresholds.scaled(T).phash`` unless given."""
    if not durations_agree(a.duration, b.duration):
        return None
    if phash_radius is None:
        phash_radius = Thresholds.scaled(radius).phash
    best: VideoMatch | None = None
    for anchor in ANCHORS:
        grid_a, grid_b = a.grids[anchor], b.grids[anchor]
        pairs = [(grid_a[o], grid_b[o]) for o in sorted(grid_a.keys() & grid_b.keys())]
        voting = [(x, y) for x, y in pairs if x is not None and y is not None]
        if len(voting) < min(MIN_VOTES, len(grid_a), len(grid_b)) or not voting:
            continue
        agreeing = []
        for x, y in voting:
            d, p = (x[0] ^ y[0]).bit_count(), (x[1] ^ y[1]).bit_count()
            if d <= radius and p <= phash_radius:
                agreeing.append(d)
        if len(agreeing) < AGREEMENT * len(voting):
            continue
        found = VideoMatch(anchor, int(statistics.median_low(agreeing)), len(voting), len(agreeing))
        if best is None or found.rank > best.rank:
            best = found
    return best


MIH_FROM_FRAMES = 4000  # below this many voting frames, comparing every pair in the duration window is faster


def video_pairs(
    signatures: Sequence[tuple[Key, VideoSignature]], *, radius: int = DEFAULT_THRESHOLD
) -> list[tuple[Key, Key, VideoMatch]]:
    """Every near-duplicate pair, keys in input order, pairs in input order of their first key.

    Candidates are the pairs within the duration tolerance (sorted by duration, each compared with the window
    above it); in a large library, only those that also share at least one frame within the radius (found by
    ``mih_pairs`` over all frames, exact), which every match does.
    """
    durations = np.array([signature.duration for _, signature in signatures], dtype=np.float64)
    order = np.argsort(durations, kind="stable")
    candidates: set[tuple[int, int]] = set()
    frames = [(i, h) for i, (_, signature) in enumerate(signatures) for h in signature.hashes if h is not None]
    if len(frames) >= MIH_FROM_FRAMES:
        owner = np.array([i for i, _ in frames], dtype=np.int64)
        d = np.array([h[0] for _, h in frames], dtype=np.uint64)
        p = np.array([h[1] for _, h in frames], dtype=np.uint64)
        found = mih_pairs(d, p, radius, Thresholds.scaled(radius).phash)
        i, j = owner[found.i], owner[found.j]
        keep = i != j
        for x, y in zip(np.minimum(i, j)[keep].tolist(), np.maximum(i, j)[keep].tolist(), strict=True):
            if durations_agree(durations[x], durations[y]):
                candidates.add((x, y))
    else:
        ranked = order.tolist()
        for rank, i in enumerate(ranked):
            above = rank + 1
            while above < len(ranked) and durations_agree(durations[i], durations[ranked[above]]):
                candidates.add((min(i, ranked[above]), max(i, ranked[above])))
                above += 1
    result = []
    for i, j in sorted(candidates):
        match = video_match(signatures[i][1], signatures[j][1], radius=radius)
        if match is not None:
            result.append((signatures[i][0], signatures[j][0], match))
    return result
