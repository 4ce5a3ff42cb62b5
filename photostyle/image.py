"""Reading, writing and converting images.

Inside the library an image is a float tensor of shape ``(B, 3, H, W)`` with values in ``[0, 1]``
(RGB). At the edges it may be a path, a ``PIL.Image``, a numpy array ``(H, W)``, ``(H, W, 3)`` or
``(H, W, 4)`` (uint8, uint16 or float in [0, 1]) or a tensor ``(3, H, W)`` / ``(B, 3, H, W)``.
:func:`to_tensor` converts any of these in; :func:`to_pil` and :func:`to_numpy` convert out.
Images are written atomically (:func:`save_image`, with :mod:`photostyle.files`).
"""

from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ._deep import as_uint16, check_bits, is_deep_tiff, read_deep_tiff, write_png16, write_tiff16
from ._png16 import read_png16
from ._displayed import as_displayed, carried_exif, profile_is_srgb
from ._version import __version__
from .files import _umask, atomic_write_path, check_writable

ImageLike = Union[str, os.PathLike, Image.Image, np.ndarray, torch.Tensor]

__all__ = [
    "ImageLike",
    "read_image",
    "open_image",
    "to_tensor",
    "to_pil",
    "to_numpy",
    "resize_long_side",
    "resize_to",
    "save_image",
    "atomic_write_path",
    "check_writable",
    "check_output_path",
    "image_suffixes",
]

#: Moved to :mod:`photostyle.files`, still importable from here (tests reach ``image._umask``).
_REEXPORTED = (_umask,)


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR chunk, or None if the file is not a PNG."""
    with open(path, "rb") as fh:
        head = fh.read(26)
    if len(head) < 26 or head[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    return head[24], head[25]


#: What PIL raises on corrupt or hostile files: its plugins and decoders use many exception types
#: besides OSError (found by tests/test_fuzz_readers.py). Only PIL calls are guarded with it.
PIL_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError, TypeError,
    ZeroDivisionError, OverflowError, MemoryError, Image.DecompressionBombError,
)


class _TooLarge(Exception):
    """Raised inside open_image's guarded block; re-raised as ValueError outside it."""


def open_image(path: str | os.PathLike, *, name: str = "image") -> Image.Image:
    """Open and decode an image file with PIL, refusing corrupt files and decompression bombs.

    The pixel count is checked from the header, before any pixel is decoded: an image larger than
    ``PIL.Image.MAX_IMAGE_PIXELS`` (about 89 MP by default; PIL itself only warns up to twice that)
    is refused, so a tiny file that declares a huge size never allocates its pixels.

    Raises
    ------
    FileNotFoundError
        The path does not exist.
    ValueError
        The path is a directory, the file is not an image PIL can decode (truncated, corrupt, another
        format), or it declares more pixels than ``PIL.Image.MAX_IMAGE_PIXELS``.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{name} file not found: '{path}'; check the path (cwd is '{Path.cwd()}').")
    if path.is_dir():
        raise ValueError(f"{name}: expected an image file, got the directory '{path}'.")
    hint = "if the image is real, raise PIL.Image.MAX_IMAGE_PIXELS (None: no limit) before reading it"
    try:
        # From a file object, not a name: Pillow maps an uncompressed file by its name, and decodes an
        # uncompressed grey or RGBA TIFF with orientation 5-8 into the wrong shape that way (Pillow 13).
        with open(path, "rb") as fh:
            with warnings.catch_warnings():
                # PIL warns between 1x and 2x its limit (and raises above); such images are refused below.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                im = Image.open(fh)
            with im:
                limit = Image.MAX_IMAGE_PIXELS
                width, height = im.size
                if limit is not None and width * height > limit:
                    raise _TooLarge(
                        f"cannot read '{path}' as an image: it declares {width} x {height} pixels, more than "
                        f"PIL.Image.MAX_IMAGE_PIXELS ({limit}); the file is corrupt or a decompression bomb: "
                        f"{hint}."
                    )
                im.load()
    except _TooLarge as exc:
        raise ValueError(str(exc)) from None
    except Image.DecompressionBombError as exc:  # PIL refuses above twice its limit, at open
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{found.group(1)} pixels" if found else "a huge size"
        raise ValueError(
            f"cannot read '{path}' as an image: it declares {declared}, more than twice "
            f"PIL.Image.MAX_IMAGE_PIXELS ({Image.MAX_IMAGE_PIXELS}); the file is corrupt or a decompression bomb: "
            f"{hint}."
        ) from exc
    except PIL_DECODE_ERRORS as exc:
        detail = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ValueError(
            f"cannot read '{path}' as an image ({detail}); expected a PNG, JPEG, TIFF or other format PIL reads."
        ) from exc
    return im


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file into a numpy array as a viewer shows it: (H, W) or (H, W, C), uint8 or uint16.

    Its EXIF orientation is applied (a phone's portrait photo comes out upright) and colours tagged with
    an ICC profile other than sRGB (Display P3, Adobe RGB) are converted to sRGB; a profile that cannot
    be applied is said in a warning. 16-bit grey images and 16-bit colour TIFFs and PNGs keep their 16 bits
    (uint16; a matrix/TRC profile such as ProPhoto or Adobe RGB converted at 16 bits). Interlaced 16-bit
    colour PNGs, and 16-bit colour files with a profile of look-up tables, are read at 8 bits per channel
    (Pillow's decoding, the profile applied by littlecms), with a warning.

    Raises
    ------
    FileNotFoundError
        If the path does not exist.
    ValueError
        If the file is not an image PIL can decode, or declares more pixels than
        ``PIL.Image.MAX_IMAGE_PIXELS`` (see :func:`open_image`).
    """
    path = Path(path)
    deep = read_deep_tiff(path)  # a 16-bit colour TIFF, read whole by tifffile (and brought to sRGB)
    if deep is None:
        deep = read_png16(path)  # a 16-bit colour PNG, decoded here (photostyle._png16)
    if deep is not None:
        return deep
    opened = open_image(path)
    header = _png_header(path)
    # Pillow decodes 16-bit colour to 8 bits per channel (it scales, it does not clip)
    eight = None
    if header is not None and header[0] == 16 and header[1] in (2, 6):  # not read by read_png16
        eight = (f"'{path}' is a 16-bit colour PNG that is interlaced or has a colour profile of look-up tables; it "
                 "is read at 8 bits per channel (save it without interlacing, in sRGB or Adobe RGB, to keep its 16 bits).")
    if is_deep_tiff(opened):
        eight = f"'{path}' is a 16-bit colour TIFF; it is read at 8 bits per channel."
        if not profile_is_srgb(opened.info.get("icc_profile")):
            eight = (f"'{path}' is a 16-bit colour TIFF with a colour profile of look-up tables; it is read at 8 "
                     "bits per channel to convert it to sRGB (export it in sRGB or Adobe RGB to keep its 16 bits).")
    im = as_displayed(opened, name=f"'{path}'")
    try:
        arr = pil_to_array(im)
    except PIL_DECODE_ERRORS as exc:
        raise ValueError(f"cannot convert '{path}' (mode {im.mode}) to an array ({exc}).") from exc
    if eight:
        warnings.warn(eight, stacklevel=3)
    return arr


def pil_to_array(im: Image.Image) -> np.ndarray:
    """PIL image → numpy array, keeping 16-bit grey as uint16 and expanding palettes."""
    if im.mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(im, dtype=np.uint16)
    if im.mode == "I":
        arr = np.asarray(im)
        if arr.max(initial=0) > 255:
            return np.clip(arr, 0, 65535).astype(np.uint16)
        return arr.astype(np.uint8)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float32)
    if im.mode not in ("L", "RGB", "RGBA"):
        im = im.convert("RGBA" if ("transparency" in im.info or im.mode in ("LA", "PA")) else "RGB")
    return np.asarray(im)


def _array_to_float(arr: np.ndarray, *, name: str) -> np.ndarray:
    """numpy (H, W[, C]) of any supported dtype → float32 (H, W, 3) in [0, 1]."""
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ValueError(
            f"{name}: expected an array of shape (H, W), (H, W, 3) or (H, W, 4), got {tuple(arr.shape)}; "
            "channels go last for numpy images."
        )
    if arr.dtype == np.uint8:
        out = arr.astype(np.float32) / 255.0
    elif arr.dtype == np.uint16:
        out = arr.astype(np.float32) / 65535.0
    elif arr.dtype == np.bool_:
        out = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.floating):
        out = arr.astype(np.float32)
        if not np.all(np.isfinite(out)):
            raise ValueError(f"{name}: the float image holds NaN or infinite values; clean it before passing it.")
        lo, hi = float(out.min(initial=0.0)), float(out.max(initial=0.0))
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(
                f"{name}: expected float values in [0, 1], got values in [{lo:.3g}, {hi:.3g}]; "
                "divide by 255 (8-bit data) or pass a uint8 array."
            )
        out = np.clip(out, 0.0, 1.0)
    else:
        raise TypeError(
            f"{name}: unsupported array dtype {arr.dtype}; expected uint8, uint16 or float in [0, 1]."
        )
    if out.ndim == 2:
        out = out[:, :, None]
    if out.shape[2] == 1:
        out = np.repeat(out, 3, axis=2)
    elif out.shape[2] == 4:
        alpha = out[:, :, 3:4]
        if float(alpha.min(initial=1.0)) < 1.0:
            warnings.warn(
                f"{name}: the image has transparent pixels; compositing it over white.", stacklevel=4
            )
        out = out[:, :, :3] * alpha + (1.0 - alpha)
    return out


def to_tensor(
    image: ImageLike, *, name: str = "image", device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Convert any supported image to a tensor of shape (1, 3, H, W) in [0, 1].

    Grey images are repeated to three channels; RGBA images are composited over white (with a
    warning when any pixel is transparent); 16-bit images are scaled by 1/65535. Paths and PIL images
    come out as a viewer shows them: EXIF orientation applied, colours in sRGB (see :func:`read_image`).

    Parameters
    ----------
    image
        A path, a PIL image, a numpy array (H, W[, 1|3|4]) or a tensor (3, H, W) / (1, 3, H, W) /
        (H, W) with values in [0, 1].
    name
        The argument's name, used in error messages.
    device, dtype
        Where the result lives; tensors keep their device unless ``device`` is given.
    """
    if isinstance(image, (str, os.PathLike)):
        arr = _array_to_float(read_image(image), name=f"{name} ('{image}')")
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    elif isinstance(image, Image.Image):  # upright and in sRGB, as read from a file
        arr = _array_to_float(pil_to_array(as_displayed(image, name=name)), name=name)
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    elif isinstance(image, np.ndarray):
        arr = _array_to_float(image, name=name)
        t = torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1)[None]
    elif isinstance(image, torch.Tensor):
        t = image.detach()
        if t.ndim == 2:
            t = t[None, None]
        elif t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[1] not in (1, 3):
            raise ValueError(
                f"{name}: expected a tensor of shape (3, H, W) or (B, 3, H, W), got {tuple(image.shape)}; "
                "tensors are channels-first."
            )
        if not t.is_floating_point():
            raise TypeError(f"{name}: expected a float tensor in [0, 1], got dtype {t.dtype}; divide by 255.")
        if not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name}: the tensor holds NaN or infinite values.")
        lo, hi = float(t.min()), float(t.max())
        if lo < -1e-3 or hi > 1 + 1e-3:
            raise ValueError(f"{name}: expected tensor values in [0, 1], got [{lo:.3g}, {hi:.3g}]; divide by 255 "
                             "(8-bit data) or clamp with .clamp(0, 1).")
        t = t.clamp(0, 1)
        if t.shape[1] == 1:
            t = t.expand(-1, 3, -1, -1)
    else:
        raise TypeError(
            f"{name}: expected a path, PIL image, numpy array or torch tensor, got {type(image).__name__}."
        )
    return t.to(device=device if device is not None else t.device, dtype=dtype).contiguous()


def resize_to(image: torch.Tensor, size: tuple[int, int], *, mode: str = "bilinear") -> torch.Tensor:
    """Resize a (B, C, H, W) tensor to ``size = (H', W')`` (antialiased when shrinking)."""
    if tuple(image.shape[-2:]) == tuple(size):
        return image
    if mode == "nearest":
        return F.interpolate(image, size=size, mode="nearest-exact")
    shrinking = size[0] < image.shape[-2] or size[1] < image.shape[-1]
    out = F.interpolate(image, size=size, mode=mode, align_corners=False, antialias=shrinking)
    return out.clamp(0, 1) if image.is_floating_point() else out


def long_side_shape(shape: tuple[int, int], size: int) -> tuple[int, int]:
    """(H, W) scaled so that the longer side is ``size`` pixels, keeping the aspect ratio."""
    h, w = shape
    scale = size / max(h, w)
    return max(1, round(h * scale)), max(1, round(w * scale))


def resize_long_side(image: torch.Tensor, size: int | None) -> torch.Tensor:
    """Resize a (B, C, H, W) tensor so that its longer side is ``size`` (None: unchanged)."""
    if size is None:
        return image
    return resize_to(image, long_side_shape(tuple(image.shape[-2:]), size))


def to_numpy(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] → uint8 numpy array (H, W, 3)."""
    t = image.detach()
    if t.ndim == 4:
        if t.shape[0] != 1:
            raise ValueError(f"image: expected a batch of one, got shape {tuple(t.shape)}; index one image.")
        t = t[0]
    arr = t.clamp(0, 1).mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
    return arr


def to_pil(image: torch.Tensor) -> Image.Image:
    """(1, 3, H, W) or (3, H, W) tensor in [0, 1] → 8-bit RGB PIL image."""
    return Image.fromarray(to_numpy(image), mode="RGB")


# Photo formats worth writing a result in (8-bit RGB, no palette reduction); each is offered only
# where this PIL can write it (WebP, AVIF and JPEG 2000 depend on how PIL was built).
_PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp", ".ppm", ".tga", ".jp2",
                   ".avif", ".qoi")


def image_suffixes() -> tuple[str, ...]:
    """The file suffixes :func:`save_image` writes, sorted: photo formats PIL can save here.

    Derived from PIL's registered extensions (``Image.registered_extensions()``) for formats with a
    writer (``Image.SAVE``), restricted to photo formats (PNG, JPEG, TIFF, BMP, WebP, PPM, TGA, ...);
    palette or special-purpose formats (GIF, ICO, PDF, EPS, ...) are left out.
    """
    Image.init()
    registered = Image.registered_extensions()
    return tuple(sorted(s for s in _PHOTO_SUFFIXES if registered.get(s) in Image.SAVE))


def _image_format(path: Path) -> str:
    """PIL's format name for ``path``'s suffix, or ValueError listing the suffixes that work."""
    suffix = path.suffix.lower()
    supported = image_suffixes()
    example = f"'{path.with_name(path.stem + '.png') if path.stem else 'out.png'}'"
    if not suffix:
        raise ValueError(
            f"output '{path}': expected a file name ending in an image suffix ({', '.join(supported)}), "
            f"got no suffix; add one, e.g. {example}."
        )
    if suffix not in supported:
        raise ValueError(
            f"output '{path}': unknown image suffix '{path.suffix}'; expected one of {', '.join(supported)}, "
            f"e.g. {example}."
        )
    return Image.registered_extensions()[suffix]


def check_output_path(path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Check, before any work, that an image can be written to ``path``; return it as a ``Path``.

    Nothing is created. Call it before a long computation so that a bad output path fails at once.

    Parameters
    ----------
    path
        The output file; its suffix picks the format (see :func:`image_suffixes`).
    overwrite
        Allow replacing an existing file.

    Raises
    ------
    TypeError
        ``path`` is not a str or path-like.
    ValueError
        The suffix is missing or not an image format that can be written (the message lists those).
    IsADirectoryError
        ``path`` is a directory.
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    FileNotFoundError
        The directory does not exist.
    PermissionError
        The directory is not writable.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"output: expected a file path (str or os.PathLike), got {type(path).__name__}.")
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"output '{path}' is a directory; give a file name such as '{path / 'out.png'}'.")
    _image_format(path)
    check_writable(path, overwrite=overwrite)
    return path


#: Encoder settings of lossy formats: PIL's defaults (JPEG quality 75 with 4:2:0 chroma) visibly soften a
#: photo's colour edges, which is what a style transfer changes
_SAVE_OPTIONS = {"JPEG": {"quality": 95, "subsampling": 0}, "WEBP": {"quality": 95}}
#: Formats whose files carry an EXIF block
_EXIF_FORMATS = frozenset({"JPEG", "PNG", "WEBP", "TIFF"})


def save_image(image: ImageLike, path: str | os.PathLike, *, overwrite: bool = False,
               metadata_from: str | os.PathLike | None = None, bits: int = 8) -> Path:
    """Write an image atomically (temporary file, then rename); the format follows the suffix.

    The file's permissions follow the umask (``0o666 & ~umask``), as for any new file. JPEG is written at
    quality 95 with full-resolution chroma, WebP at quality 95. ``metadata_from``, the path of the photo
    the image was made from, carries that photo's EXIF (camera, capture time, GPS position) into JPEG,
    PNG, WebP and TIFF files, without its orientation, thumbnail and maker note, with the new size and
    photostyle as the Software tag. Colours are written as sRGB, untagged (photos are read into sRGB).
    ``bits=16`` writes 16 bits per channel, to a TIFF (deflate; EXIF: its text tags only) or a PNG: pass
    the float image (``result.tensor``), whose values an 8-bit image has lost.

    Raises ``ValueError`` for a suffix that is no writable image format (see :func:`image_suffixes`) or,
    with ``bits=16``, not .png/.tif/.tiff,
    ``FileExistsError`` if ``path`` exists and ``overwrite`` is False, and ``FileNotFoundError`` /
    ``PermissionError`` for a missing or read-only directory.
    """
    path = Path(path)
    fmt = _image_format(path)
    check_bits(bits, path)
    if bits == 16:
        t = to_tensor(image, name="image")
        rgb16 = as_uint16(t[0].permute(1, 2, 0).cpu().float().numpy())
        size = (rgb16.shape[1], rgb16.shape[0])
    elif isinstance(image, Image.Image):
        pil = image
        size = pil.size
    else:
        pil = to_pil(to_tensor(image, name="image"))
        size = pil.size
    options = dict(_SAVE_OPTIONS.get(fmt, {}))
    if metadata_from is not None and fmt in _EXIF_FORMATS:
        exif = carried_exif(metadata_from, size, f"photostyle {__version__}")
        if exif is not None:
            options["exif"] = exif
    with atomic_write_path(path, overwrite=overwrite) as tmp:
        if bits == 16:
            (write_png16 if fmt == "PNG" else write_tiff16)(tmp, rgb16, options.get("exif"))
        else:
            pil.save(tmp, format=fmt, **options)
    return path
