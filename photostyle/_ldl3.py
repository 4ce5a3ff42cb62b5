"""The elementwise L D Lᵀ factorisation of symmetric positive-definite 3x3 matrices, one per pixel.

Pure arithmetic on arrays or tensors of any (broadcastable) shape, numpy or torch alike: used by the
matting Laplacian's whitening (:mod:`photostyle.laplacian`) and the guided filter's 3x3 solve
(:mod:`photostyle.smoothing`).
"""

from __future__ import annotations

from typing import Any


def ldl3(s00: Any, s01: Any, s02: Any, s11: Any, s12: Any, s22: Any) -> tuple[Any, Any, Any, Any, Any]:
    """``S = L D Lᵀ`` with ``L`` unit lower-triangular: returns ``(l10, l20, l21, d1, d2)``; ``d0 = s00``."""
    l10 = s01 / s00
    l20 = s02 / s00
    d1 = s11 - l10 * s01
    t12 = s12 - l10 * s02
    l21 = t12 / d1
    d2 = s22 - l20 * s02 - l21 * t12
    return l10, l20, l21, d1, d2
