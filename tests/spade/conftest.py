"""SPADE tests run many tiny convolutions: one thread avoids OpenMP contention on busy shared cores
(two threads were 8-100x slower here while other work ran). Restored after each test."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
