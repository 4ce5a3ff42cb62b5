"""Integer label maps: reading, writing, one-hot and soft masks, resizing.

A label map is an ``(H, W)`` int64 numpy array of non-negative ids. It can come from a colour-coded
mask (decoded with a :class:`~segmentation.palette.Palette`), a palette ("P" mode) PNG, an 8/16-bit
grey PNG or a ``.npy`` file.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._checks import check_number, check_shape2, got
from .palette import DEFAULT_FAR_THRESHOLD, Palette, decode_color_mask

__all__ = [
    "load_label_map",
    "save_label_map",
    "resize_labels",
    "one_hot",
    "resize_soft",
    "check_label_map",
    "DEFAULT_MIN_SHARE",
]

#: Labels covering less than this share of an image (0.1 %) are reported with a ``UserWarning``:
#: they are most often anti-aliasing debris along the edges of a painted mask.
DEFAULT_MIN_SHARE = 1e-3

_GREY_MODES = ("L", "I;16", "I;16L", "I;16B", "I;16N", "I", "1", "LA")


def _is_pil(obj: Any) -> bool:
    return hasattr(obj, "mode") and hasattr(obj, "convert") and hasattr(obj, "getpalette")


def check_label_map(labels: Any, name: str = "labels") -> np.ndarray:
    """Return ``labels`` as an (H, W) int64 array of non-negative ids, or raise naming ``name``."""
    if not isinstance(labels, np.ndarray):
        if hasattr(labels, "detach") and hasattr(labels, "cpu"):  # torch tensor
            labels = labels.detach().cpu().numpy()
        else:
            raise TypeError(f"{name}: expected a 2-D integer numpy array (H, W), got {got(labels)}; "
                            "load masks with segmentation.load_label_map.")
    if labels.ndim != 2 or labels.shape[0] == 0 or labels.shape[1] == 0:
        raise ValueError(f"{name}: expected a 2-D label map (H, W), got {got(labels)}; "
                         "decode colour masks with segmentation.decode_color_mask or load_label_map.")
    if labels.dtype == bool:
        labels = labels.astype(np.int64)
    elif np.issubdtype(labels.dtype, np.floating):
        if not np.isfinite(labels).all() or not np.all(np.mod(labels, 1) == 0):
            raise ValueError(f"{name}: expected integer ids, got non-integer floats ({got(labels)}); "
                             "pass an integer array, or soft masks to one_hot/resize_soft instead.")
        labels = labels.astype(np.int64)
    elif not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"{name}: expected an integer array, got dtype {labels.dtype}; "
                        "pass integer ids (bool and integral floats are accepted too).")
    labels = labels.astype(np.int64, copy=False)
    if labels.min() < 0:
        raise ValueError(f"{name}: expected non-negative ids, got minimum {labels.min()}; "
                         "shift the ids so that they start at 0.")
    return labels


def _looks_like_photo(labels: np.ndarray) -> bool:
    """True for piecewise-varying images: many distinct values and most neighbours differ.

    Label maps are piecewise constant: only boundary pixels differ from a neighbour (a few %),
    while in a grey photograph most of them do.
    """
    if len(np.unique(labels)) <= 32:
        return False
    differs = np.zeros(labels.shape, dtype=bool)
    differs[:, :-1] |= labels[:, 1:] != labels[:, :-1]
    differs[:-1, :] |= labels[1:, :] != labels[:-1, :]
    return bool(differs.mean() > 0.25)


def _warn_tiny(labels: np.ndarray, min_share: float, names: dict[int, str] | None, source: str) -> None:
    # np.unique, not np.bincount: a label map with an id like 2**40 must not allocate 2**40 counters.
    ids, counts = np.unique(labels.reshape(-1), return_counts=True)
    shares = dict(zip(ids.tolist(), (counts / labels.size).tolist()))
    tiny = [i for i, share in shares.items() if share < min_share]
    if not tiny:
        return
    parts = []
    for i in tiny[:8]:
        label = f"{i} ({names[i]})" if names and i in names else f"{i}"
        parts.append(f"label {label} covers {shares[i]:.3%}")
    more = f" and {len(tiny) - 8} more" if len(tiny) > 8 else ""
    warnings.warn(
        f"{source}: {'; '.join(parts)}{more} of the image, less than min_share={min_share:.1%}; "
        "likely anti-aliasing debris or a stray brush stroke. Repaint it, or merge it into a neighbour.",
        UserWarning,
        stacklevel=3,
    )


def _check_npy_header(path: Path) -> None:
    """Refuse a .npy file whose header declares more data than the file holds (before reading it:
    a 100-byte file that declares a 10^12-element array must not be allocated), or a non-numeric dtype."""
    try:
        with open(path, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                           else np.lib.format.read_array_header_2_0)
            shape, _fortran, dtype = read_header(fh)
            offset = fh.tell()
    except Exception as exc:  # noqa: BLE001 - numpy raises ValueError, SyntaxError, EOFError, ... on bad headers
        raise ValueError(f"src: cannot read {str(path)!r} as a .npy array (bad header: {exc}); "
                         "save label maps with segmentation.save_label_map.") from exc
    if dtype.hasobject or dtype.kind not in "biuf":
        raise ValueError(f"src: expected a .npy array of integer ids (or bool / integral floats), got a {dtype} "
                         f"array in {str(path)!r}; save label maps with segmentation.save_label_map.")
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = path.stat().st_size - offset
    if declared > held:
        raise ValueError(f"src: expected a complete .npy file, got {str(path)!r}, which declares an array of shape "
                         f"{tuple(shape)} ({declared} bytes) but holds {held} bytes of data (truncated or corrupt); "
                         "write it again with segmentation.save_label_map.")


def _open_pil(path: Path) -> Any:
    """PIL image of a file, fully decoded; corrupt files and decompression bombs raise ValueError."""
    import struct
    import zlib

    from PIL import Image

    decode_errors = (OSError, SyntaxError, ValueError, EOFError, struct.error, zlib.error, IndexError, KeyError,
                     TypeError, ZeroDivisionError, OverflowError, MemoryError, Image.DecompressionBombError)
    too_large = None
    try:
        # from a file object: by name, Pillow 13 maps uncompressed files, which decodes a grey TIFF with
        # orientation 5-8 into the wrong shape
        with open(path, "rb") as fh:
            with warnings.catch_warnings():
                # PIL warns between 1x and 2x its limit (and raises above); such images are refused below.
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                img = Image.open(fh)
            with img:
                limit = Image.MAX_IMAGE_PIXELS
                if limit is not None and img.width * img.height > limit:
                    too_large = (img.width, img.height, limit)
                else:
                    img.load()
                    return img.copy()
    except Image.DecompressionBombError as exc:  # PIL refuses above twice its limit, at open
        found = re.search(r"\((\d+) pixels\)", str(exc))
        declared = f"{found.group(1)} pixels" if found else "a huge size"
        raise ValueError(f"src: cannot read {str(path)!r} as an image: it declares {declared}, more than twice "
                         f"PIL.Image.MAX_IMAGE_PIXELS ({Image.MAX_IMAGE_PIXELS}); the file is corrupt or a "
                         "decompression bomb: if the image is real, raise PIL.Image.MAX_IMAGE_PIXELS (None: no "
                         "limit) before reading it.") from exc
    except decode_errors as exc:
        raise ValueError(f"src: cannot read {str(path)!r} as an image ({exc}); pass a PNG, a .npy "
                         "file, a PIL image or a numpy array.") from exc
    width, height, limit = too_large
    raise ValueError(f"src: cannot read {str(path)!r} as an image: it declares {width} x {height} pixels, more "
                     f"than PIL.Image.MAX_IMAGE_PIXELS ({limit}); the file is corrupt or a decompression bomb: "
                     "if the image is real, raise PIL.Image.MAX_IMAGE_PIXELS (None: no limit) before reading it.")


def _read(src: Any) -> tuple[Any, str]:
    """Open a path as a PIL image or a numpy array (``.npy``); pass other objects through."""
    if isinstance(src, (str, os.PathLike)):
        path = Path(src)
        if not path.is_file():
            raise FileNotFoundError(f"src: no label map file at {str(path)!r}; check the path.")
        if path.suffix.lower() == ".npy":
            _check_npy_header(path)
            try:
                return np.load(path, allow_pickle=False), str(path)
            except Exception as exc:  # noqa: BLE001 - any failure means unreadable
                raise ValueError(f"src: cannot read {str(path)!r} as a .npy array ({exc}); "
                                 "save label maps with segmentation.save_label_map.") from exc
        return _open_pil(path), str(path)
    return src, type(src).__name__


def _upright(img: Any) -> Any:
    """A label image with its EXIF orientation applied, as viewers (and photostyle's photo reader) show
    it; the same image where it has none. Only its pixels move: a label map's colours are ids."""
    from PIL import ImageOps

    try:
        turned = img.getexif().get(0x0112, 1) in range(2, 9)
    except Exception:  # noqa: BLE001 - a corrupt EXIF block is read as no orientation
        return img
    return ImageOps.exif_transpose(img) if turned else img


def load_label_map(
    src: Any,
    *,
    palette: Palette | None = None,
    strict: bool = False,
    far_threshold: float = DEFAULT_FAR_THRESHOLD,
    min_share: float = DEFAULT_MIN_SHARE,
) -> np.ndarray:
    """Read a label map from a path, a PIL image or a numpy array.

    Parameters
    ----------
    src : str, os.PathLike, PIL.Image.Image or ndarray
        - 2-D integer (or bool, or integral float) arrays, ``.npy`` files and 8/16-bit grey PNGs are
          label maps as they are;
        - ``"P"``-mode PNGs give their palette indices (when ``palette`` is None);
        - RGB(A) images and (H, W, 3|4) arrays are colour masks, decoded to the nearest colour of
          ``palette`` (see :func:`~segmentation.decode_color_mask`).
    palette : Palette, optional
        Palette for colour masks; default :data:`~segmentation.DPST_PALETTE`. Given with a ``"P"``-mode
        image, the image's colours are decoded with it instead of taking its indices.
    strict : bool, default False
        Refuse colour masks with pixels far from every palette colour.
    far_threshold : float, default 64
        See :func:`~segmentation.decode_color_mask`.
    min_share : float, default 0.001
        Labels covering less than this share of the image are reported with a ``UserWarning``.

    Returns
    -------
    ndarray of shape (H, W), int64
        Non-negative label ids.

    Raises
    ------
    FileNotFoundError
        If ``src`` is a path to no file.
    ValueError
        If the file cannot be read (corrupt, truncated, an image declaring more than
        ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, a .npy array of non-numeric dtype), or the image does
        not look like a label image.
    TypeError
        If ``src`` is not a path, a PIL image or an array, or an array of a non-numeric dtype.
    """
    min_share = check_number("min_share", min_share, minimum=0.0, maximum=1.0)
    obj, source = _read(src)
    names: dict[int, str] | None = None
    if _is_pil(obj):
        obj = _upright(obj)
        mode = obj.mode
        if mode in ("P", "PA") and palette is None:
            labels = np.asarray(obj.convert("P") if mode == "PA" else obj).astype(np.int64)
        elif mode in _GREY_MODES:
            grey = obj.getchannel(0) if mode == "LA" else obj
            labels = np.asarray(grey).astype(np.int64)
        elif mode == "F":
            labels = check_label_map(np.asarray(obj), "src")
        else:
            decoded = decode_color_mask(obj.convert("RGB"), palette, strict=strict, far_threshold=far_threshold)
            labels, names = decoded.labels, dict(enumerate(decoded.palette.names))
    elif isinstance(obj, np.ndarray) and obj.ndim == 3:
        decoded = decode_color_mask(obj, palette, strict=strict, far_threshold=far_threshold)
        labels, names = decoded.labels, dict(enumerate(decoded.palette.names))
    elif isinstance(obj, np.ndarray) or (hasattr(obj, "detach") and hasattr(obj, "cpu")):
        labels = check_label_map(obj, "src")
    else:
        raise TypeError(f"src: expected a path, a PIL image or a numpy array, got {got(obj)}; "
                        "pass e.g. src='mask.png'.")
    labels = check_label_map(labels, "src")
    if names is None and _looks_like_photo(labels):
        raise ValueError(
            f"src: expected a label image, got what looks like a photograph ({source}: "
            f"{len(np.unique(labels))} distinct values, most pixels differ from their neighbours); "
            "pass the mask, not the photo."
        )
    _warn_tiny(labels, min_share, names, f"label map from {source}")
    return np.ascontiguousarray(labels)


def save_label_map(
    labels: Any,
    path: str | os.PathLike,
    *,
    overwrite: bool = False,
    palette: Palette | None = None,
) -> Path:
    """Write a label map atomically (temporary file, then rename).

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
        Non-negative ids.
    path : str or os.PathLike
        ``.npy`` (any ids), or ``.png``: 8-bit grey when ids < 256, 16-bit grey when ids < 65536, or a
        ``"P"``-mode (palette) PNG when ``palette`` is given (ids < min(256, len(palette))).
    overwrite : bool, default False
        Replace an existing file; otherwise an existing file raises ``FileExistsError``.
    palette : Palette, optional
        Write a palette PNG coloured with it (readable by any image viewer; reads back to the same ids).

    Returns
    -------
    pathlib.Path
        The written path.
    """
    labels = check_label_map(labels, "labels")
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npy", ".png"):
        raise ValueError(f"path: expected a file name ending in .png or .npy, got {str(path)!r}; "
                         "pick one of those formats.")
    if path.exists() and not overwrite:
        raise FileExistsError(f"path: expected a new file, got {str(path)!r}, which exists; "
                              "pass overwrite=True to replace it.")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: the folder {str(path.parent)!r} does not exist; create it first.")
    top = int(labels.max())
    image = None
    if suffix == ".png":
        from PIL import Image

        if palette is not None:
            if not isinstance(palette, Palette):
                raise TypeError(f"palette: expected a segmentation.Palette, got {got(palette)}; "
                                "build one with Palette.from_dict({'sky': (0, 0, 255), ...}).")
            limit = min(256, len(palette))
            if top >= limit:
                raise ValueError(f"labels: expected ids in 0..{limit - 1} for this palette PNG, got id {top}; "
                                 "save without palette= or as .npy.")
            image = Image.frombytes("P", (labels.shape[1], labels.shape[0]), labels.astype(np.uint8).tobytes())
            image.putpalette(palette.colors[:limit].reshape(-1).tolist())
        elif top < 256:
            image = Image.fromarray(labels.astype(np.uint8))
        elif top < 65536:
            image = Image.fromarray(labels.astype(np.uint16))
        else:
            raise ValueError(f"labels: expected ids in 0..65535 for a 16-bit PNG, got id {top}; save as .npy.")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=suffix, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            if image is not None:
                image.save(fh, format="PNG")
            else:
                np.save(fh, labels, allow_pickle=False)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _centre_index(n_out: int, n_in: int) -> np.ndarray:
    """Nearest source index for each output pixel centre."""
    idx = np.floor((np.arange(n_out) + 0.5) * (n_in / n_out)).astype(np.int64)
    return np.clip(idx, 0, n_in - 1)


def resize_labels(labels: Any, shape: tuple[int, int]) -> np.ndarray:
    """Resize a label map with nearest-neighbour sampling (pixel centres), so no new ids appear.

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
    shape : (int, int)
        Target (height, width).

    Returns
    -------
    ndarray of shape ``shape``, int64
    """
    labels = check_label_map(labels, "labels")
    h, w = check_shape2("shape", shape)
    if (h, w) == labels.shape:
        return labels.copy()
    return labels[_centre_index(h, labels.shape[0])[:, None], _centre_index(w, labels.shape[1])[None, :]]


def one_hot(labels: Any, ids: Any = None) -> np.ndarray:
    """Binary masks, one per id.

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
    ids : sequence of int, optional
        The ids to make masks for, in this order; default the sorted ids that occur. Ids absent from
        ``labels`` give an all-zero mask.

    Returns
    -------
    ndarray of shape (L, H, W), float32
        ``1.0`` where ``labels == ids[l]``.
    """
    labels = check_label_map(labels, "labels")
    ids = np.unique(labels) if ids is None else np.asarray(list(ids), dtype=np.int64).reshape(-1)
    return (labels[None, :, :] == ids[:, None, None]).astype(np.float32)


def _area_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) matrix averaging the input cells each output cell overlaps, by overlap length."""
    edges_out = np.arange(n_out + 1) * (n_in / n_out)
    lo, hi = edges_out[:-1, None], edges_out[1:, None]
    cells = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0, None)
    return overlap / overlap.sum(1, keepdims=True)


def resize_soft(masks: Any, shape: tuple[int, int]) -> Any:
    """Resize soft masks by area averaging (every output pixel is the mean of the area it covers).

    Parameters
    ----------
    masks : ndarray or torch.Tensor of shape (L, H, W) or (H, W), float
        Values in [0, 1] by convention (not required).
    shape : (int, int)
        Target (height, width).

    Returns
    -------
    Same type, dtype and device as ``masks``, shape (L, *shape) or ``shape``.
        Downscaling averages, upscaling repeats; the mean of every mask is kept.
    """
    h, w = check_shape2("shape", shape)
    is_torch = hasattr(masks, "detach") and hasattr(masks, "cpu")
    if not is_torch and not isinstance(masks, np.ndarray):
        raise TypeError(f"masks: expected a numpy array or torch tensor (L, H, W) or (H, W), got {got(masks)}; "
                        "stack one (H, W) mask per label.")
    if masks.ndim not in (2, 3) or masks.shape[-1] == 0 or masks.shape[-2] == 0:
        raise ValueError(f"masks: expected shape (L, H, W) or (H, W) with H, W >= 1, got {got(masks)}; "
                         "stack one (H, W) mask per label.")
    H, W = masks.shape[-2:]
    rows, cols = _area_matrix(h, H), _area_matrix(w, W)
    if is_torch:
        import torch

        dtype = masks.dtype if masks.is_floating_point() else torch.get_default_dtype()
        x = masks.to(dtype)
        r = torch.as_tensor(rows, dtype=dtype, device=masks.device)
        c = torch.as_tensor(cols, dtype=dtype, device=masks.device)
        return r @ x @ c.T
    dtype = masks.dtype if np.issubdtype(masks.dtype, np.floating) else np.float32
    out = rows @ masks.astype(np.float64) @ cols.T
    return out.astype(dtype)
