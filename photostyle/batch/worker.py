"""One job in a worker: the process set-up, its encoder and cache of style targets, and the job run
(from files, or from bytes shipped by Ray)."""

from __future__ import annotations

import collections
import importlib
import os
import socket
import tempfile
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_WORKER: dict[str, Any] = {"device": None, "threads": None}
_ENCODERS: dict[tuple, Any] = {}
_STYLE_CACHES: collections.OrderedDict[str, dict] = collections.OrderedDict()
_STYLE_CACHE_SIZE = 4  # styles whose targets a worker keeps (each a few MB)


def _init_worker(threads: int, devices: Any = None) -> None:
    """Set up a worker process: torch threads, and its GPU when there is one per worker."""
    import torch

    from .._memory import reuse_freed_memory

    torch.set_num_threads(max(1, int(threads)))
    _WORKER["threads"] = threads
    reuse_freed_memory()  # a worker process of ours: its freed tensors are reused, not page-faulted again
    importlib.import_module("..transfer", __package__)  # pay the imports once, before the first job's timings
    if devices is not None:
        try:
            _WORKER["device"] = devices.get(timeout=5)
        except Exception:  # noqa: BLE001 - more processes than devices (a replaced worker): share the first
            _WORKER["device"] = None


def _encoder(layers: tuple[str, ...], weights: Any):
    from ..encoders import VGG19Encoder

    key = (layers, weights)
    if key not in _ENCODERS:
        _ENCODERS[key] = VGG19Encoder(layers, weights=weights, progress=False)
    return _ENCODERS[key]


def _style_cache(style_sha: str) -> dict:
    if _STYLE_CACHE_SIZE <= 0:
        return None  # type: ignore[return-value]
    if style_sha in _STYLE_CACHES:
        _STYLE_CACHES.move_to_end(style_sha)
    else:
        _STYLE_CACHES[style_sha] = {}
        while len(_STYLE_CACHES) > _STYLE_CACHE_SIZE:
            _STYLE_CACHES.popitem(last=False)
    return _STYLE_CACHES[style_sha]


def _run_job(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Run one job in a worker; never raises: the outcome is a dict for the record."""
    t0 = time.perf_counter()
    out: dict[str, Any] = {"worker": f"{socket.gethostname()}:{os.getpid()}"}
    try:
        from .._deep import output_bits
        from ..optimize import StopReason
        from ..presets import get_preset
        from ..transfer import transfer

        options = dict(spec["options"])
        preset = get_preset(options.get("preset") or "fast")
        device = spec.get("device") or _WORKER.get("device") or "auto"
        out["device"] = str(device)
        encoder = _encoder(tuple(preset.layers), spec.get("weights"))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = transfer(spec["content"], spec["style"], content_mask=spec.get("content_mask"),
                              style_mask=spec.get("style_mask"), encoder=encoder,
                              style_cache=_style_cache(spec["style_sha"]), device=device, progress=False,
                              metrics=True, **options)
        out.update(timings={k: round(v, 4) for k, v in result.timings.items()}, metrics=result.metrics,
                   network=result.network, stopped=result.stopped,
                   warnings=list(dict.fromkeys([*result.warnings, *(str(w.message) for w in caught)])),
                   size=[result.image.width, result.image.height])
        non_finite = [s for s in result.stops if s.reason is StopReason.NON_FINITE]
        if non_finite:
            out.update(status="failed", error=f"non-finite loss: {non_finite[0]}")
        else:
            bits = output_bits("auto", spec["content"], spec["output"])  # a 16-bit TIFF or PNG keeps 16
            result.save(spec["output"], bits=bits, overwrite=spec.get("overwrite", False),
                        metadata_from=spec["content"] if spec.get("metadata", True) else None)
            out["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 - a failing job is recorded, the others go on
        out.update(status="failed", error=f"{type(exc).__name__}: {exc}")
    out["seconds"] = round(time.perf_counter() - t0, 4)
    return out


def _run_job_shipped(spec: Mapping[str, Any], content: Any, style: Any, content_mask: Any = None,
                     style_mask: Any = None) -> dict[str, Any]:
    """A Ray task: the inputs come as ``(name, bytes)``, the output goes back as bytes (no shared
    filesystem needed)."""
    import torch

    files = {role: item for role, item in (("content", content), ("style", style), ("content_mask", content_mask),
                                           ("style_mask", style_mask)) if item is not None}

    threads = spec.get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    with tempfile.TemporaryDirectory(prefix="photostyle-batch-") as tmp:
        local = dict(spec)
        for role, (name, data) in files.items():
            path = Path(tmp) / f"{role}{Path(name).suffix}"
            path.write_bytes(data)
            local[role] = str(path)
        local["output"] = str(Path(tmp) / f"output{Path(spec['output']).suffix}")
        local["overwrite"] = True
        result = _run_job(local)
        if result.get("error"):  # name the user's files, not the task's copies
            for role in files:
                result["error"] = result["error"].replace(local[role], str(spec[role]))
        if result["status"] == "ok":
            result["_bytes"] = Path(local["output"]).read_bytes()
    return result
