"""Small validators for the public boundary of :mod:`segmentation`.

Every error is a ``TypeError`` (wrong type) or ``ValueError`` (wrong value) whose message names the
argument, says what was expected, what came, and how to fix it: ``"name: expected …, got …; fix"``.
This module mirrors ``photostyle._checks`` on purpose: ``segmentation`` must not import ``photostyle``.
"""

from __future__ import annotations

import math
import numbers
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


def _bound(value: float) -> str:
    """A range bound as messages print it: ``0`` and ``0.5``, not ``0.0`` and ``0.50``."""
    return f"{value:g}"


def check_shape2(name: str, value: Any) -> tuple[int, int]:
    """Return ``value`` as an ``(height, width)`` tuple of ints ``>= 1``; else TypeError (not a sequence
    of numbers) or ValueError (not two whole numbers >= 1)."""
    expected = "(height, width): two integers >= 1"
    fix = f"pass e.g. {name}=image.shape[:2]"
    try:
        items = tuple(value)
    except TypeError:
        items = None
    if items is None or not all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in items):
        raise TypeError(f"{name}: expected {expected}, got {got(value)}; {fix}.")
    if len(items) != 2 or not all(math.isfinite(v) and v == int(v) and v >= 1 for v in items):
        plain = tuple(v.item() if hasattr(v, "item") else v for v in items)  # numpy scalars as numbers
        raise ValueError(f"{name}: expected {expected}, got {plain}; {fix}.")
    return int(items[0]), int(items[1])


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int ``>= minimum``; else TypeError (not an integer) or ValueError (too small)."""
    expected = "an integer" if minimum is None else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        example = 1 if minimum is None else max(minimum, 1)
        raise TypeError(f"{name}: expected {expected}, got {got(value)}; pass e.g. {name}={example}.")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected {expected}, got {value}; pass a value of at least {minimum}.")
    return value


def check_number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``value`` as a finite float within ``[minimum, maximum]``; else TypeError (not a real
    number) or ValueError (not finite, or out of range)."""
    if minimum is not None and maximum is not None:
        expected, fix = (f"a number in [{_bound(minimum)}, {_bound(maximum)}]",
                         f"pass a value from {_bound(minimum)} to {_bound(maximum)}")
    elif minimum is not None:
        expected, fix = f"a finite number >= {_bound(minimum)}", f"pass a value of at least {_bound(minimum)}"
    elif maximum is not None:
        expected, fix = f"a finite number <= {_bound(maximum)}", f"pass a value of at most {_bound(maximum)}"
    else:
        expected, fix = "a finite number", "pass a finite value"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected {expected}, got {got(value)}; {fix}.")
    number = float(value)
    if not math.isfinite(number) or (minimum is not None and number < minimum) or \
            (maximum is not None and number > maximum):
        raise ValueError(f"{name}: expected {expected}, got {value}; {fix}.")
    return number
