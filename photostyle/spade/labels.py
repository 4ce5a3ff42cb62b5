"""Label maps in, one-hot semantic maps out.

A label map is an integer array (H, W): class ids ``0 … label_nc - 1``; the value 255 means
"dontcare" (presets with a dontcare channel only). The generator's input is the one-hot map with
the dontcare channel after the classes and, unless the preset has ``no_instance``, an edge map last:
the boundaries of an instance map, or (for painted maps without instances) of the labels.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F

from .._checks import got
from .config import SPADEConfig

__all__ = ["LabelsLike", "DONTCARE", "load_labels", "as_label_tensor", "check_labels", "label_edges",
           "encode_labels", "resize_labels", "ade20k_from_raw"]

LabelsLike = Union[str, os.PathLike, np.ndarray, torch.Tensor, "PIL.Image.Image"]  # noqa: F821

DONTCARE = 255


def load_labels(path: str | os.PathLike, *, preset: SPADEConfig | str | None = None) -> np.ndarray:
    """Read a label PNG into an int64 array (H, W).

    Palette ('P') images give their palette indices, grey images ('L', 'I', 16-bit) their values.
    Colour images are decoded to the nearest colour of the preset's palette
    (:func:`photostyle.spade.palette.colors_to_labels`), so a map painted with those colours works.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The path is a directory, the file is not an image PIL can decode, or it declares more pixels
        than ``PIL.Image.MAX_IMAGE_PIXELS`` (a corrupt file or a decompression bomb).
    """
    from ..image import PIL_DECODE_ERRORS, open_image

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"labels: expected a label image file, got '{path}', which does not exist; "
                                "check the path.")
    if path.is_dir():
        raise ValueError(f"labels: expected a label image file, got the directory '{path}'; pass a file in it.")
    im = open_image(path, name="labels")  # ValueError for corrupt files and decompression bombs
    try:
        mode = im.mode
        if mode in ("P", "L", "I", "I;16", "I;16B", "I;16L"):
            return np.asarray(im).astype(np.int64)
        rgb = np.asarray(im.convert("RGB"))
    except PIL_DECODE_ERRORS as exc:
        raise ValueError(f"labels: cannot read '{path}' as an image ({exc}); pass a PNG label map.") from exc
    from .palette import colors_to_labels

    return colors_to_labels(rgb, preset=preset if preset is not None else "coco")


def as_label_tensor(labels: LabelsLike, *, name: str = "labels",
                    preset: SPADEConfig | str | None = None) -> torch.Tensor:
    """Any supported label map → int64 tensor (B, H, W) on the input's device (CPU for arrays/paths).

    Accepts a path to a label image, a PIL image, a numpy array (H, W) or a tensor (H, W),
    (B, H, W) or (B, 1, H, W) of integers (floats holding whole numbers are accepted too).
    """
    if isinstance(labels, (str, os.PathLike)):
        labels = load_labels(labels, preset=preset)
    else:
        try:
            from PIL import Image
        except ImportError:  # pragma: no cover - pillow is a dependency
            Image = None
        if Image is not None and isinstance(labels, Image.Image):
            if labels.mode in ("P", "L", "I", "I;16", "I;16B", "I;16L"):
                labels = np.asarray(labels).astype(np.int64)
            else:
                from .palette import colors_to_labels

                labels = colors_to_labels(np.asarray(labels.convert("RGB")),
                                          preset=preset if preset is not None else "coco")
    if isinstance(labels, np.ndarray):
        if labels.ndim != 2:
            raise ValueError(
                f"{name}: expected a label map of shape (H, W), got an array of shape {labels.shape}; "
                "a colour image must first be decoded with photostyle.spade.palette.colors_to_labels."
            )
        t = torch.from_numpy(np.ascontiguousarray(labels))
        t = t[None]
    elif isinstance(labels, torch.Tensor):
        t = labels.detach()
        if t.ndim == 2:
            t = t[None]
        elif t.ndim == 4 and t.shape[1] == 1:
            t = t[:, 0]
        if t.ndim != 3:
            raise ValueError(
                f"{name}: expected a label map of shape (H, W), (B, H, W) or (B, 1, H, W), got "
                f"{tuple(labels.shape)}; pass integer class ids, not a one-hot or colour image."
            )
    else:
        raise TypeError(
            f"{name}: expected a path, PIL image, numpy array (H, W) or tensor of class ids, "
            f"got {got(labels)}; pass e.g. the path of a label PNG."
        )
    if t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{name}: expected integer class ids, got dtype {t.dtype}; convert them with .long().")
    if t.is_floating_point():
        if not bool(torch.isfinite(t).all()) or not bool((t == t.round()).all()):
            raise ValueError(f"{name}: expected integer class ids, got non-integral {t.dtype} values; pass the "
                             "ids, not probabilities or a resized (interpolated) map.")
    if t.numel() == 0:
        raise ValueError(f"{name}: expected a non-empty label map, got shape {tuple(t.shape)}; pass a map with "
                         "at least one pixel.")
    return t.long()


def check_labels(labels: torch.Tensor, config: SPADEConfig, *, name: str = "labels") -> None:
    """Raise ValueError if ``labels`` hold ids outside ``0 … label_nc - 1`` (and 255 where allowed)."""
    valid = (labels >= 0) & (labels < config.label_nc)
    if config.contain_dontcare:
        valid |= labels == DONTCARE
    if not bool(valid.all()):
        bad = torch.unique(labels[~valid]).tolist()
        shown = ", ".join(str(v) for v in bad[:8]) + (" ..." if len(bad) > 8 else "")
        allowed = f"0 … {config.label_nc - 1}" + (" and 255 (dontcare)" if config.contain_dontcare else "")
        raise ValueError(
            f"{name}: expected ids in {allowed} (preset '{config.preset}', {config.label_nc} classes), got "
            f"{shown}; remap them or pick the preset the map was made for."
        )


def label_edges(t: torch.Tensor) -> torch.Tensor:
    """Boundary map of an id map (B, H, W) → float (B, 1, H, W): 1 on both sides of every id change.

    The same rule as the official ``get_edges`` (4-neighbourhood, both pixels of a differing pair).
    """
    if t.ndim != 3:
        raise ValueError(f"t: expected an id map (B, H, W), got shape {tuple(t.shape)}; add a batch axis with "
                         "t[None].")
    edge = torch.zeros(t.shape, dtype=torch.bool, device=t.device)
    dx = t[:, :, 1:] != t[:, :, :-1]
    dy = t[:, 1:, :] != t[:, :-1, :]
    edge[:, :, 1:] |= dx
    edge[:, :, :-1] |= dx
    edge[:, 1:, :] |= dy
    edge[:, :-1, :] |= dy
    return edge[:, None].float()


def encode_labels(labels: torch.Tensor, config: SPADEConfig, *, instances: torch.Tensor | None = None,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Label ids (B, H, W) → generator input (B, config.semantic_nc, H, W) on the same device.

    Channels: one per class (``label_nc``), then dontcare (value 255) if the preset has one, then
    the instance-edge map if it uses instances: the edges of ``instances`` (B, H, W), or of the
    labels themselves when no instance map is given.
    """
    labels = as_label_tensor(labels)
    check_labels(labels, config)
    b, h, w = labels.shape
    nc = config.label_nc + int(config.contain_dontcare)
    idx = labels.clone()
    if config.contain_dontcare:
        idx[idx == DONTCARE] = config.label_nc
    onehot = torch.zeros(b, nc, h, w, dtype=dtype, device=labels.device)
    onehot.scatter_(1, idx[:, None], 1.0)
    if not config.no_instance:
        if instances is None:
            source = labels
        else:
            source = as_label_tensor(instances, name="instances").to(labels.device)
            if source.shape != labels.shape:
                raise ValueError(
                    f"instances: expected the labels' shape {tuple(labels.shape)}, got {tuple(source.shape)}; "
                    "pass the instance map of this label map."
                )
        onehot = torch.cat([onehot, label_edges(source).to(dtype)], dim=1)
    return onehot


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of ids (B, H, W) to ``size = (H', W')``."""
    if tuple(labels.shape[-2:]) == tuple(size):
        return labels
    out = F.interpolate(labels[:, None].float(), size=size, mode="nearest-exact")
    return out[:, 0].round().long()


def ade20k_from_raw(labels: np.ndarray) -> np.ndarray:
    """ADE20K annotation PNG values (0 = unknown, 1 … 150 = classes) → the ade20k preset's ids
    (0 … 149, unknown → 255 dontcare), the shift NVlabs/SPADE applies when loading ADE20K."""
    arr = np.asarray(labels).astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() > 150):
        raise ValueError(
            f"labels: expected raw ADE20K values in 0 … 150, got {int(arr.min())} … {int(arr.max())}; pass "
            "the values of an ADE20K annotation PNG (maps already in the preset's ids need no conversion)."
        )
    return np.where(arr == 0, DONTCARE, arr - 1)
