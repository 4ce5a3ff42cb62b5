"""The semantic segmentation model file: where it is found, its hash check, its download.

The model file is found, in this order: the ``model`` argument; the file named by
``$PHOTOSTYLE_SEG_MODEL``; the torch hub cache ``<torch.hub.get_dir()>/checkpoints/deeplabv3_mobilenetv2_ade20k.tflite``;
else it is downloaded there from :data:`MODEL_URL` with its sha256 checked (only where downloading is
allowed: :func:`~segmentation.semantic.load_segmentation_model` and ``auto_segment(method="semantic")``;
``method="auto"`` never downloads).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch

from ._checks import got

__all__ = [
    "MODEL_FILE_NAME",
    "MODEL_SHA256",
    "MODEL_URL",
    "SEG_MODEL_ENV_VAR",
    "check_model_file",
    "download_segmentation_model",
    "find_segmentation_model",
]

SEG_MODEL_ENV_VAR = "PHOTOSTYLE_SEG_MODEL"
MODEL_FILE_NAME = "deeplabv3_mobilenetv2_ade20k.tflite"
MODEL_SHA256 = "9476784566f88bf0bdc3169f0012fb7d08857b325811d8c1aaf5ada1c0d4e4f9"
#: Canonical address (TensorFlow Hub, served as a raw .tflite file).
MODEL_URL = "https://tfhub.dev/sayakpaul/lite-model/deeplabv3-mobilenetv2-ade20k/1/default/1?lite-format=tflite"


def _hub_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / MODEL_FILE_NAME


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _refetch_help() -> str:
    return (f"delete it and fetch it again with segmentation.download_segmentation_model() (from {MODEL_URL}), "
            f"or put a good copy at '{_hub_path()}' or set ${SEG_MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}")


def check_model_file(path: str | os.PathLike) -> Path:
    """Raise a clear error if ``path`` is missing or its sha256 is not :data:`MODEL_SHA256`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"model: no file at '{path}'; {_refetch_help()}.")
    digest = _sha256(path)
    if digest != MODEL_SHA256:
        raise ValueError(
            f"model: '{path}' ({path.stat().st_size} bytes) has sha256 {digest}, expected {MODEL_SHA256} "
            f"({MODEL_FILE_NAME}, 2,415,896 bytes): the file is corrupt, truncated or another model. "
            f"To refetch it, {_refetch_help()}. To use another conversion on purpose, pass check_hash=False."
        )
    return path


def find_segmentation_model(model: str | os.PathLike | None = None) -> Path | None:
    """Where the model file is, without downloading: ``model``, else ``$PHOTOSTYLE_SEG_MODEL``, else
    the torch hub cache; None when none of them names an existing file.

    Raises
    ------
    FileNotFoundError
        If ``model`` or ``$PHOTOSTYLE_SEG_MODEL`` names a file that does not exist (an explicit choice
        that cannot be honoured is an error, not a silent fallback).
    """
    if model is not None:
        if not isinstance(model, (str, os.PathLike)):
            raise TypeError(f"model: expected a path to {MODEL_FILE_NAME}, a SemanticSegmenter or None, "
                            f"got {got(model)}; pass the file's path, or None to use ${SEG_MODEL_ENV_VAR} or the "
                            "cache.")
        path = Path(os.fsdecode(model)).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"model: no file at '{path}'; pass the path of {MODEL_FILE_NAME}, "
                                    f"or model=None to use ${SEG_MODEL_ENV_VAR} or the cache.")
        return path
    env = os.environ.get(SEG_MODEL_ENV_VAR, "").strip()
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"${SEG_MODEL_ENV_VAR}: expected the path of an existing file, got '{path}', "
                                    f"which does not exist; fix or unset it (then the cache '{_hub_path()}' is "
                                    "used, or the file downloaded).")
        return path
    cached = _hub_path()
    return cached if cached.is_file() else None


def download_segmentation_model(
    dst: str | os.PathLike | None = None, *, url: str = MODEL_URL, progress: bool = True
) -> Path:
    """Download the model file to ``dst`` (default: the torch hub cache) with its sha256 checked.

    Parameters
    ----------
    dst : path, optional
        Target file; default ``<torch.hub.get_dir()>/checkpoints/deeplabv3_mobilenetv2_ade20k.tflite``.
    url : str, default :data:`MODEL_URL`
    progress : bool, default True

    Returns
    -------
    Path
        ``dst``, written only once the whole download matched :data:`MODEL_SHA256`.

    Raises
    ------
    RuntimeError
        No connection, an HTTP error, or a download whose hash does not match (it is discarded).
    """
    import http.client
    from urllib.error import HTTPError, URLError

    dst = Path(dst) if dst is not None else _hub_path()
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(url, str(dst), hash_prefix=MODEL_SHA256, progress=progress)
    except RuntimeError as exc:
        if "invalid hash value" in str(exc):
            raise RuntimeError(
                f"the file downloaded from {url} does not have the sha256 {MODEL_SHA256} of {MODEL_FILE_NAME} "
                f"({exc}); it was discarded. Try again later, or download it by hand and set "
                f"${SEG_MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}."
            ) from exc
        raise
    except (URLError, OSError, http.client.HTTPException) as exc:
        why = (f"the server answered HTTP {exc.code} {exc.reason}" if isinstance(exc, HTTPError)
               else f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}")
        raise RuntimeError(
            f"could not download the segmentation model from {url} ({why}). Without network, copy "
            f"{MODEL_FILE_NAME} (sha256 {MODEL_SHA256}) to '{dst}' or set ${SEG_MODEL_ENV_VAR}=/path/to/it."
        ) from exc
    return dst
