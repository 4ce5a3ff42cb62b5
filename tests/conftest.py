"""Shared fixtures: where ../shared is, the genuine partial VGG-19, and real DPST pairs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
SHARED_WEIGHTS = SHARED / "weights" / "vgg19_normalised_conv3_1.pth"
DPST = SHARED / "data" / "dpst"

# Two cores: keep torch from oversubscribing them when pytest runs beside other work.
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _no_user_weights_env(monkeypatch):
    """Tests choose their weights explicitly; a developer's PHOTOSTYLE_VGG_WEIGHTS must not leak in."""
    monkeypatch.delenv("PHOTOSTYLE_VGG_WEIGHTS", raising=False)


@pytest.fixture(scope="session")
def shared_weights() -> Path:
    if not SHARED_WEIGHTS.exists():
        pytest.skip(f"genuine VGG-19 weights not found at {SHARED_WEIGHTS} (../shared is absent in a user's clone)")
    return SHARED_WEIGHTS


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
