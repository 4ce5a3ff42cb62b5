"""16-bit colour conversion to sRGB for matrix/TRC ICC profiles (ProPhoto, Adobe RGB, Display P3...).

littlecms in Pillow converts 8-bit images only. RGB working spaces are almost all *matrix/TRC* profiles:
three tone curves and the D50 XYZ colorants of the primaries. For such a profile the relative
colorimetric conversion to sRGB (as littlecms does it, without black-point compensation) is: each
channel through its tone curve, the source's colorant matrix to D50 XYZ, sRGB's inverse, clipped to
[0, 1], sRGB's curve. :func:`matrix_trc` reads the profile (None for a profile with colour look-up
tables or another colour space, which is then read at 8 bits through littlecms); :func:`to_srgb16`
converts a uint16 image with it.
"""

from __future__ import annotations

import struct
from typing import Callable

import numpy as np

#: sRGB's colorants adapted to D50 (Bradford), columns R, G, B, as littlecms builds its sRGB profile
_SRGB_D50 = np.array([[0.4360747, 0.3850649, 0.1430804],
                      [0.2225045, 0.7168786, 0.0606169],
                      [0.0139322, 0.0971045, 0.7141733]])
_LUT_TAGS = (b"A2B0", b"A2B1", b"A2B2", b"D2B0", b"D2B1")


def _s15(data: bytes, at: int) -> float:
    return struct.unpack_from(">i", data, at)[0] / 65536.0


def _curve(data: bytes) -> Callable[[np.ndarray], np.ndarray] | None:
    """A 'curv' or 'para' tone curve, device value in [0, 1] → linear; None for another type."""
    kind = data[:4]
    if kind == b"curv":
        n = struct.unpack_from(">I", data, 8)[0]
        if n == 0:
            return lambda x: x
        if n == 1:
            gamma = struct.unpack_from(">H", data, 12)[0] / 256.0
            return lambda x: np.power(x, gamma)
        table = np.frombuffer(data, dtype=">u2", count=n, offset=12).astype(np.float64) / 65535.0
        grid = np.linspace(0.0, 1.0, n)
        return lambda x: np.interp(x, grid, table)
    if kind == b"para":
        kind_id = struct.unpack_from(">H", data, 8)[0]
        count = {0: 1, 1: 3, 2: 4, 3: 5, 4: 7}.get(kind_id)
        if count is None:
            return None
        p = [_s15(data, 12 + 4 * i) for i in range(count)] + [0.0] * (7 - count)
        g, a, b, c, d, e, f = p
        if kind_id == 0:
            return lambda x: np.power(x, g)
        if kind_id in (1, 2):
            lo = -b / a if a else 0.0
            off = c if kind_id == 2 else 0.0
            return lambda x: np.where(x >= lo, np.power(np.maximum(a * x + b, 0.0), g) + off, off)
        return lambda x: np.where(x >= d, np.power(np.maximum(a * x + b, 0.0), g) + (e if kind_id == 4 else 0.0),
                                  c * x + (f if kind_id == 4 else 0.0))
    return None


def matrix_trc(icc: bytes):
    """(three tone curves, the 3x3 colorant matrix) of an RGB matrix/TRC display profile; None for any
    other profile (look-up tables, another colour space, a tag that cannot be read)."""
    try:
        if len(icc) < 132 or icc[16:20] != b"RGB " or icc[20:24] != b"XYZ ":
            return None
        count = struct.unpack_from(">I", icc, 128)[0]
        tags = {}
        for i in range(min(count, 200)):
            sig, offset, size = struct.unpack_from(">4sII", icc, 132 + 12 * i)
            tags[sig] = icc[offset:offset + size]
        if any(t in tags for t in _LUT_TAGS):
            return None
        columns = []
        for sig in (b"rXYZ", b"gXYZ", b"bXYZ"):
            body = tags.get(sig)
            if body is None or body[:4] != b"XYZ " or len(body) < 20:
                return None
            columns.append([_s15(body, 8 + 4 * k) for k in range(3)])
        curves = [_curve(tags.get(sig, b"")) for sig in (b"rTRC", b"gTRC", b"bTRC")]
        if any(c is None for c in curves):
            return None
        matrix = np.array(columns).T
        if not np.isfinite(matrix).all() or abs(np.linalg.det(matrix)) < 1e-6:
            return None
        return curves, matrix
    except (struct.error, ValueError, IndexError):
        return None


def _srgb_encode(linear: np.ndarray) -> np.ndarray:
    return np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * np.power(np.maximum(linear, 0.0), 1 / 2.4) - 0.055)


def to_srgb16(rgb16: np.ndarray, profile, rows: int = 256) -> np.ndarray:
    """A (H, W, 3|4) uint16 image in ``profile``'s space (from :func:`matrix_trc`) in sRGB, uint16; alpha
    kept. Converted in bands of ``rows`` rows (float64 work of a few MB at a time)."""
    curves, matrix = profile
    to_srgb = np.linalg.inv(_SRGB_D50) @ matrix
    out = np.empty_like(rgb16)
    for top in range(0, rgb16.shape[0], rows):
        band = rgb16[top:top + rows, :, :3].astype(np.float64) / 65535.0
        linear = np.stack([curves[k](band[..., k]) for k in range(3)], axis=-1)
        srgb = np.clip(linear @ to_srgb.T, 0.0, 1.0)
        out[top:top + rows, :, :3] = np.round(np.clip(_srgb_encode(srgb), 0.0, 1.0) * 65535.0)
    if rgb16.shape[2] == 4:
        out[..., 3] = rgb16[..., 3]
    return out
