"""Small validators for the public boundary of :mod:`segmentation`.

Every error names the argument, says what was expected, what came, and how to fix it. This module
mirrors ``photostyle._checks`` on purpose: ``segmentation`` must not import ``photostyle``.
"""

from __future__ import annotations

from typing import Any


def got(value: Any) -> str:
    """Short description of ``value`` for error messages."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        dtype = getattr(value, "dtype", None)
        return f"{type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def check_shape2(name: str, value: Any) -> tuple[int, int]:
    """Return ``value`` as an ``(height, width)`` tuple of positive ints, or raise."""
    try:
        h, w = (int(v) for v in value)
        ok = all(int(v) == v for v in value)
    except (TypeError, ValueError):
        ok = False
    if not ok or h < 1 or w < 1:
        raise ValueError(f"{name} must be (height, width) with two positive integers, got {got(value)}; "
                         f"pass e.g. {name}=image.shape[:2].")
    return h, w


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {got(value)}; pass e.g. {name}=4.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}; pass a value of at least {minimum}.")
    return value


def check_number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``value`` as a finite float within ``[minimum, maximum]``, or raise."""
    import math
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise TypeError(f"{name} must be a finite real number, got {got(value)}.")
    value = float(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}.")
    return value
