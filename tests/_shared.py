"""Paths of ../shared and helpers the tests share (importable as ``tests._shared``)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "vgg19_normalised_conv3_1.pth"
DPST = SHARED / "data" / "dpst"
# Matlab getLaplacian1 / guidedfilter_color references, copied from ../shared/reference/matting.
REFERENCE_DIR = Path(__file__).resolve().parent / "data" / "matting"
REFERENCE_NAMES = ["random_9x12", "in2_crop_24x32", "in9_64x40", "flat_edges_10x10"]


def dpst_pair(index: int) -> dict[str, Path]:
    """Paths of DPST pair ``index`` (content, style, content mask, style mask), or skip."""
    paths = {
        "content": DPST / "input" / f"in{index}.png",
        "style": DPST / "style" / f"tar{index}.png",
        "content_mask": DPST / "segmentation" / f"in{index}.png",
        "style_mask": DPST / "segmentation" / f"tar{index}.png",
    }
    missing = [str(p) for p in paths.values() if not p.exists()]
    if missing:
        pytest.skip(f"DPST data not found ({missing[0]}); ../shared is absent in a user's clone")
    return paths


def synthetic_pair():
    """Blue sky over green ground; the style has another look and another horizon height (floats in [0, 1])."""
    import numpy as np

    rng = np.random.default_rng(0)
    c = np.zeros((48, 64, 3))
    c[:20] = (0.3, 0.5, 0.9)
    c[20:] = (0.2, 0.6, 0.2)
    s = np.zeros((60, 50, 3))
    s[:35] = (0.6, 0.3, 0.5)  # purple dusk sky
    s[35:] = (0.1, 0.25, 0.1)  # dark ground
    return tuple(np.clip(im + rng.normal(0, 0.02, im.shape), 0, 1) for im in (c, s))


def raises_exactly(exc: type[BaseException], message: str):
    """``pytest.raises(exc)`` that also requires the whole message to be ``message``, word for word."""
    import re

    return pytest.raises(exc, match="^" + re.escape(message) + "$")
