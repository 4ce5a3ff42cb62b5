"""The one-call :func:`transfer`: a short composition of the public parts.

Data flows one way: inputs → images and masks (:mod:`photostyle.masks`) → encoder and objective
(:class:`~photostyle.encoders.VGG19Encoder`, :class:`~photostyle.losses.StyleObjective`,
:class:`~photostyle.matting.PhotorealismLoss`) → L-BFGS per level of the preset's schedule
(:func:`~photostyle.optimize.run_lbfgs`) → best local affine at the working size
(:mod:`photostyle.smoothing`) → the local affine colour model applied at the photo's full size
(:mod:`photostyle.upsample`) → :class:`TransferResult`.
"""

from __future__ import annotations

import hashlib
import inspect
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch

from . import _checks
from .image import ImageLike, long_side_shape, resize_long_side, resize_to, to_pil, to_tensor
from .masks import MaskLike, resolve_masks
from .optimize import (
    MIN_SHORT_SIDE, StepInfo, Stop, StopReason, flat_level_warning, level_shapes, run_lbfgs, starting_image,
)
from .presets import Level, LossWeights, Preset, get_preset
from .result import TransferResult

__all__ = ["TransferResult", "transfer"]


def _style_key(style: torch.Tensor, masks: torch.Tensor | None, present: torch.Tensor | None,
               encoder: Any, layers: tuple[str, ...]) -> tuple:
    """What the style targets depend on: the style's pixels and size, its masks, the network, the layers."""
    digest = hashlib.sha1(style.detach().cpu().contiguous().numpy().tobytes())
    if masks is not None:
        digest.update(masks.detach().cpu().contiguous().numpy().tobytes())
        digest.update(present.cpu().numpy().tobytes())
    return (digest.hexdigest(), tuple(style.shape), str(style.dtype), str(style.device),
            getattr(encoder, "source", id(encoder)), getattr(encoder, "layout", ""), layers)


def _takes_compute_dtype(encoder: torch.nn.Module) -> bool:
    """Whether ``encoder(image, compute_dtype=...)`` is understood (VGG19Encoder's forward takes it)."""
    parameters = inspect.signature(encoder.forward).parameters.values()
    return any(p.name == "compute_dtype" or p.kind is p.VAR_KEYWORD for p in parameters)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _check_steps(num_steps: Any, preset: Preset) -> Preset:
    if num_steps is None:
        return preset
    n = len(preset.levels)
    if isinstance(num_steps, (tuple, list)):
        if len(num_steps) != n:
            names = ", ".join(level.name for level in preset.levels)
            raise ValueError(f"num_steps: expected an int or {n} counts ({names}) for preset '{preset.name}', "
                             f"got {num_steps!r}.")
        return preset.with_steps(tuple(_checks.check_int(f"num_steps[{i}]", v, minimum=0)
                                       for i, v in enumerate(num_steps)))
    return preset.with_steps(_checks.check_int("num_steps", num_steps, minimum=0))


def transfer(
    content: ImageLike,
    style: ImageLike,
    *,
    content_mask: MaskLike = None,
    style_mask: MaskLike = None,
    auto_k: int | None = None,
    auto_method: Literal["auto", "semantic", "cluster"] | None = None,
    merge: dict[str, str] | None = None,
    drop: list[str] | None = None,
    preset: Literal["fast", "paper", "lite"] | Preset = "fast",
    work_size: int | None = None,
    size: int | None = None,
    output_size: Literal["full", "work"] | int = "full",
    num_steps: int | tuple[int, ...] | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    photo_weight: float | None = None,
    init: Literal["noise", "content", "colour"] | torch.Tensor | None = None,
    precision: Literal["auto", "float32", "bfloat16"] | None = None,
    postprocess: Literal["best_local_affine", "posterization_refine", "none"] = "best_local_affine",
    device: str | torch.device = "auto",
    weights: Any = None,
    encoder: torch.nn.Module | None = None,
    seed: int = 612,
    progress: bool = True,
    callback: Callable[[StepInfo], Any] | None = None,
    snapshot_every: int | None = None,
    tol_change: float | None = None,
    metrics: bool = False,
    style_cache: dict | None = None,
) -> TransferResult:
    """Give ``content`` the look of ``style`` while keeping it a photo (Luan et al. 2017).

    The preset's schedule runs level by level at the working size (content + masked style + TV, and
    the matting-Laplacian photorealism term where the level has it); the best local affine
    reconstruction of the last level's output is then brought to the output size by a local affine
    colour model of the content, so the result is the real photo under a smooth colour transform.

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
        :func:`segmentation.auto_segment`, so that the same id marks corresponding regions; or
        ``content_mask=`` the :class:`~photostyle.segmentation.AutoMasks` that ``auto_segment`` returned
        (made with any of its options, looked at first), style_mask omitted: its label maps and names.
    auto_k
        Number of regions for ``"auto"`` masks; None lets the segmenter choose.
    auto_method
        How ``"auto"`` masks are made: ``"semantic"`` (a segmentation network, ADE20K classes matched
        by name and family; ``result.label_names`` names them), ``"cluster"`` (weight-free superpixel
        clustering), or ``"auto"``/None (semantic when the model is available, else cluster).
    merge, drop
        Overrides of semantic ``"auto"`` masks: ``merge={"tree": "grass"}`` joins a class into another,
        ``drop=["person"]`` leaves a class to the whole style image (see :func:`segmentation.auto_segment`).
    preset
        ``"fast"`` (default: the paper's layers on a coarse-to-fine schedule, a minute or two on a
        CPU), ``"paper"`` (Luan et al.'s exact schedule, 1000 + 1000 iterations at 700 px), ``"lite"``
        (layers up to relu3_1, for partial weights), or a :class:`~photostyle.presets.Preset`.
    work_size
        Long side in pixels at which the optimisation runs (None: the preset's, 512 / 700). It is never
        larger than the content photo (a larger value is lowered to the photo's size with a warning).
    size
        Earlier name of ``work_size``.
    output_size
        ``"full"`` (default): the content's own size; ``"work"``: the working size; an int: that long
        side (at most the content's own).
    num_steps
        L-BFGS iterations: one int for every level, or one count per level of the preset (0 skips a
        level).
    content_weight, style_weight, tv_weight, photo_weight
        Override the loss weights the preset has for the network in use (see
        :class:`~photostyle.presets.LossWeights` for their scale). ``photo_weight`` is the weight at a
        700-px long side; each level gets ``photo_weight · (700 / its long side)²``.
    init
        The first level's start: ``"noise"`` (the paper), ``"content"``, ``"colour"`` (a per-region
        colour-statistics transfer of the content toward the style), or an image (1, 3, H, W) in [0, 1]
        of the content's aspect ratio (resized to the first level); None: the preset's.
    precision
        The dtype the VGG-19 runs in during the optimisation: ``"float32"``, ``"bfloat16"`` (about twice
        as fast on a CPU with AMX or a fast AVX512-BF16; the losses, the image and L-BFGS stay float32), or
        ``"auto"`` (bfloat16 where :func:`~photostyle.encoders.native_low_precision` says it is
        faster on the device, else float32). None: the preset's (``fast``, ``paper``: ``"auto"``; ``lite``: ``"float32"``).
        ``result.network["precision"]`` says which ran.
    postprocess
        ``"best_local_affine"`` (the paper's shown result), ``"posterization_refine"`` (best local
        affine, then K = J + I − guided_filter(I, I)) or ``"none"`` (the last level's raw output).
    device
        ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"`` or a ``torch.device``.
    weights
        VGG-19 weights: a file path, ``"normalised"`` (the default network), ``"caffe"``,
        ``"imagenet"``, a :class:`~photostyle.weights.VGG19Weights`; None: ``$PHOTOSTYLE_VGG_WEIGHTS``,
        else the normalised VGG-19.
    encoder
        A ready :class:`~photostyle.encoders.VGG19Encoder` (overrides ``weights``); it is moved to
        the device.
    seed
        Seed of the noise start (612 as the paper's code).
    progress
        Show a tqdm progress bar per level.
    callback
        Called after every iteration with a :class:`~photostyle.optimize.StepInfo`; return True to
        end the level.
    snapshot_every
        Keep a copy of the image every this many iterations in ``result.snapshots``.
    tol_change
        Stop a level early on convergence (see :func:`~photostyle.optimize.run_lbfgs`); None: the
        preset's.
    metrics
        Compute :mod:`photostyle.metrics` of the result at the working size into ``result.metrics``.
    style_cache
        A dict shared between calls (e.g. a batch over one style photo): the style's Gram targets are
        stored there per (style pixels, size, style masks, network, layers) and reused instead of
        running the style through the network again.

    Returns
    -------
    TransferResult
    """
    from .encoders import VGG19Encoder, native_low_precision
    from .losses import StyleObjective
    from .matting import PhotorealismLoss
    from .smoothing import best_local_affine, posterization_refine

    t_start = time.perf_counter()
    preset = _check_steps(num_steps, get_preset(preset))
    overrides = {"content": content_weight, "style": style_weight, "tv": tv_weight, "photo": photo_weight}
    for key, value in overrides.items():
        if value is not None:
            _checks.check_number(f"{key}_weight", value, minimum=0.0)
    if size is not None and work_size is not None and size != work_size:
        raise ValueError(f"size and work_size name the same thing; pass one (got {size} and {work_size}).")
    work_size = work_size if work_size is not None else size
    if work_size is not None:
        _checks.check_int("work_size", work_size, minimum=8)
    if not (isinstance(output_size, str) and output_size in ("full", "work")):
        if isinstance(output_size, str):
            raise ValueError(f"output_size: expected 'full', 'work' or a long side in pixels, got {output_size!r}.")
        _checks.check_int("output_size", output_size, minimum=8)
    init = init if init is not None else preset.init
    if isinstance(init, torch.Tensor):
        if init.ndim != 4 or init.shape[:2] != (1, 3) or not init.is_floating_point():
            raise ValueError(f"init: expected 'noise', 'content', 'colour' or an image tensor (1, 3, H, W) in [0, 1], "
                             f"got a tensor of shape {tuple(init.shape)} and dtype {init.dtype}.")
    else:
        _checks.check_choice("init", init, ("noise", "content", "colour"))
    precision = precision if precision is not None else preset.precision
    _checks.check_choice("precision", precision, ("auto", "float32", "bfloat16"))
    _checks.check_choice("postprocess", postprocess, ("best_local_affine", "posterization_refine", "none"))
    _checks.check_int("seed", seed)
    if snapshot_every is not None:
        _checks.check_int("snapshot_every", snapshot_every, minimum=1)
    tol_change = tol_change if tol_change is not None else preset.tol_change
    if tol_change is not None:
        _checks.check_number("tol_change", tol_change, minimum=0.0)
    if callback is not None and not callable(callback):
        raise TypeError(f"callback: expected a callable taking a StepInfo, got {type(callback).__name__}.")
    dev = _checks.resolve_device(device)

    # Images: full resolution on the CPU (masks are checked against it), then the working size.
    content_full = to_tensor(content, name="content")
    style_full = to_tensor(style, name="style")
    long_side = max(content_full.shape[-2:])
    requested = work_size if work_size is not None else preset.size
    if requested > long_side:
        if work_size is not None:
            warnings.warn(f"work_size={requested} is larger than the content photo ({content_full.shape[-1]}x"
                          f"{content_full.shape[-2]}); working at its own size, {long_side} px (photostyle never "
                          "upscales the photo to optimise it).", UserWarning, stacklevel=2)
        requested = long_side
    full_hw = tuple(content_full.shape[-2:])
    out_hw = full_hw if output_size == "full" else long_side_shape(
        full_hw, requested if output_size == "work" else min(int(output_size), long_side))
    _checks.check_memory(long_side_shape(full_hw, requested), out_hw, dev)
    content_work = resize_long_side(content_full, requested).to(dev)
    style_work = resize_long_side(style_full, requested).to(dev)
    for name, full, img in (("content", content_full, content_work), ("style", style_full, style_work)):
        if min(full.shape[-2:]) < 3:
            raise ValueError(
                f"{name}: the image is {full.shape[-2]}x{full.shape[-1]}, smaller than the 3x3 matting window; "
                "pass an image of at least 3x3 pixels."
            )
        if min(img.shape[-2:]) < 3:
            raise ValueError(
                f"{name}: the image is {img.shape[-2]}x{img.shape[-1]} at work_size={requested}, smaller than "
                "the 3x3 matting window; pass a larger work_size."
            )
        if min(img.shape[-2:]) < MIN_SHORT_SIDE and any(layer[-3] == "5" for layer in preset.layers):
            raise ValueError(
                f"{name}: the image is {img.shape[-2]}x{img.shape[-1]} at work_size={requested}; preset "
                f"'{preset.name}' uses relu5_1, which needs at least {MIN_SHORT_SIDE} px on the short side; pass a "
                "larger work_size (or a larger photo), or preset='lite'."
            )
    # Automatic masks at the segmentation network's own input size (513 px) where the photo has it: a
    # small working size gives it too few pixels to recognise a class.
    # Given masks are kept (and decoded) at twice that size at most: a 12 MP mask is not decoded at 12 MP.
    masks = resolve_masks(content_mask, style_mask, content_full, style_full, auto_k=auto_k,
                          auto_size=min(long_side, max(requested, 512)),
                          auto_options={"method": auto_method, "merge": merge, "drop": drop},
                          max_side=2 * max(requested, 512))

    # Network and loss weights.
    if encoder is None:
        encoder = VGG19Encoder(preset.layers, weights=weights, progress=progress)
    else:
        missing_layers = [layer for layer in preset.layers if layer not in getattr(encoder, "layers", ())]
        if missing_layers:
            raise ValueError(
                f"encoder: it does not output layers {missing_layers} that preset '{preset.name}' needs; "
                f"build it as VGG19Encoder({list(preset.layers)!r}, weights=...)."
            )
    encoder = encoder.to(dev)
    # the network's compute copy (channels-last weights): float32 is 9 % faster so than the module itself
    compute_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16,
                     "auto": native_low_precision(dev) or torch.float32}[precision]
    if not _takes_compute_dtype(encoder):
        if precision == "bfloat16":
            raise ValueError(f"precision: 'bfloat16' needs an encoder whose forward takes compute_dtype= (a "
                             f"VGG19Encoder), got {type(encoder).__name__}; pass precision='float32'.")
        compute_dtype = None  # an encoder of the user's own runs in its own dtype and layout
    base = preset.weights_for(getattr(encoder, "layout", "normalised"))
    loss_weights = LossWeights(**{k: float(v) if v is not None else getattr(base, k) for k, v in overrides.items()})
    timings: dict[str, float] = {"laplacian": 0.0}
    _sync(dev)
    timings["setup"] = time.perf_counter() - t_start

    history: list[dict[str, Any]] = []
    snapshots: list = []
    stages: dict[str, torch.Tensor] = {}
    stops: list[Stop] = []
    notes: list[str] = []
    restarts: list[tuple[str, int, float, float]] = []
    common = dict(history_size=preset.history_size, callback=callback, progress=progress,
                  tol_change=tol_change, snapshot_every=snapshot_every, history=history, snapshots=snapshots,
                  restart_above=preset.restart_above, restarts=restarts)
    work_hw, style_hw = tuple(content_work.shape[-2:]), tuple(style_work.shape[-2:])
    shapes = level_shapes(work_hw, preset.levels)
    objectives: dict[tuple[int, int], tuple[StyleObjective, torch.Tensor, torch.Tensor]] = {}
    laplacians: dict[tuple[int, int], PhotorealismLoss] = {}
    x: torch.Tensor | None = None
    for level, shape in zip(preset.levels, shapes):
        t0 = time.perf_counter()
        if level.num_steps == 0:
            continue
        if shape not in objectives:  # content/style targets and masks for this size, computed once
            c_lvl = content_work if shape == work_hw else resize_to(content_work, shape)
            s_shape = style_hw if shape == work_hw else level_shapes(style_hw, (Level("", max(shape) / max(work_hw), 0, False),))[0]
            s_lvl = style_work if s_shape == style_hw else resize_to(style_work, s_shape)
            cm, sm, present = masks.one_hot(shape, s_shape) if masks is not None else (None, None, None)
            key = (_style_key(s_lvl, sm, present, encoder, preset.style_layers) + (str(compute_dtype),)
                   if style_cache is not None else None)
            objective = StyleObjective(
                encoder, c_lvl, s_lvl, content_layers=preset.content_layers, style_layers=preset.style_layers,
                content_weight=loss_weights.content, style_weight=loss_weights.style, tv_weight=loss_weights.tv,
                content_masks=cm, style_masks=sm, style_present=present, compute_dtype=compute_dtype,
                style_grams=style_cache.get(key) if key is not None else None)
            if key is not None:
                style_cache[key] = objective.style_grams()
            objectives[shape] = (objective, c_lvl, s_lvl)
        objective, c_lvl, s_lvl = objectives[shape]
        photo, t_lap = None, 0.0
        if level.photorealism and loss_weights.photo > 0:
            if shape not in laplacians:
                t_lap = time.perf_counter()
                laplacians[shape] = PhotorealismLoss(c_lvl).to(dev)
                t_lap = time.perf_counter() - t_lap
                timings["laplacian"] += t_lap
            photo = laplacians[shape]
        objective.set_photorealism(photo, loss_weights.photo_at(shape) if photo is not None else 0.0)
        if x is None:
            if isinstance(init, torch.Tensor):  # an image to start from, e.g. the previous video keyframe's result
                x = resize_to(init.detach().to(device=dev, dtype=c_lvl.dtype), shape)
            else:
                x = starting_image(init, c_lvl, s_lvl, masks, seed)
        elif tuple(x.shape[-2:]) != shape:
            x = torch.nn.functional.interpolate(x, size=shape, mode="bilinear", align_corners=False)
        start = x
        x, stop = run_lbfgs(objective, x, num_steps=level.num_steps, stage=level.name, **common)
        stages[level.name] = x.clamp(0, 1).cpu()
        _sync(dev)
        timings[level.name] = time.perf_counter() - t0 - t_lap
        flat = flat_level_warning(level, history, start=start, end=x)
        if flat:
            notes.append(flat)
        if stop is not None:
            stops.append(stop)
            if stop.reason is StopReason.NON_FINITE:
                break
    if x is None:
        notes.append("every level has 0 iterations: no optimisation ran, the result is the content photo "
                     "(post-processed); give num_steps > 0 to restyle it.")
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)

    t0 = time.perf_counter()
    if x is None:  # every level skipped: the content itself
        final = content_work.clone()
    else:
        final = x.clamp(0, 1)
        if tuple(final.shape[-2:]) != work_hw:
            final = resize_to(final, work_hw)
        if postprocess != "none":
            with torch.no_grad():
                # The paper's bilateral radius, 15 px at 700 px, scaled with the working size.
                radius = max(2, round(15 * max(work_hw) / 700))
                final = best_local_affine(final, content_work, filter_radius=radius).clamp(0, 1)
                stages["best_local_affine"] = final.cpu()
                if postprocess == "posterization_refine":
                    final = posterization_refine(final, content_work).clamp(0, 1)
                    stages["posterization_refine"] = final.cpu()
    _sync(dev)
    timings["postprocess"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    work_result = final.detach()
    if output_size == "work":
        out = work_result.cpu()
    else:
        target = long_side if output_size == "full" else min(int(output_size), long_side)
        out = work_result.cpu() if target == max(work_hw) else _to_output_size(work_result, content_work,
                                                                               content_full, target)
    timings["upsample"] = time.perf_counter() - t0

    result = TransferResult(
        image=to_pil(out), tensor=out, stages=stages, history=history, timings=timings,
        masks=masks.labels_at(work_hw, style_hw) if masks is not None else None,
        masks_native={"content": masks.content, "style": masks.style} if masks is not None else None,
        snapshots=snapshots,
        stopped="; ".join(str(s) for s in stops) or None, preset=preset, stops=stops, weights=loss_weights,
        network={"layout": str(getattr(encoder, "layout", "?")), "source": str(getattr(encoder, "source", "?")),
                 "precision": str(compute_dtype or content_work.dtype).replace("torch.", "")},
        label_names=dict(masks.names) if masks is not None else {}, warnings=notes, restarts=restarts,
    )
    if metrics:
        from . import metrics as _metrics

        result.metrics = _metrics.evaluate(
            work_result, content_work, style_work, encoder=encoder, layers=preset.style_layers,
            content_mask=result.masks["content"] if result.masks else None,
            style_mask=result.masks["style"] if result.masks else None,
            laplacian=laplacians[work_hw].laplacian(device="cpu", dtype=torch.float64) if work_hw in laplacians else None,
        )
    timings["total"] = time.perf_counter() - t_start
    return result


def _to_output_size(result: torch.Tensor, content_work: torch.Tensor, content_full: torch.Tensor,
                    long_side: int) -> torch.Tensor:
    """The working-size result carried to ``long_side`` by the local affine colour model of the content."""
    from .upsample import upsample_result

    full = content_full if long_side == max(content_full.shape[-2:]) else resize_long_side(content_full, long_side)
    return upsample_result(result.cpu(), content_work.cpu(), full)
