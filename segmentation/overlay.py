"""Colour overlays of label maps on photos, for notebooks and reports."""

from __future__ import annotations

import colorsys
from typing import Any

import numpy as np

from ._checks import check_number, got
from .labels import check_label_map
from .palette import DPST_PALETTE, Palette, as_rgb_uint8

__all__ = ["overlay", "label_colors"]


def label_colors(n: int) -> np.ndarray:
    """``n`` well separated RGB colours (uint8, (n, 3)): the DPST palette first, then golden-ratio hues."""
    colors = [tuple(c) for c in DPST_PALETTE.colors.tolist()]
    i = 0
    while len(colors) < n:
        h = (i * 0.618033988749895) % 1.0
        colors.append(tuple(round(255 * v) for v in colorsys.hsv_to_rgb(h, 0.75, 0.95)))
        i += 1
    return np.array(colors[:n], dtype=np.uint8)


def overlay(image: Any, labels: Any, *, alpha: float = 0.5, palette: Palette | None = None) -> np.ndarray:
    """Blend label colours over a photo.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3), uint8 or float in [0, 1], or PIL.Image.Image
    labels : ndarray of shape (H, W), integer
        Same size as the image (resize with :func:`~segmentation.resize_labels`).
    alpha : float, default 0.5
        Opacity of the label colours (0: the photo, 1: the colours only).
    palette : Palette, optional
        Colour of every id; default the DPST colours, then generated ones for ids above 8.

    Returns
    -------
    ndarray of shape (H, W, 3), uint8
    """
    rgb = as_rgb_uint8(image, "image").astype(np.float64)
    lab = check_label_map(labels, "labels")
    alpha = check_number("alpha", alpha, minimum=0.0, maximum=1.0)
    if lab.shape != rgb.shape[:2]:
        raise ValueError(f"labels: expected the image's size {rgb.shape[:2]} (H, W), got {lab.shape}; resize the "
                         "labels with segmentation.resize_labels(labels, image.shape[:2]).")
    top = int(lab.max())
    if palette is None:
        colors = label_colors(top + 1)
    else:
        if not isinstance(palette, Palette):
            raise TypeError(f"palette: expected a segmentation.Palette or None, got {got(palette)}; "
                            "build one with Palette.from_dict({'sky': (0, 0, 255), ...}).")
        if top >= len(palette):
            raise ValueError(f"labels: expected ids in 0..{len(palette) - 1} (the palette's {len(palette)} colours), "
                             f"got id {top}; pass a larger palette or palette=None.")
        colors = palette.colors
    out = (1 - alpha) * rgb + alpha * colors[lab].astype(np.float64)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)
