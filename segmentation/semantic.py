"""Semantic segmentation with DeepLabV3 + MobileNetV2 trained on ADE20K, run in PyTorch.

The network is read from its TensorFlow Lite file (``deeplabv3_mobilenetv2_ade20k.tflite``: TensorFlow
Hub ``sayakpaul/lite-model/deeplabv3-mobilenetv2-ade20k/1/default/1``, converted from the official
DeepLab model zoo, Apache-2.0) and rebuilt as an ``nn.Module`` (:class:`SemanticSegmenter`), so it
follows the input's device and dtype. Needs ``pip install photostyle[semantic]`` (the ``tflite``
flatbuffer parser; no TensorFlow runtime).

The model file is found, in this order: the ``model`` argument; the file named by
``$PHOTOSTYLE_SEG_MODEL``; the torch hub cache ``<torch.hub.get_dir()>/checkpoints/deeplabv3_mobilenetv2_ade20k.tflite``;
else it is downloaded there from :data:`MODEL_URL` with its sha256 checked (only where downloading is
allowed: :func:`load_segmentation_model` and ``auto_segment(method="semantic")``; ``method="auto"``
never downloads).

Numerics: the file stores its 1x1 convolution weights as int8 (one scale per tensor); they are
dequantised once and every layer runs in floating point. The reference runtime (``ai-edge-litert``)
runs those convolutions in "hybrid" mode, quantising their input activations to int8 on the fly, so
its logits differ from these by that rounding: on DPST photos at 513x513 the mean absolute difference
is about 0.05 (logits have a standard deviation of about 3), the largest about 0.5, and the argmax
agrees on about 99 % of the pixels. Given the same input, every other operator matches the reference
to float32 rounding (tests/test_semantic.py).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import got

__all__ = [
    "ADE20K_CLASSES",
    "CLASS_FAMILIES",
    "FAMILY_NEIGHBOURS",
    "MODEL_FILE_NAME",
    "MODEL_SHA256",
    "MODEL_URL",
    "SEG_MODEL_ENV_VAR",
    "INPUT_SIZE",
    "MIN_SIDE",
    "SemanticSegmenter",
    "class_family",
    "class_id",
    "download_segmentation_model",
    "find_segmentation_model",
    "load_segmentation_model",
    "semantic_probabilities",
]

SEG_MODEL_ENV_VAR = "PHOTOSTYLE_SEG_MODEL"
MODEL_FILE_NAME = "deeplabv3_mobilenetv2_ade20k.tflite"
MODEL_SHA256 = "9476784566f88bf0bdc3169f0012fb7d08857b325811d8c1aaf5ada1c0d4e4f9"
#: Canonical address (TensorFlow Hub, served as a raw .tflite file).
MODEL_URL = "https://tfhub.dev/sayakpaul/lite-model/deeplabv3-mobilenetv2-ade20k/1/default/1?lite-format=tflite"
#: The network's input side (pixels); photos are scaled so that their long side is this, then padded.
INPUT_SIZE = 513
#: The network's output stride: a photo must be at least this many pixels on each side.
MIN_SIDE = 8
_INSTALL = "pip install photostyle[semantic]"

#: Class names: id 0 is "other" (no ADE20K class), ids 1..150 the ADE20K classes in the model's order.
#: The first word of each name is the label in the ``ade20k_labels.txt`` shipped with the model (which
#: also names id 59, here "screen door", "screen"); either form is accepted where a class is named.
ADE20K_CLASSES: tuple[str, ...] = (
    "other", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair",
    "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box",
    "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow",
    "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower",
    "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair",
    "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)

#: Family of every class: a class present in one photo only is matched to the same family in the other.
CLASS_FAMILIES: dict[str, tuple[str, ...]] = {
    "sky": ("sky",),
    "vegetation": ("tree", "grass", "plant", "field", "flower", "palm"),
    "water": ("water", "sea", "river", "lake", "waterfall", "fountain", "swimming pool"),
    "landform": ("mountain", "hill", "rock"),
    "ground": ("floor", "road", "sidewalk", "earth", "sand", "path", "runway", "dirt track", "land", "rug"),
    "structure": ("wall", "building", "ceiling", "windowpane", "door", "house", "fence", "railing", "column",
                  "skyscraper", "stairs", "stairway", "bridge", "hovel", "tower", "awning", "booth", "pole",
                  "bannister", "escalator", "step", "pier", "grandstand", "canopy", "tent", "streetlight",
                  "signboard", "screen door", "stage", "traffic light", "trade name"),
    "person": ("person",),
    "vehicle": ("car", "boat", "bus", "truck", "airplane", "van", "ship", "minibike", "bicycle"),
    "animal": ("animal",),
    "furniture": ("bed", "cabinet", "table", "chair", "sofa", "shelf", "armchair", "seat", "desk", "wardrobe",
                  "bathtub", "chest of drawers", "counter", "sink", "fireplace", "refrigerator", "case",
                  "pool table", "bookcase", "coffee table", "toilet", "bench", "countertop", "stove",
                  "kitchen island", "swivel chair", "bar", "buffet", "ottoman", "stool", "cradle", "oven",
                  "washer", "dishwasher", "microwave", "radiator", "shower", "hood", "arcade machine"),
    "object": ("curtain", "painting", "mirror", "lamp", "cushion", "base", "box", "pillow", "blind", "book",
               "computer", "towel", "light", "chandelier", "television", "apparel", "bottle", "poster",
               "conveyer belt", "plaything", "barrel", "basket", "bag", "ball", "food", "tank", "pot",
               "screen", "blanket", "sculpture", "sconce", "vase", "tray", "ashcan", "fan", "crt screen",
               "plate", "monitor", "bulletin board", "glass", "clock", "flag"),
    "other": ("other",),
}

#: Where to look next when a family is absent from the other photo (in this order).
FAMILY_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "vegetation": ("landform", "ground"),
    "landform": ("vegetation", "ground"),
    "ground": ("landform", "vegetation"),
    "furniture": ("object",),
    "object": ("furniture",),
}

_FAMILY_OF: dict[str, str] = {c: fam for fam, cs in CLASS_FAMILIES.items() for c in cs}
_ID_OF: dict[str, int] = {name: i for i, name in enumerate(ADE20K_CLASSES)}
_ALIASES: dict[str, int] = {}
for _i, _name in enumerate(ADE20K_CLASSES):
    _first = _name.split()[0]
    if _first not in _ID_OF:
        _ALIASES.setdefault(_first, _i)


def class_id(name: Any, *, argument: str = "name") -> int:
    """The id (0..150) of an ADE20K class given by name (``"tree"``, ``"chest of drawers"`` or the
    label file's first word ``"chest"``), or by id.

    Raises
    ------
    ValueError
        For an unknown name, with the closest known names.
    """
    import difflib
    import numbers

    if isinstance(name, numbers.Integral) and not isinstance(name, bool):
        if 0 <= int(name) < len(ADE20K_CLASSES):
            return int(name)
        raise ValueError(f"{argument}: class id must be in 0..{len(ADE20K_CLASSES) - 1}, got {name}.")
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected an ADE20K class name (str), got {got(name)}.")
    key = " ".join(name.strip().lower().replace("_", " ").split())
    if key in _ID_OF:
        return _ID_OF[key]
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ID_OF), n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"{argument}: {name!r} is not an ADE20K class.{hint} "
                     "The names are in segmentation.semantic.ADE20K_CLASSES.")


def class_family(name: Any) -> str:
    """The family (``"sky"``, ``"vegetation"``, ``"water"``, ...) of a class name or id."""
    return _FAMILY_OF[ADE20K_CLASSES[class_id(name)]]


# -- finding, checking and downloading the model file ------------------------------------------------

def _hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / MODEL_FILE_NAME


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _refetch_help() -> str:
    return (f"delete it and fetch it again with segmentation.download_segmentation_model() (from {MODEL_URL}), "
            f"or put a good copy at '{_hub_path()}' or set ${SEG_MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}")


def check_model_file(path: str | os.PathLike) -> Path:
    """Raise a clear error if ``path`` is missing or its sha256 is not :data:`MODEL_SHA256`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model: no file at '{path}'; {_refetch_help()}.")
    digest = _sha256(path)
    if digest != MODEL_SHA256:
        raise ValueError(
            f"model: '{path}' ({path.stat().st_size} bytes) has sha256 {digest}, expected {MODEL_SHA256} "
            f"({MODEL_FILE_NAME}, 2,415,896 bytes): the file is corrupt, truncated or another model. "
            f"To refetch it, {_refetch_help()}. To use another conversion on purpose, pass check_hash=False."
        )
    return path


def find_segmentation_model(model: str | os.PathLike | None = None) -> Path | None:
    """Where the model file is, without downloading: ``model``, else ``$PHOTOSTYLE_SEG_MODEL``, else
    the torch hub cache; None when none of them names an existing file.

    Raises
    ------
    FileNotFoundError
        If ``model`` or ``$PHOTOSTYLE_SEG_MODEL`` names a file that does not exist (an explicit choice
        that cannot be honoured is an error, not a silent fallback).
    """
    if model is not None:
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError(f"model: expected a path to {MODEL_FILE_NAME}, a SemanticSegmenter or None, "
                            f"got {got(model)}.")
        path = Path(os.fsdecode(model)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model: no file at '{path}'; pass the path of {MODEL_FILE_NAME}, "
                                    f"or model=None to use ${SEG_MODEL_ENV_VAR} or the cache.")
        return path
    env = os.environ.get(SEG_MODEL_ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"${SEG_MODEL_ENV_VAR} names '{path}', which does not exist; fix or unset "
                                    f"it (then the cache '{_hub_path()}' is used, or the file downloaded).")
        return path
    cached = _hub_path()
    return cached if cached.is_file() else None


def download_segmentation_model(
    dst: str | os.PathLike | None = None, *, url: str = MODEL_URL, progress: bool = True
) -> Path:
    """Download the model file to ``dst`` (default: the torch hub cache) with its sha256 checked.

    Parameters
    ----------
    dst : path, optional
        Target file; default ``<torch.hub.get_dir()>/checkpoints/deeplabv3_mobilenetv2_ade20k.tflite``.
    url : str, default :data:`MODEL_URL`
    progress : bool, default True

    Returns
    -------
    Path
        ``dst``, written only once the whole download matched :data:`MODEL_SHA256`.

    Raises
    ------
    RuntimeError
        No connection, an HTTP error, or a download whose hash does not match (it is discarded).
    """
    import http.client
    from urllib.error import HTTPError, URLError

    dst = Path(dst) if dst is not None else _hub_path()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=MODEL_SHA256, progress=progress)
    except RuntimeError as exc:
        if "invalid hash value" in str(exc):
            raise RuntimeError(
                f"the file downloaded from {url} does not have the sha256 {MODEL_SHA256} of {MODEL_FILE_NAME} "
                f"({exc}); it was discarded. Try again later, or download it by hand and set "
                f"${SEG_MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}."
            ) from exc
        raise
    except (URLError, OSError, http.client.HTTPException) as exc:
        why = (f"the server answered HTTP {exc.code} {exc.reason}" if isinstance(exc, HTTPError)
               else f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
        raise RuntimeError(
            f"could not download the segmentation model from {url} ({why}). Without network, copy "
            f"{MODEL_FILE_NAME} (sha256 {MODEL_SHA256}) to '{dst}' or set ${SEG_MODEL_ENV_VAR}=/path/to/it."
        ) from exc
    return dst


# -- the network -------------------------------------------------------------------------------------

class SemanticSegmenter(nn.Module):
    """DeepLabV3 + MobileNetV2 (ADE20K) as a PyTorch module, built from the ``.tflite`` graph.

    Parameters
    ----------
    graph : TFLiteGraph
        From :func:`~segmentation.tflite_reader.read_tflite` (use :func:`load_segmentation_model`).

    Notes
    -----
    ``forward(x)``: ``x`` of shape (N, 3, 513, 513), RGB scaled to [-1, 1] (``rgb / 127.5 - 1``), any
    floating dtype and device; returns logits of shape (N, 151, 513, 513) in the same dtype (class 0
    "other", class k the k-th of :data:`ADE20K_CLASSES`).
    """

    def __init__(self, graph: Any) -> None:
        super().__init__()
        from .tflite_torch import TFLiteModule

        shape = graph.tensors[graph.inputs[0]].shape
        out_shape = graph.tensors[graph.outputs[0]].shape
        if tuple(shape) != (1, INPUT_SIZE, INPUT_SIZE, 3) or tuple(out_shape[-1:]) != (len(ADE20K_CLASSES),):
            raise ValueError(f"model: expected a graph with input (1, {INPUT_SIZE}, {INPUT_SIZE}, 3) and "
                             f"{len(ADE20K_CLASSES)} output classes, got input {tuple(shape)} and output "
                             f"{tuple(out_shape)}; is this the ADE20K DeepLabV3 model?")
        self.net = TFLiteModule(graph)
        self.classes = ADE20K_CLASSES
        self.source: Path | None = None

    def forward(self, x: Any) -> Any:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor (N, 3, {INPUT_SIZE}, {INPUT_SIZE}), got {got(x)}.")
        if x.ndim != 4 or tuple(x.shape[1:]) != (3, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"x: expected shape (N, 3, {INPUT_SIZE}, {INPUT_SIZE}) in [-1, 1], got {tuple(x.shape)}; "
                             "use semantic_probabilities() for photos of any size.")
        if x.shape[0] == 1:
            return self.net(x)
        return torch.cat([self.net(x[i: i + 1]) for i in range(x.shape[0])])


_LOADED: dict[tuple, SemanticSegmenter] = {}


def load_segmentation_model(
    model: str | os.PathLike | None = None,
    *,
    download: bool = True,
    check_hash: bool = True,
    progress: bool = True,
) -> SemanticSegmenter:
    """Find (or download), check and build the segmentation network.

    Parameters
    ----------
    model : path, optional
        The ``.tflite`` file; default ``$PHOTOSTYLE_SEG_MODEL``, else the torch hub cache, else a
        download to the cache (when ``download``).
    download : bool, default True
        Allow downloading from :data:`MODEL_URL` when no file is found.
    check_hash : bool, default True
        Check the file's sha256 against :data:`MODEL_SHA256` (pass False for another conversion of
        the same network).
    progress : bool, default True
        Show a progress bar while downloading.

    Returns
    -------
    SemanticSegmenter
        In eval mode on the CPU in float32 (move it with ``.to(device)``); built once per file and
        process, then shared (do not modify it in place).

    Raises
    ------
    ImportError
        ``tflite`` is missing (``pip install photostyle[semantic]``).
    FileNotFoundError
        ``model`` / ``$PHOTOSTYLE_SEG_MODEL`` name a missing file, or no file and ``download=False``.
    ValueError
        The file's sha256 does not match (corrupt or truncated), or it is not this network.
    RuntimeError
        The download failed.
    """
    from .tflite_reader import _import_tflite, read_tflite

    _import_tflite()
    path = find_segmentation_model(model)
    if path is None:
        if not download:
            raise FileNotFoundError(
                f"the segmentation model {MODEL_FILE_NAME} is not in the cache '{_hub_path()}' and "
                f"${SEG_MODEL_ENV_VAR} is not set; download it with segmentation.download_segmentation_model() "
                f"(from {MODEL_URL}) or set ${SEG_MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}."
            )
        path = download_segmentation_model(progress=progress)
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns, bool(check_hash))
    if key in _LOADED:
        return _LOADED[key]
    if check_hash:
        check_model_file(path)
    try:
        graph = read_tflite(path)
    except ValueError as exc:
        raise ValueError(f"model: '{path}' could not be read as a TFLite model ({exc}); {_refetch_help()}.") from exc
    net = SemanticSegmenter(graph).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    net.source = path
    _LOADED[key] = net
    return net


# -- photos in, probabilities out ----------------------------------------------------------------------

def photo_rgb(image: Any, name: str) -> np.ndarray:
    """Any photo as (H, W, 3) float64 in [0, 1]: RGB, grey (H, W) / (H, W, 1), RGBA (alpha dropped,
    with a warning if not opaque), uint8 or float, PIL images of any mode, tensors (C, H, W) /
    (1, C, H, W) with C in {1, 3, 4}."""
    from .palette import as_rgb_uint8

    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL
        if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
            alpha = np.asarray(image.convert("RGBA"))[..., 3]
            if alpha.min() < 255:
                warnings.warn(f"{name}: the alpha channel is ignored (transparent pixels keep their colour).",
                              UserWarning, stacklevel=3)
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch
        arr = image.detach().cpu().float().numpy()
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 3 or arr.shape[0] not in (1, 3, 4):
            raise ValueError(f"{name} as a tensor must have shape (C, H, W) or (1, C, H, W) with C in 1, 3, 4, "
                             f"got {got(image)}.")
        image = np.moveaxis(arr, 0, -1)
    if isinstance(image, np.ndarray):
        if image.ndim == 2:
            image = image[..., None]
        if image.ndim == 3 and image.shape[2] == 1:
            image = np.repeat(image, 3, axis=2)
        if image.ndim == 3 and image.shape[2] == 4:
            alpha = image[..., 3]
            opaque = 255 if image.dtype == np.uint8 else 1.0
            if alpha.size and float(alpha.min()) < opaque:
                warnings.warn(f"{name}: the alpha channel is ignored (transparent pixels keep their colour).",
                              UserWarning, stacklevel=3)
    return as_rgb_uint8(image, name).astype(np.float64) / 255.0


def check_photo_size(rgb: np.ndarray, name: str) -> None:
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise ValueError(
            f"{name}: a photo of {h}x{w} pixels is smaller than the segmentation network's output stride; "
            f"it needs at least {MIN_SIDE} pixels on each side (better 100 or more). Upscale it, or use "
            "method='cluster'."
        )
    if max(h, w) / min(h, w) > INPUT_SIZE / MIN_SIDE:
        raise ValueError(
            f"{name}: a photo of {h}x{w} pixels is too elongated for the network ({INPUT_SIZE} px on its long "
            f"side leaves less than {MIN_SIDE} px on the short one); crop it to an aspect ratio below "
            f"{INPUT_SIZE // MIN_SIDE}:1, or use method='cluster'."
        )


def semantic_probabilities(image: Any, *, model: Any = None, device: Any = None, dtype: Any = None) -> Any:
    """Class probabilities of a photo of any size and aspect ratio.

    The photo is scaled so that its long side is 513 px (bilinear, antialiased when shrinking),
    padded at the bottom and right with mid-grey to 513x513, run through the network, and the padding
    is cropped off again.

    Parameters
    ----------
    image : photo
        (H, W, 3) / (H, W) / (H, W, 4) array (uint8 or float in [0, 1]), PIL image, or tensor
        (C, H, W); at least :data:`MIN_SIDE` px on each side.
    model : SemanticSegmenter or path, optional
        Default :func:`load_segmentation_model` ``()`` (which may download the file).
    device, dtype : optional
        Where and in which floating dtype the network runs; default: a tensor input's, else CPU float32.

    Returns
    -------
    torch.Tensor of shape (151, h, w)
        Softmax probabilities at the network's scale (``h, w`` = the photo's size scaled to a long side
        of 513), on ``device`` in ``dtype``.
    """
    if dtype is None:
        dtype = image.dtype if isinstance(image, torch.Tensor) and image.is_floating_point() else torch.float32
    if device is None:
        device = image.device if isinstance(image, torch.Tensor) else torch.device("cpu")
    rgb = photo_rgb(image, "image")
    check_photo_size(rgb, "image")
    net = model if isinstance(model, SemanticSegmenter) else load_segmentation_model(model)
    logits, (h, w) = _run(net, rgb, device, dtype)
    return torch.softmax(logits[0, :, :h, :w], dim=0)


def _run(net: SemanticSegmenter, rgb: np.ndarray, device: Any, dtype: Any) -> tuple[Any, tuple[int, int]]:
    H, W = rgb.shape[:2]
    scale = INPUT_SIZE / max(H, W)
    h, w = max(1, min(INPUT_SIZE, round(H * scale))), max(1, min(INPUT_SIZE, round(W * scale)))
    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0))).to(device=device, dtype=dtype)[None]
    if (h, w) != (H, W):
        x = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=scale < 1)
    x = x.clamp(0, 1) * 2 - 1
    x = F.pad(x, (0, INPUT_SIZE - w, 0, INPUT_SIZE - h), value=0.0)
    with torch.no_grad():
        logits = net.to(device)(x)
    return logits, (h, w)


# -- edge refinement -----------------------------------------------------------------------------------

def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over the (2r+1)^2 window clipped at the borders, for (..., H, W) tensors (cumulative sums)."""
    def along(a: torch.Tensor, dim: int) -> torch.Tensor:
        n = a.shape[dim]
        c = torch.cumsum(a, dim=dim)
        zeros = torch.zeros_like(c.narrow(dim, 0, 1))
        last = c.narrow(dim, n - 1, 1)
        c = torch.cat([zeros.expand_as(c.narrow(dim, 0, 1)).repeat_interleave(r + 1, dim=dim), c,
                       last.repeat_interleave(r, dim=dim)], dim=dim)
        idx = torch.arange(n, device=a.device)
        count = ((idx + r + 1).clamp(max=n) - (idx - r).clamp(min=0)).to(a.dtype)
        shape = [1] * a.ndim
        shape[dim] = n
        return (c.narrow(dim, 2 * r + 1, n) - c.narrow(dim, 0, n)) / count.view(shape)
    return along(along(x, x.ndim - 2), x.ndim - 1)


def guided_filter_probabilities(guide: Any, probs: Any, *, radius: int, eps: float) -> Any:
    """Colour guided filter (He et al. 2010) of every channel of ``probs`` with ``guide`` as guide.

    Parameters
    ----------
    guide : tensor of shape (3, H, W), float in [0, 1]
    probs : tensor of shape (K, H, W), float
    radius : int
        Window radius (pixels).
    eps : float
        Regularisation (larger: smoother, less edge-following).

    Returns
    -------
    tensor of shape (K, H, W)
        The filtered channels, in ``probs``' dtype and device (not renormalised; take the argmax).
    """
    dtype = probs.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    I = guide.to(device=probs.device, dtype=work)
    I = I - I.mean(dim=(1, 2), keepdim=True)  # centred: less cancellation in the local covariances
    p = probs.to(work)
    mean_i = _box(I, radius)  # (3, H, W)
    mean_p = _box(p, radius)  # (K, H, W)
    cov_ii = _box(I[:, None] * I[None, :], radius) - mean_i[:, None] * mean_i[None, :]  # (3, 3, H, W)
    cov_ip = _box(I[:, None] * p[None, :], radius) - mean_i[:, None] * mean_p[None, :]  # (3, K, H, W)
    sigma = cov_ii.permute(2, 3, 0, 1) + eps * torch.eye(3, dtype=I.dtype, device=I.device)
    a = torch.linalg.solve(sigma, cov_ip.permute(2, 3, 0, 1))  # (H, W, 3, K)
    a = a.permute(2, 3, 0, 1)  # (3, K, H, W)
    b = mean_p - (a * mean_i[:, None]).sum(0)
    out = (_box(a, radius) * I[:, None]).sum(0) + _box(b, radius)
    return out.to(dtype)


def _absorb_fragments(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Connected fragments smaller than ``min_pixels`` take the label sharing most of their border."""
    from scipy import ndimage

    labels = labels.copy()
    for lab_id in np.unique(labels):
        comp, n = ndimage.label(labels == lab_id)
        if n <= 1:
            continue
        sizes = np.bincount(comp.reshape(-1))
        small = np.nonzero(sizes < min_pixels)[0]
        small = small[small > 0]
        if small.size == 0:
            continue
        boxes = ndimage.find_objects(comp)
        for c in small:
            sl = boxes[c - 1]
            y0, y1 = max(sl[0].start - 1, 0), min(sl[0].stop + 1, labels.shape[0])
            x0, x1 = max(sl[1].start - 1, 0), min(sl[1].stop + 1, labels.shape[1])
            region = comp[y0:y1, x0:x1] == c
            ring = ndimage.binary_dilation(region) & ~region
            neighbours = labels[y0:y1, x0:x1][ring]
            neighbours = neighbours[neighbours != lab_id]
            if neighbours.size:
                labels[y0:y1, x0:x1][region] = np.bincount(neighbours).argmax()
    return labels


# -- the pair: classes matched by name, then by family -------------------------------------------------

def _name_list(value: Any, argument: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"{argument}: expected a list of ADE20K class names, got {got(value)}; "
                        f"e.g. {argument}=['person'].")
    return [class_id(v, argument=argument) for v in value]


def _merge_map(merge: Any) -> dict[int, int]:
    if merge is None:
        return {}
    if not isinstance(merge, dict):
        raise TypeError(f"merge: expected a dict {{class: class it joins}}, got {got(merge)}; "
                        "e.g. merge={'tree': 'grass'}.")
    out = {class_id(a, argument="merge"): class_id(b, argument="merge") for a, b in merge.items()}
    for a in out:  # resolve chains, refuse cycles
        seen, b = {a}, out[a]
        while b in out:
            if b in seen:
                raise ValueError(f"merge: the classes {sorted(ADE20K_CLASSES[i] for i in seen)} merge into each "
                                 "other in a cycle; name each class at most once on the left of a chain.")
            seen.add(b)
            b = out[b]
        out[a] = b
    return {a: b for a, b in out.items() if a != b}


def _present(p: torch.Tensor) -> dict[int, float]:
    """{class: share of pixels} of the argmax of (K, h, w) probabilities."""
    counts = torch.bincount(p.argmax(0).reshape(-1), minlength=p.shape[0]).numpy()
    n = p[0].numel()
    return {int(i): float(counts[i]) / n for i in np.flatnonzero(counts)}


_TOP = 6


def _shares(ranks: torch.Tensor, p: torch.Tensor, keep: np.ndarray) -> dict[int, float]:
    """{class: share of pixels} when each pixel takes its most probable class among ``keep``."""
    ok = torch.from_numpy(keep)[ranks]  # (N, T)
    first = ok.to(torch.uint8).argmax(1)
    lab = ranks.gather(1, first[:, None])[:, 0]
    none = ~ok.any(1)
    if bool(none.any()):
        ids = torch.from_numpy(np.flatnonzero(keep))
        lab[none] = ids[p[ids].reshape(len(ids), -1)[:, none].argmax(0)]
    counts = torch.bincount(lab, minlength=p.shape[0]).numpy()
    return {int(i): float(counts[i]) / lab.numel() for i in np.flatnonzero(counts)}


def _names(ids: Sequence[int]) -> str:
    return "+".join(ADE20K_CLASSES[i] for i in ids)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, a):
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a, b) -> None:
        self.parent[self.find(a)] = self.find(b)


def _match(areas: list[dict[int, float]]) -> tuple[list[list[tuple[str, int]]], list[str]]:
    """Connected groups of (side, class) nodes: same class across sides first, then the same family
    (unclaimed classes first), then a neighbouring family; returns the groups and notes."""
    c_cls, s_cls = set(areas[0]), set(areas[1])
    uf = _UnionFind()
    notes: list[str] = []
    for c in c_cls:
        uf.find(("c", c))
    for s in s_cls:
        uf.find(("s", s))
    for c in c_cls & s_cls:
        uf.union(("c", c), ("s", c))

    def candidates(cls: int, other: set[int], unclaimed: set[int], allow_claimed: bool) -> tuple[list[int], str]:
        fam = _FAMILY_OF[ADE20K_CLASSES[cls]]
        for f in (fam,) + FAMILY_NEIGHBOURS.get(fam, ()):
            pool = [o for o in unclaimed if _FAMILY_OF[ADE20K_CLASSES[o]] == f]
            if not pool and allow_claimed:
                pool = [o for o in other if _FAMILY_OF[ADE20K_CLASSES[o]] == f]
            if pool:
                return pool, f
        return [], fam

    for c in sorted(c_cls - s_cls, key=lambda i: -areas[0][i]):  # content-only classes
        pool, fam = candidates(c, s_cls, s_cls - c_cls, allow_claimed=True)
        for s in pool:
            uf.union(("c", c), ("s", s))
        if pool:
            notes.append(f"content '{ADE20K_CLASSES[c]}' is not in the style: matched to its {fam} "
                         f"({', '.join(ADE20K_CLASSES[s] for s in sorted(pool))})")
        else:
            notes.append(f"content '{ADE20K_CLASSES[c]}' has no class of its family "
                         f"({_FAMILY_OF[ADE20K_CLASSES[c]]}) in the style: the whole style image serves it")
    for s in sorted(s_cls - c_cls, key=lambda i: -areas[1][i]):  # style-only: join content-only ones only
        pool, fam = candidates(s, c_cls, c_cls - s_cls, allow_claimed=False)
        for c in pool:
            uf.union(("s", s), ("c", c))
    groups: dict = {}
    for node in list(uf.parent):
        groups.setdefault(uf.find(node), []).append(node)
    return list(groups.values()), notes


def segment_pair(
    content: np.ndarray,
    style: np.ndarray,
    *,
    k: int | None = None,
    merge: Any = None,
    drop: Any = None,
    model: Any = None,
    min_region: float = 0.01,
    work_size: int = 768,
    refine: bool = True,
    download: bool = True,
    device: Any = None,
) -> Any:
    """The semantic method of :func:`segmentation.auto_segment` (see there); photos as (H, W, 3)
    float arrays in [0, 1]. Returns an :class:`~segmentation.auto.AutoMasks`."""
    from .automasks import AutoMasks
    from .labels import resize_labels

    check_photo_size(content, "content")
    check_photo_size(style, "style")
    merge_map = _merge_map(merge)
    drop_ids = _name_list(drop, "drop")
    if isinstance(model, SemanticSegmenter):
        net = model
    else:
        net = load_segmentation_model(model, download=download)
    if device is None:
        device = next(iter(net.buffers())).device
    photos = (content, style)
    probs = []
    for rgb in photos:
        logits, (h, w) = _run(net, rgb, device, torch.float32)
        probs.append(torch.softmax(logits[0, :, :h, :w].float(), dim=0).cpu())

    # every pixel's classes by decreasing probability (the first few): relabelling after removing
    # classes is then a look-up instead of an argmax over 151 channels
    ranks = [p.permute(1, 2, 0).reshape(-1, p.shape[0]).topk(_TOP, dim=1).indices for p in probs]
    raw = [_present(p) for p in probs]
    seen = set(raw[0]) | set(raw[1])

    def absent(cls: int, argument: str) -> ValueError:
        listing = "; ".join(f"{side} has {', '.join(ADE20K_CLASSES[i] for i in sorted(r, key=lambda i: -r[i]))}"
                            for side, r in zip(("content", "style"), raw))
        return ValueError(f"{argument}: '{ADE20K_CLASSES[cls]}' is in neither photo ({listing}); "
                          f"name a class that is there.")

    for a in merge_map:
        if a not in seen:
            raise absent(a, "merge")
    for d in drop_ids:
        if d not in seen:
            raise absent(d, "drop")
    allowed = np.ones(len(ADE20K_CLASSES), bool)
    for p in probs:
        for a, b in merge_map.items():
            p[b] += p[a]
            p[a] = 0
    allowed[list(merge_map)] = False
    allowed[drop_ids] = False
    if not allowed.any():
        raise ValueError("drop: every class was dropped; keep at least one.")

    def settle(allowed: np.ndarray) -> list[dict[int, float]]:
        """Classes kept in each photo: allowed, and covering at least min_region (iterated, since
        removing one class grows the others)."""
        keep = [allowed.copy(), allowed.copy()]
        out = []
        for i, p in enumerate(probs):
            while True:
                share = _shares(ranks[i], p, keep[i])
                small = [c for c, v in share.items() if v < min_region]
                if not small or len(share) == 1:
                    break
                keep[i][min(small, key=lambda c: share[c])] = False
            out.append(share)
        return out

    areas = settle(allowed)
    groups, notes = _match(areas)
    for side, a in zip(("content", "style"), areas):
        if not all(allowed[c] for c in a):
            raise ValueError(f"drop: no class is left in the {side} photo; drop fewer classes.")
    if k is not None:
        while len(groups) > k:  # style-only groups go first, then the smallest content groups
            smallest = min(groups, key=lambda g: (any(s == "c" for s, _ in g),
                                                  sum(areas[0 if s == "c" else 1][c] for s, c in g)))
            cand = allowed.copy()
            cand[[c for _, c in smallest]] = False
            if not all(any(cand[c] for c in a) for a in areas):
                break
            allowed = cand
            areas = settle(allowed)
            groups, notes = _match(areas)

    # one label per group; order: by mean height in the content, then style-only groups
    regions = []  # (class ids per side, name)
    for g in groups:
        c_ids = sorted((c for s, c in g if s == "c"), key=lambda c: -areas[0][c])
        s_ids = sorted((c for s, c in g if s == "s"), key=lambda c: -areas[1][c])
        name = _names(c_ids) if c_ids else _names(s_ids)
        regions.append((c_ids, s_ids, name))

    labels = []
    for side, (rgb, p) in enumerate(zip(photos, probs)):
        chans = torch.stack([p[list(r[side])].sum(0) if r[side] else torch.full(p.shape[1:], -1.0)
                             for r in regions])  # (R, h, w)
        H, W = rgb.shape[:2]
        scale = min(1.0, work_size / max(H, W))
        wh, ww = max(1, round(H * scale)), max(1, round(W * scale))
        up = F.interpolate(chans[None], size=(wh, ww), mode="bilinear", align_corners=False)[0]
        if refine:
            guide = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0))).float()
            if (wh, ww) != (H, W):
                guide = F.interpolate(guide[None], size=(wh, ww), mode="bilinear", align_corners=False,
                                      antialias=True)[0]
            radius = max(1, round(REFINE_RADIUS * max(wh, ww) / INPUT_SIZE))
            up = guided_filter_probabilities(guide, up, radius=radius, eps=REFINE_EPS)
            absent_here = chans.amax(dim=(1, 2)) < 0
            up[absent_here] = -float("inf")  # regions absent from this photo stay out
        lab = up.argmax(0).numpy().astype(np.int64)
        lab = _absorb_fragments(lab, max(1, int(FRAGMENT_SHARE * lab.size)))
        labels.append(resize_labels(lab, (H, W)))

    present = [set(np.unique(l).tolist()) for l in labels]
    heights = []
    for j in range(len(regions)):
        side = 0 if j in present[0] else 1
        ys = np.nonzero(labels[side] == j)[0]
        heights.append((side, ys.mean() / labels[side].shape[0] if ys.size else np.inf))
    order = [j for j in sorted(range(len(regions)), key=lambda j: heights[j]) if j in present[0] | present[1]]
    remap = np.full(len(regions), -1, np.int64)
    remap[order] = np.arange(len(order))
    labels = [remap[l] for l in labels]
    present = [set(np.unique(l).tolist()) for l in labels]
    names = {int(remap[j]): regions[j][2] for j in order}
    return AutoMasks(
        content_labels=labels[0],
        style_labels=labels[1],
        k=len(order),
        matched=tuple(sorted(present[0] & present[1])),
        content_only=tuple(sorted(present[0] - present[1])),
        style_only=tuple(sorted(present[1] - present[0])),
        scores={},
        n_superpixels=(0, 0),
        names=names,
        method="semantic",
        notes=tuple(notes),
    )


#: Guided-filter refinement: radius at the network's scale (513 px long side), scaled with the photo;
#: regularisation. Connected fragments smaller than FRAGMENT_SHARE of a photo join their neighbour.
REFINE_RADIUS = 6
REFINE_EPS = 1e-3
FRAGMENT_SHARE = 0.002
