"""The optimisation of Deep Photo Style Transfer (Luan et al. 2017): presets, stages, L-BFGS loop.

:func:`transfer` is the one-call entry point. It is assembled only from public parts that a user can
recombine: :class:`~photostyle.encoders.VGG19Encoder`, the loss modules of :mod:`photostyle.losses`,
:class:`~photostyle.matting.PhotorealismLoss`, :class:`StyleObjective` and :func:`run_lbfgs`.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Union

import numpy as np
import torch
from PIL import Image
from torch import nn

from . import _checks
from .image import ImageLike, resize_long_side, resize_to, to_numpy, to_pil, to_tensor
from .losses import ContentLoss, MaskedStyleLoss, TVLoss, style_targets

__all__ = [
    "Preset",
    "PRESETS",
    "StepInfo",
    "TransferResult",
    "StyleObjective",
    "run_lbfgs",
    "resolve_device",
    "prepare_masks",
    "transfer",
]

# Pixel values of the Caffe network are 0–256: a TV weight given per such pixel is this much larger
# on images in [0, 1].
_CAFFE_PIXEL_SCALE = 256.0

MaskLike = Union[ImageLike, None, Literal["auto"]]


@dataclass(frozen=True)
class Preset:
    """Layers, loss weights and step counts of one configuration.

    ``num_steps`` counts L-BFGS iterations (one loss and gradient evaluation each) per stage.
    ``tv_weight`` applies to images in [0, 1]; ``photo_weight`` multiplies ``Σ_c V_cᵀ L V_c`` with
    ``V_c`` in [0, 1], which is exactly the energy whose gradient Luan et al.'s code adds.
    """

    name: str
    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    content_weight: float
    style_weight: float
    tv_weight: float
    photo_weight: float
    num_steps: tuple[int, int]
    weights: str | None
    history_size: int = 100
    size: int = 700


PRESETS: dict[str, Preset] = {
    # Luan et al. (2017), Caffe VGG-19: content relu4_2; style relu1_1..relu5_1; weights 5, 1e2,
    # 1e-3 (per 0-256 pixel), 1e4; 1000 + 1000 L-BFGS iterations, history 100, no line search.
    "paper": Preset(
        name="paper",
        content_layers=("relu4_2",),
        style_layers=("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"),
        content_weight=5.0,
        style_weight=1e2,
        tv_weight=1e-3 * _CAFFE_PIXEL_SCALE**2,
        photo_weight=1e4,
        num_steps=(1000, 1000),
        weights="caffe",
    ),
    # Layers up to relu3_1 only: runs with partial weights (../shared/weights ends at conv3_1) and is
    # several times faster. Weights tuned by eye on the "normalised" VGG-19 (DPST pairs and the demo
    # pair at 96-256 px), whose activations are rescaled: the paper's weights barely move the image
    # there. Content 1e3 keeps the structure (5 washes it out), style 1e7 carries the look, and TV 1
    # instead of the paper's 65.5 (per [0, 1] pixel) avoids a hazy, blurred result.
    "lite": Preset(
        name="lite",
        content_layers=("relu3_1",),
        style_layers=("relu1_1", "relu2_1", "relu3_1"),
        content_weight=1e3,
        style_weight=1e7,
        tv_weight=1.0,
        photo_weight=1e4,
        num_steps=(300, 300),
        weights=None,
        size=512,
    ),
}


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


@dataclass
class TransferResult:
    """Outcome of :func:`transfer`.

    Attributes
    ----------
    image
        The final result as an 8-bit RGB PIL image.
    tensor
        The final result, (1, 3, H, W) float in [0, 1], on the CPU.
    stages
        Every intermediate image by name: ``"stage1"``, ``"stage2"``, ``"best_local_affine"``,
        ``"posterization_refine"`` (those that ran), each (1, 3, H, W) on the CPU.
    history
        One dict per L-BFGS iteration: stage, step, and each loss term (weighted) and the total.
    timings
        Seconds per phase: ``"setup"``, ``"laplacian"``, ``"stage1"``, ``"stage2"``, ``"postprocess"``,
        ``"total"``.
    masks
        The label maps used, ``{"content": (H, W), "style": (H', W')}`` int64, or None without masks.
    snapshots
        ``(stage, step, image)`` every ``snapshot_every`` steps.
    metrics
        Filled when ``metrics=True``: style distance, matting energy and edge SSIM of the result.
    stopped
        None if every stage ran its steps, else why a stage stopped early.
    """

    image: Image.Image
    tensor: torch.Tensor
    stages: dict[str, torch.Tensor]
    history: list[dict[str, Any]]
    timings: dict[str, float]
    masks: dict[str, np.ndarray] | None = None
    snapshots: list[tuple[str, int, torch.Tensor]] = field(default_factory=list)
    metrics: dict[str, float] | None = None
    stopped: str | None = None
    preset: Preset | None = None

    def mask_overlay(self, which: Literal["content", "style"] = "content", *, alpha: float = 0.5,
                     image: torch.Tensor | None = None) -> Image.Image:
        """The label map used for ``which`` drawn in colour over its image (default: the result for
        ``"content"``, the style photo is not kept, so pass ``image=`` for ``"style"``)."""
        import segmentation

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

    def save(self, path, *, overwrite: bool = False):
        """Write the final image atomically (see :func:`photostyle.image.save_image`)."""
        from .image import save_image

        return save_image(self.image, path, overwrite=overwrite)


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


# --------------------------------------------------------------------------------------------- masks


def _load_labels(mask: Any, *, name: str) -> np.ndarray:
    import segmentation

    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    try:
        return np.asarray(segmentation.load_label_map(mask), dtype=np.int64)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{name}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{name}: {exc}") from None


def _fit_labels(labels: np.ndarray, image_shape: tuple[int, int], *, name: str) -> np.ndarray:
    """Bring a label map to its image's size: equal, or same aspect ratio (nearest resize, warned)."""
    if labels.shape == tuple(image_shape):
        return labels
    (mh, mw), (ih, iw) = labels.shape, image_shape
    if abs(mh / mw - ih / iw) > 0.02 * (ih / iw):
        raise ValueError(
            f"{name}: the mask is {mh}x{mw} (HxW) but its image is {ih}x{iw}, a different aspect ratio; "
            "a mask must cover its image exactly: pass the mask made for this image, or crop/resize it to "
            f"{ih}x{iw}."
        )
    warnings.warn(
        f"{name}: the mask is {mh}x{mw} but its image is {ih}x{iw}; resizing the mask with nearest "
        "neighbour (same aspect ratio).",
        stacklevel=3,
    )
    return _resize_labels(labels, (ih, iw))


def _is_auto(mask: Any) -> bool:
    return isinstance(mask, str) and mask == "auto"


def _resize_labels(labels: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    import segmentation

    return np.asarray(segmentation.resize_labels(labels, tuple(shape)), dtype=np.int64)


def prepare_masks(
    content_labels: np.ndarray,
    style_labels: np.ndarray,
    content_shape: tuple[int, int],
    style_shape: tuple[int, int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """One-hot masks for the labels present in the content.

    Parameters
    ----------
    content_labels, style_labels
        Integer label maps already at their image's size.
    content_shape, style_shape
        Working sizes (H, W) of the two images.

    Returns
    -------
    content_masks, style_masks
        ``(L, H, W)`` and ``(L, H', W')`` float32 one-hot masks for the ``L`` labels of the content.
    style_present
        ``(L,)`` bool: the label occurs in the style; where it does not, the style loss falls back to
        the whole style image.
    ids
        The label ids, in order.
    """
    content_labels = _resize_labels(content_labels, content_shape)
    style_labels = _resize_labels(style_labels, style_shape)
    ids = [int(i) for i in np.unique(content_labels)]
    style_ids = set(int(i) for i in np.unique(style_labels))
    c = torch.from_numpy(np.stack([content_labels == i for i in ids]).astype(np.float32))
    s = torch.from_numpy(np.stack([style_labels == i for i in ids]).astype(np.float32))
    present = torch.tensor([i in style_ids for i in ids])
    missing = [i for i in ids if i not in style_ids]
    if missing:
        warnings.warn(
            f"content mask labels {missing} do not occur in the style mask; those regions are matched to "
            "the whole style image.",
            stacklevel=3,
        )
    return c, s, present, ids


# ----------------------------------------------------------------------------------------- objective


class StyleObjective(nn.Module):
    """The full loss of one stage, with every target computed once under ``torch.no_grad()``.

    ``forward(image)`` returns a dict of weighted terms ``content``, ``style``, ``tv``, ``photo``
    (those with non-zero weight) and ``total``.

    Parameters
    ----------
    encoder
        A :class:`~photostyle.encoders.VGG19Encoder` holding at least the content and style layers.
    content, style
        (1, 3, H, W) and (1, 3, H', W') images in [0, 1].
    content_masks, style_masks
        ``(L, H, W)`` / ``(L, H', W')`` one-hot masks, or None for a single whole-image label.
    style_present
        ``(L,)`` bool, see :func:`prepare_masks`.
    photorealism
        A :class:`~photostyle.matting.PhotorealismLoss` of the content, used when ``photo_weight > 0``.
    """

    def __init__(
        self,
        encoder: nn.Module,
        content: torch.Tensor,
        style: torch.Tensor,
        *,
        content_layers: Sequence[str],
        style_layers: Sequence[str],
        content_weight: float,
        style_weight: float,
        tv_weight: float = 0.0,
        photo_weight: float = 0.0,
        content_masks: torch.Tensor | None = None,
        style_masks: torch.Tensor | None = None,
        style_present: torch.Tensor | None = None,
        photorealism: nn.Module | None = None,
    ):
        super().__init__()
        import segmentation

        self.encoder = encoder
        self.content_layers = tuple(content_layers)
        self.style_layers = tuple(style_layers)
        self.set_photorealism(photorealism, photo_weight)
        self.tv = TVLoss(weight=tv_weight) if tv_weight > 0 else None
        device, dtype = content.device, content.dtype
        if content_masks is None:
            content_masks = torch.ones(1, *content.shape[-2:])
            style_masks = torch.ones(1, *style.shape[-2:])
            style_present = torch.ones(1, dtype=torch.bool)
        content_masks = content_masks.to(device=device, dtype=dtype)
        style_masks = style_masks.to(device=device, dtype=dtype)
        names = tuple(encoder.names)
        ceil_mode = bool(getattr(encoder, "pool_ceil_mode", True))
        with torch.no_grad():
            content_pyramid = segmentation.mask_pyramid(content_masks, names, ceil_mode=ceil_mode)
            style_pyramid = segmentation.mask_pyramid(style_masks, names, ceil_mode=ceil_mode)
            content_feats = encoder(content)
            style_feats = encoder(style)
            self.content_losses = nn.ModuleDict(
                {
                    layer: ContentLoss(content_feats[layer], weight=content_weight)
                    for layer in self.content_layers
                }
            )
            self.style_losses = nn.ModuleDict()
            for layer in self.style_layers:
                targets = style_targets(style_feats[layer], style_pyramid[layer], present=style_present)
                self.style_losses[layer] = MaskedStyleLoss(targets, content_pyramid[layer], weight=style_weight)

    def set_photorealism(self, loss: nn.Module | None, weight: float) -> None:
        """Switch the photorealism term (stage 2) on (``weight > 0`` and a loss) or off; the content
        and style targets are kept, not recomputed."""
        self.photo_weight = float(weight)
        if self.photo_weight > 0 and loss is None:
            raise ValueError("photo_weight > 0 needs a photorealism loss (photostyle.matting.PhotorealismLoss).")
        self.photorealism = loss if self.photo_weight > 0 else None

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.encoder(image)
        terms: dict[str, torch.Tensor] = {}
        terms["content"] = sum(module(feats[name]) for name, module in self.content_losses.items())
        terms["style"] = sum(module(feats[name]) for name, module in self.style_losses.items())
        if self.tv is not None:
            terms["tv"] = self.tv(image)
        if self.photorealism is not None:
            terms["photo"] = self.photo_weight * self.photorealism(image)
        total = terms["content"]
        for key in list(terms)[1:]:
            total = total + terms[key]
        terms["total"] = total
        return terms


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
) -> tuple[torch.Tensor, str | None]:
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
        Stop early when the relative change of the total loss between iterations falls below this.
    snapshot_every
        Append ``(stage, step, image)`` to ``snapshots`` every this many iterations.

    Returns
    -------
    image, stopped
        The final (or last finite) image, detached; ``stopped`` is None or the reason it stopped early.
    """
    x = init.detach().clone().requires_grad_(True)
    optimiser = torch.optim.LBFGS(
        [x], lr=1.0, max_iter=1, history_size=history_size, line_search_fn=None,
        tolerance_grad=0.0, tolerance_change=0.0,
    )
    last: dict[str, torch.Tensor] = {}

    def closure() -> torch.Tensor:
        optimiser.zero_grad(set_to_none=False)
        terms = objective(x)
        total = terms["total"]
        if not bool(torch.isfinite(total)):
            raise _NonFinite
        good.copy_(x.detach())  # the last image whose loss was finite
        total.backward()
        last.clear()
        last.update({k: v.detach() for k, v in terms.items()})
        return total

    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=num_steps, desc=stage, leave=False, dynamic_ncols=True)
    stopped = None
    previous = None
    good = x.detach().clone()
    try:
        for step in range(1, num_steps + 1):
            try:
                optimiser.step(closure)
            except _NonFinite:
                with torch.no_grad():
                    x.copy_(good)
                stopped = f"{stage}: the loss became non-finite at iteration {step}; kept the last finite image"
                warnings.warn(stopped + " (try smaller weights or a different seed).", RuntimeWarning, stacklevel=2)
                break
            losses = {k: float(v) for k, v in last.items()}
            if history is not None:
                history.append({"stage": stage, "step": step, **losses})
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{losses['total']:.4g}", refresh=False)
            if snapshots is not None and snapshot_every and step % snapshot_every == 0:
                snapshots.append((stage, step, x.detach().clamp(0, 1).cpu().clone()))
            if callback is not None:
                if callback(StepInfo(stage, step, num_steps, losses, x.detach())) is True:
                    stopped = f"{stage}: stopped by the callback at iteration {step}"
                    break
            if tol_change is not None and previous is not None:
                if abs(previous - losses["total"]) <= tol_change * max(abs(previous), 1e-30):
                    stopped = f"{stage}: converged at iteration {step} (relative change <= {tol_change:g})"
                    break
            previous = losses["total"]
    finally:
        if bar is not None:
            bar.close()
    if not bool(torch.isfinite(x).all()):
        with torch.no_grad():
            x.copy_(good)
        stopped = stopped or f"{stage}: the image became non-finite; kept the last finite image"
    return x.detach(), stopped


def _noise_init(shape: tuple[int, ...], *, seed: int, device, dtype) -> torch.Tensor:
    """neural-style's random init: N(0, 0.001) in Caffe pixel units around the ImageNet mean colour."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    mean = torch.tensor([123.68, 116.779, 103.939]).view(1, 3, 1, 1) / _CAFFE_PIXEL_SCALE
    noise = torch.randn(shape, generator=generator) * (1e-3 / _CAFFE_PIXEL_SCALE)
    return (mean + noise).to(device=device, dtype=dtype)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def transfer(
    content: ImageLike,
    style: ImageLike,
    *,
    content_mask: MaskLike = None,
    style_mask: MaskLike = None,
    auto_k: int | None = None,
    preset: Literal["paper", "lite"] | Preset = "paper",
    size: int | None = None,
    num_steps: int | tuple[int, int] | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    photo_weight: float | None = None,
    init: Literal["noise", "content"] = "noise",
    postprocess: Literal["best_local_affine", "posterization_refine", "none"] = "best_local_affine",
    device: str | torch.device = "auto",
    weights: Any = None,
    encoder: nn.Module | None = None,
    seed: int = 612,
    progress: bool = True,
    callback: Callable[[StepInfo], Any] | None = None,
    snapshot_every: int | None = None,
    tol_change: float | None = None,
    metrics: bool = False,
) -> TransferResult:
    """Give ``content`` the look of ``style`` while keeping it a photo (Luan et al. 2017).

    Stage 1 optimises content + masked style (+ TV) losses from noise; stage 2 adds the matting
    Laplacian photorealism term and starts from stage 1's result; the shown result is the best local
    affine reconstruction of stage 2's output.

    Parameters
    ----------
    content, style
        Paths, PIL images, numpy arrays (H, W[, 3|4]) uint8/uint16/float in [0, 1], or tensors
        (3, H, W) / (1, 3, H, W) in [0, 1].
    content_mask, style_mask
        Semantic masks: colour-coded images (decoded to the nearest DPST palette colour), integer label
        maps (H, W), or paths to either. Give both or neither. Each must match its image's size or at
        least its aspect ratio (then it is resized with nearest neighbour, with a warning).
        ``content_mask="auto"`` (style_mask omitted or ``"auto"``) segments both images jointly with
        :func:`segmentation.auto_segment`, so that the same id marks corresponding regions.
    auto_k
        Number of regions for ``"auto"`` masks; None lets the segmenter choose.
    preset
        ``"paper"`` (Caffe VGG-19, the paper's layers and weights, 1000 + 1000 iterations) or
        ``"lite"`` (layers up to relu3_1, for partial weights and speed), or a :class:`Preset`.
    size
        Long side in pixels of the working resolution (both images); None: the preset's (700 / 512).
    num_steps
        L-BFGS iterations per stage: an int for both stages or ``(stage1, stage2)``; 0 skips a stage.
    content_weight, style_weight, tv_weight, photo_weight
        Override the preset's loss weights (see :class:`Preset` for their scale).
    init
        Stage 1's starting image: ``"noise"`` (the paper) or ``"content"``.
    postprocess
        ``"best_local_affine"`` (the paper's shown result), ``"posterization_refine"`` (best local
        affine, then K = J + I − guided_filter(I, I)) or ``"none"`` (stage 2's raw output).
    device
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    weights
        VGG-19 weights: a file path, ``"caffe"``, ``"imagenet"``, a
        :class:`~photostyle.encoders.VGG19Weights`; None: ``$PHOTOSTYLE_VGG_WEIGHTS`` or the preset's.
    encoder
        A ready :class:`~photostyle.encoders.VGG19Encoder` (overrides ``weights``); it is moved to
        the device.
    seed
        Seed of the noise initialisation (612 as the paper's code).
    progress
        Show a tqdm progress bar per stage.
    callback
        Called after every iteration with a :class:`StepInfo`; return True to end the stage.
    snapshot_every
        Keep a copy of the image every this many iterations in ``result.snapshots``.
    tol_change
        Stop a stage early when the relative loss change per iteration falls below this.
    metrics
        Compute :mod:`photostyle.metrics` of the result into ``result.metrics``.

    Returns
    -------
    TransferResult
    """
    from .encoders import VGG19Encoder
    from .matting import PhotorealismLoss
    from .smoothing import best_local_affine, posterization_refine

    t_start = time.perf_counter()
    if isinstance(preset, str):
        _checks.check_choice("preset", preset, PRESETS)
        preset = PRESETS[preset]
    elif not isinstance(preset, Preset):
        raise TypeError(f"preset: expected 'paper', 'lite' or a Preset, got {type(preset).__name__}.")
    overrides = {
        "content_weight": content_weight, "style_weight": style_weight,
        "tv_weight": tv_weight, "photo_weight": photo_weight,
    }
    for key, value in overrides.items():
        if value is not None:
            _checks.check_number(key, value, minimum=0.0)
    preset = replace(preset, **{k: float(v) for k, v in overrides.items() if v is not None})
    if size is not None:
        _checks.check_int("size", size, minimum=8)
    size = size if size is not None else preset.size
    if num_steps is None:
        steps = preset.num_steps
    elif isinstance(num_steps, (tuple, list)):
        if len(num_steps) != 2:
            raise ValueError(f"num_steps: expected an int or a pair (stage1, stage2), got {num_steps!r}.")
        steps = (_checks.check_int("num_steps[0]", num_steps[0], minimum=0),
                 _checks.check_int("num_steps[1]", num_steps[1], minimum=0))
    else:
        steps = (_checks.check_int("num_steps", num_steps, minimum=0),) * 2
    _checks.check_choice("init", init, ("noise", "content"))
    _checks.check_choice("postprocess", postprocess, ("best_local_affine", "posterization_refine", "none"))
    _checks.check_int("seed", seed)
    if snapshot_every is not None:
        _checks.check_int("snapshot_every", snapshot_every, minimum=1)
    if tol_change is not None:
        _checks.check_number("tol_change", tol_change, minimum=0.0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable taking a StepInfo, got {type(callback).__name__}.")
    dev = resolve_device(device)

    # Images: full resolution first (masks are checked against it), then the working size.
    content_full = to_tensor(content, name="content")
    style_full = to_tensor(style, name="style")
    content_img = resize_long_side(content_full, size).to(dev)
    style_img = resize_long_side(style_full, size).to(dev)
    for name, full, img in (("content", content_full, content_img), ("style", style_full, style_img)):
        if min(full.shape[-2:]) < 3:
            raise ValueError(
                f"{name}: the image is {full.shape[-2]}x{full.shape[-1]}, smaller than the 3x3 matting window; "
                "pass an image of at least 3x3 pixels."
            )
        if min(img.shape[-2:]) < 3:
            raise ValueError(
                f"{name}: the image is {img.shape[-2]}x{img.shape[-1]} at size={size}, smaller than the 3x3 "
                "matting window; pass a larger size."
            )

    # Masks.
    auto = _is_auto(content_mask) or _is_auto(style_mask)
    if auto and not all(m is None or _is_auto(m) for m in (content_mask, style_mask)):
        raise ValueError(
            "content_mask='auto' segments both images: leave style_mask out (or pass 'auto' for both), "
            "or give two mask images."
        )
    if auto_k is not None:
        _checks.check_int("auto_k", auto_k, minimum=1)
        if not auto:
            raise ValueError("auto_k is the number of regions of automatic masks: pass it with content_mask='auto'.")
    if not auto and (content_mask is None) != (style_mask is None):
        given = "content_mask" if content_mask is not None else "style_mask"
        missing = "style_mask" if content_mask is not None else "content_mask"
        raise ValueError(f"{given} was given without {missing}: pass both masks (or neither).")
    masks_used = None
    content_masks = style_masks = present = None
    if auto:
        import segmentation

        found = segmentation.auto_segment(to_numpy(content_img), to_numpy(style_img), k=auto_k)
        c_labels, s_labels = found.content_labels, found.style_labels
    elif content_mask is not None:
        c_labels = _fit_labels(_load_labels(content_mask, name="content_mask"),
                               tuple(content_full.shape[-2:]), name="content_mask")
        s_labels = _fit_labels(_load_labels(style_mask, name="style_mask"),
                               tuple(style_full.shape[-2:]), name="style_mask")
    if auto or content_mask is not None:
        content_masks, style_masks, present, _ = prepare_masks(
            c_labels, s_labels, tuple(content_img.shape[-2:]), tuple(style_img.shape[-2:])
        )
        masks_used = {
            "content": _resize_labels(c_labels, tuple(content_img.shape[-2:])),
            "style": _resize_labels(s_labels, tuple(style_img.shape[-2:])),
        }

    # Encoder.
    layers = tuple(dict.fromkeys(preset.content_layers + preset.style_layers))
    if encoder is None:
        encoder = VGG19Encoder(layers, weights=weights if weights is not None else _default_weights(preset),
                               progress=progress)
    else:
        missing_layers = [layer for layer in layers if layer not in getattr(encoder, "layers", ())]
        if missing_layers:
            raise ValueError(
                f"encoder: it does not output layers {missing_layers} that preset '{preset.name}' needs; "
                f"build it as VGG19Encoder({list(layers)!r}, weights=...)."
            )
    encoder = encoder.to(dev)
    timings: dict[str, float] = {}

    objective = StyleObjective(
        encoder, content_img, style_img,
        content_layers=preset.content_layers, style_layers=preset.style_layers,
        content_weight=preset.content_weight, style_weight=preset.style_weight, tv_weight=preset.tv_weight,
        content_masks=content_masks, style_masks=style_masks, style_present=present,
    )
    _sync(dev)
    timings["setup"] = time.perf_counter() - t_start

    history: list[dict[str, Any]] = []
    snapshots: list = []
    stages: dict[str, torch.Tensor] = {}
    stopped_reasons: list[str] = []
    common = dict(history_size=preset.history_size, callback=callback, progress=progress,
                  tol_change=tol_change, snapshot_every=snapshot_every, history=history, snapshots=snapshots)

    if init == "noise":
        x = _noise_init(tuple(content_img.shape), seed=seed, device=dev, dtype=content_img.dtype)
    else:
        x = content_img.clone()
    t0 = time.perf_counter()
    if steps[0] > 0:
        x, why = run_lbfgs(objective, x, num_steps=steps[0], stage="stage1", **common)
        if why:
            stopped_reasons.append(why)
        stages["stage1"] = x.clamp(0, 1).cpu()
    _sync(dev)
    timings["stage1"] = time.perf_counter() - t0

    nonfinite = any("non-finite" in why for why in stopped_reasons)
    t0 = time.perf_counter()
    laplacian = None
    if steps[1] > 0 and preset.photo_weight > 0 and not nonfinite:
        laplacian = PhotorealismLoss(content_img).to(dev)
    timings["laplacian"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if steps[1] > 0 and not nonfinite:
        objective.set_photorealism(laplacian, preset.photo_weight if laplacian is not None else 0.0)
        x, why = run_lbfgs(objective, x, num_steps=steps[1], stage="stage2", **common)
        if why:
            stopped_reasons.append(why)
        stages["stage2"] = x.clamp(0, 1).cpu()
    _sync(dev)
    timings["stage2"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    final = x.clamp(0, 1)
    if postprocess != "none" and (steps[0] > 0 or steps[1] > 0):
        with torch.no_grad():
            final = best_local_affine(final, content_img).clamp(0, 1)
            stages["best_local_affine"] = final.cpu()
            if postprocess == "posterization_refine":
                final = posterization_refine(final, content_img).clamp(0, 1)
                stages["posterization_refine"] = final.cpu()
    _sync(dev)
    timings["postprocess"] = time.perf_counter() - t0
    final = final.detach().cpu()

    result = TransferResult(
        image=to_pil(final), tensor=final, stages=stages, history=history, timings=timings,
        masks=masks_used, snapshots=snapshots, stopped="; ".join(stopped_reasons) or None, preset=preset,
    )
    if metrics:
        from . import metrics as _metrics

        result.metrics = _metrics.evaluate(
            final.to(dev), content_img, style_img, encoder=encoder, layers=preset.style_layers,
            content_mask=masks_used["content"] if masks_used else None,
            style_mask=masks_used["style"] if masks_used else None,
        )
    timings["total"] = time.perf_counter() - t_start
    return result


def _default_weights(preset: Preset):
    """None lets the encoder resolve $PHOTOSTYLE_VGG_WEIGHTS first; otherwise the preset's network."""
    import os

    if os.environ.get("PHOTOSTYLE_VGG_WEIGHTS"):
        return None
    return preset.weights
