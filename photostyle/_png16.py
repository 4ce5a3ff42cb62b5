"""16-bit colour PNGs read at 16 bits per channel.

Pillow decodes a 16-bit RGB or RGBA PNG to 8 bits per channel. The PNGs that RAW converters export at 16
bits (darktable, RawTherapee, GIMP) are read here whole: the chunks walked, the image data inflated (its
size bounded by the header's), and the rows unfiltered with numpy.

PNG filters each row by one of five predictors of a byte from the bytes of the pixel to its left (``a``),
above it (``b``) and above-left (``c``): none, ``a`` (Sub), ``b`` (Up), ``(a + b) // 2`` (Average) and
Paeth's (the one of ``a``, ``b``, ``c`` closest to ``a + b − c``), all modulo 256 (PNG specification,
section 9). None, Sub (a running sum along the row) and Up are undone a row at a time. Average and Paeth
need the pixel to the left already decoded, so such a row cannot be undone as one vector; but a pixel needs
only pixels of the previous anti-diagonal (``row + column − 1``) and the one before it, so the rows from the
first to the last Average or Paeth row are decoded one anti-diagonal at a time, each a strided view of a
padded buffer (rows + columns − 1 vector steps for any mix of filters).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# colour type -> samples per pixel (2: RGB, 6: RGBA)
_SAMPLES = {2: 3, 6: 4}


def _chunks(data: bytes):
    """(type, body) of each chunk of a PNG file's bytes, up to IEND; stops at a chunk that runs past the end."""
    pos, view = len(_SIGNATURE), memoryview(data)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = view[pos + 8:pos + 8 + length]  # no copy: a 12 MP photo's data comes in thousands of chunks
        if len(body) < length:
            return
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length


def header(path) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit depth, colour type, interlace) from a PNG's IHDR chunk; None if not a PNG."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(33)
    except OSError:
        return None
    if len(head) < 29 or head[:8] != _SIGNATURE or head[12:16] != b"IHDR":
        return None
    width, height, depth, colour, _, _, interlace = struct.unpack_from(">IIBBBBB", head, 16)
    return width, height, depth, colour, interlace


def is_deep(path) -> bool:
    """Whether :func:`read_png16` reads the file at ``path`` at 16 bits: a non-interlaced 16-bit RGB(A) PNG
    within ``PIL.Image.MAX_IMAGE_PIXELS``, untagged, in sRGB or with a matrix/TRC profile (from the header
    and its chunks)."""
    return _plan(path) is not None


def _plan(path):
    """(width, height, samples, the IDAT chunks' bodies, profile or None, orientation) of a PNG that
    :func:`read_png16` decodes, else None."""
    from ._displayed import profile_is_srgb
    from ._icc16 import matrix_trc

    head = header(path)
    if head is None:
        return None
    width, height, depth, colour, interlace = head
    limit = Image.MAX_IMAGE_PIXELS
    if depth != 16 or colour not in _SAMPLES or interlace != 0 or width == 0 or height == 0:
        return None
    if limit is not None and width * height > limit:
        return None
    data = Path(path).read_bytes()
    idat, icc, exif, srgb = [], None, None, False
    for kind, body in _chunks(data):
        if kind == b"IDAT":
            idat.append(body)
        elif kind == b"iCCP":
            body = bytes(body)
            name_end = body.find(b"\x00")
            try:
                icc = zlib.decompress(body[name_end + 2:]) if name_end >= 0 else None
            except zlib.error:
                return None  # Pillow's reading says the profile cannot be applied
        elif kind == b"eXIf":
            exif = bytes(body)
        elif kind == b"sRGB":
            srgb = True
    if not idat:
        return None
    profile = None
    if icc and not srgb and not profile_is_srgb(icc, unreadable=False):
        profile = matrix_trc(icc)
        if profile is None:  # look-up tables or unreadable: littlecms at 8 bits (Pillow's reading)
            return None
    return width, height, _SAMPLES[colour], idat, profile, _orientation(exif)


def _orientation(exif: bytes | None) -> int:
    if not exif:
        return 1
    try:
        parsed = Image.Exif()
        parsed.load(exif if exif.startswith(b"Exif\x00\x00") else b"Exif\x00\x00" + exif)
        value = parsed.get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block is read as no orientation, as viewers do
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _inflate(pieces, size: int) -> bytearray | None:
    """The image data from the IDAT chunks' bodies, exactly ``size`` bytes (at most that many are ever
    inflated); None if short or corrupt."""
    out, inflater = bytearray(), zlib.decompressobj()
    try:
        for piece in pieces:
            out += inflater.decompress(piece, size - len(out))
            if len(out) >= size:
                break
    except zlib.error:
        return None
    return out if len(out) == size else None


def _diagonal(buffer: np.ndarray, d: int, lo: int, n: int) -> np.ndarray:
    """The (n, bpp) view of ``buffer`` (rows, columns, bpp) at the pixels (lo + i, d − lo − i), i < n."""
    rows, cols, bpp = buffer.shape
    start = (lo * cols + d - lo) * bpp
    return np.lib.stride_tricks.as_strided(buffer.reshape(-1)[start:], shape=(n, bpp),
                                           strides=((cols - 1) * bpp, 1), writeable=True)


def unfilter(filtered: np.ndarray, types: np.ndarray, bpp: int) -> np.ndarray:
    """The raw bytes (H, W·bpp) of PNG scanlines ``filtered`` (H, W·bpp) with filter ``types`` (H,), 0-4.

    Rows filtered by none, Sub or Up are undone a row at a time (Sub as a running sum modulo 256); the span
    from the first to the last row filtered by Average or Paeth one anti-diagonal at a time (see the
    module's docstring).
    """
    h, row_bytes = filtered.shape
    out = np.empty((h, row_bytes), dtype=np.uint8)
    deep = np.flatnonzero(types >= 3)
    first, last = (int(deep[0]), int(deep[-1]) + 1) if deep.size else (h, h)
    for y in range(first):
        _simple_row(filtered, types, bpp, out, y)
    if first < last:
        above = out[first - 1] if first else np.zeros(row_bytes, dtype=np.uint8)
        out[first:last] = _anti_diagonals(filtered[first:last], types[first:last], bpp, above)
    for y in range(last, h):
        _simple_row(filtered, types, bpp, out, y)
    return out


def _simple_row(filtered: np.ndarray, types: np.ndarray, bpp: int, out: np.ndarray, y: int) -> None:
    kind, row = types[y], filtered[y]
    if kind == 0:
        out[y] = row
    elif kind == 1:  # Sub: a running sum along the row, per byte of the pixel (uint8 wraps modulo 256)
        np.cumsum(row.reshape(-1, bpp), axis=0, dtype=np.uint8, out=out[y].reshape(-1, bpp))
    elif y:  # Up
        np.add(row, out[y - 1], out=out[y])
    else:
        out[y] = row


def _anti_diagonals(filtered: np.ndarray, types: np.ndarray, bpp: int, above: np.ndarray) -> np.ndarray:
    """Rows of any filters undone one anti-diagonal at a time, ``above`` the raw row before them (zeros for
    the first row of the image), into a buffer with that row above and a zero column to the left (the
    bytes outside the image)."""
    h, row_bytes = filtered.shape
    w = row_bytes // bpp
    pad = np.zeros((h + 1, w + 1, bpp), dtype=np.uint8)
    pad[0, 1:] = above.reshape(w, bpp)
    src = np.zeros((h + 1, w + 1, bpp), dtype=np.uint8)
    src[1:, 1:] = filtered.reshape(h, w, bpp)
    kinds = np.zeros(h + 1, dtype=np.uint8)
    kinds[1:] = types
    for d in range(2, h + w + 1):  # padded coordinates: row r + 1, column x + 1, so r + x = d − 2
        lo, hi = max(1, d - w), min(h, d - 1)  # padded rows on this anti-diagonal
        n = hi - lo + 1
        kind = kinds[lo:hi + 1, None]
        a = _diagonal(pad, d - 1, lo, n).astype(np.int16)  # left: (r, x − 1)
        b = _diagonal(pad, d - 1, lo - 1, n).astype(np.int16)  # above: (r − 1, x)
        pred = np.where(kind == 1, a, 0)
        pred = np.where(kind == 2, b, pred)
        if (kind == 3).any():
            pred = np.where(kind == 3, (a + b) >> 1, pred)
        if (kind == 4).any():
            c = _diagonal(pad, d - 2, lo - 1, n).astype(np.int16)  # above-left: (r − 1, x − 1)
            pa, pb, pc = np.abs(b - c), np.abs(a - c), np.abs(a + b - 2 * c)
            paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
            pred = np.where(kind == 4, paeth, pred)
        out = _diagonal(pad, d, lo, n)
        np.add(_diagonal(src, d, lo, n), pred.astype(np.uint8), out=out)
    return pad[1:, 1:].reshape(h, row_bytes)


def read_png16(path) -> np.ndarray | None:
    """A 16-bit colour PNG (see :func:`is_deep`) as (H, W, 3|4) uint16 in sRGB, upright (its EXIF
    orientation applied); None for any other file, or one that cannot be decoded (the caller reads it with
    Pillow then, at 8 bits, and Pillow words the error)."""
    if Path(path).suffix.lower() != ".png" or not Path(path).is_file():
        return None
    try:
        plan = _plan(path)
    except (OSError, ValueError, struct.error):
        return None
    if plan is None:
        return None
    width, height, samples, compressed, profile, orientation = plan
    bpp = 2 * samples
    row = 1 + width * bpp
    data = _inflate(compressed, row * height)
    if data is None:
        return None
    rows = np.frombuffer(data, dtype=np.uint8).reshape(height, row)
    types = rows[:, 0]
    if (types > 4).any():
        return None
    raw = unfilter(rows[:, 1:], types, bpp)
    arr = raw.view(">u2").reshape(height, width, samples).astype(np.uint16)
    if profile is not None:  # ProPhoto, Adobe RGB, Display P3...: to sRGB at 16 bits
        from ._icc16 import to_srgb16

        arr = to_srgb16(arr, profile)
    from ._displayed import upright_array

    return upright_array(arr, orientation)
