"""The parts folder (resume): its state file, the digests that key a run, and what
:func:`photostyle.transfer` supports (the settings a run records)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch

from ..image import ImageLike

_STATE_VERSION = 1


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    st = path.stat()
    h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
    return h.hexdigest()[:16]


def _style_digest(style: ImageLike, tensor: torch.Tensor) -> str:
    if isinstance(style, (str, os.PathLike)):
        return _file_digest(Path(style))
    return hashlib.sha256(tensor.mul(255).round().to(torch.uint8).numpy().tobytes()).hexdigest()[:16]


def _supports_tensor_init() -> bool:
    """Whether :func:`photostyle.transfer` takes an image as ``init`` (a warm start)."""
    import inspect

    from ..transfer import transfer

    param = inspect.signature(transfer).parameters.get("init")
    return param is not None and "Tensor" in str(param.annotation)


def _supports_style_cache() -> bool:
    import inspect

    from ..transfer import transfer

    return "style_cache" in inspect.signature(transfer).parameters
