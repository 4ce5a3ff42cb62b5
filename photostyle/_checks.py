"""One-line validators for the public boundary.

Each raises ``TypeError`` or ``ValueError`` with a message that names the argument, says what was
expected, what came, and how to fix it: ``"name: expected …, got …; how to fix"``
(:func:`check_integer`, :func:`check_positive`, :func:`check_one_of`, :func:`check_image`,
:func:`check_same_grid`, and :func:`check_int`, :func:`check_number` and :func:`check_choice`, which
callers' messages and tests quote).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

import torch


def got(value: Any) -> str:
    """Short description of ``value`` for error messages: its repr (cut at 80 characters) and type."""
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + "..."
    return f"{text} ({type(value).__name__})"


def check_integer(name: str, value: Any, *, minimum: int, example: Any) -> int:
    """Return ``value`` as an int ``>= minimum``; else TypeError (not an integer) or ValueError (too small).

    ``example`` is what the message suggests (``pass e.g. name=example``); it may carry a short note,
    e.g. ``example="1 (3x3 windows)"``.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {got(value)}; pass e.g. {name}={example}.")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}; pass e.g. {name}={example}.")
    return int(value)


def check_positive(name: str, value: Any, *, example: Any) -> float:
    """Return ``value`` as a finite float ``> 0``; else TypeError (not a real number) or ValueError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive real number, got {got(value)}; pass e.g. {name}={example}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value}; pass e.g. {name}={example}.")
    return value


def check_one_of(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of the strings ``choices``, else ValueError naming the valid ones."""
    choices = tuple(choices)
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {listed}, got {got(value)}.")
    return value


def check_image(name: str, x: Any, *, channels: tuple[int, ...] | None = (3,)) -> torch.Tensor:
    """Return ``x`` if it is a non-empty float tensor (B, C, H, W) with C in ``channels`` (None: any C).

    Raises TypeError for a non-tensor or a non-float dtype, ValueError for another shape.
    """
    wanted = "C" if channels is None else " or ".join(str(c) for c in channels)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch tensor of shape (B, {wanted}, H, W), got {type(x).__name__}.")
    if x.ndim != 4 or (channels is not None and x.shape[1] not in channels):
        if x.ndim != 4:
            fix = f"add a batch axis with {name}[None]"
            if channels is not None and 3 in channels:
                fix += " or repeat a grey image to 3 channels"
        else:
            fix = f"pass an image with {wanted} channels"
            if 1 not in channels and 3 in channels:
                fix += " (repeat a grey image with .expand(-1, 3, -1, -1))"
        raise ValueError(f"{name}: expected shape (B, {wanted}, H, W), got {tuple(x.shape)}; {fix}.")
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a float tensor in [0, 1], got dtype {x.dtype}; convert with .float() / 255.")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name}: expected a non-empty image, got shape {tuple(x.shape)}.")
    return x


def check_same_grid(
    name_a: str, a: torch.Tensor, name_b: str, b: torch.Tensor, *, channels: bool = True,
    fix: str = "resize one to the other (photostyle.image.resize_to)",
) -> None:
    """Raise ValueError unless ``a`` and ``b`` (B, C, H, W) share their shape (``channels=False``: all but
    the channels) and their device; ``fix`` ends the shape message."""
    same = a.shape == b.shape if channels else (a.shape[0] == b.shape[0] and a.shape[2:] == b.shape[2:])
    if not same:
        what = "shape" if channels else "batch size and height/width"
        raise ValueError(
            f"{name_a} and {name_b}: expected the same {what}, got {tuple(a.shape)} and {tuple(b.shape)}; {fix}."
        )
    if a.device != b.device:
        raise ValueError(
            f"{name_a} and {name_b}: expected one device, got {a.device} and {b.device}; move both with .to(device)."
        )


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not an integer ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an integer, got {got(value)}; pass e.g. {name}=10.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}; pass a value of at least {minimum}.")
    return value


def check_number(name: str, value: Any, *, minimum: float | None = None, positive: bool = False,
                 example: Any = None) -> float:
    """Return ``value`` as a finite float, or raise if it is not a real number in range.

    With ``example``, every message ends with the fix ``pass e.g. name=example``.
    """
    fix = "" if example is None else f"; pass e.g. {name}={example}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected a real number, got {got(value)}{fix}.")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}{fix}.")
    if positive and value <= 0:
        raise ValueError(f"{name}: expected a number > 0, got {value}{fix}.")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}: expected a number >= {minimum}, got {value}{fix}.")
    return value


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise naming the valid ones."""
    choices = tuple(choices)
    if value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {listed}, got {got(value)}.")
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
