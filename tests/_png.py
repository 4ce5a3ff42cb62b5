"""16-bit colour PNGs encoded from the PNG specification (section 9's five filters, Adam7), for the tests of
photostyle._png16 and the fuzzing seeds: Pillow cannot write them."""

from __future__ import annotations

import struct
import zlib

import numpy as np

# Adam7: (first column, first row, column step, row step) of each pass
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def filtered(arr: np.ndarray, types) -> bytes:
    """Scanlines of ``arr`` (H, W, C) uint16, row y filtered by ``types[y]`` (PNG specification, section 9)."""
    h, w, c = arr.shape
    raw = np.ascontiguousarray(arr, dtype=">u2").view(np.uint8).reshape(h, w, 2 * c).astype(np.int16)
    a = np.zeros_like(raw)
    a[:, 1:] = raw[:, :-1]
    b = np.zeros_like(raw)
    b[1:] = raw[:-1]
    cc = np.zeros_like(raw)
    cc[1:, 1:] = raw[:-1, :-1]
    pa, pb, pc = np.abs(b - cc), np.abs(a - cc), np.abs(a + b - 2 * cc)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, cc))
    predictors = (np.zeros_like(raw), a, b, (a + b) // 2, paeth)
    rows = []
    for y, kind in enumerate(types):
        rows.append(bytes([kind]) + ((raw[y] - predictors[kind][y]) % 256).astype(np.uint8).tobytes())
    return b"".join(rows)


def png16(arr: np.ndarray, types=None, *, chunks=(), interlace: bool = False, data: bytes | None = None) -> bytes:
    h, w, c = arr.shape
    if data is None:
        if interlace:  # each pass a small image of its own, unfiltered
            data = b"".join(filtered(arr[y0::dy, x0::dx], [0] * len(range(y0, h, dy)))
                            for x0, y0, dx, dy in _ADAM7 if x0 < w and y0 < h)
        else:
            data = filtered(arr, types if types is not None else [y % 5 for y in range(h)])
    head = struct.pack(">IIBBBBB", w, h, 16, 2 if c == 3 else 6, 0, 0, int(interlace))
    body = [_chunk(b"IHDR", head), *(_chunk(k, v) for k, v in chunks), _chunk(b"IDAT", zlib.compress(data))]
    return b"\x89PNG\r\n\x1a\n" + b"".join(body) + _chunk(b"IEND", b"")
