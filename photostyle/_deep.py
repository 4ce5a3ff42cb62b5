"""16 bits per channel: colour TIFFs read at 16 bits, results written at 16 bits (TIFF and PNG).

Pillow decodes 16-bit colour to 8 bits per channel. A RAW converter's 16-bit TIFF is read here with
``tifffile`` (a dependency of scikit-image) as it is stored, its orientation applied like Pillow's, so
the local affine colour model that delivers the result works on the photo's own 16-bit values; the
result can then be written at 16 bits: a TIFF (``tifffile``, deflate) or a PNG (written here: Pillow
cannot write 16-bit colour PNGs).
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

#: Output suffixes that hold 16 bits per channel
DEEP_SUFFIXES = (".png", ".tif", ".tiff")
# IFD0 text tags a 16-bit TIFF carries from the photo's EXIF (tifffile writes no Exif sub-IFD)
_TEXT_TAGS = (0x010E, 0x010F, 0x0110, 0x0131, 0x0132, 0x013B, 0x8298)


def is_deep_tiff(opened: Image.Image) -> bool:
    """Whether ``opened`` (a PIL image, header read) is an RGB(A) TIFF of 16-bit unsigned samples."""
    if opened.format != "TIFF" or opened.mode not in ("RGB", "RGBA"):
        return False
    tags = opened.tag_v2
    bits, samples = tags.get(258), tags.get(277)
    bits = bits if isinstance(bits, tuple) else (bits,)
    return (samples in (3, 4) and all(b == 16 for b in bits) and tags.get(262) == 2
            and all(f == 1 for f in (tags.get(339) or (1,))))


def _deep_page(tif):
    """(first page, colour conversion) of an open ``tifffile.TiffFile`` where the page is RGB(A) of 16-bit
    unsigned samples, in sRGB, untagged or tagged with a matrix/TRC profile (the conversion, from
    :func:`photostyle._icc16.matrix_trc`; None for sRGB), within ``PIL.Image.MAX_IMAGE_PIXELS`` (else
    Pillow's reading refuses it); else None."""
    from ._displayed import profile_is_srgb
    from ._icc16 import matrix_trc

    page = tif.pages[0]
    if page.dtype != np.uint16 or int(page.photometric) != 2 or int(page.samplesperpixel) not in (3, 4):
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and int(page.imagelength) * int(page.imagewidth) > limit:
        return None
    icc = page.tags.get(34675)  # InterColorProfile
    icc = bytes(icc.value) if icc is not None else None
    if not icc or profile_is_srgb(icc, unreadable=False):
        return page, None
    profile = matrix_trc(icc)  # None: look-up tables, or unreadable: Pillow's reading applies it or warns
    return (page, profile) if profile is not None else None



def source_bits(path) -> int:
    """16 where :func:`photostyle.image.read_image` reads the photo at ``path`` at 16 bits per channel (a
    16-bit colour TIFF, see :func:`_deep_page`, or PNG, see :func:`photostyle._png16.is_deep`), else 8; from
    the header (and a PNG's chunks)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".png":
        from ._png16 import is_deep

        try:
            return 16 if is_deep(path) else 8
        except Exception:  # noqa: BLE001 - the transfer's own reading words any error
            return 8
    if suffix not in (".tif", ".tiff"):
        return 8
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            return 16 if _deep_page(tif) is not None else 8
    except Exception:  # noqa: BLE001 - the transfer's own reading words any error
        return 8


def output_bits(bits, content, output) -> int:
    """The bit depth to write ``output`` at: ``"auto"`` is 16 for a 16-bit content photo (see
    :func:`source_bits`) written as PNG or TIFF, else 8; 8 and 16 as given (checked: :func:`check_bits`)."""
    if bits == "auto":
        deep = Path(output).suffix.lower() in DEEP_SUFFIXES and isinstance(content, (str, Path))
        return 16 if deep and source_bits(content) == 16 else 8
    bits = int(bits)
    check_bits(bits, Path(output))
    return bits


def read_deep_tiff(path: Path) -> np.ndarray | None:
    """A 16-bit colour TIFF (see :func:`_deep_page`) as (H, W, 3|4) uint16 in sRGB, upright (its
    orientation tag applied, as Pillow does); None for any other file, or where tifffile cannot read it
    (the caller reads it with Pillow then, at 8 bits)."""
    if Path(path).suffix.lower() not in (".tif", ".tiff") or not Path(path).is_file():
        return None
    try:
        import tifffile

        with tifffile.TiffFile(path) as tif:
            found = _deep_page(tif)
            if found is None:
                return None
            page, profile = found
            arr = page.asarray()
            if int(page.planarconfig) == 2 and arr.ndim == 3:  # planes, (C, H, W)
                arr = np.moveaxis(arr, 0, -1)
            stored = (int(page.imagelength), int(page.imagewidth))
            tag = page.tags.get(274)
            orientation = int(tag.value) if tag is not None else 1
    except Exception:  # noqa: BLE001 - any failure: Pillow's reading, which words its own errors
        return None
    if arr.ndim != 3 or arr.shape[2] not in (3, 4) or arr.shape[:2] != stored:
        return None
    if profile is not None:  # ProPhoto, Adobe RGB, Display P3...: to sRGB at 16 bits
        from ._icc16 import to_srgb16

        arr = to_srgb16(arr, profile)
    from ._displayed import upright_array

    return upright_array(arr, orientation)


def check_bits(bits, path: Path) -> None:
    """Refuse a bit depth other than 8 or 16, and 16 bits into a format that cannot hold them."""
    if bits not in (8, 16) or isinstance(bits, bool):
        raise ValueError(f"bits: expected 8 or 16 bits per channel, got {bits!r}.")
    if bits == 16 and Path(path).suffix.lower() not in DEEP_SUFFIXES:
        raise ValueError(f"output '{path}': 16 bits per channel are written as PNG or TIFF, not "
                         f"'{Path(path).suffix}'; name it e.g. '{Path(path).with_suffix('.tif').name}', or write 8 bits.")


def as_uint16(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) float in [0, 1] → uint16, rounded."""
    return np.round(np.clip(rgb, 0.0, 1.0) * 65535.0).astype(np.uint16)


def write_tiff16(path, rgb16: np.ndarray, exif: bytes | None) -> None:
    """A 16-bit RGB TIFF (deflate), with the text tags of ``exif`` (make, model, times, artist...)."""
    import tifffile

    extratags, named = [], {"software": False, "description": None}  # tifffile writes these two itself
    if exif:
        parsed = Image.Exif()
        parsed.load(exif)
        for tag in _TEXT_TAGS:
            value = parsed.get(tag)
            if isinstance(value, str) and value:
                if tag in (0x010E, 0x0131):
                    named["description" if tag == 0x010E else "software"] = value
                else:
                    extratags.append((tag, "s", 0, value, True))
    tifffile.imwrite(path, rgb16, photometric="rgb", compression="zlib", extratags=extratags, metadata=None,
                     **named)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def write_png16(path, rgb16: np.ndarray, exif: bytes | None) -> None:
    """A 16-bit RGB PNG: every row filtered with "Up" (its difference to the row above, byte by byte),
    deflated; ``exif`` as an eXIf chunk."""
    h, w, _ = rgb16.shape
    raw = np.ascontiguousarray(rgb16, dtype=">u2").view(np.uint8).reshape(h, w * 6)
    up = raw.copy()
    up[1:] -= raw[:-1]  # uint8 arithmetic wraps modulo 256, as the filter does
    rows = np.concatenate([np.full((h, 1), 2, dtype=np.uint8), up], axis=1)
    body = [_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))]
    if exif:
        body.append(_chunk(b"eXIf", exif[6:] if exif.startswith(b"Exif\x00\x00") else exif))
    body.append(_chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)))
    with open(path, "wb") as fh:
        fh.write(b"\x89PNG\r\n\x1a\n" + b"".join(body) + _chunk(b"IEND", b""))
