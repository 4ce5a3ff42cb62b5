"""Keep freed memory in the process for reuse (glibc's malloc), so that large tensors do not page-fault.

Every L-BFGS iteration allocates and frees the same large buffers (the network's activations and
their gradients: 0.9 GB an iteration at 700 px in bfloat16, 1.8 GB in float32). glibc serves blocks
above its mmap threshold (at most 32 MB) with fresh ``mmap`` pages and returns them on ``free``, so the
kernel faults in and zeroes every page again in the next iteration: 222,000 page faults an iteration
of the fast preset at 700 px, about 15 % of its time on this project's machine. With mmap off for
large blocks and trimming off, freed blocks stay in the heap and the next iteration reuses them
(6,000 faults an iteration). The price: the process keeps its peak heap until it exits.

This changes the whole process, so the library never does it on its own: the ``photostyle`` command,
``make demo``, batch workers and the benchmarks call :func:`reuse_freed_memory`; in your own program or
notebook, call ``photostyle.reuse_freed_memory()`` once if a faster run is worth keeping the memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = ["reuse_freed_memory"]

# glibc's mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4

#: Set to "system" to leave the allocator as it is in the entry points that would tune it.
MALLOC_ENV_VAR = "PHOTOSTYLE_MALLOC"

_applied = False


def reuse_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse: no ``mmap`` for large blocks, no trimming.

    Returns
    -------
    bool
        True when the setting is in effect (now or from an earlier call); False where the C library is
        not glibc (macOS, Windows, musl), or ``$PHOTOSTYLE_MALLOC`` is ``"system"``.
    """
    global _applied
    if _applied:
        return True
    if os.environ.get(MALLOC_ENV_VAR, "").strip().lower() == "system":
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(_M_MMAP_MAX, 0) != 1 or mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) != 1:
        return False
    _applied = True
    return True
