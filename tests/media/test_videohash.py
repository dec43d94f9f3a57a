"""Near-duplicate videos: re-encoded, scaled, trimmed or letterboxed copies match; other videos do not.

Every video is made here with ffmpeg from Pillow-made pictures: a base clip of six panned photo-like scenes, the
copies a user would have of it, and videos that look alike without being it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from catalog.media import videohash
from catalog.media.video import video_info
from catalog.media.videohash import (
    MIN_STEP,
    VideoSignature,
    VideoSignatureError,
    grid_step,
    sample_times,
    video_match,
    video_pairs,
    video_signature,
)
from catalog.similarity.grouping import DEFAULT_THRESHOLD

FFMPEG = shutil.which("ffmpeg") or ""
pytestmark = pytest.mark.skipif(not FFMPEG, reason="ffmpeg is not installed")

FPS = 12
SIZE = (320, 240)
SCENE_CUTS = (0.0, 2.5, 5.5, 8.5, 11.5, 14.5, 17.0)  # seconds: six scenes, cuts away from the grid's times
DURATION = SCENE_CUTS[-1]


def photo(seed: int, size: tuple[int, int] = (480, 360)) -> np.ndarray:
    """Smooth shapes at three scales: detail a hash sees, unlike noise."""
    rng = np.random.default_rng(seed)
    layers = np.zeros((size[1], size[0], 3), dtype=np.float32)
    for cells in (3, 8, 24):
        coarse = rng.uniform(0, 255, (cells * size[1] // size[0] + 1, cells, 3)).astype(np.uint8)
        layers += np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), dtype=np.float32) / 3
    spread = (layers - layers.mean()) * 2.2 + 128  # three averaged layers are flat; stretch them back
    return np.clip(spread, 0, 255).astype(np.uint8)


def title_card() -> np.ndarray:
    card = Image.new("RGB", SIZE, "black")
    draw = ImageDraw.Draw(card)
    draw.text((40, 90), "HOLIDAYS 2024", fill="white", font_size=30)
    draw.rectangle((40, 140, 280, 146), fill=(200, 160, 40))
    return np.asarray(card)


def panned(picture: np.ndarray, progress: float, reverse: bool = False) -> np.ndarray:
    """A SIZE window of ``picture``, moved diagonally as ``progress`` goes from 0 to 1."""
    u = 1 - progress if reverse else progress
    x, y = int(20 + 120 * u), int(15 + 90 * u)
    return picture[y : y + SIZE[1], x : x + SIZE[0]]


def frames(scenes: list, cuts: tuple[float, ...] = SCENE_CUTS, reverse: bool = False):
    """Each scene from one cut to the next: a picture panned across, or a still (an (h, w, 3) array)."""
    for index in range(round(cuts[-1] * FPS)):
        at = index / FPS
        scene = max(k for k in range(len(cuts) - 1) if cuts[k] <= at)
        content = scenes[scene]
        if content.shape[:2] == (SIZE[1], SIZE[0]):
            yield content
        else:
            yield panned(content, (at - cuts[scene]) / (cuts[scene + 1] - cuts[scene]), reverse)


def encode(path: Path, pictures, *options: str) -> Path:
    command = [FFMPEG, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{SIZE[0]}x{SIZE[1]}"]
    command += ["-r", str(FPS), "-i", "-", "-pix_fmt", "yuv420p", *options, str(path)]
    process = subprocess.Popen(command, stdin=subprocess.PIPE)
    assert process.stdin is not None
    for picture in pictures:
        process.stdin.write(np.ascontiguousarray(picture).tobytes())
    process.stdin.close()
    assert process.wait(timeout=60) == 0
    return path


def derive(source: Path, path: Path, *options: str, before: tuple[str, ...] = ()) -> Path:
    command = [FFMPEG, "-v", "error", "-y", *before, "-i", str(source), *options, str(path)]
    subprocess.run(command, check=True, timeout=60)
    return path


def duration_of(path: Path) -> float:
    """The duration the scan knows: the container header, as ``catalog.media.video`` reads it."""
    with open(path, "rb") as handle:
        info = video_info(handle, str(path), path.suffix[1:], path.stat().st_size, shutil.which("ffprobe"))
    assert info.duration
    return info.duration


def signature(path: Path) -> VideoSignature:
    return video_signature(FFMPEG, str(path), duration_of(path), size=SIZE)


X264 = ("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-g", "24")
COPIES = {  # name: (ffmpeg options, options before -i)
    "mpeg4.avi": (("-c:v", "mpeg4", "-q:v", "6"), ()),
    "mjpeg.mov": (("-c:v", "mjpeg", "-q:v", "8"), ()),
    "low_bitrate.mkv": (("-c:v", "libx264", "-preset", "veryfast", "-b:v", "60k"), ()),
    "half_size.mp4": (("-vf", "scale=160:120", *X264), ()),
    "cut_start_5.mp4": (X264, ("-ss", f"{DURATION * 0.05:.3f}")),
    "cut_start_10.mp4": (X264, ("-ss", f"{DURATION * 0.10:.3f}")),
    "cut_end_10.mp4": (("-t", f"{DURATION * 0.90:.3f}", *X264), ()),
    "cut_end_5.webm": (
        ("-t", f"{DURATION * 0.95:.3f}", "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8"),
        (),
    ),
    # A transport stream has no keyframe index; x264's default GOP puts keyframes at the scene cuts only.
    "camcorder.mts": (("-c:v", "libx264", "-preset", "veryfast", "-f", "mpegts"), ()),
    "letterbox.mp4": (("-vf", "pad=320:360:0:60", *X264), ()),
    "pillarbox.mp4": (("-vf", "pad=432:240:56:0", *X264), ()),
}


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    scenes = [photo(seed) for seed in range(6)]
    made = {"base.mp4": encode(folder / "base.mp4", frames(scenes), *X264)}
    for name, (options, before) in COPIES.items():
        made[name] = derive(made["base.mp4"], folder / name, *options, before=before)
    # Alike but different: the same kind of pictures, other seeds; the same scenes in another order and pan.
    made["other.mp4"] = encode(folder / "other.mp4", frames([photo(seed) for seed in range(10, 16)]), *X264)
    made["reordered.mp4"] = encode(folder / "reordered.mp4", frames(scenes[::-1], reverse=True), *X264)
    # Two videos sharing a title card and black frames, most of their length, with different content between.
    black = np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8)
    cuts = (0.0, 3.0, 6.0, DURATION)
    for name, seed in (("titled_a.mp4", 20), ("titled_b.mp4", 21)):
        made[name] = encode(folder / name, frames([title_card(), photo(seed), black], cuts), *X264)
    made["black.mp4"] = encode(folder / "black.mp4", frames([black], (0.0, DURATION)), *X264)
    made["black_short.mp4"] = encode(folder / "black_short.mp4", frames([black], (0.0, 16.5)), *X264)
    return made


@pytest.fixture(scope="module")
def signatures(videos) -> dict[str, VideoSignature]:
    return {name: signature(path) for name, path in videos.items()}


@pytest.mark.parametrize("copy", list(COPIES))
def test_copies_of_a_video_match_it(signatures, copy):
    match = video_match(signatures["base.mp4"], signatures[copy], radius=DEFAULT_THRESHOLD)
    assert match is not None, copy
    assert match.agreeing >= 0.75 * match.votes and match.votes >= 3
    assert match.anchor == ("end" if copy.startswith("cut_start") else "start")
    assert match == video_match(signatures[copy], signatures["base.mp4"], radius=DEFAULT_THRESHOLD)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("base.mp4", "other.mp4"),  # photo-like scenes, panned alike
        ("base.mp4", "reordered.mp4"),  # the very same scenes, in another order
        ("titled_a.mp4", "titled_b.mp4"),  # the same title card and black frames, most of their length
        ("black.mp4", "black_short.mp4"),
        ("black.mp4", "base.mp4"),
    ],
)
def test_videos_that_only_look_alike_do_not_match(signatures, a, b):
    assert video_match(signatures[a], signatures[b], radius=DEFAULT_THRESHOLD) is None


def test_black_frames_carry_no_vote(signatures):
    assert signatures["black.mp4"].voting == 0
    titled = signatures["titled_a.mp4"]
    # Title card (0–3 s) and content (3–6 s) vote; the black frames after 6 s do not.
    voting_times = [at for at, h in zip(titled.times, titled.hashes, strict=True) if h is not None]
    assert voting_times and max(voting_times) < 6.0


def test_letterbox_is_cropped_before_hashing(videos, signatures):
    base, boxed = signatures["base.mp4"], signatures["letterbox.mp4"]
    distances = [
        (x[0] ^ y[0]).bit_count()
        for x, y in zip(base.hashes, boxed.hashes, strict=True)
        if x is not None and y is not None
    ]
    assert len(distances) >= 10 and max(distances) <= 8  # uncropped, the bars alone flip most dHash bits


def test_only_rows_dark_in_every_frame_are_bars():
    lit = [panned(photo(seed), 0.3)[:128, :128, 1].copy() for seed in range(3)]
    boxed = [frame.copy() for frame in lit]
    for frame in boxed:
        frame[:20], frame[-20:], frame[:, :10] = 0, 0, 0
    assert videohash.bars(np.stack(boxed)) == (20, 20, 10, 0)
    night = [frame.copy() for frame in lit]
    night[1][:40] = 0  # a dark sky in one scene
    assert videohash.bars(np.stack(night)) == (0, 0, 0, 0)
    assert videohash.bars(np.zeros((3, 128, 128), dtype=np.uint8)) == (0, 0, 0, 0)


def test_video_pairs_finds_every_copy_and_nothing_else(signatures):
    pairs = video_pairs(list(signatures.items()), radius=DEFAULT_THRESHOLD)
    found = {frozenset((a, b)) for a, b, _ in pairs}
    assert {frozenset(("base.mp4", copy)) for copy in COPIES} <= found
    copies_and_base = {"base.mp4", *COPIES}
    assert all(pair <= copies_and_base for pair in found)


def test_signature_round_trips_through_bytes_and_is_small(signatures):
    for signature_ in signatures.values():
        data = signature_.to_bytes()
        assert len(data) < 1024
        assert VideoSignature.from_bytes(data) == signature_
    with pytest.raises(ValueError):
        VideoSignature.from_bytes(signatures["base.mp4"].to_bytes()[:-3])
    with pytest.raises(ValueError):
        VideoSignature.from_bytes(b"\x09" + signatures["base.mp4"].to_bytes()[1:])


def test_frames_cost_does_not_grow_with_length():
    assert 14 <= len(sample_times(17.0, grid_step(17.0))[0]) <= 30
    assert len(sample_times(3600.0, grid_step(3600.0))[0]) <= 30
    # A 10 % cut crossing a power of two halves the step: the longer video's times are a subset of the shorter's.
    assert grid_step(17.0) == 2 * grid_step(15.3)


def test_one_frame_and_sub_second_clips(tmp_path):
    picture = panned(photo(3), 0.5)
    one = encode(tmp_path / "one.mp4", [picture], *X264)
    short = encode(tmp_path / "short.mp4", (panned(photo(4), k / 9) for k in range(9)), *X264)  # 0.75 s
    one_sig, short_sig = signature(one), signature(short)
    assert one_sig.voting == 1
    assert short_sig.voting >= 3 and grid_step(short_sig.duration) == MIN_STEP
    small_one = derive(one, tmp_path / "one_small.mp4", "-vf", "scale=160:120")
    small_short = derive(short, tmp_path / "short_small.mp4", "-vf", "scale=160:120")
    assert video_match(one_sig, signature(small_one), radius=DEFAULT_THRESHOLD) is not None
    assert video_match(short_sig, signature(small_short), radius=DEFAULT_THRESHOLD) is not None
    assert video_match(one_sig, short_sig, radius=DEFAULT_THRESHOLD) is None


def test_a_still_held_for_the_whole_clip_votes_everywhere(tmp_path):
    still = tmp_path / "still.png"
    Image.fromarray(panned(photo(5), 0.2)).save(still)
    held = derive(
        still, tmp_path / "held.mp4", "-t", "3", "-r", "1/3", *X264, before=("-loop", "1", "-framerate", "1/3")
    )
    assert duration_of(held) == pytest.approx(3.0, abs=0.05)
    smooth = derive(held, tmp_path / "held_30fps.mp4", "-r", "30", *X264)
    held_sig = signature(held)
    assert held_sig.voting == len(held_sig.hashes) >= 7  # one frame, shown at every time
    assert video_match(held_sig, signature(smooth), radius=DEFAULT_THRESHOLD) is not None


def test_short_clips_decoded_through_give_the_frames_a_seek_gives(videos, monkeypatch):
    sought = signature(videos["cut_end_10.mp4"])
    monkeypatch.setattr(videohash, "DECODE_THROUGH", 60.0)
    assert signature(videos["cut_end_10.mp4"]) == sought


def test_broken_videos_raise_a_clear_error(videos, tmp_path):
    whole = videos["base.mp4"].read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(whole[: len(whole) // 2])  # the moov box is at the end: gone
    garbage = tmp_path / "garbage.mov"
    garbage.write_bytes(os.urandom(50_000))
    for path in (truncated, garbage):
        with pytest.raises(VideoSignatureError, match=r"^no video signature: ffmpeg could not decode this video \("):
            video_signature(FFMPEG, str(path), DURATION)
    with pytest.raises(VideoSignatureError, match="ffmpeg is not installed"):
        video_signature(str(tmp_path / "no-ffmpeg"), str(videos["base.mp4"]), DURATION)
    with pytest.raises(VideoSignatureError, match="took longer than"):
        video_signature(FFMPEG, str(videos["base.mp4"]), DURATION, timeout=0.001)


def test_a_header_longer_than_the_video_gives_no_vote_past_its_end(videos):
    overstated = video_signature(FFMPEG, str(videos["base.mp4"]), DURATION * 1.1)
    assert overstated.hashes[-1] is None and overstated.voting >= 10


def random_signature(rng: np.random.Generator, duration: float) -> VideoSignature:
    count = len(sample_times(duration, grid_step(duration))[0])
    values = rng.integers(0, 2**64, size=(count, 2), dtype=np.uint64)
    return VideoSignature(duration, tuple((int(d), int(p)) for d, p in values.tolist()))


def flipped(signature_: VideoSignature, rng: np.random.Generator, bits: int) -> VideoSignature:
    def flip(value: int) -> int:
        for bit in rng.choice(64, size=bits, replace=False).tolist():
            value ^= 1 << bit
        return value

    return VideoSignature(signature_.duration, tuple(h and (flip(h[0]), flip(h[1])) for h in signature_.hashes))


def test_video_pairs_is_the_same_with_the_frame_index(monkeypatch):
    rng = np.random.default_rng(7)
    library = [(f"v{k}", random_signature(rng, float(rng.uniform(5, 40)))) for k in range(150)]
    library += [(f"{key}-copy", flipped(s, rng, 3)) for key, s in library[:40]]
    monkeypatch.setattr(videohash, "MIH_FROM_FRAMES", 10**9)
    by_window = video_pairs(library, radius=DEFAULT_THRESHOLD)
    monkeypatch.setattr(videohash, "MIH_FROM_FRAMES", 0)
    by_index = video_pairs(library, radius=DEFAULT_THRESHOLD)
    assert by_window == by_index
    assert {(a, b) for a, b, _ in by_window} == {(f"v{k}", f"v{k}-copy") for k in range(40)}
