"""Semantic masks in the core: load, fit to the image, match content and style labels, one-hot, pyramid.

Mask I/O, palettes, matching and automatic segmentation live in the :mod:`segmentation` package; this
module builds on its public functions (:func:`segmentation.load_label_map`,
:func:`segmentation.fit_labels`, :func:`segmentation.match_labels`, :func:`segmentation.one_hot`) and
adds what is VGG logic: the mask pyramid that follows the encoder's convolutions and poolings.

A transfer keeps its masks once as :class:`MaskSet` (label maps at the images' full size) and asks it
for one-hot masks at each working size it optimises at, so each mask is resized once per size.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import numpy as np
import torch
import torch.nn.functional as F

from ._checks import check_int
from ._displayed import orientation, upright
from .image import long_side_shape
from .layers import pooled_shape

__all__ = ["MaskLike", "MaskSet", "load_mask", "fit_mask", "prepare_masks", "resolve_masks", "mask_pyramid"]

MaskLike = Union[Any, None, Literal["auto"]]


def _got(value: Any) -> str:
    if isinstance(value, (torch.Tensor, np.ndarray)):
        return f"{type(value).__name__} of shape {tuple(value.shape)}"
    return type(value).__name__


def _bounded(mask: Any, max_side: int) -> tuple[Any, tuple[int, int] | None]:
    """``mask`` at most ``max_side`` px on its long side (nearest neighbour, before any decoding), and
    its own (H, W) (None where it cannot be told without decoding; then it is left as it is)."""
    from PIL import Image

    if isinstance(mask, (str, os.PathLike)) and not str(mask).lower().endswith(".npy"):
        try:
            opened = Image.open(mask)
        except Exception:  # noqa: BLE001 - load_label_map reads it again and words the error
            return mask, None
        if max(opened.size) <= max_side:
            opened.close()
            return mask, None
        if opened.format == "TIFF" and orientation(opened) in (5, 6, 7, 8):  # decoded by name, Pillow 13 gets
            opened.close()  # its shape wrong (see image.open_image): decoded from a file object instead
            with open(mask, "rb") as fh:
                opened = Image.open(fh)
                opened.load()
        mask = opened
    if isinstance(mask, Image.Image):
        mask = upright(mask)  # its EXIF orientation (decodes it where it has one), as load_label_map does
        w, h = mask.size
        if max(h, w) <= max_side:
            return mask, (h, w)
        small = long_side_shape((h, w), max_side)
        return mask.resize(small[::-1], Image.NEAREST), (h, w)
    if isinstance(mask, np.ndarray) and mask.ndim in (2, 3) and min(mask.shape[:2]) > 0:
        h, w = mask.shape[:2]
        if max(h, w) <= max_side:
            return mask, (h, w)
        sh, sw = long_side_shape((h, w), max_side)
        rows = np.clip(np.floor((np.arange(sh) + 0.5) * (h / sh)).astype(np.int64), 0, h - 1)
        cols = np.clip(np.floor((np.arange(sw) + 0.5) * (w / sw)).astype(np.int64), 0, w - 1)
        return mask[rows[:, None], cols[None, :]], (h, w)
    return mask, None


def load_mask(mask: Any, *, name: str, max_side: int | None = None) -> np.ndarray:
    """A mask (path, colour image, label map, tensor) as an int64 label map (H, W).

    Colour-coded masks are decoded to the nearest DPST palette colour (see
    :func:`segmentation.load_label_map`). Errors name the argument ``name``. With ``max_side``, a
    larger mask is first brought to that long side by nearest-neighbour sampling (which commutes with
    the per-pixel decoding), so a 12-megapixel mask is decoded at the size it is used at.
    """
    return _load_mask(mask, name=name, max_side=max_side)[0]


def _load_mask(mask: Any, *, name: str, max_side: int | None) -> tuple[np.ndarray, tuple[int, int]]:
    """:func:`load_mask` and the mask's own (H, W) before any bounding."""
    from photostyle import segmentation

    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    given = None
    if max_side is not None:
        mask, given = _bounded(mask, max_side)
    try:
        labels = np.asarray(segmentation.load_label_map(mask), dtype=np.int64)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{name}: {exc}") from None
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
    return labels, given if given is not None else tuple(labels.shape)


def _other_aspect(mask_shape: tuple[int, int], image_shape: tuple[int, int]) -> bool:
    """The mask's aspect ratio differs from its image's by more than 2 %: it was made for another image."""
    (mh, mw), (ih, iw) = mask_shape, image_shape
    return abs(mh / mw - ih / iw) > 0.02 * (ih / iw)


def fit_mask(labels: np.ndarray, image_shape: tuple[int, int], *, name: str,
             size: tuple[int, int] | None = None, given_shape: tuple[int, int] | None = None) -> np.ndarray:
    """Bring a label map to its image's size: equal, or the same aspect ratio (nearest resize, warned).

    A different aspect ratio (more than 2 %) is refused: such a mask was made for another image.
    ``size`` (default: the image's) is the size to bring it to, of the image's aspect ratio;
    ``given_shape`` is the mask's own size where ``labels`` was already bounded (:func:`load_mask`'s
    ``max_side``): it is what is checked and warned about.
    """
    from photostyle import segmentation

    labels = np.asarray(labels)
    size = tuple(size) if size is not None else tuple(image_shape)
    (mh, mw), (ih, iw) = (given_shape or labels.shape), image_shape
    if (mh, mw) == (ih, iw):
        return labels if labels.shape == size else segmentation.resize_labels(labels, size)
    if _other_aspect((mh, mw), (ih, iw)):
        raise ValueError(
            f"{name}: the mask is {mh}x{mw} (HxW) but its image is {ih}x{iw}, a different aspect ratio; "
            "a mask must cover its image exactly: pass the mask made for this image, or crop/resize it to "
            f"{ih}x{iw}."
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one warning, in our words, with our stack level
        fitted = segmentation.fit_labels(labels, size, name=name)
    warnings.warn(
        f"{name}: the mask is {mh}x{mw} but its image is {ih}x{iw}; resizing the mask with nearest "
        "neighbour (same aspect ratio).",
        stacklevel=3,
    )
    return np.asarray(fitted, dtype=np.int64)


def prepare_masks(
    content_labels: np.ndarray,
    style_labels: np.ndarray,
    content_shape: tuple[int, int],
    style_shape: tuple[int, int],
    *,
    warn: bool = True,
    names: Mapping[int, str] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, list[int]]:
    """One-hot masks for the labels present in the content, at the given working sizes.

    Parameters
    ----------
    content_labels, style_labels
        Integer label maps (any size; resized here with nearest neighbour).
    content_shape, style_shape
        Working sizes (H, W) of the two images.
    warn
        Warn about content labels that do not occur in the style.
    names
        Names of the label ids where known (automatic semantic masks), for that warning.

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
    from photostyle import segmentation

    content_labels = segmentation.resize_labels(content_labels, tuple(content_shape))
    style_labels = segmentation.resize_labels(style_labels, tuple(style_shape))
    ids = [int(i) for i in np.unique(content_labels)]
    style_ids = set(int(i) for i in np.unique(style_labels))
    missing = [i for i in ids if i not in style_ids]
    if missing and warn:
        named = [names[i] for i in missing if i in (names or {})]
        what = f"{missing} ({', '.join(map(repr, named))})" if len(named) == len(missing) else f"{missing}"
        warnings.warn(
            f"content mask labels {what} do not occur in the style mask; those regions are matched to "
            "the whole style image.",
            stacklevel=3,
        )
    content = torch.from_numpy(segmentation.one_hot(content_labels, ids))
    style = torch.from_numpy(segmentation.one_hot(style_labels, ids))
    present = torch.tensor([i in style_ids for i in ids], dtype=torch.bool)
    return content, style, present, ids


@dataclass
class MaskSet:
    """The semantic masks of one transfer, as label maps at their images' full size.

    Attributes
    ----------
    content, style : ndarray (H, W) and (H', W'), int64
        Label maps covering their images (the images' full size, or any size of the same aspect
        ratio, e.g. the working size of automatic masks); the same id marks corresponding regions.
    names : dict of int to str
        A name per label id where known (automatic semantic masks); empty otherwise.
    """

    content: np.ndarray
    style: np.ndarray
    names: dict[int, str] = field(default_factory=dict)
    _warned: bool = field(default=False, repr=False)

    def one_hot(
        self, content_shape: tuple[int, int], style_shape: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(content_masks, style_masks, style_present)`` at the given sizes (see :func:`prepare_masks`).

        The warning about content labels missing from the style is given once per MaskSet.
        """
        c, s, present, _ = prepare_masks(self.content, self.style, content_shape, style_shape,
                                         warn=not self._warned, names=self.names)
        self._warned = True
        return c, s, present

    def labels_at(self, content_shape: tuple[int, int], style_shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """Both label maps resized (nearest neighbour) to the given sizes."""
        from photostyle import segmentation

        return {"content": segmentation.resize_labels(self.content, tuple(content_shape)),
                "style": segmentation.resize_labels(self.style, tuple(style_shape))}


def _is_auto(mask: Any) -> bool:
    return isinstance(mask, str) and mask == "auto"


def _is_auto_masks(mask: Any) -> bool:
    """An :class:`~photostyle.segmentation.AutoMasks` (both photos' label maps and their names)."""
    from photostyle.segmentation.automasks import AutoMasks

    return isinstance(mask, AutoMasks)


def resolve_masks(
    content_mask: MaskLike,
    style_mask: MaskLike,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    auto_k: int | None = None,
    auto_size: int,
    auto_options: Mapping[str, Any] | None = None,
    max_side: int | None = None,
) -> MaskSet | None:
    """Turn the ``content_mask`` / ``style_mask`` arguments of a transfer into a :class:`MaskSet`.

    Parameters
    ----------
    content_mask, style_mask
        Both None (no masks), both masks (paths, colour images, label maps), ``content_mask="auto"``
        with ``style_mask`` None or ``"auto"`` (automatic matched masks, :func:`segmentation.auto_segment`),
        or ``content_mask`` the :class:`~photostyle.segmentation.AutoMasks` that ``auto_segment`` returned
        (both label maps and their names; ``style_mask`` None).
    content, style
        The images at full size, (1, 3, H, W) in [0, 1]; masks must fit them (or their aspect ratio).
    auto_k
        Number of regions of automatic masks (None: the segmenter chooses).
    auto_size
        Long side at which automatic masks are computed (and kept).
    auto_options
        More keyword arguments of :func:`segmentation.auto_segment` for automatic masks: ``method``
        (``"auto"``, ``"semantic"``, ``"cluster"``), ``merge`` (e.g. ``{"tree": "grass"}``), ``drop``,
        ``model``.
    max_side
        Keep given masks at most this long side (each at its image's aspect ratio; decoded at that size,
        see :func:`load_mask`); None: at their images' full size.
    """
    from .image import resize_long_side, to_numpy

    options = {k: v for k, v in dict(auto_options or {}).items() if v is not None}
    if _is_auto_masks(style_mask):
        raise ValueError("style_mask: expected a mask of the style photo, got an AutoMasks (it holds both photos' "
                         "label maps); pass it as content_mask and leave style_mask out.")
    if _is_auto_masks(content_mask):
        from photostyle.segmentation.labels import check_label_map

        if style_mask is not None:
            raise ValueError("content_mask: an AutoMasks holds both photos' label maps; expected style_mask left out, "
                             f"got a {type(style_mask).__name__}; pass the AutoMasks as content_mask alone.")
        made = sorted([*options, *(["auto_k"] if auto_k is not None else [])])
        if made:
            raise ValueError(f"{', '.join(made)}: options of automatic masks, but content_mask is an AutoMasks "
                             "that auto_segment already made; pass them to segmentation.auto_segment instead.")
        kept = []
        for side, labels, image in (("content", content_mask.content_labels, content),
                                    ("style", content_mask.style_labels, style)):
            labels = np.asarray(check_label_map(labels, f"content_mask ({side} labels)"), dtype=np.int64)
            if _other_aspect(labels.shape, tuple(image.shape[-2:])):
                raise ValueError(f"content_mask: the AutoMasks' {side} labels are {labels.shape[0]}x{labels.shape[1]} "
                                 f"(HxW) but the {side} photo is {image.shape[-2]}x{image.shape[-1]}, a different "
                                 "aspect ratio; pass the AutoMasks that auto_segment made for these two photos.")
            kept.append(labels)  # at the size auto_segment ran at, like content_mask="auto"'s
        return MaskSet(*kept, dict(content_mask.names))
    auto = _is_auto(content_mask) or _is_auto(style_mask)
    if auto and not all(m is None or _is_auto(m) for m in (content_mask, style_mask)):
        raise ValueError(
            "content_mask='auto' segments both images: leave style_mask out (or pass 'auto' for both), "
            "or give two mask images."
        )
    if auto_k is not None:
        check_int("auto_k", auto_k, minimum=1)
        if not auto:
            raise ValueError("auto_k is the number of regions of automatic masks: pass it with content_mask='auto'.")
    if options and not auto:
        raise ValueError(f"{', '.join(sorted(options))}: options of automatic masks; pass them with "
                         "content_mask='auto'.")
    if not auto and (content_mask is None) != (style_mask is None):
        given = "content_mask" if content_mask is not None else "style_mask"
        missing = "style_mask" if content_mask is not None else "content_mask"
        raise ValueError(f"{given} was given without {missing}: pass both masks (or neither).")
    if auto:
        from photostyle import segmentation

        found = segmentation.auto_segment(
            to_numpy(resize_long_side(content, auto_size)), to_numpy(resize_long_side(style, auto_size)), k=auto_k,
            **options,
        )
        names = dict(getattr(found, "names", None) or {})
        return MaskSet(np.asarray(found.content_labels, dtype=np.int64),
                       np.asarray(found.style_labels, dtype=np.int64), names)
    if content_mask is None:
        return None
    fitted = []
    for mask, image, name in ((content_mask, content, "content_mask"), (style_mask, style, "style_mask")):
        full = tuple(image.shape[-2:])
        size = full if max_side is None or max(full) <= max_side else long_side_shape(full, max_side)
        labels, given = _load_mask(mask, name=name, max_side=max_side)
        fitted.append(fit_mask(labels, full, name=name, size=size, given_shape=given))
    return MaskSet(*fitted)


@torch.no_grad()
def mask_pyramid(
    masks: Any,
    layer_names: Iterable[str],
    *,
    ceil_mode: bool = True,
) -> dict[str, torch.Tensor]:
    """Propagate soft masks through a VGG-like layer sequence (the paper's mask propagation).

    Luan et al. propagate each semantic mask through the network alongside the features: at every
    convolution the mask is blurred by a 3x3 average, at every max-pool it is rescaled by one half
    (bilinear, ``image.scale`` in their Torch code), and ReLUs leave it unchanged. The result has, at
    every layer, the spatial size of that layer's feature map.

    Parameters
    ----------
    masks : torch.Tensor of shape (L, H, W), float in [0, 1]
        One soft mask per label at image resolution. Integer or bool tensors are cast to the default
        float dtype; a 2-D (H, W) mask is treated as L = 1.
    layer_names : iterable of str
        Layer names in network order, e.g. ``encoder.names``. Names starting with ``conv`` blur the
        mask (3x3 average, stride 1, padding 1, ``count_include_pad=False``); ``pool`` halves it
        (bilinear resize to ``ceil(h/2), ceil(w/2)`` with ``ceil_mode`` else ``h//2, w//2``); ``relu``
        leaves it unchanged. Walk the names from the network's input.
    ceil_mode : bool, default True
        Match ``MaxPool2d(2, 2, ceil_mode=True)`` (Caffe and normalised layouts) or ``False``
        (torchvision's VGG): use ``encoder.pool_ceil_mode``.

    Returns
    -------
    dict of str to torch.Tensor
        The (L, h, w) mask after every named layer, on ``masks``' device and dtype.
    """
    if not isinstance(masks, torch.Tensor):
        raise TypeError(f"masks: expected a torch.Tensor (L, H, W), got {_got(masks)}; "
                        "convert with torch.from_numpy(segmentation.one_hot(labels)).")
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3 or masks.shape[1] == 0 or masks.shape[2] == 0:
        raise ValueError(f"masks: expected shape (L, H, W), got {_got(masks)}; stack one (H, W) mask per label.")
    if not masks.is_floating_point():
        masks = masks.to(torch.get_default_dtype())
    if isinstance(layer_names, str):
        raise TypeError(f"layer_names: expected a sequence of layer names, got the string {layer_names!r}; "
                        f"pass e.g. [{layer_names!r}].")
    x = masks.detach()[None]  # (1, L, H, W)
    out: dict[str, torch.Tensor] = {}
    for name in list(layer_names):
        if not isinstance(name, str):
            raise TypeError(f"layer_names: expected layer names (str), got {_got(name)}; pass e.g. encoder.names.")
        kind = name.lower()
        if kind.startswith("conv"):
            x = F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)
        elif kind.startswith("pool"):
            size = pooled_shape(tuple(x.shape[-2:]), ceil_mode=ceil_mode)
            if min(size) < 1:
                raise ValueError(f"masks of size {tuple(masks.shape[-2:])} are too small for layer {name!r}: "
                                 f"pooling would give {size}; use a larger image.")
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        elif not kind.startswith("relu"):
            raise ValueError(f"layer_names: expected conv*, relu* or pool* layers (VGG style), got {name!r}; "
                             "use names like 'conv1_1', 'relu1_1', 'pool1'.")
        out[name] = x[0]
    return out
