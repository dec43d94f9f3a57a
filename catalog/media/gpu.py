"""The GPU path of analysis: plain JPEGs decoded, shrunk and hashed with torch, everything else as on the CPU.

``TorchEngine`` has the signature of ``pool.analyze_many`` (the engine ``analyze_entries`` runs), so a GPU worker
analyzes a batch the way a CPU worker does and stores the same fields. The work is split where it is fastest:

- The process pool (``analyze_many`` with ``defer_pixels``) reads every file, takes its sha256 and metadata
  (ExifTool included), and analyzes whatever is not a plain JPEG completely, with the pool's containment of
  crashing and stuck decoders. For a plain JPEG it stops before the pixels.
- Threads of this process read those JPEGs again (from the page cache; the sha256 is checked, so a file that
  changed meanwhile is analyzed anew), and decode them. ``decoder="device"`` decodes on the device (nvjpeg through
  torchvision on a GPU) at full size and shrinks by the factor the CPU engine's DCT scaling would take;
  ``decoder="draft"`` decodes with Pillow's DCT scaling on the threads, the CPU engine's own pixels.
- On the device, in batches of equally sized pictures: the EXIF orientation, the chain of bilinear shrinks to the
  thumbnail sizes and the hash basis, the grayscale conversion and the LANCZOS resizes the hashes are made from,
  all bit for bit Pillow's arithmetic (``resample``). The hash bits are then set on the CPU by the same code as
  the CPU engine's (``hashing.picture_hashes``: a few hundred numbers per picture), and the thumbnails are
  encoded on the threads.

So with the ``draft`` decoder the results equal the CPU engine's bit for bit; with the ``device`` decoder only
the decode differs (a full-size IDCT box-shrunk instead of a scaled IDCT), which moves a hash by a bit or two
(``bench/gpu.py`` measures it). A picture the device cannot decode, or a batch that fails on the device (out of
memory), is finished on the CPU exactly as the CPU engine would.

torch is imported only when an engine is made: nothing else of the media core needs it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import queue
import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from . import resample
from .analyze import (
    HASH_BASIS,
    TRANSPOSE,
    AnalyzeOptions,
    FileAnalysis,
    Problem,
    analyze_file,
    chain_sizes,
    contained,
    decode_and_derive,
    decode_upright,
    draft_scale,
    open_image,
    store_hashes,
    store_thumbnail,
    thumbnail_sizes,
)
from .hashing import HASH_SIZES
from .pool import analyze_many
from .thumbnails import CHAIN_REDUCING_GAP, chain_plan, displayable
from .walk import WalkEntry

logger = logging.getLogger(__name__)

BATCH = 64  # JPEGs decoded and shrunk together
BATCH_PIXELS = 800_000_000  # and at most this many pixels of them: 2.4 GB decoded on the device
DECODERS = ("auto", "device", "draft")


def torchvision_decoder() -> Callable | None:
    """torchvision's ``decode_jpeg`` (nvjpeg on a GPU), or None where torchvision is not installed."""
    try:
        from torchvision.io import ImageReadMode, decode_jpeg
    except (ImportError, RuntimeError):  # missing, or built for another torch ("operator ... does not exist")
        return None
    return lambda data, device: decode_jpeg(data, mode=ImageReadMode.RGB, device=device)


class TorchEngine:
    """Analyze files like ``pool.analyze_many``, with the pixels of plain JPEGs on a torch ``device``.

    ``decoder``: "device" (decode on the device; torchvision's, or Pillow's full-size decode where torchvision
    is missing), "draft" (Pillow's DCT-scaled decode, the CPU engine's pixels), or "auto": "device" on a GPU
    with torchvision, "draft" otherwise.
    """

    def __init__(self, device: str, decoder: str = "auto", *, threads: int | None = None, batch: int = BATCH):
        import torch

        if decoder not in DECODERS:
            raise ValueError(f"decoder must be one of {', '.join(DECODERS)}, not {decoder!r}")
        self.torch = torch
        self.device = torch.device(device)
        self.decode_jpeg = torchvision_decoder()
        if decoder == "auto":
            decoder = "device" if self.device.type == "cuda" and self.decode_jpeg is not None else "draft"
        self.decoder = decoder
        self.threads = threads or os.cpu_count() or 1
        self.batch = batch
        self.fell_back = 0  # pictures finished on the CPU (the device could not decode them, or failed)

    def __call__(
        self, entries: list[WalkEntry], options: AnalyzeOptions, known: Mapping[int, frozenset[str]], workers: int
    ) -> Generator[FileAnalysis, None, None]:
        Image.MAX_IMAGE_PIXELS = options.max_image_pixels  # as the pool's processes have it (``open_image``)
        prepared = _Prefetch(analyze_many(entries, replace(options, defer_pixels=True), known, workers))
        with ThreadPoolExecutor(self.threads, thread_name_prefix="vam-gpu") as threads:
            try:
                waiting: list[FileAnalysis] = []
                pixels = 0
                for result in prepared:
                    if not result.deferred:
                        yield result
                        continue
                    waiting.append(result)
                    pixels += (result.width or 0) * (result.height or 0)
                    if len(waiting) >= self.batch or pixels >= BATCH_PIXELS:
                        yield from self._finish(waiting, options, threads)
                        waiting, pixels = [], 0
                yield from self._finish(waiting, options, threads)
            finally:
                prepared.close()

    # One batch --------------------------------------------------------------------------------------------------

    def _finish(self, batch: list[FileAnalysis], options: AnalyzeOptions, threads: ThreadPoolExecutor):
        if not batch:
            return
        contents = threads.map(lambda result: self._read(result, options), batch)
        read = [(result, data) for result, data in zip(batch, contents, strict=True) if data]
        writes: list[Future] = []
        try:
            if self.decoder == "draft":
                frames = threads.map(lambda item: self._draft(item[0], item[1], options), read)
                decoded = [(item[0], frame) for item, frame in zip(read, frames, strict=True) if frame is not None]
            else:
                decoded = self._decode_batch(read, options, threads)
            self._derive(decoded, options, threads, writes)
        except self.torch.OutOfMemoryError:
            logger.exception("the device ran out of memory; finishing %d pictures on the CPU", len(read))
            wait(writes)  # the thumbnails it wrote stay listed; the CPU writes the others
            for result, _ in read:
                result.dhash = result.phash = result.fine_hash = result.hash_variants = None
            list(threads.map(lambda item: self._on_cpu(item[0], options, item[1]), read))
        for future in writes:
            future.result()
        for result in batch:
            result.deferred = False
            result.thumbnails = sorted(set(result.thumbnails), reverse=True)  # as the CPU engine lists them
            yield result

    def _read(self, result: FileAnalysis, options: AnalyzeOptions) -> bytes | None:
        """A deferred JPEG's bytes, as the pool read them; None when the picture was finished here instead (it
        cannot be read now, or it changed since: then it is analyzed anew)."""
        try:
            with open(result.path, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            result.add_problem(Problem.UNREADABLE, f"cannot read file: {exc.strerror or exc}")
            return None
        if len(data) != result.size or hashlib.sha256(data).hexdigest() != result.sha256:
            fresh = analyze_file(result.path, options, sidecars=result.sidecars)
            result.__dict__.update(fresh.__dict__)
            return None
        return data

    def _draft(self, result: FileAnalysis, data: bytes, options: AnalyzeOptions):
        """Pillow's DCT-scaled decode, upright (the CPU engine's pixels), on the device."""
        image = open_image(result, data, options)
        upright = decode_upright(result, image, options) if image is not None else None
        if upright is None:  # a problem the CPU engine reports the same way
            return None
        rgb = np.asarray(displayable(upright, options.thumbnail_format))
        return self.torch.from_numpy(rgb.copy()).permute(2, 0, 1).to(self.device, non_blocking=True)

    def _decode_batch(
        self, read: list[tuple[FileAnalysis, bytes]], options: AnalyzeOptions, threads: ThreadPoolExecutor
    ) -> list[tuple[FileAnalysis, Any]]:
        """Decode on the device, all at once (nvjpeg's batched decode), each picture upright and at the CPU
        engine's scale. A batch the decoder refuses is retried picture by picture, and what it refuses alone is
        finished on the CPU."""
        torch = self.torch
        if self.decode_jpeg is not None:
            encoded = [torch.frombuffer(bytearray(data), dtype=torch.uint8) for _, data in read]
            try:
                frames: list[Any] = list(self.decode_jpeg(encoded, self.device))
            except RuntimeError:
                frames = [self._decode_one(item) for item in encoded]
        else:  # no torchvision: Pillow's full-size decode on the threads stands in for the device's
            frames = list(threads.map(self._decode_with_pillow, [data for _, data in read]))
        refused = [item for item, frame in zip(read, frames, strict=True) if frame is None]
        list(threads.map(lambda item: self._on_cpu(item[0], options, item[1]), refused))
        return [
            (result, self._as_decoded_by_cpu(frame, result, options))
            for (result, _), frame in zip(read, frames, strict=True)
            if frame is not None
        ]

    def _decode_one(self, encoded):
        assert self.decode_jpeg is not None
        try:
            return self.decode_jpeg([encoded], self.device)[0]
        except RuntimeError as exc:
            logger.info("the device decoder refused a JPEG (%s); it goes to the CPU", exc)
            return None

    def _decode_with_pillow(self, data: bytes):
        try:
            with Image.open(io.BytesIO(data)) as image:
                rgb = np.asarray(image.convert("RGB"))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            logger.info("the full-size decoder refused a JPEG (%s); it goes to the CPU", exc)
            return None
        return self.torch.from_numpy(rgb.copy()).permute(2, 0, 1).to(self.device)

    def _as_decoded_by_cpu(self, pixels, result: FileAnalysis, options: AnalyzeOptions):
        """A full-size decode shrunk by the DCT scale the CPU engine decodes at, then turned upright."""
        torch = self.torch
        height, width = pixels.shape[-2:]
        scale = draft_scale(width, height, options.decode_size)
        if scale > 1:  # JPEG's scaled IDCT is close to the mean of each scale x scale block
            shrunk = torch.nn.functional.avg_pool2d(pixels[None].float(), scale, ceil_mode=True)[0]
            pixels = shrunk.round_().clamp_(0, 255).to(torch.uint8)
        return orient(pixels, TRANSPOSE.get(result.orientation or 1))

    def _on_cpu(self, result: FileAnalysis, options: AnalyzeOptions, data: bytes | None = None) -> None:
        """Finish a deferred picture the CPU engine's way."""
        self.fell_back += 1
        with contained(result):
            if data is None:
                with open(result.path, "rb") as handle:
                    data = handle.read()
            image = open_image(result, data, options)
            if image is not None:
                decode_and_derive(result, image, options)

    def _derive(
        self,
        decoded: list[tuple[FileAnalysis, Any]],
        options: AnalyzeOptions,
        threads: ThreadPoolExecutor,
        writes: list[Future],
    ) -> None:
        """Thumbnails and hashes of decoded pictures, in batches of one size; the thumbnails' writes are added
        to ``writes`` as they are handed to the threads."""
        by_shape: dict[tuple[int, ...], list[tuple[FileAnalysis, Any]]] = {}
        for result, pixels in decoded:
            by_shape.setdefault((*pixels.shape, bool(result.sha256)), []).append((result, pixels))
        for group in by_shape.values():
            results = [result for result, _ in group]
            current = self.torch.stack([pixels for _, pixels in group])
            height, width = current.shape[-2:]
            made = thumbnail_sizes(results[0], options)
            for size, target in chain_plan(width, height, chain_sizes(options)):
                if target is not None:
                    current = self._shrink(current, target)
                if size == HASH_BASIS:
                    self._hash(results, current)
                if size in made:
                    frames = current.permute(0, 2, 3, 1).cpu().numpy()
                    for result, frame in zip(results, frames, strict=True):
                        writes.append(threads.submit(store_thumbnail, result, size, Image.fromarray(frame), options))

    def _shrink(self, pixels, target: tuple[int, int]):
        """``thumbnails.shrink_chain``'s resize, on the device; one that Pillow would begin with an integer
        ``reduce`` (thumbnail sizes four times apart or more) is done by Pillow itself, to stay exact."""
        height, width = pixels.shape[-2:]
        if not resample.reduces_first((width, height), target, CHAIN_REDUCING_GAP):
            return resample.resize(pixels, target, resample.BILINEAR)
        frames = pixels.permute(0, 2, 3, 1).cpu().numpy()
        shrunk = [
            np.asarray(Image.fromarray(frame).resize(target, resample.BILINEAR, reducing_gap=CHAIN_REDUCING_GAP))
            for frame in frames
        ]
        return self.torch.from_numpy(np.stack(shrunk)).permute(0, 3, 1, 2).contiguous().to(self.device)

    def _hash(self, results: list[FileAnalysis], basis) -> None:
        gray = resample.to_gray(basis)
        resized = [resample.resize(gray, size, resample.LANCZOS)[:, 0].cpu().numpy() for size in HASH_SIZES]
        for index, result in enumerate(results):
            store_hashes(result, [pixels[index] for pixels in resized])


def orient(pixels, transform: int | None):
    """A (C, H, W) tensor turned as ``Image.transpose(transform)`` turns a picture (``dihedral.apply``)."""
    if transform is None:
        return pixels
    rows, columns = pixels.ndim - 2, pixels.ndim - 1
    swapped = pixels.transpose(rows, columns)
    turns: dict[int, Callable[[], Any]] = {
        Image.Transpose.FLIP_LEFT_RIGHT: lambda: pixels.flip(columns),
        Image.Transpose.FLIP_TOP_BOTTOM: lambda: pixels.flip(rows),
        Image.Transpose.ROTATE_180: lambda: pixels.flip(rows, columns),
        Image.Transpose.ROTATE_90: lambda: swapped.flip(rows),  # counter-clockwise
        Image.Transpose.ROTATE_270: lambda: swapped.flip(columns),
        Image.Transpose.TRANSPOSE: lambda: swapped,
        Image.Transpose.TRANSVERSE: lambda: swapped.flip(rows, columns),
    }
    return turns[transform]().contiguous()


_DONE = object()


class _Prefetch:
    """Iterate a generator on a thread of its own, a bounded queue ahead of the consumer: the process pool goes on
    reading files while this process works on the device. ``close`` stops it and closes the generator (its pool
    stops with it)."""

    def __init__(self, source: Generator[FileAnalysis, None, None], ahead: int = 4 * BATCH) -> None:
        self.source = source
        self.items: queue.Queue = queue.Queue(maxsize=ahead)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="vam-gpu-prefetch", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            for item in self.source:
                if not self._put(item):
                    break
            self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it
            self._put(exc)
        finally:
            self.source.close()

    def _put(self, item: object) -> bool:
        while not self.stopping.is_set():
            try:
                self.items.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[FileAnalysis]:
        while True:
            item = self.items.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
