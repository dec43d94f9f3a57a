"""ISO base media file format (MP4, MOV, HEIF, AVIF): box iteration and the HEIF item-location check."""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from typing import BinaryIO


class BoxError(ValueError):
    """A box header that cannot be right (a size smaller than its own header)."""


def boxes(handle: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_offset, payload_size) for the boxes between start and end.

    A box that claims to run past ``end`` is cut at ``end``: readers get what is there.
    """
    offset = start
    while offset + 8 <= end:
        handle.seek(offset)
        header = handle.read(8)
        if len(header) < 8:
            return
        size, kind = struct.unpack(">I4s", header)
        header_size = 8
        if size == 1:
            large = handle.read(8)
            if len(large) < 8:
                return
            size = struct.unpack(">Q", large)[0]
            header_size = 16
        elif size == 0:
            size = end - offset
        if size < header_size:
            raise BoxError(f"box {kind!r} at {offset} has an invalid size {size}")
        yield kind, offset + header_size, min(size, end - offset) - header_size
        offset += size


def _uint(data: bytes, at: int, size: int) -> tuple[int, int]:
    if size == 0:
        return 0, at
    if at + size > len(data):
        raise BoxError("iloc box is cut short")
    return int.from_bytes(data[at : at + size], "big"), at + size


def items_outside(data: bytes) -> list[tuple[int, int]]:
    """HEIF/AVIF items whose data the ``iloc`` box places past the end of the file, as (item id, bytes missing).

    Decoders only notice such an item (a burst frame, a thumbnail, a depth map) when asked for it, so a file
    cut short after its primary image still opens; this finds it without decoding anything.
    """
    handle = io.BytesIO(data)
    missing: list[tuple[int, int]] = []
    for kind, payload, length in boxes(handle, 0, len(data)):
        if kind != b"meta":
            continue
        for child, child_payload, child_length in boxes(handle, payload + 4, payload + length):
            if child == b"iloc":
                missing.extend(_iloc_outside(data[child_payload : child_payload + child_length], len(data)))
    return missing


def _iloc_outside(iloc: bytes, file_size: int) -> list[tuple[int, int]]:
    if len(iloc) < 8:
        raise BoxError("iloc box is cut short")
    version = iloc[0]
    offset_size, length_size = iloc[4] >> 4, iloc[4] & 0x0F
    base_offset_size = iloc[5] >> 4
    index_size = iloc[5] & 0x0F if version in (1, 2) else 0
    id_size = 4 if version == 2 else 2
    count, at = _uint(iloc, 6, id_size)
    missing = []
    for _ in range(count):
        item_id, at = _uint(iloc, at, id_size)
        construction = 0
        if version in (1, 2):
            method, at = _uint(iloc, at, 2)
            construction = method & 0x0F
        _reference, at = _uint(iloc, at, 2)
        base, at = _uint(iloc, at, base_offset_size)
        extents, at = _uint(iloc, at, 2)
        end = 0
        for _ in range(extents):
            _index, at = _uint(iloc, at, index_size)
            offset, at = _uint(iloc, at, offset_size)
            length, at = _uint(iloc, at, length_size)
            end = max(end, base + offset + length)
        if construction == 0 and end > file_size:  # 0: the data lies in this file
            missing.append((item_id, end - file_size))
    return missing
