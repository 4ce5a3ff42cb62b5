"""Loss terms of Deep Photo Style Transfer: pure functions plus thin modules holding their targets.

All feature tensors are ``(B, C, H, W)``; masks are ``(L, H, W)`` soft masks in [0, 1], one per
semantic label, at the resolution of the feature map they weight. The photorealism term lives in
:mod:`photostyle.matting`.

The style loss follows Luan et al. (2017) and their reference code: for every label ``l`` the Gram
matrix of the masked features, ``Gram(m_l ⊙ F) / (C·H·W·mean(m_l))``, is compared with the style
image's by a mean squared error, weighted by ``mean(m_l)`` of the content mask.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from ._grams import _gram, _MaskedStyle, _MeanSquare
from .masks import mask_pyramid

if TYPE_CHECKING:
    from .encoders import VGG19Encoder

__all__ = [
    "gram_matrix",
    "masked_gram",
    "content_loss",
    "style_loss",
    "masked_style_loss",
    "style_targets",
    "tv_loss",
    "ContentLoss",
    "MaskedStyleLoss",
    "TVLoss",
    "StyleObjective",
]


def _check_features(name: str, features: torch.Tensor) -> None:
    if not isinstance(features, torch.Tensor) or features.ndim != 4:
        got = tuple(features.shape) if isinstance(features, torch.Tensor) else type(features).__name__
        raise ValueError(f"{name}: expected a feature tensor of shape (B, C, H, W), got {got}.")


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Gram matrix normalised by the number of elements.

    Parameters
    ----------
    features
        ``(B, C, H, W)`` feature maps.

    Returns
    -------
    torch.Tensor
        ``(B, C, C)``: ``F Fᵀ / (C·H·W)`` with ``F`` the features flattened to ``(C, H·W)``.
    """
    _check_features("features", features)
    b, c, h, w = features.shape
    return _gram(features.reshape(b, c, h * w), 1.0 / (c * h * w))


def masked_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Gram matrix of the masked features, ``Gram(m ⊙ F) / (C·H·W·mean(m))``.

    Parameters
    ----------
    features
        ``(B, C, H, W)`` feature maps.
    mask
        ``(H, W)`` soft mask in [0, 1] at the features' resolution.

    Returns
    -------
    torch.Tensor
        ``(B, C, C)``; all zeros where the mask is empty.
    """
    _check_features("features", features)
    if mask.shape != features.shape[-2:]:
        raise ValueError(
            f"mask: expected shape {tuple(features.shape[-2:])} to match the features, got {tuple(mask.shape)}."
        )
    mean = mask.mean()
    gram = gram_matrix(features * mask)
    if float(mean) <= 0:
        return torch.zeros_like(gram)
    return gram / mean


def content_loss(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error between feature maps (the paper's content term, unweighted)."""
    if features.shape != target.shape:
        raise ValueError(
            f"content_loss: features {tuple(features.shape)} and target {tuple(target.shape)} differ; "
            "both must come from the same layer at the same image size."
        )
    return _MeanSquare.apply(features, target)


def style_loss(features: torch.Tensor, target_gram: torch.Tensor) -> torch.Tensor:
    """Unmasked style loss: MSE between ``gram_matrix(features)`` and ``target_gram`` (B, C, C)."""
    return F.mse_loss(gram_matrix(features), target_gram.expand(features.shape[0], -1, -1))


def style_targets(features: torch.Tensor, masks: torch.Tensor, *, present: torch.Tensor | None = None) -> torch.Tensor:
    """Per-label target Gram matrices of the style image.

    Parameters
    ----------
    features
        ``(1, C, H, W)`` style features at one layer.
    masks
        ``(L, H, W)`` style masks at that layer's resolution.
    present
        ``(L,)`` bool: whether the label exists in the style image at full resolution. Labels that
        do not (``False``) fall back to the Gram matrix of the whole style image, so a content region
        with no counterpart in the style still receives the overall look rather than a zero target.
        Default: labels whose mask is not empty at this layer.

    Returns
    -------
    torch.Tensor
        ``(L, C, C)`` target Gram matrices.
    """
    _check_features("features", features)
    if features.shape[0] != 1:
        raise ValueError(f"style features: expected a batch of one, got {features.shape[0]}.")
    whole = gram_matrix(features)[0]
    grams = []
    for index in range(masks.shape[0]):
        has = bool(present[index]) if present is not None else float(masks[index].mean()) > 0
        grams.append(masked_gram(features, masks[index])[0] if has else whole)
    return torch.stack(grams)


def masked_style_loss(
    features: torch.Tensor, target_grams: torch.Tensor, content_masks: torch.Tensor
) -> torch.Tensor:
    """Masked style loss ``Σ_l mean(m_l) · MSE(Gram(m_l ⊙ F)/(C·H·W·mean(m_l)), G_l)``.

    Parameters
    ----------
    features
        ``(B, C, H, W)`` features of the image being optimised.
    target_grams
        ``(L, C, C)`` style targets from :func:`style_targets`.
    content_masks
        ``(L, H, W)`` content masks at the features' resolution.
    """
    _check_features("features", features)
    if target_grams.shape[0] != content_masks.shape[0]:
        raise ValueError(
            f"target_grams has {target_grams.shape[0]} labels but content_masks has {content_masks.shape[0]}; "
            "build both from the same label list."
        )
    total = features.new_zeros(())
    for index in range(content_masks.shape[0]):
        mask = content_masks[index]
        weight = mask.mean()
        if float(weight) <= 0:
            continue
        gram = masked_gram(features, mask)
        total = total + weight * F.mse_loss(gram, target_grams[index].expand_as(gram))
    return total


def tv_loss(image: torch.Tensor) -> torch.Tensor:
    """Total variation ``½ Σ (I[y, x+1] − I[y, x])² + (I[y+1, x] − I[y, x])²`` over (B, C, H, W).

    This is the smoothness term of neural-style and Luan et al.'s code, evaluated on whatever scale the
    image has (the paper's weight 1e-3 refers to pixels in 0–256).
    """
    _check_features("image", image)
    dx = image[..., :, 1:] - image[..., :, :-1]
    dy = image[..., 1:, :] - image[..., :-1, :]
    return 0.5 * (dx.pow(2).sum() + dy.pow(2).sum())


class ContentLoss(nn.Module):
    """Content term with its target kept as a buffer: ``weight · MSE(F, target)``."""

    def __init__(self, target: torch.Tensor, *, weight: float = 1.0):
        super().__init__()
        # kept in the channels-last layout of the network's compute copy (VGG19Encoder), which is what the
        # losses see: a difference across two layouts runs over strides (relu4_2 of a 700-px photo, see
        # _MeanSquare); load_state_dict copies into it, keeping the layout
        kept = target.detach()
        self.register_buffer("target", kept.clone(memory_format=torch.channels_last) if kept.dim() == 4 else kept.clone())
        self.weight = float(weight)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.weight * content_loss(features, self.target)


class MaskedStyleLoss(nn.Module):
    """Masked style term with its per-label targets and content masks kept as buffers.

    With a single all-ones mask this is the plain Gram style loss of Gatys et al. Equal to
    ``weight · masked_style_loss(features, target_grams, content_masks)``, but each label's Gram is
    computed over the pixels where its mask is non-zero only (found once, here), all labels of the
    layer in one gather, the loss and its gradient in one function (:class:`_MaskedStyle`): with L labels the cost grows with the image area, not
    with L times the area.
    """

    def __init__(self, target_grams: torch.Tensor, content_masks: torch.Tensor, *, weight: float = 1.0):
        super().__init__()
        if target_grams.shape[0] != content_masks.shape[0]:
            raise ValueError(
                f"target_grams has {target_grams.shape[0]} labels but content_masks has "
                f"{content_masks.shape[0]}; build both from the same label list."
            )
        self.register_buffer("target_grams", target_grams.detach().clone())
        self.register_buffer("content_masks", content_masks.detach().clone())
        self.weight = float(weight)
        flat = self.content_masks.reshape(content_masks.shape[0], -1)
        self._means = [float(m) for m in flat.mean(dim=1)]
        self._labels = [index for index, mean in enumerate(self._means) if mean > 0]
        # each label's support split into hard pixels (mask value 1, in no other label's support: gathered
        # without a multiply, their gradient scattered back by a copy) and soft ones (edges, shared pixels),
        # laid out label by label: (start, mid, end) of each in the gather index
        kept = flat[self._labels] if self._labels else flat[:0]
        shared = (kept > 0).sum(dim=0) > 1
        hard = [torch.nonzero((kept[slot] == 1) & ~shared).flatten() for slot in range(len(self._labels))]
        soft = [torch.nonzero((kept[slot] > 0) & ((kept[slot] != 1) | shared)).flatten()
                for slot in range(len(self._labels))]
        count = len(self._labels)
        self._slices, end = [], 0
        for slot in range(count):
            start, mid, end = end, end + hard[slot].numel(), end + hard[slot].numel() + soft[slot].numel()
            self._slices.append((start, mid, end))
        self.n_hard = sum(part.numel() for part in hard)
        empty = torch.zeros(0, dtype=torch.long, device=flat.device)
        index = torch.cat([part for slot in range(count) for part in (hard[slot], soft[slot])]) if count else empty
        self.register_buffer("_index", index, persistent=False)
        # the mask value at each position of the index (1 on the hard pixels)
        self.register_buffer("_factor", torch.cat([kept[slot, part] for slot in range(count) for part in (hard[slot], soft[slot])])
                             if count else flat.new_zeros(0), persistent=False)
        # the targets' symmetric parts (L', C, C), and the squared norms of what is left (zero for Grams):
        # a Gram G is symmetric, so ‖G − T‖² = ‖G − S‖² + ‖T − S‖² and the gradient is 2 (G − S)
        targets = self.target_grams[self._labels]
        symmetric = (targets + targets.transpose(-1, -2)) / 2
        self.register_buffer("_targets", symmetric, persistent=False)
        self.register_buffer("_offsets", (targets - symmetric).pow(2).sum(dim=(-1, -2)), persistent=False)
        # every pixel in some support: the soft pixels, each once, are all the backward must zero
        covers = count > 0 and bool((kept > 0).any(dim=0).all())
        self.register_buffer("_soft_once", torch.unique(torch.cat(soft)) if covers else None, persistent=False)
        # one label over every pixel with a mask of ones (no masks): the features are used as they are
        self._whole = count == 1 and self.n_hard == flat.shape[1]

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        _check_features("features", features)
        b, c, h, w = features.shape
        if (h, w) != tuple(self.content_masks.shape[-2:]):
            raise ValueError(
                f"features are {h}x{w} but the content masks are "
                f"{self.content_masks.shape[-2]}x{self.content_masks.shape[-1]}; use the image size the "
                "loss was built for."
            )
        if not self._labels:
            return features.new_zeros(())
        scales = [1.0 / (c * h * w * self._means[label]) for label in self._labels]
        weights = [self._means[label] for label in self._labels]
        dtype = torch.promote_types(features.dtype, self._targets.dtype)  # bfloat16 features: float32 Grams
        total = _MaskedStyle.apply(features, None if self._whole else self._index, self._factor.to(dtype),
                                   self._soft_once, self._slices, scales, weights, self._targets.to(dtype),
                                   self._offsets.to(dtype))
        return self.weight * total


class TVLoss(nn.Module):
    """Total-variation term ``weight · tv_loss(image)``."""

    def __init__(self, *, weight: float = 1.0):
        super().__init__()
        self.weight = float(weight)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.weight * tv_loss(image)


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
        ``(L,)`` bool, see :func:`photostyle.masks.prepare_masks`.
    photorealism
        A :class:`~photostyle.matting.PhotorealismLoss` of the content, used when ``photo_weight > 0``.
    style_grams
        Precomputed style targets (:meth:`style_grams` of an objective with the same style image, style
        masks and network); ``style`` and ``style_masks`` are then not run through the network.
    compute_dtype
        The dtype the network runs in, for the targets and every step (e.g. ``torch.bfloat16``, see
        :func:`photostyle.encoders.native_low_precision`); the losses themselves are computed in the
        image's dtype. None: the image's dtype.
    """

    def __init__(
        self,
        encoder: VGG19Encoder,
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
        style_grams: Mapping[str, torch.Tensor] | None = None,
        compute_dtype: torch.dtype | None = None,
    ):
        super().__init__()
        self.encoder = encoder
        self.compute_dtype = compute_dtype
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
            content_pyramid = mask_pyramid(content_masks, names, ceil_mode=ceil_mode)
            content_feats = self._encode(content)
            if style_grams is None:
                style_pyramid = mask_pyramid(style_masks, names, ceil_mode=ceil_mode)
                style_feats = self._encode(style)
                style_grams = {layer: style_targets(style_feats[layer], style_pyramid[layer], present=style_present)
                               for layer in self.style_layers}
            else:
                wrong = [layer for layer in self.style_layers if layer not in style_grams
                         or style_grams[layer].shape[0] != content_masks.shape[0]]
                if wrong:
                    raise ValueError(f"style_grams: expected (L, C, C) targets with L = {content_masks.shape[0]} labels "
                                     f"for layers {list(self.style_layers)}, got none or another L for {wrong}; "
                                     "take them from StyleObjective.style_grams() of the same style and masks.")
            self.content_losses = nn.ModuleDict(
                {
                    layer: ContentLoss(content_feats[layer], weight=content_weight)
                    for layer in self.content_layers
                }
            )
            self.style_losses = nn.ModuleDict()
            for layer in self.style_layers:
                self.style_losses[layer] = MaskedStyleLoss(style_grams[layer].to(device=device, dtype=dtype),
                                                           content_pyramid[layer], weight=style_weight)

    def _encode(self, image: torch.Tensor, *, raw: bool = False) -> dict[str, torch.Tensor]:
        """The features of ``image``: in its dtype, or (``raw``) as the network computed them."""
        if self.compute_dtype is None:
            return self.encoder(image)
        return self.encoder(image, compute_dtype=self.compute_dtype, return_dtype=self.compute_dtype if raw else None)

    def style_grams(self) -> dict[str, torch.Tensor]:
        """The style targets, ``{layer: (L, C, C)}``: pass them as ``style_grams=`` to another objective
        with the same style image, style masks and network to skip the style's forward pass."""
        return {layer: module.target_grams for layer, module in self.style_losses.items()}

    def set_photorealism(self, loss: nn.Module | None, weight: float) -> None:
        """Switch the photorealism term (stage 2) on (``weight > 0`` and a loss) or off; the content
        and style targets are kept, not recomputed."""
        self.photo_weight = float(weight)
        if self.photo_weight > 0 and loss is None:
            raise ValueError(f"photorealism: expected a loss (photostyle.matting.PhotorealismLoss) with photo_weight={self.photo_weight:g} > 0, "
                             "got None; pass photorealism=PhotorealismLoss(content) or photo_weight=0.")
        self.photorealism = loss if self.photo_weight > 0 else None

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self._encode(image, raw=True)  # the style losses take bfloat16 features as they are
        terms: dict[str, torch.Tensor] = {}
        terms["content"] = sum(module(feats[name].to(image.dtype)) for name, module in self.content_losses.items())
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
