"""Work caps for tests/test_readme.py: the only change the README test makes to the README's examples.

:func:`photostyle.transfer` runs at a working size of at most :data:`WORK_SIZE` px with :data:`STEPS`
L-BFGS iterations per level, and :func:`photostyle.run_lbfgs` runs at most :data:`STEPS` iterations.
Everything else (arguments, files, outputs, post-processing, delivery at full size) is untouched.
Installed in the test process (with pytest's monkeypatch), in batch worker processes
(:func:`init_worker`) and in Ray workers (:func:`install`, a ``worker_process_setup_hook``). This
module imports nothing from the tests, so spawned and Ray workers can import it.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

WORK_SIZE = 64
STEPS = 2


def capped_transfer(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real`` (photostyle.transfer) with the working size capped and every level at STEPS iterations."""
    if getattr(real, "readme_capped", False):
        return real

    @functools.wraps(real)  # keeps inspect.signature(transfer): photostyle.video reads it
    def transfer(content, style, **options):
        from photostyle.presets import get_preset

        size = options.pop("size", None)
        asked = options.get("work_size") or size or get_preset(options.get("preset", "fast")).size
        options["work_size"] = min(int(asked), WORK_SIZE)
        options["num_steps"] = STEPS
        return real(content, style, **options)

    transfer.readme_capped = True
    return transfer


def capped_run_lbfgs(real: Callable[..., Any]) -> Callable[..., Any]:
    """``real`` (photostyle.run_lbfgs) with at most STEPS iterations."""
    if getattr(real, "readme_capped", False):
        return real

    @functools.wraps(real)
    def run_lbfgs(objective, init, *, num_steps, **options):
        return real(objective, init, num_steps=min(int(num_steps), STEPS), **options)

    run_lbfgs.readme_capped = True
    return run_lbfgs


def targets() -> list[tuple[Any, str, Callable[[Callable], Callable]]]:
    """(object, attribute, wrapper) of every name the caps replace."""
    import sys

    import photostyle
    import photostyle.transfer  # noqa: F401 - the module, which photostyle.transfer (the function) shadows

    module = sys.modules["photostyle.transfer"]
    return [(module, "transfer", capped_transfer), (photostyle, "transfer", capped_transfer),
            (photostyle, "run_lbfgs", capped_run_lbfgs)]


def install() -> None:
    """Install the caps in this process for good (a worker process)."""
    for obj, name, wrap in targets():
        setattr(obj, name, wrap(getattr(obj, name)))


def init_worker(*args: Any) -> None:
    """photostyle.batch's worker initializer, then the caps."""
    from photostyle.batch import worker

    worker._init_worker(*args)  # the batch's own initializer (this one is only set on photostyle.batch.local)
    install()
