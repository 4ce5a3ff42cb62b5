"""Per-layer mask pyramids for the masked (regional) style loss.

Luan et al. propagate each semantic mask through the network alongside the features: at every
convolution the mask is blurred by a 3x3 average, at every max-pool it is rescaled by one half
(bilinear, ``image.scale`` in their Torch code), and ReLUs leave it unchanged. The result has, at every
layer, the spatial size of that layer's feature map.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

from ._checks import got

__all__ = ["mask_pyramid", "pooled_shape"]


def pooled_shape(shape: tuple[int, int], *, ceil_mode: bool = True) -> tuple[int, int]:
    """Spatial size after a 2x2, stride-2 max-pool (as ``torch.nn.MaxPool2d(2, 2, ceil_mode=...)``)."""
    h, w = shape
    if ceil_mode:
        return math.ceil(h / 2), math.ceil(w / 2)
    return h // 2, w // 2


@torch.no_grad()
def mask_pyramid(
    masks: Any,
    layer_names: Iterable[str],
    *,
    ceil_mode: bool = True,
) -> dict[str, torch.Tensor]:
    """Propagate soft masks through a VGG-like layer sequence (the paper's mask propagation).

    Parameters
    ----------
    masks : torch.Tensor of shape (L, H, W), float in [0, 1]
        One soft mask per label at image resolution. Integer or bool tensors are cast to the default
        float dtype; a 2-D (H, W) mask is treated as L = 1.
    layer_names : iterable of str
        Layer names in network order, e.g. ``("conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
        "conv2_1", ...)``. Names starting with ``conv`` blur the mask (3x3 average, stride 1, padding 1,
        ``count_include_pad=False``); ``pool`` halves it (bilinear resize to ``ceil(h/2), ceil(w/2)``
        with ``ceil_mode`` else ``h//2, w//2``); ``relu`` leaves it unchanged. Walk the names from the
        network's input: a layer's mask is only right if every earlier conv and pool is listed.
    ceil_mode : bool, default True
        Match ``MaxPool2d(2, 2, ceil_mode=True)`` (the VGG-19 used here) or ``ceil_mode=False``
        (torchvision's VGG).

    Returns
    -------
    dict of str to torch.Tensor
        The (L, h, w) mask after every named layer, on ``masks``' device and dtype.
    """
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks must be a torch.Tensor (L, H, W), got {got(masks)}; "
                        "convert with torch.from_numpy(segmentation.one_hot(labels)).")
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3 or masks.shape[1] == 0 or masks.shape[2] == 0:
        raise ValueError(f"masks must have shape (L, H, W), got {got(masks)}; stack one (H, W) mask per label.")
    if not masks.is_floating_point():
        masks = masks.to(torch.get_default_dtype())
    if isinstance(layer_names, str):
        raise TypeError(f"layer_names must be a sequence of layer names, got the string {layer_names!r}; "
                        f"pass e.g. [{layer_names!r}].")
    names = list(layer_names)
    x = masks.detach()[None]  # (1, L, H, W)
    out: dict[str, torch.Tensor] = {}
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"layer_names must hold str, got {got(name)}.")
        kind = name.lower()
        if kind.startswith("conv"):
            x = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        elif kind.startswith("pool"):
            size = pooled_shape(tuple(x.shape[-2:]), ceil_mode=ceil_mode)
            if min(size) < 1:
                raise ValueError(f"masks of size {tuple(masks.shape[-2:])} are too small for layer {name!r}: "
                                 f"pooling would give {size}; use a larger image.")
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        elif not kind.startswith("relu"):
            raise ValueError(f"layer_names must name conv*, relu* or pool* layers (VGG style), got {name!r}; "
                             "use names like 'conv1_1', 'relu1_1', 'pool1'.")
        out[name] = x[0]
    return out
