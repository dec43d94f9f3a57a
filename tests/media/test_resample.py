"""resample: Pillow's resize and grayscale conversion re-done in torch give Pillow's bytes, so the GPU path's
hashes and thumbnails equal the CPU engine's."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from catalog.media import resample
from catalog.media.gpu import TorchEngine
from catalog.media.thumbnails import CHAIN_REDUCING_GAP, chain_plan, shrink_chain

torch = pytest.importorskip("torch")

BILINEAR, LANCZOS = Image.Resampling.BILINEAR, Image.Resampling.LANCZOS
BATCH = 3


def smooth(rng: np.random.Generator, width: int, height: int, channels: int) -> np.ndarray:
    """A sky-like picture: gradients and waves, a different phase per picture and channel."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    planes = []
    for _ in range(channels):
        phase, slope = rng.uniform(0, 6), rng.uniform(0.5, 2)
        wave = np.sin(x / max(width, 1) * 7 * slope + phase) * np.cos(y / max(height, 1) * 5 + phase)
        ramp = (x / max(width - 1, 1) + y / max(height - 1, 1)) / 2
        planes.append(np.clip((wave * 0.35 + ramp * 0.65) * 255, 0, 255))
    return np.stack(planes, axis=-1).round().astype(np.uint8)


def noisy(rng: np.random.Generator, width: int, height: int, channels: int) -> np.ndarray:
    """Full-range noise with black and white specks: every tap of the filter matters, and clipping happens
    (LANCZOS's negative lobes overshoot 0..255 next to a speck)."""
    pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    specks = rng.random((height, width)) < 0.05
    pixels[specks] = rng.choice(np.array([0, 255], dtype=np.uint8), size=(int(specks.sum()), 1))
    return pixels


CONTENT = {"smooth": smooth, "noisy": noisy}


def batch_of(content: str, mode: str, size: tuple[int, int], seed: int) -> np.ndarray:
    """(N, H, W, C) uint8: BATCH different pictures of one size."""
    rng = np.random.default_rng(seed)
    channels = 1 if mode == "L" else 3
    return np.stack([CONTENT[content](rng, *size, channels) for _ in range(BATCH)])


def as_image(frame: np.ndarray) -> Image.Image:
    return Image.fromarray(frame[..., 0] if frame.shape[-1] == 1 else frame)


def as_array(image: Image.Image) -> np.ndarray:
    array = np.asarray(image)
    return array[..., None] if array.ndim == 2 else array


def to_tensor(frames: np.ndarray):
    return torch.from_numpy(frames).permute(0, 3, 1, 2).contiguous()


def from_tensor(pixels) -> np.ndarray:
    return pixels.permute(0, 2, 3, 1).numpy()


def pillow_resize(frames: np.ndarray, size: tuple[int, int], method: int) -> np.ndarray:
    return np.stack([as_array(as_image(frame).resize(size, method)) for frame in frames])


def torch_resize(frames: np.ndarray, size: tuple[int, int], method: int) -> np.ndarray:
    out = resample.resize(to_tensor(frames), size, method)
    assert out.dtype == torch.uint8
    return from_tensor(out)


def vertical_first(source: tuple[int, int], target: tuple[int, int]) -> bool:
    """Pillow 13's order of the passes: vertical first when it drops more than twice as many rows as columns."""
    rows_dropped, columns_dropped = source[1] - target[1], source[0] - target[0]
    return rows_dropped > 0 and rows_dropped > 2 * columns_dropped


# (source, target), both (width, height).
SIZE_PAIRS = [
    # down: the hash sizes from a hash basis, thumbnail steps, odd ratios
    ((256, 192), (9, 8)),
    ((192, 256), (8, 9)),
    ((256, 171), (32, 32)),
    ((256, 192), (17, 16)),
    ((171, 256), (64, 64)),
    ((500, 375), (256, 192)),
    ((997, 661), (512, 339)),
    ((123, 77), (61, 38)),
    # up
    ((9, 8), (40, 33)),
    ((31, 17), (64, 64)),
    ((5, 3), (256, 171)),
    # mixed: one axis up, the other down
    ((100, 20), (130, 10)),
    ((20, 100), (10, 130)),
    ((48, 64), (9, 80)),
    # tall and thin: Pillow runs the vertical pass first
    ((40, 900), (30, 100)),
    ((12, 700), (9, 8)),
    ((64, 480), (64, 60)),
    # just either side of the vertical-first rule (rows dropped = 2 x columns dropped, and one more)
    ((100, 100), (80, 60)),
    ((100, 100), (80, 59)),
    ((101, 90), (100, 87)),
    ((101, 90), (100, 88)),
    # one-pixel outputs and inputs
    ((50, 40), (1, 1)),
    ((50, 40), (1, 40)),
    ((50, 40), (50, 1)),
    ((1, 1), (5, 3)),
    ((1, 30), (1, 7)),
    ((30, 1), (9, 8)),
    # one axis the same size, and both
    ((64, 48), (64, 20)),
    ((64, 48), (20, 48)),
    ((64, 48), (64, 48)),
]


def pair_id(pair: tuple[tuple[int, int], tuple[int, int]]) -> str:
    (w, h), (tw, th) = pair
    return f"{w}x{h}-{tw}x{th}"


@pytest.mark.parametrize("method", [BILINEAR, LANCZOS], ids=["bilinear", "lanczos"])
@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("content", sorted(CONTENT))
@pytest.mark.parametrize("pair", SIZE_PAIRS, ids=pair_id)
def test_resize_equals_pillow_byte_for_byte(pair, content: str, mode: str, method: int) -> None:
    source, target = pair
    frames = batch_of(content, mode, source, seed=sum(source) * 31 + sum(target))
    expected = pillow_resize(frames, target, method)
    got = torch_resize(frames, target, method)
    assert got.shape == expected.shape == (BATCH, target[1], target[0], frames.shape[-1])
    mismatched = int((got != expected).sum())
    assert mismatched == 0, f"{mismatched} of {got.size} bytes differ from Pillow's"


@pytest.mark.parametrize("method", [BILINEAR, LANCZOS], ids=["bilinear", "lanczos"])
@pytest.mark.parametrize(
    "pair",
    [pair for pair in SIZE_PAIRS if vertical_first(*pair) and pair[0][0] != pair[1][0]],
    ids=pair_id,
)
def test_the_order_of_the_passes_matters_where_pillow_goes_vertical_first(pair, method: int) -> None:
    """The bytes above depend on the order: horizontal first would give other bytes on these sizes (so the
    comparison above does check the vertical-first rule)."""
    source, target = pair
    frames = batch_of("noisy", "RGB", source, seed=7)
    across = resample.resize(to_tensor(frames), (target[0], source[1]), method)  # the horizontal pass alone
    horizontal_then_vertical = from_tensor(resample.resize(across, target, method))
    assert not np.array_equal(horizontal_then_vertical, pillow_resize(frames, target, method))


def test_a_batch_resizes_each_picture_as_alone() -> None:
    frames = np.concatenate([batch_of("noisy", "RGB", (83, 57), seed=1), batch_of("smooth", "RGB", (83, 57), seed=2)])
    together = torch_resize(frames, (32, 32), LANCZOS)
    for index, frame in enumerate(frames):
        assert np.array_equal(together[index], torch_resize(frame[None], (32, 32), LANCZOS)[0])
    assert len({together[index].tobytes() for index in range(len(frames))}) == len(frames)


@pytest.mark.parametrize("content", sorted(CONTENT))
def test_to_gray_equals_pillow_convert_l(content: str) -> None:
    frames = batch_of(content, "RGB", (97, 61), seed=3)
    frames[0, 0, :4] = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0)]  # the corners of the colour cube
    frames[0, 1, :4] = [(0, 0, 255), (255, 255, 0), (1, 2, 3), (254, 253, 252)]
    gray = resample.to_gray(to_tensor(frames))
    assert gray.shape == (BATCH, 1, 61, 97) and gray.dtype == torch.uint8
    expected = np.stack([np.asarray(Image.fromarray(frame).convert("L")) for frame in frames])
    assert np.array_equal(gray[:, 0].numpy(), expected)


def test_to_gray_of_every_value_of_each_channel_equals_pillow() -> None:
    """All 256 levels of each primary and of gray: the fixed-point rounding of every weight is exercised."""
    levels = np.arange(256, dtype=np.uint8)
    zeros = np.zeros(256, dtype=np.uint8)
    rows = [np.stack([levels, zeros, zeros], -1), np.stack([zeros, levels, zeros], -1)]
    rows += [np.stack([zeros, zeros, levels], -1), np.stack([levels, levels, levels], -1)]
    rows += [np.stack([levels, levels[::-1], (levels.astype(np.int64) * 7 % 256).astype(np.uint8)], -1)]
    picture = np.stack(rows)  # (5, 256, 3)
    gray = resample.to_gray(to_tensor(picture[None]))[0, 0].numpy()
    assert np.array_equal(gray, np.asarray(Image.fromarray(picture).convert("L")))


def test_to_gray_keeps_a_grayscale_batch() -> None:
    frames = to_tensor(batch_of("noisy", "L", (20, 10), seed=4))
    assert torch.equal(resample.to_gray(frames), frames)


# (source, target) around Pillow's reducing gap of 2: it reduces first from a ratio of 4 on either axis.
REDUCING_PAIRS = [
    ((1024, 768), (256, 192)),  # exactly 4: reduces
    ((1023, 767), (256, 192)),  # just under 4: plain resize
    ((1000, 100), (250, 99)),  # 4 across only
    ((100, 1000), (99, 250)),  # 4 down only
    ((2048, 1536), (256, 192)),  # 8
    ((600, 400), (512, 341)),
    ((512, 341), (256, 171)),
    ((256, 171), (64, 43)),
    ((257, 172), (64, 43)),
    ((255, 170), (64, 43)),
]


@pytest.mark.parametrize("pair", REDUCING_PAIRS, ids=pair_id)
def test_reduces_first_says_when_pillow_reduces(pair) -> None:
    """Where ``reduces_first`` says no, Pillow's resize with the chain's reducing gap is a plain resize (which
    the torch resize equals); where it says yes, Pillow's reduce step changes the bytes."""
    source, target = pair
    frames = batch_of("noisy", "RGB", source, seed=5)
    with_gap = np.stack(
        [np.asarray(Image.fromarray(f).resize(target, BILINEAR, reducing_gap=CHAIN_REDUCING_GAP)) for f in frames]
    )
    plain = pillow_resize(frames, target, BILINEAR)
    reduces = resample.reduces_first(source, target, CHAIN_REDUCING_GAP)
    assert reduces == (max(source[0] / target[0], source[1] / target[1]) >= 2 * CHAIN_REDUCING_GAP)
    if reduces:
        assert not np.array_equal(with_gap, plain)
    else:
        assert np.array_equal(with_gap, plain)
        assert np.array_equal(torch_resize(frames, target, BILINEAR), with_gap)


@pytest.mark.parametrize(
    ("source", "sizes"),
    [
        ((600, 400), (512, 256)),
        ((500, 375), (512, 256)),  # already fits 512: kept as it is
        ((1000, 750), (512, 256, 64)),  # 256 -> 64 is a ratio of 4: Pillow reduces first
        ((2000, 1500), (256, 32)),
        ((376, 500), (256, 128)),  # portrait
        ((4000, 30), (512, 256)),  # a panorama strip, one row at 256
        ((64, 48), (512, 256)),  # smaller than every size
    ],
)
def test_the_engine_shrink_chain_equals_pillow_shrink_chain(source: tuple[int, int], sizes: tuple[int, ...]) -> None:
    """The engine's shrinks along ``chain_plan`` (torch, or Pillow where Pillow would reduce first) give the
    thumbnails and hash basis of ``shrink_chain``, byte for byte."""
    engine = TorchEngine("cpu", "draft", threads=1)
    frames = batch_of("smooth", "RGB", source, seed=6)
    frames[:, ::5, ::3] = 255 - frames[:, ::5, ::3]  # detail that the bilinear steps must carry exactly
    expected = [[(size, np.asarray(image)) for size, image in shrink_chain(Image.fromarray(f), sizes)] for f in frames]
    current = to_tensor(frames)
    got = []
    for size, target in chain_plan(*source, sizes):
        if target is not None:
            current = engine._shrink(current, target)
        got.append((size, from_tensor(current)))
    assert [size for size, _ in got] == [size for size, _ in expected[0]] == sorted(sizes, reverse=True)
    for step, (size, pixels) in enumerate(got):
        for index in range(BATCH):
            assert expected[index][step][0] == size
            assert np.array_equal(pixels[index], expected[index][step][1]), f"size {size}, picture {index}"
