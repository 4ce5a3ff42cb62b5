"""The L-BFGS loop of Deep Photo Style Transfer, what a callback sees, and why a run stopped.

As in Luan et al.'s code: no line search, step size 1, a fixed number of iterations (each one loss and
gradient evaluation), history 100; the image is not clamped during optimisation. The iteration is
``torch.optim.LBFGS``'s, written out for one tensor (:mod:`photostyle._lbfgs`).
"""

from __future__ import annotations

import enum
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from ._lbfgs import TwoLoopLBFGS
from .image import long_side_shape
from .presets import CAFFE_PIXEL_SCALE, Level

if TYPE_CHECKING:
    from .masks import MaskSet

__all__ = ["StepInfo", "StopReason", "Stop", "run_lbfgs", "noise_image", "starting_image", "level_shapes",
           "flat_level_warning"]


@dataclass
class StepInfo:
    """What a per-step callback receives.

    ``image`` is the current estimate after the iteration's update, (1, 3, H, W), detached (not
    clamped); do not modify it in place. ``losses`` are those the iteration evaluated, i.e. of the
    image before its update (L-BFGS without line search evaluates once per iteration).
    """

    stage: str
    step: int
    num_steps: int
    losses: dict[str, float]
    image: torch.Tensor


class StopReason(enum.Enum):
    """Why a stage ended before its iteration count."""

    CALLBACK = "callback"
    CONVERGED = "converged"
    NON_FINITE = "non_finite"


@dataclass(frozen=True)
class Stop:
    """A stage that ended early: why, where, and the sentence a person reads."""

    reason: StopReason
    stage: str
    step: int
    message: str

    def __str__(self) -> str:
        return self.message


def _converged(totals: list[float], tol_change: float, window: int) -> bool:
    """True once the loss has really started to fall and then flattened out.

    The loss must have fallen to at most 90 % of its first value (so a flat start, which barely
    moves for the first iterations, never counts as converged), and the mean relative decrease per
    iteration over the last ``window`` iterations must be at most ``tol_change``.
    """
    if len(totals) <= window or totals[-1] > 0.9 * totals[0]:
        return False
    old, new = totals[-1 - window], totals[-1]
    return (old - new) / window <= tol_change * max(abs(old), 1e-30)


class _NonFinite(Exception):
    pass


def run_lbfgs(
    objective: Callable[[torch.Tensor], dict[str, torch.Tensor]],
    init: torch.Tensor,
    *,
    num_steps: int,
    history_size: int = 100,
    stage: str = "stage",
    callback: Callable[[StepInfo], Any] | None = None,
    progress: bool = True,
    tol_change: float | None = None,
    snapshot_every: int | None = None,
    history: list[dict[str, Any]] | None = None,
    snapshots: list | None = None,
    window: int = 5,
    restart_above: float | None = None,
    restarts: list[tuple[str, int, float, float]] | None = None,
) -> tuple[torch.Tensor, Stop | None]:
    """Minimise ``objective(x)["total"]`` over the image ``x`` with L-BFGS.

    As in Luan et al.'s code: no line search, step size 1, a fixed number of iterations (each one loss
    and gradient evaluation), history ``history_size``. The image is not clamped during optimisation.

    Parameters
    ----------
    objective
        Maps (1, 3, H, W) to a dict of loss terms with a ``"total"`` entry.
    init
        Starting image (1, 3, H, W); not modified.
    num_steps
        Number of L-BFGS iterations.
    callback
        Called after each iteration with a :class:`StepInfo`; returning ``True`` stops the stage.
    tol_change
        Stop early on convergence: once the loss has fallen to 90 % of its first value, when its mean
        relative decrease per iteration over the last ``window`` iterations is at most this.
    window
        Iterations over which ``tol_change`` is measured.
    snapshot_every
        Append ``(stage, step, image)`` to ``snapshots`` every this many iterations.
    restart_above
        A guard against L-BFGS's occasional step far uphill (there is no line search): when an
        iteration's loss exceeds this multiple of the lowest loss so far, the image goes back to the one
        of that lowest loss and L-BFGS starts again with an empty history (its first step is short).
        Each such restart appends ``(stage, step, loss, lowest)`` to ``restarts``. The last iteration's
        step is checked too, by one more evaluation of the loss (without gradient) after the loop: if
        it went that far uphill (or to a non-finite loss), the stage returns the image of the lowest
        loss instead, recorded as iteration ``num_steps + 1``. For losses that are positive (as every
        term of the style objective is); while the lowest is not, it never acts. None: never.

    Returns
    -------
    image, stopped
        The final (or last finite) image, detached; ``stopped`` is None or a :class:`Stop` saying why
        the stage ended early.
    """
    if restart_above is not None and not (math.isfinite(restart_above) and restart_above > 1):
        raise ValueError(f"restart_above: expected a finite factor above 1 (such as 2.0) or None, got {restart_above!r}.")
    x = init.detach().clone().requires_grad_(True)
    optimiser = TwoLoopLBFGS(x, history_size=history_size, lr=1.0)  # torch.optim.LBFGS's iteration, step for step
    last: dict[str, torch.Tensor] = {}
    lowest = [math.inf]  # the lowest loss evaluated so far, and (below) its image
    best = x.detach().clone() if restart_above is not None else None

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        terms = objective(x)
        total = terms["total"]
        if not bool(torch.isfinite(total)):
            raise _NonFinite
        good.copy_(x.detach())  # the last image whose loss was finite
        if best is not None:
            value = float(total.detach())
            if value < lowest[0]:
                lowest[0] = value
                best.copy_(x.detach())
        total.backward()
        last.clear()
        last.update({k: v.detach() for k, v in terms.items()})
        return total

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=num_steps, desc=stage, leave=False, dynamic_ncols=True)
    stopped: Stop | None = None
    totals: list[float] = []
    good = x.detach().clone()
    try:
        for step in range(1, num_steps + 1):
            try:
                optimiser.step(closure)
            except _NonFinite:
                with torch.no_grad():
                    x.copy_(good)
                stopped = Stop(StopReason.NON_FINITE, stage, step,
                               f"{stage}: the loss became non-finite at iteration {step}; kept the last finite image")
                warnings.warn(stopped.message + " (try smaller weights or a different seed).", RuntimeWarning,
                              stacklevel=2)
                break
            losses = {k: float(v) for k, v in last.items()}
            totals.append(losses["total"])
            if best is not None and 0 < lowest[0] and losses["total"] > restart_above * lowest[0]:
                with torch.no_grad():
                    x.copy_(best)
                optimiser = TwoLoopLBFGS(x, history_size=history_size, lr=1.0)
                if restarts is not None:
                    restarts.append((stage, step, losses["total"], lowest[0]))
            if history is not None:
                history.append({"stage": stage, "step": step, **losses})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses['total']:.4g}", refresh=False)
            if snapshots is not None and snapshot_every and step % snapshot_every == 0:
                snapshots.append((stage, step, x.detach().clamp(0, 1).cpu().clone()))
            if callback is not None:
                if callback(StepInfo(stage, step, num_steps, losses, x.detach())) is True:
                    stopped = Stop(StopReason.CALLBACK, stage, step,
                                   f"{stage}: stopped by the callback at iteration {step}")
                    break
            if tol_change is not None and step < num_steps and _converged(totals, tol_change, window):
                stopped = Stop(StopReason.CONVERGED, stage, step,
                               f"{stage}: converged at iteration {step} (relative change <= {tol_change:g} "
                               f"per iteration over {window})")
                break
        finite_end = stopped is None or stopped.reason is not StopReason.NON_FINITE
        if best is not None and 0 < lowest[0] and totals and finite_end:
            with torch.no_grad():  # the last step was never evaluated: undo it if it went far uphill
                value = float(objective(x)["total"])
                if not math.isfinite(value) or value > restart_above * lowest[0]:
                    x.copy_(best)
                    if restarts is not None:
                        restarts.append((stage, len(totals) + 1, value, lowest[0]))
    finally:
        if bar is not None:
            bar.close()
    if not bool(torch.isfinite(x).all()):
        with torch.no_grad():
            x.copy_(good)
        stopped = stopped or Stop(StopReason.NON_FINITE, stage, len(totals),
                                  f"{stage}: the image became non-finite; kept the last finite image")
    return x.detach(), stopped


def noise_image(shape: tuple[int, ...], *, seed: int, device=None, dtype=None) -> torch.Tensor:
    """neural-style's random start: N(0, 0.001) in Caffe pixel units around the ImageNet mean colour."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    mean = torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1) / CAFFE_PIXEL_SCALE
    noise = torch.randn(shape, generator=generator) * (1e-3 / CAFFE_PIXEL_SCALE)
    return (mean + noise).to(device=device, dtype=dtype)


def starting_image(init: str, content: torch.Tensor, style: torch.Tensor, masks: MaskSet | None,
                    seed: int) -> torch.Tensor:
    """The first level's start: ``"noise"`` (:func:`noise_image`), ``"content"``, or ``"colour"``
    (:func:`photostyle.colour.colour_transfer` per matched mask region)."""
    if init == "noise":
        return noise_image(tuple(content.shape), seed=seed, device=content.device, dtype=content.dtype)
    if init == "content":
        return content.clone()
    from .colour import colour_transfer

    labels = masks.labels_at(tuple(content.shape[-2:]), tuple(style.shape[-2:])) if masks is not None else None
    return colour_transfer(content, style, content_labels=None if labels is None else labels["content"],
                           style_labels=None if labels is None else labels["style"])


#: The smallest short side a level may have: after VGG-19's four poolings (rounding up) relu5_1's map
#: is still 2 px, which its reflection padding needs.
MIN_SHORT_SIDE = 17


def level_shapes(shape: tuple[int, int], levels: tuple[Level, ...]) -> list[tuple[int, int]]:
    """(H, W) of every level for a working size ``shape``: the long side scaled by each level's
    ``scale``, the short side at least :data:`MIN_SHORT_SIDE` px (never more than ``shape``)."""
    long_side, short_side = max(shape), min(shape)
    floor = min(long_side, -(-MIN_SHORT_SIDE * long_side // short_side))  # long side giving a 17 px short side
    return [long_side_shape(shape, max(floor, min(long_side, round(long_side * level.scale)))) for level in levels]


def flat_level_warning(level: Level, history: list[dict[str, Any]], *, start: torch.Tensor | None = None,
                       end: torch.Tensor | None = None) -> str | None:
    """A sentence when a level's loss barely moved, or its image barely left its start (mean change under
    1/255: e.g. a grey noise start after a few iterations), else None."""
    totals = [h["total"] for h in history if h["stage"] == level.name]
    if not totals:
        return None
    first, last = totals[0], totals[-1]
    if first > 0 and last > 1.01 * first:  # L-BFGS's first steps are short guesses and may go uphill
        return (f"{level.name}: the loss rose in {len(totals)} iteration(s) ({first:.4g} -> {last:.4g}); L-BFGS "
                "had too few iterations to settle. Give more iterations (num_steps / --steps).")
    if first > 0 and (first - last) <= 0.01 * first:
        return (f"{level.name}: the loss barely moved in {len(totals)} iteration(s) ({first:.4g} -> {last:.4g}); "
                "the image stayed close to its start. Give more iterations (num_steps / --steps).")
    if start is not None and end is not None and start.shape == end.shape:
        change = float((end.clamp(0, 1) - start.clamp(0, 1)).abs().mean())
        if change < 1 / 255:
            return (f"{level.name}: the image barely left its start in {len(totals)} iteration(s) (mean change "
                    f"{change * 255:.2f}/255); the result looks like the start image. Give more iterations "
                    "(num_steps / --steps).")
    return None
