"""One-line validators for the public boundary.

Each raises ``TypeError`` or ``ValueError`` with a message that names the argument, says what was
expected, what came, and how to fix it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, got {_got(value)}; pass e.g. {name}=10.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}; pass a value of at least {minimum}.")
    return value


def check_number(name: str, value: Any, *, minimum: float | None = None, positive: bool = False) -> float:
    """Return ``value`` as a finite float, or raise if it is not a real number in range."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a real number, got {_got(value)}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}.")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming the valid ones."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {listed}, got {_got(value)}.")
    return value


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` (or None) → CUDA when available, else CPU; an absent device is a clear error."""
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device: expected 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}.") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "device: 'cuda' was requested but no CUDA device is available to torch "
                f"(torch {torch.__version__}); use device='cpu' or 'auto'."
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device: {dev} requested but only {torch.cuda.device_count()} CUDA device(s) exist."
            )
    elif dev.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise ValueError("device: 'mps' was requested but is not available; use device='cpu' or 'auto'.")
    return dev


#: Bytes per working-size pixel of one optimisation (VGG-19 activations and their gradients up to relu5_1,
#: L-BFGS history of 100 image pairs, the matting Laplacian), measured on the CPU with some margin.
_BYTES_PER_WORK_PIXEL = 9_000
#: Bytes per output pixel: the content and the result as float tensors, the 8-bit image.
_BYTES_PER_OUTPUT_PIXEL = 40


def memory_needed(work_shape: tuple[int, int], output_shape: tuple[int, int]) -> int:
    """A generous estimate of the memory (bytes) one transfer needs at these sizes (see the constants)."""
    return int(work_shape[0] * work_shape[1] * _BYTES_PER_WORK_PIXEL
               + output_shape[0] * output_shape[1] * _BYTES_PER_OUTPUT_PIXEL)


def _available_memory() -> int | None:
    """Bytes of memory available now (Linux /proc/meminfo), or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(work_shape: tuple[int, int], output_shape: tuple[int, int], device: torch.device) -> None:
    if device.type != "cpu":
        return
    available = _available_memory()
    need = memory_needed(work_shape, output_shape)
    if available is None or need <= available:
        return
    fit = int(max(work_shape) * (max(1.0, available - output_shape[0] * output_shape[1] * _BYTES_PER_OUTPUT_PIXEL)
                                 / (work_shape[0] * work_shape[1] * _BYTES_PER_WORK_PIXEL)) ** 0.5)
    raise ValueError(
        f"work_size: optimising at {work_shape[1]}x{work_shape[0]} with a {output_shape[1]}x{output_shape[0]} "
        f"output needs about {need / 2**30:.1f} GB but {available / 2**30:.1f} GB are available; pass "
        f"work_size={max(8, min(fit, max(work_shape)) // 16 * 16)} or less."
    )
