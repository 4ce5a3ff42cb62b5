"""What :func:`photostyle.transfer` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from . import _checks
from .image import resize_to, to_numpy, to_tensor
from .optimize import Stop
from .presets import LossWeights, Preset

__all__ = ["TransferResult"]


@dataclass
class TransferResult:
    """Outcome of :func:`transfer`.

    Attributes
    ----------
    image
        The final result as an 8-bit RGB PIL image, at the output size (default: the content's own).
    tensor
        The final result, (1, 3, H, W) float in [0, 1], on the CPU.
    stages
        Intermediate images by name, at their level's size, on the CPU: one per level of the schedule
        (``"stage1"``, ``"stage2"`` for the paper; ``"level1"`` … for ``fast``), then
        ``"best_local_affine"`` and ``"posterization_refine"`` at the working size (those that ran).
    history
        One dict per L-BFGS iteration: stage (the level's name), step, each weighted loss term, total.
    timings
        Seconds per phase: ``"setup"``, one entry per level, ``"laplacian"`` (matting Laplacians, all
        levels), ``"postprocess"``, ``"upsample"``, ``"total"``.
    masks
        The label maps used at the working size, ``{"content": (H, W), "style": (H', W')}`` int64, or
        None without masks.
    masks_native
        The same label maps at the size they were made or read (automatic masks: the size
        ``auto_segment`` ran at, 512 px long side or the photo's own if smaller; given masks: their
        photos' size, at most twice the working size or 1024 px long side, whichever is more), e.g. to
        save them for editing; None without masks.
    snapshots
        ``(stage, step, image)`` every ``snapshot_every`` steps.
    metrics
        Filled when ``metrics=True``: style distance, matting energy and edge SSIM of the result at
        the working size.
    stopped
        None if every level ran its iterations, else why levels stopped early (one sentence each).
    stops
        The same as :class:`~photostyle.optimize.Stop` records.
    preset
        The preset that ran (with the iteration counts that ran).
    weights
        The :class:`~photostyle.presets.LossWeights` that ran.
    network
        Which VGG-19 ran: ``{"layout": ..., "source": ...}``.
    label_names
        Names of the mask labels where known (automatic semantic masks).
    warnings
        What looks wrong with the result (a level whose loss barely moved, no optimisation at all),
        also given as ``UserWarning``.
    restarts
        ``(level, iteration, loss, lowest)`` for each time L-BFGS went back to its level's best image
        after a step far uphill (the preset's ``restart_above``; ``fast`` only).
    """

    image: Image.Image
    tensor: torch.Tensor
    stages: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    timings: dict[str, float]
    masks: dict[str, np.ndarray] | None = None
    masks_native: dict[str, np.ndarray] | None = None
    snapshots: list[tuple[str, int, torch.Tensor]] = field(default_factory=list)
    metrics: dict[str, float] | None = None
    stopped: str | None = None
    preset: Preset | None = None
    stops: list[Stop] = field(default_factory=list)
    weights: LossWeights | None = None
    network: dict[str, str] = field(default_factory=dict)
    label_names: dict[int, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    restarts: list[tuple[str, int, float, float]] = field(default_factory=list)

    def mask_overlay(self, which: Literal["content", "style"] = "content", *, alpha: float = 0.5,
                     image: torch.Tensor | None = None) -> Image.Image:
        """The label map used for ``which`` drawn in colour over its image (default: the result for
        ``"content"``, the style photo is not kept, so pass ``image=`` for ``"style"``)."""
        from photostyle import segmentation

        _checks.check_choice("which", which, ("content", "style"))
        if self.masks is None:
            raise ValueError("this result was made without masks; pass content_mask=... to transfer().")
        if image is None:
            if which == "style":
                raise ValueError("pass image= (the style photo at the working size) to overlay the style mask.")
            image = self.tensor
        labels = self.masks[which]
        arr = to_numpy(resize_to(to_tensor(image, name="image"), labels.shape))
        return Image.fromarray(segmentation.overlay(arr, labels, alpha=alpha))

    def save(self, path, *, overwrite: bool = False, metadata_from=None, bits: int = 8):
        """Write the final image atomically (see :func:`photostyle.image.save_image`); ``metadata_from``, the
        content photo's path, carries its EXIF (camera, capture time, GPS) into the file; ``bits=16`` writes
        the float result at 16 bits per channel (PNG or TIFF)."""
        from .image import save_image

        image = self.tensor if bits == 16 else self.image  # the 8-bit image has lost what 16 bits keep
        return save_image(image, path, overwrite=overwrite, metadata_from=metadata_from, bits=bits)
