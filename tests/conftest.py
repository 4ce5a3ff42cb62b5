"""Shared fixtures: where ../shared is, the genuine partial VGG-19, and real DPST pairs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ._shared import SHARED_WEIGHTS, dpst_pair  # noqa: F401  (re-exported for tests)

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
