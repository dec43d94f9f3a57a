"""The GPU path's ``TorchEngine`` (run here on torch's CPU): the CPU engine's results and thumbnails, bit for bit
with Pillow's DCT-scaled decode, within a bit or two of its hashes with a full-size decode, and every picture it
does not take itself analyzed exactly as the CPU engine does."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from PIL import Image, ImageChops, ImageDraw

from catalog.media import device, gpu
from catalog.media.analyze import AnalyzeOptions, FileAnalysis, Problem, analyze_file
from catalog.media.gpu import TorchEngine, orient
from catalog.media.pool import analyze_many
from catalog.media.thumbnails import thumbnail_path
from catalog.media.walk import WalkEntry, walk_media

torch = pytest.importorskip("torch")

WORKERS = 2
WHITE = (255, 255, 255)
# The transform that turns the upright picture into what a camera stores with the given Orientation tag.
STORED = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90, 8: Image.Transpose.ROTATE_270}


def photo(seed: int, width: int, height: int, mark: bool = False) -> Image.Image:
    """Photo-like: smooth gradients and waves, sharp-edged shapes, film grain; all darker than 210, so only the
    ``mark`` (a white block in the top-left corner) is white."""
    rng = np.random.default_rng(seed)
    small = (max(8, width // 16), max(8, height // 16))
    y, x = np.mgrid[0 : small[1], 0 : small[0]] / np.array([small[1], small[0]])[:, None, None]
    planes = []
    for _ in range(3):
        a, b, phase = rng.uniform(1, 4, 3)
        planes.append(70 + 60 * (a * x + b * y) / (a + b) + 35 * np.sin(6 * a * x + phase) * np.cos(4 * b * y))
    sky = np.clip(np.stack(planes, -1), 0, 255).astype(np.uint8)
    image = Image.fromarray(sky).resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    for _ in range(14):
        x0, y0 = rng.uniform(-0.1, 0.9, 2) * (width, height)
        x1, y1 = (x0, y0) + rng.uniform(0.05, 0.35, 2) * (width, height)
        colour = tuple(int(v) for v in rng.integers(40, 191, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    tile = Image.fromarray(rng.integers(0, 21, (min(height, 128), min(width, 128), 3), dtype=np.uint8))
    grain = Image.new("RGB", (width, height))
    for top in range(0, height, tile.height):
        for left in range(0, width, tile.width):
            grain.paste(tile, (left, top))
    image = ImageChops.add(image, grain, offset=-10)  # grain of -10..+10
    if mark:
        ImageDraw.Draw(image).rectangle((0, 0, width // 4 - 1, height // 4 - 1), fill=WHITE)
    return image


def jpeg_bytes(image: Image.Image, **save) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=88, **save)
    return buffer.getvalue()


def orientation_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "TestCam"
    return exif.tobytes()


# Plain JPEGs that the engine decodes itself. 4000x3000 decodes at 1/8 (500 px, within DRAFT_SLACK of 512),
# 1600x1200 at 1/2, 1200x800 at 1/2, 600x400 and 64x48 at full size.
PHOTO_SIZES = {
    "p4000x3000.jpg": (4000, 3000),
    "p3000x4000.jpg": (3000, 4000),
    "p2000x1500.jpg": (2000, 1500),
    "p1600x1200.jpg": (1600, 1200),
    "p1200x800.jpg": (1200, 800),
    "p1024x768.jpg": (1024, 768),
    "p600x400.jpg": (600, 400),
    "p64x48.jpg": (64, 48),
}
ORIENTED = {f"o{orientation}.jpg": orientation for orientation in STORED}
OTHER_PLAIN = ["gray.jpg", "progressive.jpg", "zero-padded.jpg"]
PHOTO_LIKE = [*PHOTO_SIZES, *ORIENTED, *OTHER_PLAIN]
# Deferred (a plain JPEG by its header and its end) but its picture data is broken: the device decoder refuses it.
BROKEN = "broken-huffman.jpg"
# Left to the CPU engine by the pool itself.
NOT_DEFERRED = ["cmyk.jpg", "truncated.jpg", "trailing.jpg", "picture.png", "corrupt.jpg"]


def build_photos(folder: Path) -> None:
    folder.mkdir(parents=True)
    for seed, (name, (width, height)) in enumerate(PHOTO_SIZES.items()):
        (folder / name).write_bytes(jpeg_bytes(photo(seed, width, height)))
    for name, orientation in ORIENTED.items():
        stored = photo(20 + orientation, 1600, 1200, mark=True).transpose(STORED[orientation])
        (folder / name).write_bytes(jpeg_bytes(stored, exif=orientation_exif(orientation)))
    (folder / "gray.jpg").write_bytes(jpeg_bytes(photo(30, 1200, 900).convert("L")))
    (folder / "progressive.jpg").write_bytes(jpeg_bytes(photo(31, 1600, 1200), progressive=True))
    (folder / "zero-padded.jpg").write_bytes(jpeg_bytes(photo(32, 800, 600)) + bytes(4096))  # some cameras pad
    broken = bytearray(jpeg_bytes(photo(33, 800, 600)))
    table = broken.index(b"\xff\xc4")
    broken[table + 5 : table + 21] = b"\xff" * 16  # a Huffman table of 4080 codes: libjpeg refuses to decode
    (folder / BROKEN).write_bytes(bytes(broken))
    (folder / "cmyk.jpg").write_bytes(jpeg_bytes(photo(34, 800, 600).convert("CMYK")))
    whole = jpeg_bytes(photo(35, 1200, 800))
    (folder / "truncated.jpg").write_bytes(whole[: len(whole) * 6 // 10])
    (folder / "trailing.jpg").write_bytes(jpeg_bytes(photo(36, 600, 400)) + b"data after the picture " * 40)
    photo(37, 300, 200).save(folder / "picture.png")
    (folder / "corrupt.jpg").write_bytes(np.random.default_rng(38).integers(0, 256, 5000, dtype=np.uint8).tobytes())


def pool_watched(seen: Callable[[FileAnalysis], None]):
    """The engine's process pool (``analyze_many``), with ``seen`` called on each result as the pool hands it
    over, before the engine reads the file again."""

    def pool(entries, options, known, workers):
        results = analyze_many(entries, options, known, workers)
        try:
            for result in results:
                seen(result)
                yield result
        finally:
            results.close()

    return pool


class Run(NamedTuple):
    engine: TorchEngine
    results: dict[str, FileAnalysis]
    deferred: list[str]  # the files the pool left to the engine


def by_name(results) -> dict[str, FileAnalysis]:
    return {Path(result.path).name: result for result in results}


def fields(result: FileAnalysis) -> dict:
    """Every field of a result the catalog stores. ``thumbnails`` is compared as a set: the engine writes the
    thumbnails of a picture on several threads, so the order in which they are listed can differ."""
    values = {name: value for name, value in vars(result).items() if name != "deferred"}
    values["thumbnails"] = sorted(values["thumbnails"])
    return values


def thumbnail_files(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def bytes_distance(a: bytes, b: bytes) -> int:
    return sum((x ^ y).bit_count() for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("engine") / "photos"
    build_photos(folder)
    return folder


@pytest.fixture(scope="module")
def entries(photos: Path) -> list[WalkEntry]:
    found = list(walk_media([str(photos)]))
    assert len(found) == len(PHOTO_LIKE) + 1 + len(NOT_DEFERRED)
    return found


def run(engine, entries: list[WalkEntry], root: Path) -> dict[str, FileAnalysis]:
    return by_name(engine(entries, AnalyzeOptions(thumbnails_root=str(root)), {}, WORKERS))


@pytest.fixture(scope="module")
def cpu(entries: list[WalkEntry], photos: Path) -> dict[str, FileAnalysis]:
    return run(analyze_many, entries, photos.parent / "thumbs-cpu")


def engine_run(decoder: str, entries: list[WalkEntry], root: Path) -> Run:
    engine = TorchEngine("cpu", decoder)
    deferred: list[str] = []

    def note(result: FileAnalysis) -> None:
        if result.deferred:
            deferred.append(Path(result.path).name)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gpu, "analyze_many", pool_watched(note))
        results = run(engine, entries, root)
    return Run(engine, results, deferred)


@pytest.fixture(scope="module")
def draft(entries: list[WalkEntry], photos: Path) -> Run:
    return engine_run("draft", entries, photos.parent / "thumbs-draft")


@pytest.fixture(scope="module")
def full_size(entries: list[WalkEntry], photos: Path) -> Run:
    return engine_run("device", entries, photos.parent / "thumbs-device")


# The draft decoder: the CPU engine's own pixels ------------------------------------------------------------------


def test_draft_decoder_results_equal_the_cpu_engine_field_for_field(cpu, draft) -> None:
    engine, results = draft.engine, draft.results
    assert sorted(results) == sorted(cpu)
    assert (results["p4000x3000.jpg"].width, results["p4000x3000.jpg"].height) == (4000, 3000)
    for name, result in results.items():
        assert not result.deferred, name
        assert fields(result) == fields(cpu[name]), name
    photographs = [results[name] for name in PHOTO_LIKE]
    assert all(result.dhash is not None and result.fine_hash and result.hash_variants for result in photographs)
    assert all(sorted(result.thumbnails) == [256, 512] for result in photographs)
    assert len({result.dhash for result in photographs}) == len(photographs)  # real, different pictures
    assert engine.fell_back == 0


def test_draft_decoder_thumbnails_are_byte_identical(cpu, draft, photos: Path) -> None:
    expected = thumbnail_files(photos.parent / "thumbs-cpu")
    got = thumbnail_files(photos.parent / "thumbs-draft")
    # Every picture with pixels: the photo-like ones, CMYK, trailing data and the PNG.
    assert len(expected) == 2 * (len(PHOTO_LIKE) + 3)
    assert sorted(got) == sorted(expected)
    differing = [name for name in expected if got[name] != expected[name]]
    assert differing == []


def test_the_engine_decodes_the_plain_jpegs_and_leaves_the_rest_to_the_pool(draft, full_size) -> None:
    for observed in (draft, full_size):
        assert sorted(observed.deferred) == sorted([*PHOTO_LIKE, BROKEN])


# The device decoder: a full-size decode shrunk on the device ------------------------------------------------------


def test_device_decoder_hashes_are_within_a_bit_or_two_of_the_cpu_engine(cpu, full_size) -> None:
    results = full_size.results
    dhash = [distance(results[name].dhash, cpu[name].dhash) for name in PHOTO_LIKE]
    phash = [distance(results[name].phash, cpu[name].phash) for name in PHOTO_LIKE]
    fine_d = [bytes_distance(results[name].fine_hash[:32], cpu[name].fine_hash[:32]) for name in PHOTO_LIKE]
    fine_p = [bytes_distance(results[name].fine_hash[32:], cpu[name].fine_hash[32:]) for name in PHOTO_LIKE]
    # Measured on these 14 pictures (torch 2.13 CPU, Pillow 13, no torchvision, so Pillow's full-size decode):
    # 64-bit dHash max 0, mean 0; pHash max 2, mean 0.14; 256-bit dHash max 10, mean 2.2; 256-bit pHash max 2,
    # mean 0.9. Unrelated pictures are ~32 (of 64) and ~128 (of 256) bits apart.
    assert np.mean(dhash) <= 1 and max(dhash) <= 4, dhash
    assert np.mean(phash) <= 1 and max(phash) <= 4, phash
    assert np.mean(fine_d) <= 4 and max(fine_d) <= 16, fine_d
    assert np.mean(fine_p) <= 4 and max(fine_p) <= 16, fine_p


def test_device_decoder_keeps_everything_but_the_pixels_of_the_cpu_engine(cpu, full_size) -> None:
    results = full_size.results
    pixel_fields = {"dhash", "phash", "fine_hash", "hash_variants"}
    for name in PHOTO_LIKE:
        got = {key: value for key, value in fields(results[name]).items() if key not in pixel_fields}
        expected = {key: value for key, value in fields(cpu[name]).items() if key not in pixel_fields}
        assert got == expected, name


def test_device_decoder_thumbnails_have_the_cpu_engine_sizes(cpu, full_size, photos: Path) -> None:
    for name in PHOTO_LIKE:
        for size in (256, 512):
            expected = Image.open(thumbnail_path(photos.parent / "thumbs-cpu", size, cpu[name].sha256))
            got = Image.open(thumbnail_path(photos.parent / "thumbs-device", size, cpu[name].sha256))
            assert got.size == expected.size, (name, size)


@pytest.mark.parametrize("name", list(ORIENTED))
def test_device_decoder_thumbnails_are_upright(cpu, full_size, photos: Path, name: str) -> None:
    results = full_size.results
    assert (results[name].width, results[name].height) == (1600, 1200)
    for size in (256, 512):
        with Image.open(thumbnail_path(photos.parent / "thumbs-device", size, results[name].sha256)) as thumbnail:
            image = thumbnail.convert("RGB")
        assert image.size == (size, size * 3 // 4)
        width, height = image.size
        corners = {
            "top-left": (3, 3),
            "top-right": (width - 4, 3),
            "bottom-left": (3, height - 4),
            "bottom-right": (width - 4, height - 4),
        }
        pixels = np.asarray(image)
        white = {corner: bool(pixels[y, x].min() > 235) for corner, (x, y) in corners.items()}
        assert white == {"top-left": True, "top-right": False, "bottom-left": False, "bottom-right": False}, size


@pytest.mark.parametrize("name", NOT_DEFERRED)
def test_pictures_the_pool_keeps_get_the_cpu_engine_result(cpu, full_size, photos: Path, name: str) -> None:
    results = full_size.results
    assert fields(results[name]) == fields(cpu[name])
    for size in results[name].thumbnails:
        device_thumbnail = thumbnail_path(photos.parent / "thumbs-device", size, results[name].sha256)
        cpu_thumbnail = thumbnail_path(photos.parent / "thumbs-cpu", size, cpu[name].sha256)
        assert device_thumbnail.read_bytes() == cpu_thumbnail.read_bytes()


def test_the_problems_of_the_pictures_the_pool_keeps_are_the_cpu_engine_problems(full_size) -> None:
    results = full_size.results
    assert results["truncated.jpg"].problem_kind == Problem.TRUNCATED
    assert results["truncated.jpg"].dhash is None and results["truncated.jpg"].width == 1200
    assert results["corrupt.jpg"].problem_kind == Problem.UNSUPPORTED
    for name in ("cmyk.jpg", "trailing.jpg", "picture.png"):
        assert results[name].problem_kind == "" and results[name].dhash is not None, name


def test_a_jpeg_the_device_decoder_refuses_is_finished_on_the_cpu(cpu, full_size) -> None:
    engine, results = full_size.engine, full_size.results
    assert engine.fell_back == 1
    assert cpu[BROKEN].problem_kind == Problem.CORRUPT and "broken data stream" in cpu[BROKEN].problem_message
    assert fields(results[BROKEN]) == fields(cpu[BROKEN])


# A run's edges -----------------------------------------------------------------------------------------------------


def test_a_file_changed_after_the_pool_read_it_is_analyzed_anew(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg_bytes(photo(40, 640, 480)))
    (folder / "b.jpg").write_bytes(jpeg_bytes(photo(41, 640, 480)))
    new_content = jpeg_bytes(photo(42, 900, 600))
    entries = list(walk_media([str(folder)]))
    old_sha256 = hashlib.sha256((folder / "a.jpg").read_bytes()).hexdigest()

    def edit(result: FileAnalysis) -> None:
        if Path(result.path).name == "a.jpg":
            assert result.deferred and result.sha256 == old_sha256
            Path(result.path).write_bytes(new_content)  # edited between the pool's read and the engine's

    monkeypatch.setattr(gpu, "analyze_many", pool_watched(edit))
    root = tmp_path / "thumbs"
    results = by_name(TorchEngine("cpu", "draft")(entries, AnalyzeOptions(thumbnails_root=str(root)), {}, WORKERS))

    (tmp_path / "copy.jpg").write_bytes(new_content)
    expected = analyze_file(str(tmp_path / "copy.jpg"), AnalyzeOptions(thumbnails_root=str(tmp_path / "copies")))
    edited = results["a.jpg"]
    assert edited.sha256 == hashlib.sha256(new_content).hexdigest() != old_sha256
    assert (edited.size, edited.mtime_ns) == (len(new_content), (folder / "a.jpg").stat().st_mtime_ns)
    assert (edited.width, edited.height) == (900, 600)
    assert (edited.dhash, edited.phash, edited.fine_hash) == (expected.dhash, expected.phash, expected.fine_hash)
    assert not edited.deferred and edited.problem_kind == ""
    assert thumbnail_path(root, 512, edited.sha256).is_file()
    assert not thumbnail_path(root, 512, old_sha256).exists()
    assert results["b.jpg"].sha256 == hashlib.sha256((folder / "b.jpg").read_bytes()).hexdigest()


def engine_threads() -> list[str]:
    return [thread.name for thread in threading.enumerate() if thread.name.startswith("vam-gpu")]


def test_closing_the_engine_early_stops_its_threads_and_pool(tmp_path: Path) -> None:
    """A cancelled job closes the engine's generator: its prefetch thread, its thread pool and the process pool
    the prefetch thread runs must all be gone, not left reading the rest of the library."""
    folder = tmp_path / "photos"
    folder.mkdir()
    # More files than the prefetch queue holds (4 x 64): the pool is still at work when the first result comes.
    for index in range(320):
        (folder / f"IMG_{index:04d}.jpg").write_bytes(jpeg_bytes(photo(100 + index, 64, 48)))
    entries = list(walk_media([str(folder)]))
    engine = TorchEngine("cpu", "draft", batch=2)
    results = engine(entries, AnalyzeOptions(thumbnails_root=str(tmp_path / "thumbs")), {}, WORKERS)

    first = next(results)
    assert first.sha256 and first.dhash is not None and not first.deferred
    assert "vam-gpu-prefetch" in engine_threads()
    assert multiprocessing.active_children()  # the pool's workers
    results.close()

    deadline = time.monotonic() + 10
    while (engine_threads() or multiprocessing.active_children()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert engine_threads() == []
    assert multiprocessing.active_children() == []
    assert len(list((tmp_path / "thumbs").rglob("*.webp"))) < 2 * len(entries)  # it stopped before the end


# orient and resolve ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("transform", list(Image.Transpose), ids=lambda transform: transform.name)
def test_orient_equals_pillow_transpose(transform: Image.Transpose) -> None:
    pixels = np.random.default_rng(int(transform)).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = torch.from_numpy(pixels).permute(2, 0, 1)
    turned = orient(tensor, transform).permute(1, 2, 0).numpy()
    assert np.array_equal(turned, np.asarray(Image.fromarray(pixels).transpose(transform)))


def test_orient_without_a_transform_keeps_the_picture() -> None:
    tensor = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)
    assert torch.equal(orient(tensor, None), tensor)


@pytest.fixture
def fresh_resolve():
    device.resolve.cache_clear()
    yield device.resolve
    device.resolve.cache_clear()


def test_resolve_cpu_and_auto(fresh_resolve) -> None:
    assert fresh_resolve("cpu") == "cpu"
    assert fresh_resolve(" CPU ") == "cpu"
    assert fresh_resolve("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert fresh_resolve("") == fresh_resolve("auto")


def test_resolve_auto_takes_a_gpu_torch_sees(fresh_resolve, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert fresh_resolve("auto") == "cuda"
    assert fresh_resolve("cuda") == "cuda"
    assert fresh_resolve("cpu") == "cpu"


def test_resolve_cuda_without_a_gpu_is_an_error(fresh_resolve, monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(device.DeviceError, match="no CUDA device"):
        fresh_resolve("cuda")
    assert device.has_gpu("cuda") is False


@pytest.mark.parametrize("name", ["gpu", "cuda:0", "mps"])
def test_resolve_an_unknown_name_is_an_error(fresh_resolve, name: str) -> None:
    with pytest.raises(device.DeviceError, match="must be one of auto, cpu, cuda"):
        fresh_resolve(name)


# Failures on the device, and limits ------------------------------------------------------------------------------


def test_a_batch_the_device_runs_out_of_memory_on_is_finished_on_the_cpu(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(jpeg_bytes(photo(50, 1600, 1200)))
    (folder / "b.jpg").write_bytes(jpeg_bytes(photo(51, 1200, 800)))
    entries = list(walk_media([str(folder)]))
    expected = run(analyze_many, entries, tmp_path / "thumbs-cpu")
    calls = []
    hash_on_device = TorchEngine._hash

    def out_of_memory_on_the_second_group(engine, results, basis) -> None:
        calls.append(len(results))
        if len(calls) == 2:  # after the first group's thumbnails were handed to the threads
            raise torch.OutOfMemoryError("CUDA out of memory")
        hash_on_device(engine, results, basis)

    monkeypatch.setattr(TorchEngine, "_hash", out_of_memory_on_the_second_group)
    engine = TorchEngine("cpu", "draft")
    results = run(engine, entries, tmp_path / "thumbs")

    assert engine.fell_back == 2
    for name in ("a.jpg", "b.jpg"):
        assert fields(results[name]) == fields(expected[name])
        assert results[name].thumbnails == [512, 256]  # also the sizes the device wrote before it failed


def test_pictures_up_to_the_configured_pixel_limit_are_decoded(tmp_path: Path) -> None:
    # A header saying 15000x12000 (180 MP): above Pillow's own default limit, within VAM's (2 x 120 MP).
    data = bytearray(jpeg_bytes(photo(52, 64, 48)))
    start = data.index(b"\xff\xc0") + 5
    data[start : start + 4] = (12000).to_bytes(2, "big") + (15000).to_bytes(2, "big")
    path = tmp_path / "huge.jpg"
    path.write_bytes(bytes(data))
    entries = list(walk_media([str(tmp_path)]))
    expected = run(analyze_many, entries, tmp_path / "thumbs-cpu")["huge.jpg"]

    for decoder in ("draft", "device"):
        result = run(TorchEngine("cpu", decoder), entries, tmp_path / f"thumbs-{decoder}")["huge.jpg"]
        assert (result.problem_kind, result.width, result.height) == (expected.problem_kind, 15000, 12000)
        assert result.problem_message == expected.problem_message


def test_hashes_without_thumbnails_equal_those_of_a_default_run(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(photo(53, 900, 600)))
    default = analyze_file(str(path), AnalyzeOptions(thumbnails_root=str(tmp_path / "thumbs")))
    bare = analyze_file(str(path), AnalyzeOptions())
    assert (bare.dhash, bare.phash, bare.fine_hash, bare.hash_variants) == (
        default.dhash, default.phash, default.fine_hash, default.hash_variants)  # fmt: skip
