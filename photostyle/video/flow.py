"""Optical flow (OpenCV's DIS, optional) and warping: how a keyframe's colour model and result reach
the frames around it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["warp"]


def _import_cv2(required: bool):
    try:
        import cv2
    except ImportError as exc:
        if required:
            raise ImportError(
                "flow=True warps the colour models with OpenCV's optical flow, which is not installed; "
                "pip install photostyle[video] (or pass flow=False)"
            ) from exc
        return None
    return cv2


def _grey(small: torch.Tensor) -> np.ndarray:
    """(1, 3, h, w) in [0, 1] → (h, w) uint8 luma for the optical flow."""
    w = torch.tensor([0.299, 0.587, 0.114], dtype=small.dtype, device=small.device).view(1, 3, 1, 1)
    return (small * w).sum(1)[0].mul(255.0).round().clamp(0, 255).to(torch.uint8).cpu().numpy()


class _Flow:
    """Backward optical flow at the working size: DIS (medium preset) from OpenCV."""

    def __init__(self, cv2):
        self.cv2 = cv2
        self.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def __call__(self, target: np.ndarray, source: np.ndarray) -> np.ndarray:
        """Flow f (h, w, 2) with ``target(x) ≈ source(x + f(x))``."""
        return self.dis.calc(target, source, None)


def warp(image: torch.Tensor, flow: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (B, C, h, w) at ``x + flow(x)`` (bilinear, border values outside).

    ``flow`` is (h, w, 2) in pixels (x then y), as OpenCV returns it. The result has the image's shape,
    dtype and device.
    """
    flow = torch.as_tensor(flow, dtype=image.dtype, device=image.device)
    h, w = image.shape[-2:]
    ys, xs = torch.meshgrid(torch.arange(h, dtype=image.dtype, device=image.device),
                            torch.arange(w, dtype=image.dtype, device=image.device), indexing="ij")
    gx = (xs + flow[..., 0] + 0.5) * (2.0 / w) - 1.0
    gy = (ys + flow[..., 1] + 0.5) * (2.0 / h) - 1.0
    grid = torch.stack([gx, gy], dim=-1)[None].expand(image.shape[0], h, w, 2)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)


@dataclass
class _Key:
    """One keyframe at the working size: its colour model, result, content and luma."""

    index: int
    coef: torch.Tensor  # (1, 12, h, w)
    result: torch.Tensor  # (1, 3, h, w)
    small: torch.Tensor  # (1, 3, h, w)
    grey: np.ndarray  # (h, w) uint8
