"""What a batch job may set: the options of :func:`photostyle.transfer` a job or a batch takes, and
their checks."""

from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Any

__all__ = ["JOB_OPTIONS"]

_PRESETS = ("fast", "paper", "lite")
_CHOICES = {
    "preset": _PRESETS,
    "init": ("noise", "content", "colour"),
    "postprocess": ("best_local_affine", "posterization_refine", "none"),
    "auto_method": ("auto", "semantic", "cluster"),
    "precision": ("auto", "float32", "bfloat16"),
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return (isinstance(v, (int, float)) and not isinstance(v, bool)) and math.isfinite(v)


def _check_choice(key: str, v: Any) -> str | None:
    if v is None or v in _CHOICES[key]:
        return None
    return f"{key}: expected one of {', '.join(map(repr, _CHOICES[key]))}, got {v!r}"


def _check_int(key: str, v: Any, minimum: int | None) -> str | None:
    if v is None:
        return None
    if not _is_int(v):
        return f"{key}: expected a whole number, got {v!r}"
    if minimum is not None and v < minimum:
        return f"{key}: expected a whole number >= {minimum}, got {v}"
    return None


def _check_weight(key: str, v: Any) -> str | None:
    if v is None or (_is_number(v) and v >= 0):
        return None
    return f"{key}: expected a finite number >= 0, got {v!r}"


def _check_steps(key: str, v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, list) and v and all(_is_int(n) and n >= 0 for n in v):
        return None
    if _is_int(v) and v >= 0:
        return None
    return f"{key}: expected a whole number >= 0 or a list of them (one per level), got {v!r}"


def _check_output_size(key: str, v: Any) -> str | None:
    if v in ("full", "work") or (_is_int(v) and v >= 8):
        return None
    return f"{key}: expected 'full', 'work' or a long side >= 8 px, got {v!r}"


def _check_merge(key: str, v: Any) -> str | None:
    if v is None or (isinstance(v, dict) and all(isinstance(a, str) and isinstance(b, str) for a, b in v.items())):
        return None
    return f"{key}: expected an object of class names, e.g. {{\"tree\": \"grass\"}}, got {v!r}"


def _check_drop(key: str, v: Any) -> str | None:
    if v is None or (isinstance(v, list) and all(isinstance(a, str) for a in v)):
        return None
    return f"{key}: expected a list of class names, e.g. [\"person\"], got {v!r}"


#: Options of :func:`photostyle.transfer` a job (a manifest line) or the whole batch may set, with
#: their checks. Worker-level options (device, weights) apply to the whole batch only.
JOB_OPTIONS: dict[str, Any] = {
    "auto_k": lambda k, v: _check_int(k, v, 1),
    "auto_method": _check_choice,
    "merge": _check_merge,
    "drop": _check_drop,
    "preset": _check_choice,
    "work_size": lambda k, v: _check_int(k, v, 8),
    "output_size": _check_output_size,
    "num_steps": _check_steps,
    "content_weight": _check_weight,
    "style_weight": _check_weight,
    "tv_weight": _check_weight,
    "photo_weight": _check_weight,
    "init": _check_choice,
    "postprocess": _check_choice,
    "precision": _check_choice,
    "seed": lambda k, v: _check_int(k, v, None),
    "tol_change": _check_weight,
}
_BATCH_ONLY = ("device", "weights")
_NOT_IN_BATCH = {
    "encoder": "each worker builds its own",
    "style_cache": "each worker keeps its own",
    "metrics": "always computed and recorded",
    "progress": "pass progress= to run_batch",
    "callback": "not available in a batch",
    "snapshot_every": "not available in a batch",
}


def _transfer_defaults() -> dict[str, Any]:
    from ..transfer import transfer

    params = inspect.signature(transfer).parameters
    return {k: params[k].default for k in JOB_OPTIONS}


def _check_batch_options(options: dict[str, Any]) -> dict[str, Any]:
    options = dict(options)
    if "size" in options:
        if options.get("work_size") is not None and options["size"] != options["work_size"]:
            raise ValueError(f"size and work_size name the same thing; pass one (got {options['size']} and "
                             f"{options['work_size']}).")
        size = options.pop("size")
        options.setdefault("work_size", size)
        if options["work_size"] is None:
            options["work_size"] = size
    for key in options:
        if key in _NOT_IN_BATCH:
            raise TypeError(f"run_batch: {key}= is not a batch option ({_NOT_IN_BATCH[key]}).")
        if key not in JOB_OPTIONS and key not in ("content_mask", "style_mask", "device", "weights"):
            raise TypeError(f"run_batch: unexpected option {key}=; the options of transfer() a batch takes are "
                            f"{', '.join(JOB_OPTIONS)}, content_mask, style_mask, device, weights.")
    problems = [p for p in (check(k, options[k]) for k, check in JOB_OPTIONS.items() if k in options) if p]
    entry = {"content_mask": options.get("content_mask"), "style_mask": options.get("style_mask")}
    for key, value in entry.items():
        if value is not None and value != "auto" and not Path(value).is_file():
            problems.append(f"{key}: file not found: '{value}'")
    if problems:
        raise ValueError("run_batch: " + "; ".join(problems) + ".")
    return {k: v for k, v in options.items() if v is not None}


def _weights_setting(weights: Any) -> str | None:
    if weights is None:
        return None
    if isinstance(weights, (str, os.PathLike)) and Path(weights).is_file():
        return str(Path(weights).resolve())
    return str(getattr(weights, "name", weights))
