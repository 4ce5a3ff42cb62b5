"""Deep semantic segmentation with torchvision's pretrained models (optional extra).

Needs ``pip install photostyle[torchvision]`` and a connection to download the weights the first time
(torchvision caches them under ``$TORCH_HOME``). The models predict the 21 Pascal VOC categories
(``background``, ``person``, ``car``, ...), so the same category gets the same id in the content and
the style: the maps pair up with :func:`~segmentation.match_labels` as they are. Scenery (sky, water,
buildings) all falls in ``background``; :func:`~segmentation.auto_segment` separates those.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ._checks import got
from .labels import resize_labels

__all__ = ["DeepLabels", "deep_segment", "DEEP_MODELS"]

#: Model builder names of ``torchvision.models.segmentation`` that :func:`deep_segment` accepts.
DEEP_MODELS = ("deeplabv3_resnet50", "deeplabv3_resnet101", "deeplabv3_mobilenet_v3_large",
               "fcn_resnet50", "fcn_resnet101", "lraspp_mobilenet_v3_large")

_INSTALL = "pip install photostyle[torchvision]"


@dataclass(frozen=True)
class DeepLabels:
    """Result of :func:`deep_segment`.

    Attributes
    ----------
    labels : ndarray of shape (H, W), int64
        Category id of every pixel, at the input size.
    categories : tuple of str
        Name of every id (the model's categories).
    """

    labels: np.ndarray
    categories: tuple[str, ...]

    def names(self) -> dict[int, str]:
        """``{id: category}`` for the ids that occur."""
        return {int(i): self.categories[int(i)] for i in np.unique(self.labels)}


def _import_torchvision():
    try:
        import torchvision  # noqa: F401
        from torchvision.models import segmentation as tv_seg
    except ImportError as exc:
        raise ImportError(
            f"deep_segment needs torchvision, which does not import here ({exc}); install it with "
            f"`{_INSTALL}`, or use segmentation.auto_segment, which needs no downloaded weights."
        ) from exc
    return tv_seg


def deep_segment(
    image: Any,
    *,
    model: Literal["deeplabv3_resnet50", "deeplabv3_resnet101", "deeplabv3_mobilenet_v3_large",
                   "fcn_resnet50", "fcn_resnet101", "lraspp_mobilenet_v3_large"] = "deeplabv3_resnet50",
    max_size: int = 520,
    device: Any = "cpu",
) -> DeepLabels:
    """Semantic labels of a photo from a pretrained torchvision model.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8 or float in [0, 1], or PIL.Image.Image
        The photo.
    model : str, default "deeplabv3_resnet50"
        One of :data:`DEEP_MODELS`; its default (COCO-trained, VOC categories) weights are used.
    max_size : int, default 520
        Long side at which the model runs; labels are resized (nearest) to the input size.
    device : str or torch.device, default "cpu"
        Where the model runs.

    Returns
    -------
    DeepLabels

    Raises
    ------
    ImportError
        If torchvision does not import (``pip install photostyle[torchvision]``).
    RuntimeError
        If the weights cannot be downloaded (no connection, no cache).
    """
    tv_seg = _import_torchvision()
    import torch
    import torch.nn.functional as F

    from .palette import as_rgb_uint8

    if model not in DEEP_MODELS:
        raise ValueError(f"model: expected one of {list(DEEP_MODELS)}, got {got(model)}.")
    rgb = as_rgb_uint8(image, "image")
    builder = getattr(tv_seg, model)
    try:
        weights = tv_seg.__dict__[_weights_enum_name(model)].DEFAULT
        net = builder(weights=weights).eval().to(device)
    except Exception as exc:  # noqa: BLE001 - any download/load failure
        raise RuntimeError(
            f"could not load the pretrained weights of {model!r} ({exc}); they are downloaded on first use, "
            "so connect to the internet once or put them in $TORCH_HOME/hub/checkpoints."
        ) from exc
    x = torch.from_numpy(rgb).permute(2, 0, 1).float()[None] / 255.0
    scale = max_size / max(rgb.shape[:2])
    if scale < 1:
        size = (max(1, round(rgb.shape[0] * scale)), max(1, round(rgb.shape[1] * scale)))
        x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.no_grad():
        logits = net(((x - mean) / std).to(device))["out"]
    labels = logits.argmax(1)[0].cpu().numpy().astype(np.int64)
    return DeepLabels(resize_labels(labels, rgb.shape[:2]), tuple(weights.meta["categories"]))


def _weights_enum_name(model: str) -> str:
    """torchvision's weights enum name for a builder, e.g. deeplabv3_resnet50 -> DeepLabV3_ResNet50_Weights."""
    names = {
        "deeplabv3_resnet50": "DeepLabV3_ResNet50_Weights",
        "deeplabv3_resnet101": "DeepLabV3_ResNet101_Weights",
        "deeplabv3_mobilenet_v3_large": "DeepLabV3_MobileNet_V3_Large_Weights",
        "fcn_resnet50": "FCN_ResNet50_Weights",
        "fcn_resnet101": "FCN_ResNet101_Weights",
        "lraspp_mobilenet_v3_large": "LRASPP_MobileNet_V3_Large_Weights",
    }
    return names[model]
