"""Shared fixtures: where ../shared is, the genuine partial VGG-19, and real DPST pairs."""

from __future__ import annotations

import functools
import http.server
import os
import threading
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


@pytest.fixture(scope="session")
def full_weights() -> Path:
    """The genuine full normalised VGG-19 in the torch hub cache (``make weights`` puts it there)."""
    from photostyle.weights import VGG19Weights

    path = VGG19Weights.NORMALISED.cached_path()
    if not path.exists():
        pytest.skip(f"the full normalised VGG-19 is not in the cache ({path}); `make weights` fetches it")
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_path):
    """Serve a folder on 127.0.0.1 (ephemeral port) for the test; yields (folder, base url)."""
    folder = tmp_path / "served"
    folder.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=folder))
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
