"""Quality measures of a stylised photo, usable on any image pair.

- :func:`style_distance`: how far the image's (masked, per-label) Gram matrices are from the style
  image's — the style term of the paper without its weight. Lower is closer to the style.
- :func:`matting_energy`: the photorealism term per pixel, ``Σ_c V_cᵀ L V_c / N`` under the content's
  matting Laplacian. Lower means the output is locally an affine colour transform of the content.
- :func:`edge_ssim`: SSIM between the Sobel edge maps of content and output (1 = same structure).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .image import ImageLike, to_tensor

__all__ = ["style_distance", "matting_energy", "edge_ssim", "evaluate"]


def _same_size(a: torch.Tensor, b: torch.Tensor, names: tuple[str, str]) -> None:
    if a.shape[-2:] != b.shape[-2:]:
        raise ValueError(
            f"{names[0]} is {a.shape[-2]}x{a.shape[-1]} but {names[1]} is {b.shape[-2]}x{b.shape[-1]}; "
            "compare images of the same size (resize one with photostyle.image.resize_to)."
        )


def style_distance(
    image: ImageLike,
    style: ImageLike,
    *,
    encoder: torch.nn.Module,
    layers: Sequence[str] | None = None,
    content_mask: np.ndarray | None = None,
    style_mask: np.ndarray | None = None,
) -> float:
    """Masked Gram distance of ``image`` to ``style``, summed over ``layers``.

    Parameters
    ----------
    image, style
        Any image accepted by :func:`photostyle.image.to_tensor`, in [0, 1]; sizes may differ.
    encoder
        A :class:`~photostyle.encoders.VGG19Encoder` that outputs ``layers``.
    layers
        Style layers (default: the encoder's layers).
    content_mask, style_mask
        Integer label maps at the sizes of ``image`` and ``style`` (both or neither). Labels of the
        image absent from the style are compared with the whole style image, as in the transfer.
    """
    from .losses import masked_style_loss, style_targets
    from .masks import mask_pyramid, prepare_masks

    param = next(encoder.parameters())
    x = to_tensor(image, name="image", device=param.device, dtype=param.dtype)
    s = to_tensor(style, name="style", device=param.device, dtype=param.dtype)
    layers = tuple(layers) if layers is not None else tuple(encoder.layers)
    if (content_mask is None) != (style_mask is None):
        raise ValueError("style_distance: pass both content_mask and style_mask, or neither.")
    if content_mask is None:
        cm = torch.ones(1, *x.shape[-2:])
        sm = torch.ones(1, *s.shape[-2:])
        present = torch.ones(1, dtype=torch.bool)
    else:
        cm, sm, present, _ = prepare_masks(
            np.asarray(content_mask), np.asarray(style_mask), tuple(x.shape[-2:]), tuple(s.shape[-2:])
        )
    cm = cm.to(x)
    sm = sm.to(x)
    ceil_mode = bool(getattr(encoder, "pool_ceil_mode", True))
    with torch.no_grad():
        cp = mask_pyramid(cm, encoder.names, ceil_mode=ceil_mode)
        sp = mask_pyramid(sm, encoder.names, ceil_mode=ceil_mode)
        fx, fs = encoder(x), encoder(s)
        total = 0.0
        for layer in layers:
            targets = style_targets(fs[layer], sp[layer], present=present)
            total += float(masked_style_loss(fx[layer], targets, cp[layer]))
    return total


def matting_energy(output: ImageLike, content: ImageLike | None = None, *, laplacian=None) -> float:
    """Photorealism energy per pixel of ``output`` under the matting Laplacian of ``content``.

    ``Σ_c V_cᵀ L V_c / N`` with ``V_c`` the output's channels in [0, 1] and ``N`` its pixel count.
    Give ``content`` (the Laplacian is built from it) or ``laplacian`` (a scipy CSR matrix from
    :func:`photostyle.matting.matting_laplacian` or a torch sparse tensor, to avoid rebuilding it), or
    both (then they must have the same size).
    """
    from .matting import _matting_energy, matting_laplacian

    x = to_tensor(output, name="output", dtype=torch.float64, device="cpu")
    if content is None and laplacian is None:
        raise ValueError("matting_energy: pass content= (the photo) or laplacian= (its matting Laplacian).")
    if content is not None:
        c = to_tensor(content, name="content", dtype=torch.float64, device="cpu")
        _same_size(x, c, ("output", "content"))
        if laplacian is None:
            laplacian = matting_laplacian(c)
    return float(_matting_energy(x, laplacian))


def _edges(t: torch.Tensor) -> np.ndarray:
    from skimage.color import rgb2gray
    from skimage.filters import sobel

    arr = t[0].permute(1, 2, 0).cpu().double().numpy()
    return sobel(rgb2gray(arr))


def edge_ssim(output: ImageLike, content: ImageLike) -> float:
    """SSIM between the Sobel edge-magnitude maps of ``output`` and ``content`` (same size)."""
    from skimage.metrics import structural_similarity

    c = to_tensor(content, name="content")
    o = to_tensor(output, name="output")
    _same_size(c, o, ("content", "output"))
    if min(c.shape[-2:]) < 7:
        raise ValueError(
            f"edge_ssim needs images of at least 7x7 (the SSIM window), got {c.shape[-2]}x{c.shape[-1]}."
        )
    ec, eo = _edges(c), _edges(o)
    data_range = max(float(ec.max()), float(eo.max()), 1e-12)
    return float(structural_similarity(ec, eo, data_range=data_range))


def evaluate(
    image: ImageLike,
    content: ImageLike,
    style: ImageLike,
    *,
    encoder: torch.nn.Module,
    layers: Sequence[str] | None = None,
    content_mask: np.ndarray | None = None,
    style_mask: np.ndarray | None = None,
    laplacian=None,
) -> dict[str, float]:
    """All three measures of ``image`` (content's size) against ``content`` and ``style``.

    ``laplacian``: the content's matting Laplacian when it already exists (see :func:`matting_energy`).
    """
    return {
        "style_distance": style_distance(
            image, style, encoder=encoder, layers=layers, content_mask=content_mask, style_mask=style_mask
        ),
        "matting_energy": matting_energy(image, content, laplacian=laplacian),
        "edge_ssim": edge_ssim(image, content),
    }
