"""DeepLabV3 + MobileNetV2 (ADE20K) as a PyTorch module, and photos of any size through it.

The network is read from its TensorFlow Lite file (see :mod:`segmentation.model_file`) and rebuilt
as an ``nn.Module`` (:class:`SemanticSegmenter`), so it follows the input's device and dtype. Photos
are scaled to a long side of :data:`INPUT_SIZE`, padded, run, and cropped (:func:`semantic_probabilities`).

Numerics: the file stores its 1x1 convolution weights as int8 (one scale per tensor); they are
dequantised once and every layer runs in floating point. The reference runtime (``ai-edge-litert``)
runs those convolutions in "hybrid" mode, quantising their input activations to int8 on the fly, so
its logits differ from these by that rounding: on DPST photos at 513x513 the mean absolute difference
is about 0.05 (logits have a standard deviation of about 3), the largest about 0.5, and the argmax
agrees on about 99 % of the pixels. Given the same input, every other operator matches the reference
to float32 rounding (tests/test_semantic.py).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._checks import got
from .ade20k import ADE20K_CLASSES
from .model_file import (
    MODEL_FILE_NAME,
    MODEL_URL,
    SEG_MODEL_ENV_VAR,
    _hub_path,
    _refetch_help,
    check_model_file,
    download_segmentation_model,
    find_segmentation_model,
)

__all__ = [
    "HAZE_BLACK_POINT",
    "INPUT_SIZE",
    "MIN_SIDE",
    "SemanticSegmenter",
    "check_photo_size",
    "load_segmentation_model",
    "looks_hazy",
    "photo_rgb",
    "semantic_probabilities",
    "stretch_contrast",
]

#: The network's input side (pixels); photos are scaled so that their long side is this, then padded.
INPUT_SIZE = 513
#: The network's output stride: a photo must be at least this many pixels on each side.
MIN_SIDE = 8
#: :func:`stretch_contrast` maps these percentiles of the luminance to 0 and 1 ...
STRETCH_PERCENTILES = (1.0, 99.0)
#: ... multiplying the contrast by at most this much.
STRETCH_MAX_GAIN = 4.0
#: ``stretch="hazy"`` (the default) stretches a photo only when the darkest 1 % of it (the luminance's
#: 1st percentile) is brighter than this: haze and fog lift the black level, a dusk or night photo does
#: not. Of the 24 DPST photos two are above it (pair 44's hazy city 0.41, pair 9's pale dahlia 0.42); the
#: others are at most 0.17.
HAZE_BLACK_POINT = 0.25


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
            raise TypeError(f"x: expected a floating-point tensor (N, 3, {INPUT_SIZE}, {INPUT_SIZE}), got {got(x)}; "
                            "use semantic_probabilities() for photos.")
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
                f"model: expected {MODEL_FILE_NAME} in the cache '{_hub_path()}' or named by "
                f"${SEG_MODEL_ENV_VAR}, got neither (download=False); download it with "
                f"segmentation.download_segmentation_model() (from {MODEL_URL}) or set "
                f"${SEG_MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}."
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
    from .labels import _upright
    from .palette import as_rgb_uint8

    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL: upright, as photostyle reads photos
        image = _upright(image)
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
            raise ValueError(f"{name}: expected a tensor of shape (C, H, W) or (1, C, H, W) with C in 1, 3, 4, "
                             f"got {got(image)}; pass an RGB, grey or RGBA image.")
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
            f"{name}: expected a photo of at least {MIN_SIDE} pixels on each side (the segmentation network's "
            f"output stride; better 100 or more), got {h}x{w} pixels; upscale it, or use method='cluster'."
        )
    if max(h, w) / min(h, w) > INPUT_SIZE / MIN_SIDE:
        raise ValueError(
            f"{name}: expected an aspect ratio below {INPUT_SIZE // MIN_SIDE}:1, got a photo of {h}x{w} pixels, "
            f"too elongated for the network ({INPUT_SIZE} px on its long side leave less than {MIN_SIDE} px on "
            "the short one); crop it, or use method='cluster'."
        )


def stretch_contrast(rgb: np.ndarray) -> np.ndarray:
    """A photo's contrast stretched to the full range, for the segmentation network.

    One linear map for the three channels (the colours keep their balance): the 1st and 99th
    percentiles of the luminance (the channels' mean) go to 0 and 1, the contrast growing by at most
    :data:`STRETCH_MAX_GAIN`; values are clipped to [0, 1]. A photo that already spans the range
    barely changes; a hazy or a night photo, which ADE20K's training photos rarely are, comes out
    with daylight contrast.

    By default (``stretch="hazy"``) only photos that :func:`looks_hazy` are stretched;
    ``auto_segment(..., stretch=True)`` stretches every photo, which improves the masks and not the
    transfers made with them. On the 12 DPST pairs (one CPU thread) it raised the mean IoU
    of the semantic masks against the hand masks from 0.743 to 0.761 and their routing from 0.759 to
    0.782 (``benchmarks/bench_segmentation.py --method semantic --size 512``); pair 44's hazy city
    went from 0.20 to 0.52 IoU, its trees and railway no longer "wall". But the `fast` transfers with
    those masks, judged with the hand masks (``benchmarks/bench_quality.py --work-size 350 --masks
    semantic``, then ``--compare`` against ``--masks hand``), had a style distance ×1.67 the hand-mask
    one (geometric mean; within 10 % on 4 of 12 pairs) against ×1.57 (6 of 12) unstretched: pair 44
    went from ×1.57 to ×1.25, but pair 2 (a sunset, its style a dark dusk) went from ×8.9 to ×21.7, more
    of the content's dark foreground called "field", which the style lacks (neither photo is veiled:
    the dusk's black point is 0.00, and "hazy" leaves both alone). "hazy" stretches two of the 24
    photos, pair 44's content and pair 9's (whose pair still falls back to one region); pair 44's
    transfer, judged the same way, went from ×1.64 to ×1.26 the hand-mask one's (geometric mean over
    the 12 pairs ×1.59 → ×1.56).

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3), float in [0, 1]

    Returns
    -------
    ndarray of shape (H, W, 3), float32 in [0, 1]
    """
    x = np.asarray(rgb, dtype=np.float32)
    lo, hi = np.percentile(x.mean(axis=-1), STRETCH_PERCENTILES)
    span = max(float(hi - lo), 1.0 / STRETCH_MAX_GAIN)
    # a range narrower than the gain allows is widened about its middle, within [0, 1]
    lo = min(max(float(lo + hi) / 2 - span / 2, 0.0), 1.0 - span) if span > hi - lo else float(lo)
    return np.clip((x - lo) / span, 0.0, 1.0)


def looks_hazy(image: Any) -> bool:
    """Whether a photo's darkest 1 % (the luminance's 1st percentile, in [0, 1]) is brighter than
    :data:`HAZE_BLACK_POINT`: a photo veiled by haze or fog, which ``stretch="hazy"`` stretches. Any
    photo :func:`photo_rgb` takes (uint8 or float arrays, PIL images, tensors)."""
    return _veiled(photo_rgb(image, "image"))


def _veiled(rgb: np.ndarray) -> bool:
    black = np.percentile(np.asarray(rgb, dtype=np.float32).mean(axis=-1), STRETCH_PERCENTILES[0])
    return float(black) > HAZE_BLACK_POINT


def _stretches(stretch: Any, rgb: np.ndarray) -> bool:
    """Whether ``stretch`` (True, False or "hazy", checked) stretches this (H, W, 3) float photo."""
    check_stretch(stretch)
    return stretch is True or (stretch == "hazy" and _veiled(rgb))


def check_stretch(stretch: Any) -> None:
    """TypeError unless ``stretch`` is True, False or "hazy"."""
    if not (isinstance(stretch, bool) or (isinstance(stretch, str) and stretch == "hazy")):
        raise TypeError(f"stretch: expected True, False or 'hazy', got {got(stretch)}.")


def semantic_probabilities(image: Any, *, model: Any = None, device: Any = None, dtype: Any = None,
                           stretch: bool | str = "hazy") -> Any:
    """Class probabilities of a photo of any size and aspect ratio.

    The photo (its contrast stretched first if ``stretch``, :func:`stretch_contrast`) is scaled so
    that its long side is 513 px (bilinear, antialiased when shrinking), padded at the bottom and
    right with mid-grey to 513x513, run through the network, and the padding is cropped off again.

    Parameters
    ----------
    image : photo
        (H, W, 3) / (H, W) / (H, W, 4) array (uint8 or float in [0, 1]), PIL image, or tensor
        (C, H, W); at least :data:`MIN_SIDE` px on each side.
    model : SemanticSegmenter or path, optional
        Default :func:`load_segmentation_model` ``()`` (which may download the file).
    device, dtype : optional
        Where and in which floating dtype the network runs; default: a tensor input's, else CPU float32.
    stretch : True, False or "hazy", default "hazy"
        Stretch the photo's contrast first (:func:`stretch_contrast`): always (True), never (False), or
        only when the photo looks veiled by haze (:func:`looks_hazy`).

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
    logits, (h, w) = _run(net, rgb, device, dtype, stretch=stretch)
    return torch.softmax(logits[0, :, :h, :w], dim=0)


def _run(net: SemanticSegmenter, rgb: np.ndarray, device: Any, dtype: Any, *,
         stretch: bool | str = "hazy") -> tuple[Any, tuple[int, int]]:
    if _stretches(stretch, rgb):
        rgb = stretch_contrast(rgb)
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

