"""Deliver at full size: a local affine colour model fitted at the working size, applied at full resolution.

The optimisation runs at a small working size; the photo is delivered at its own resolution by fitting,
at the working size, a per-pixel 3x4 affine colour model ``result ≈ A·content + b`` (as Luan et al.'s
best-local-affine reconstruction does), upsampling the twelve coefficient maps to the full-resolution
content, and applying them there. The output is a local affine function of the real photo, so its
edges and texture are the photo's own at any size.

Three steps, each public, and :func:`upsample_result` composing them:

1. :func:`fit_affine` (working size): per-pixel ridge fit over (2r+1)² windows, the ridge pulling the
   colour matrix toward the image's global colour matrix (so a window without contrast takes the global
   colour map, and an output that is an exact global affine function of the content is recovered
   exactly), then the coefficients are averaged over the windows covering each pixel (He et al.'s
   guided filter), weighted by how well each window's model fits (windows across an edge between two
   colour models fit badly and count little, which keeps edges sharp).
2. :func:`upsample_affine` (full size): bilinear interpolation of the coefficients (He & Sun's fast
   guided filter, ``mode="bilinear"``) or joint-bilateral upsampling (``mode="bilateral"``, Kopf et al.
   2007, in the spirit of Chen et al.'s bilateral guided upsampling): each full-resolution pixel takes the
   coefficients of its 2x2 working-size neighbours weighted by distance and by how close their
   (working-size) content colour is to its own full-resolution colour, so a model does not leak across a
   colour edge. Fused with step 3 and processed in horizontal strips: only the coefficient rows a strip
   needs are touched, the full-resolution coefficients never exist, and the result is written into one
   preallocated array (float tensor or uint8 array). Memory: the output plus a fixed strip workspace
   (:func:`estimate_memory`).
3. :func:`apply_affine`: apply coefficients to a content image of the same size.

Coefficient layout: a tensor (B, 12, h, w); channel ``4·c + k`` holds ``A[c, k]`` for k < 3 (output
channel c, input channel k) and the offset ``b[c]`` for k = 3.

References
----------
- K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013.
- K. He, J. Sun, "Fast Guided Filter", arXiv:1505.00996, 2015.
- J. Kopf, M. Cohen, D. Lischinski, M. Uyttendaele, "Joint Bilateral Upsampling", SIGGRAPH 2007.
- J. Chen, A. Adams, N. Wadhwa, S. Hasinoff, "Bilateral Guided Upsampling", SIGGRAPH Asia 2016.
- F. Luan, S. Paris, E. Shechtman, K. Bala, "Deep Photo Style Transfer", CVPR 2017.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Literal, Union

import numpy as np
import torch

from .smoothing import _box_sum, _fit_local_affine, _joint_bilateral

__all__ = [
    "fit_affine",
    "apply_affine",
    "upsample_affine",
    "upsample_result",
    "estimate_memory",
]

Smoothing = Literal["weighted", "box", "bilateral", "none"]
Mode = Literal["bilateral", "bilinear"]
Output = Literal["tensor", "uint8"]
ContentLike = Union[torch.Tensor, np.ndarray]

# Full-resolution pixels processed per strip unless strip_rows is given (about 2^20: ~100 MB of float32
# workspace, independent of the output size).
STRIP_PIXELS = 1 << 20
# "weighted" smoothing weighs each window by 1 / (residual + eps·_TAU): a floor well below the ridge, so
# that windows across an edge between two colour models (residual >> floor) barely count.
_TAU = 0.01
# Floats of workspace per strip pixel (gathered coefficients of one neighbour, guide colours, weights,
# the content strip, the accumulator); measured peak of the strip loop, rounded up.
_WORKSPACE_FLOATS_PER_PIXEL = 40
# Floats per working-size pixel while fitting (float64 window sums and the coefficients).
_FIT_FLOATS_PER_PIXEL = 120


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _check_int(name: str, value: Any, *, minimum: int, example: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {_got(value)}; pass e.g. {name}={example}.")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}; pass e.g. {name}={example}.")
    return int(value)


def _check_positive(name: str, value: Any, *, example: float) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a positive real number, got {_got(value)}; pass e.g. {name}={example}.")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: expected a finite number > 0, got {value}; pass e.g. {name}={example}.")
    return value


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name}: expected one of {listed}, got {_got(value)}.")
    return value


def _check_image(name: str, x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch tensor of shape (B, 3, H, W), got {type(x).__name__}.")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(
            f"{name}: expected shape (B, 3, H, W), got {tuple(x.shape)}; "
            f"add a batch axis with {name}[None] or repeat a grey image to 3 channels."
        )
    if not x.is_floating_point():
        raise TypeError(f"{name}: expected a float tensor in [0, 1], got dtype {x.dtype}; convert with .float() / 255.")
    if x.shape[2] < 1 or x.shape[3] < 1:
        raise ValueError(f"{name}: expected a non-empty image, got shape {tuple(x.shape)}.")
    return x


def _check_coefficients(coefficients: Any) -> torch.Tensor:
    if not isinstance(coefficients, torch.Tensor):
        raise TypeError(
            f"coefficients: expected a torch tensor of shape (B, 12, h, w), got {type(coefficients).__name__}; "
            "make one with fit_affine(output, content)."
        )
    if coefficients.ndim != 4 or coefficients.shape[1] != 12:
        raise ValueError(
            f"coefficients: expected shape (B, 12, h, w) (a 3x4 affine model per pixel), got "
            f"{tuple(coefficients.shape)}; make them with fit_affine(output, content)."
        )
    if not coefficients.is_floating_point():
        raise TypeError(f"coefficients: expected a float tensor, got dtype {coefficients.dtype}.")
    return coefficients


def _check_content_full(content_full: Any) -> tuple[int, int, int]:
    """Validate the full-resolution content; return (B, H, W)."""
    if isinstance(content_full, torch.Tensor):
        _check_image("content_full", content_full)
        return content_full.shape[0], content_full.shape[2], content_full.shape[3]
    if isinstance(content_full, np.ndarray):
        if content_full.ndim != 3 or content_full.shape[2] != 3:
            raise ValueError(
                f"content_full: expected a numpy array of shape (H, W, 3), got {content_full.shape}; "
                "pass the photo as read by photostyle.read_image."
            )
        if content_full.dtype != np.uint8 and content_full.dtype.kind != "f":
            raise TypeError(
                f"content_full: expected a uint8 or float numpy array, got dtype {content_full.dtype}; "
                "convert with .astype(np.uint8) or to float in [0, 1]."
            )
        if content_full.shape[0] < 1 or content_full.shape[1] < 1:
            raise ValueError(f"content_full: expected a non-empty image, got shape {content_full.shape}.")
        return 1, content_full.shape[0], content_full.shape[1]
    raise TypeError(
        "content_full: expected a torch tensor (B, 3, H, W) in [0, 1] or a numpy array (H, W, 3) "
        f"(uint8, or float in [0, 1]), got {type(content_full).__name__}."
    )


def _check_sizes(small: tuple[int, int], full: tuple[int, int], *, small_name: str) -> None:
    h, w = small
    big_h, big_w = full
    if h > big_h or w > big_w:
        raise ValueError(
            f"{small_name}: expected a working size no larger than the full size {big_h}x{big_w}, got {h}x{w}; "
            "pass the small image first and the full-resolution content last."
        )
    # h = round(H·s) and w = round(W·s) for one scale s imply |h·W − w·H| <= (H + W) / 2.
    if abs(h * big_w - w * big_h) > max(big_h, big_w):
        raise ValueError(
            f"{small_name}: expected the aspect ratio of the full size {big_h}x{big_w}, got {h}x{w} "
            f"(a width of {w} implies a height of about {w * big_h / big_w:.1f}); resize the working images "
            "with photostyle.image.long_side_shape(full_shape, size)."
        )


# --------------------------------------------------------------------------------------------------
# fit at the working size
# --------------------------------------------------------------------------------------------------


def _global_colour_matrix(output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """Least-squares 3x3 colour matrix of ``output ≈ A·content + b`` over the whole image, (B, 3, 3)."""
    b = content.shape[0]
    x = content.reshape(b, 3, -1)
    y = output.reshape(b, 3, -1)
    xc = x - x.mean(dim=2, keepdim=True)
    yc = y - y.mean(dim=2, keepdim=True)
    n = x.shape[2]
    cxx = xc @ xc.transpose(1, 2) / n  # (B, 3, 3)
    cxy = xc @ yc.transpose(1, 2) / n  # (B, 3, 3) [input i, output c]
    # a tiny ridge relative to the contrast keeps a flat image solvable and leaves any real image exact
    ridge = 1e-9 * (cxx.diagonal(dim1=1, dim2=2).sum(dim=1) + 1e-12)
    eye = torch.eye(3, dtype=cxx.dtype, device=cxx.device)
    a = torch.linalg.solve(cxx + ridge[:, None, None] * eye, cxy)  # [i, c]
    return a.transpose(1, 2)  # rows A_c


def fit_affine(
    output: torch.Tensor, content: torch.Tensor, *, radius: int = 1, eps: float = 1e-4,
    smoothing: Smoothing = "weighted", prior: Literal["global", "zero"] = "global",
    filter_radius: int = 15, sigma_spatial: float | None = None, sigma_range: float = 0.01,
) -> torch.Tensor:
    """Fit the per-pixel 3x4 affine colour model ``output ≈ A·content + b`` at the working size.

    Each (2·radius+1)² window gets the ridge-regularised least-squares affine map from the content's
    colours to the output's (neighbours outside the image skipped); the ridge ``eps`` pulls ``A`` toward
    ``prior``. The windows' coefficients are then averaged per pixel (``smoothing``).

    Parameters
    ----------
    output : torch.Tensor
        The result at the working size, shape (B, 3, h, w), values in [0, 1].
    content : torch.Tensor
        The content at the working size, same shape and device, values in [0, 1].
    radius : int, keyword-only
        Window radius r >= 0 of the fit (default 1: 3x3 windows, as the matting Laplacian's).
    eps : float, keyword-only
        Ridge > 0 on the colour matrix (default 1e-4, in squared intensity units: windows whose
        contrast is below ~0.01 follow the prior).
    smoothing : {"weighted", "box", "bilateral", "none"}, keyword-only
        How each pixel's coefficients combine the windows covering it: ``"box"`` their plain mean over
        the (2r+1)² windows (He et al.'s guided filter); ``"weighted"`` (default) the mean weighted by
        ``1 / (residual + eps)``, where residual is the window's mean squared fit error (windows that
        straddle a boundary between two colour models count little: sharper edges); ``"bilateral"``
        Luan et al.'s joint-bilateral filter with the content as guide (``filter_radius``,
        ``sigma_spatial``, ``sigma_range``; slow for large radii); ``"none"`` each pixel's own window.
    prior : {"global", "zero"}, keyword-only
        Toward what the ridge pulls ``A``: the image's global least-squares colour matrix (default; a
        window without contrast then maps colours as the whole image does, and an output that is an
        exact global affine function of the content is recovered exactly) or zero (Luan et al.'s and
        He et al.'s ridge: such windows become constant).
    filter_radius, sigma_spatial, sigma_range : keyword-only
        The joint-bilateral filter's settings, used only with ``smoothing="bilateral"`` (defaults 15,
        ``filter_radius / 3``, 0.01, as :func:`photostyle.smoothing.best_local_affine`).

    Returns
    -------
    torch.Tensor
        Coefficients of shape (B, 12, h, w) (channel ``4c + k``: ``A[c, k]`` for k < 3, ``b[c]`` for
        k = 3), in the inputs' dtype (promoted) and on their device. The fit runs in float64 on CPU and
        CUDA. Not differentiable (computed under ``torch.no_grad()``).
    """
    output = _check_image("output", output)
    content = _check_image("content", content)
    if output.shape != content.shape:
        raise ValueError(
            f"output and content: expected the same shape, got {tuple(output.shape)} and {tuple(content.shape)}; "
            "fit at the working size, with the content resized to the result's size."
        )
    if output.device != content.device:
        raise ValueError(
            f"output and content: expected one device, got {output.device} and {content.device}; "
            "move both with .to(device)."
        )
    radius = _check_int("radius", radius, minimum=0, example=1)
    eps = _check_positive("eps", eps, example=1e-4)
    smoothing = _check_choice("smoothing", smoothing, ("weighted", "box", "bilateral", "none"))
    prior = _check_choice("prior", prior, ("global", "zero"))
    filter_radius = _check_int("filter_radius", filter_radius, minimum=0, example=15)
    if sigma_spatial is None:
        sigma_spatial = max(filter_radius / 3.0, 1e-3)
    sigma_spatial = _check_positive("sigma_spatial", sigma_spatial, example=5.0)
    sigma_range = _check_positive("sigma_range", sigma_range, example=0.01)

    dtype = torch.promote_types(output.dtype, content.dtype)
    fit_dtype = torch.float64 if content.device.type in ("cpu", "cuda") else dtype
    with torch.no_grad():
        x = content.detach().to(fit_dtype)
        y = output.detach().to(fit_dtype)
        a0 = _global_colour_matrix(y, x) if prior == "global" else None
        if smoothing == "weighted":
            coef, residual = _fit_local_affine(y, x, radius, eps, prior=a0, return_residual=True)
            weight = 1.0 / (residual + eps * _TAU)
            num, _ = _box_sum(coef * weight, radius)
            den, _ = _box_sum(weight, radius)
            coef = num / den
        else:
            coef = _fit_local_affine(y, x, radius, eps, prior=a0)
            if smoothing == "box":
                s, n = _box_sum(coef, radius)
                coef = s / n
        coef = coef.to(dtype)
        if smoothing == "bilateral":
            coef = _joint_bilateral(coef, content.detach().to(dtype), filter_radius, sigma_spatial, sigma_range)
    return coef


# --------------------------------------------------------------------------------------------------
# apply
# --------------------------------------------------------------------------------------------------


def _apply(coef: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """``A·x + b`` per pixel: coef (B, 12, ...), x (B, 3, ...) → (B, 3, ...)."""
    out = []
    for c in range(3):
        k = 4 * c
        out.append(coef[:, k] * x[:, 0] + coef[:, k + 1] * x[:, 1] + coef[:, k + 2] * x[:, 2] + coef[:, k + 3])
    return torch.stack(out, dim=1)


def apply_affine(coefficients: torch.Tensor, content: torch.Tensor, *, clamp: bool = True) -> torch.Tensor:
    """Apply per-pixel affine colour models to a content image of the same size.

    Parameters
    ----------
    coefficients : torch.Tensor
        Shape (B, 12, H, W), as returned by :func:`fit_affine`.
    content : torch.Tensor
        Shape (B, 3, H, W), values in [0, 1], same device.
    clamp : bool, keyword-only
        Clamp the result to [0, 1] (default True).

    Returns
    -------
    torch.Tensor
        ``A·content + b`` per pixel, shape (B, 3, H, W), dtype of the inputs (promoted).
    """
    coefficients = _check_coefficients(coefficients)
    content = _check_image("content", content)
    if coefficients.shape[0] != content.shape[0] or coefficients.shape[2:] != content.shape[2:]:
        raise ValueError(
            f"coefficients and content: expected the same batch size and height/width, got "
            f"{tuple(coefficients.shape)} and {tuple(content.shape)}; for a larger content use upsample_affine."
        )
    if coefficients.device != content.device:
        raise ValueError(
            f"coefficients and content: expected one device, got {coefficients.device} and {content.device}; "
            "move both with .to(device)."
        )
    dtype = torch.promote_types(coefficients.dtype, content.dtype)
    out = _apply(coefficients.to(dtype), content.to(dtype))
    return out.clamp_(0.0, 1.0) if clamp else out


# --------------------------------------------------------------------------------------------------
# upsample, in strips
# --------------------------------------------------------------------------------------------------


def _source_index(
    n_out: int, n_in: int, device: torch.device, dtype: torch.dtype, start: int = 0, stop: int | None = None,
):
    """Low-resolution neighbours and weights of output positions [start, stop) (half-pixel centres).

    Same convention as ``F.interpolate(mode="bilinear", align_corners=False)``.
    """
    stop = n_out if stop is None else stop
    pos = (torch.arange(start, stop, device=device, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5
    pos = pos.clamp(min=0.0, max=n_in - 1)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=n_in - 1)
    frac = (pos - i0).to(dtype)
    return i0, i1, frac


def _content_strip(
    content_full: ContentLike, y0: int, y1: int, device: torch.device, dtype: torch.dtype,
) -> torch.Tensor:
    if isinstance(content_full, torch.Tensor):
        return content_full[:, :, y0:y1].to(device=device, dtype=dtype)
    part = torch.from_numpy(np.ascontiguousarray(content_full[y0:y1])).to(device)
    if content_full.dtype == np.uint8:
        part = part.to(dtype) / 255.0
    else:
        part = part.to(dtype)
    return part.permute(2, 0, 1)[None]


def _apply_into(out: torch.Tensor, coef: torch.Tensor, x: torch.Tensor, dim: int) -> torch.Tensor:
    """``out = A·x + b`` with the 12 coefficients and 3 channels along ``dim`` (any layout), in place."""
    for c in range(3):
        o = out.select(dim, c)
        k = 4 * c
        torch.mul(coef.select(dim, k), x.select(dim, 0), out=o)
        o.addcmul_(coef.select(dim, k + 1), x.select(dim, 1))
        o.addcmul_(coef.select(dim, k + 2), x.select(dim, 2))
        o.add_(coef.select(dim, k + 3))
    return out


def _strip_bilinear(coef: torch.Tensor, x: torch.Tensor, rows: tuple, width: int) -> torch.Tensor:
    """One image's strip, fast guided filter: coef (12, h, w), x (3, R, W) → (3, R, W)."""
    r0, r1, fy = rows
    top = coef.index_select(1, r0)
    rowmix = top.add_((coef.index_select(1, r1) - top).mul_(fy[:, None]))  # (12, R, w)
    n_rows = rowmix.shape[1]
    # half-pixel-centre linear interpolation along the columns (the convention of _source_index)
    full = torch.nn.functional.interpolate(rowmix.reshape(1, 12 * n_rows, -1), size=width, mode="linear",
                                           align_corners=False).reshape(12, n_rows, width)
    return _apply_into(torch.empty_like(x), full, x, 0)


def _strip_bilateral(
    coef: torch.Tensor, guide: torch.Tensor, x: torch.Tensor, rows: tuple, cols: tuple, sigma_range: float,
) -> torch.Tensor:
    """One image's strip, joint-bilateral: coef (12, h, w), guide (3, h, w), x (3, R, W) → (3, R, W).

    Works column-major, (W, C, R): gathering whole columns along the first axis is a block copy, far
    cheaper than an index_select along the last axis.
    """
    r0, r1, fy = rows
    c0, c1, fx = cols
    xt = x.permute(2, 0, 1).contiguous()  # (W, 3, R)
    scale = -1.0 / (2.0 * sigma_range * sigma_range * 3.0)
    coef_rows = [coef.index_select(1, r).permute(2, 0, 1).contiguous() for r in (r0, r1)]  # (w, 12, R)
    guide_rows = [guide.index_select(1, r).permute(2, 0, 1).contiguous() for r in (r0, r1)]  # (w, 3, R)
    neighbours = [(0, c0, 1.0 - fy, 1.0 - fx), (0, c1, 1.0 - fy, fx), (1, c0, fy, 1.0 - fx), (1, c1, fy, fx)]
    dists = []
    for ry, cx, _, _ in neighbours:
        diff = xt - guide_rows[ry].index_select(0, cx)
        dists.append(diff.mul_(diff).sum(dim=1))  # (W, R)
    dmin = torch.minimum(torch.minimum(dists[0], dists[1]), torch.minimum(dists[2], dists[3]))
    acc = torch.zeros_like(xt)
    total = torch.zeros_like(dmin)
    applied = torch.empty_like(xt)
    for (ry, cx, wy, wx), dist in zip(neighbours, dists):
        # relative to the closest colour (no 0/0 for a colour none of the neighbours has); the spatial
        # floor 1e-4 lets a neighbour at zero bilinear weight still count a little for the same reason
        weight = dist.sub_(dmin).mul_(scale).exp_().mul_(wx[:, None] * wy[None, :] + 1e-4)  # (W, R)
        _apply_into(applied, coef_rows[ry].index_select(0, cx), xt, 1)
        acc.addcmul_(applied, weight[:, None])
        total.add_(weight)
    return acc.div_(total[:, None]).permute(1, 2, 0)  # (3, R, W) view


def upsample_affine(
    coefficients: torch.Tensor, content_full: ContentLike, *, content_small: torch.Tensor | None = None,
    mode: Mode = "bilateral", sigma_range: float = 0.05, output: Output = "tensor",
    strip_rows: int | None = None, clamp: bool = True,
) -> torch.Tensor | np.ndarray:
    """Upsample per-pixel affine colour models to the full-resolution content and apply them, in strips.

    Parameters
    ----------
    coefficients : torch.Tensor
        Shape (B, 12, h, w) at the working size, from :func:`fit_affine`.
    content_full : torch.Tensor or numpy.ndarray
        The full-resolution content: a tensor (B, 3, H, W) in [0, 1], or a numpy array (H, W, 3),
        uint8 or float in [0, 1] (B = 1; converted strip by strip, so a uint8 photo is never held as
        float). ``(h, w)`` must be ``(H, W)`` scaled by one factor (rounded): same aspect ratio.
    content_small : torch.Tensor or None, keyword-only
        The content at the working size, (B, 3, h, w) in [0, 1], the guide of ``mode="bilateral"``
        (required there, ignored for ``"bilinear"``). Use the image the coefficients were fitted on.
    mode : {"bilateral", "bilinear"}, keyword-only
        ``"bilinear"``: coefficients interpolated bilinearly (He & Sun's fast guided filter).
        ``"bilateral"`` (default): joint-bilateral upsampling of the coefficients: each pixel blends its
        2x2 working-size neighbours' models by bilinear weight × ``exp(−mean_c(Δcolour²)/(2σr²))``,
        comparing its full-resolution colour with theirs, so that models do not leak across colour edges.
    sigma_range : float, keyword-only
        σr of the bilateral mode on colours in [0, 1] (default 0.05).
    output : {"tensor", "uint8"}, keyword-only
        ``"tensor"``: a (B, 3, H, W) tensor in the coefficients' dtype on their device; ``"uint8"``: a
        numpy array (H, W, 3) of dtype uint8 (B = 1; rounded as :func:`photostyle.image.to_numpy`),
        a quarter of the float32 memory.
    strip_rows : int or None, keyword-only
        Rows per strip (default: about 2^20 pixels per strip). Results do not depend on it.
    clamp : bool, keyword-only
        Clamp to [0, 1] (default True; always for ``"uint8"``).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        The full-resolution result, see ``output``. Not differentiable.
    """
    coefficients = _check_coefficients(coefficients)
    b, big_h, big_w = _check_content_full(content_full)
    mode = _check_choice("mode", mode, ("bilateral", "bilinear"))
    output = _check_choice("output", output, ("tensor", "uint8"))
    sigma_range = _check_positive("sigma_range", sigma_range, example=0.05)
    if strip_rows is not None:
        strip_rows = _check_int("strip_rows", strip_rows, minimum=1, example=256)
    if coefficients.shape[0] != b:
        raise ValueError(
            f"coefficients and content_full: expected the same batch size, got {coefficients.shape[0]} and {b}."
        )
    h, w = coefficients.shape[2:]
    _check_sizes((h, w), (big_h, big_w), small_name="coefficients")
    if isinstance(content_full, torch.Tensor) and content_full.device != coefficients.device:
        raise ValueError(
            f"coefficients and content_full: expected one device, got {coefficients.device} and "
            f"{content_full.device}; move both with .to(device)."
        )
    if output == "uint8" and b != 1:
        raise ValueError(f"output: 'uint8' needs a batch of one, got a batch of {b}; use output='tensor'.")
    guide = None
    if mode == "bilateral":
        if content_small is None:
            raise ValueError(
                "content_small: expected the working-size content (B, 3, h, w) for mode='bilateral', got None; "
                "pass content_small=... or use mode='bilinear'."
            )
        content_small = _check_image("content_small", content_small)
        if content_small.shape[0] != b or tuple(content_small.shape[2:]) != (h, w):
            raise ValueError(
                f"content_small: expected shape {(b, 3, h, w)} (the coefficients' size), got "
                f"{tuple(content_small.shape)}; pass the content the coefficients were fitted on."
            )
        if content_small.device != coefficients.device:
            raise ValueError(
                f"content_small: expected the coefficients' device {coefficients.device}, got "
                f"{content_small.device}; move it with .to(device)."
            )
        guide = content_small.detach().to(coefficients.dtype)

    device, dtype = coefficients.device, coefficients.dtype
    coef = coefficients.detach()
    if strip_rows is None:
        strip_rows = max(1, STRIP_PIXELS // big_w)
    if output == "uint8":
        result: Any = np.empty((big_h, big_w, 3), dtype=np.uint8)
    else:
        result = torch.empty((b, 3, big_h, big_w), dtype=dtype, device=device)
    cols = _source_index(big_w, w, device, dtype)
    with torch.no_grad():
        for y0 in range(0, big_h, strip_rows):
            y1 = min(big_h, y0 + strip_rows)
            rows = _source_index(big_h, h, device, dtype, y0, y1)
            x = _content_strip(content_full, y0, y1, device, dtype)
            for i in range(b):
                if guide is None:
                    strip = _strip_bilinear(coef[i], x[i], rows, big_w)
                else:
                    strip = _strip_bilateral(coef[i], guide[i], x[i], rows, cols, sigma_range)
                if output == "uint8":
                    arr = strip.permute(1, 2, 0).clamp(0.0, 1.0).mul_(255.0).round_().to(torch.uint8)
                    result[y0:y1] = arr.cpu().numpy()
                else:
                    result[i, :, y0:y1] = strip.clamp(0.0, 1.0) if clamp else strip
    return result


# --------------------------------------------------------------------------------------------------
# one call, and its memory
# --------------------------------------------------------------------------------------------------


def _format_bytes(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.2f} GiB"
    if n >= 2**20:
        return f"{n / 2**20:.1f} MiB"
    return f"{n} bytes"


def estimate_memory(
    shape: tuple[int, int], *, working_shape: tuple[int, int] = (512, 512), output: Output = "tensor",
    dtype: torch.dtype = torch.float32, batch: int = 1, strip_rows: int | None = None,
) -> int:
    """Bytes that :func:`upsample_result` needs beyond its inputs, for a full size ``shape = (H, W)``.

    The output array, the strip workspace (independent of the output size: ``strip_rows`` × W pixels,
    default about 2^20) and the working-size fit (float64).

    Parameters
    ----------
    shape : tuple of int
        Full-resolution (H, W).
    working_shape : tuple of int, keyword-only
        Working-size (h, w) (default (512, 512), a bound for a 512 px long side).
    output : {"tensor", "uint8"}, keyword-only
        The result's form (a float tensor of ``dtype``, or uint8).
    dtype : torch.dtype, keyword-only
        Floating dtype of the computation (default float32).
    batch : int, keyword-only
        Batch size B.
    strip_rows : int or None, keyword-only
        As in :func:`upsample_affine`.

    Returns
    -------
    int
        Estimated peak bytes (an upper bound within ~20 %, measured in ``benchmarks/bench_upsample.py``).
    """
    if not isinstance(shape, (tuple, list)) or len(shape) != 2:
        raise TypeError(f"shape: expected (H, W), got {_got(shape)}.")
    big_h = _check_int("shape[0]", shape[0], minimum=1, example=3000)
    big_w = _check_int("shape[1]", shape[1], minimum=1, example=4000)
    if not isinstance(working_shape, (tuple, list)) or len(working_shape) != 2:
        raise TypeError(f"working_shape: expected (h, w), got {_got(working_shape)}.")
    h = _check_int("working_shape[0]", working_shape[0], minimum=1, example=384)
    w = _check_int("working_shape[1]", working_shape[1], minimum=1, example=512)
    output = _check_choice("output", output, ("tensor", "uint8"))
    batch = _check_int("batch", batch, minimum=1, example=1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating torch dtype, got {_got(dtype)}.")
    if strip_rows is not None:
        strip_rows = _check_int("strip_rows", strip_rows, minimum=1, example=256)
    item = torch.empty((), dtype=dtype).element_size()
    rows = min(big_h, strip_rows if strip_rows is not None else max(1, STRIP_PIXELS // big_w))
    out_bytes = batch * 3 * big_h * big_w * (1 if output == "uint8" else item)
    workspace = batch * rows * big_w * _WORKSPACE_FLOATS_PER_PIXEL * item
    fit = batch * h * w * _FIT_FLOATS_PER_PIXEL * 8
    return int(out_bytes + workspace + fit)


def upsample_result(
    result_small: torch.Tensor, content_small: torch.Tensor, content_full: ContentLike, *,
    radius: int = 1, eps: float = 1e-4, smoothing: Smoothing = "weighted", mode: Mode = "bilateral",
    sigma_range: float = 0.05, output: Output = "tensor", strip_rows: int | None = None,
    max_bytes: int | None = None,
) -> torch.Tensor | np.ndarray:
    """Deliver a result computed at a working size at the content's full resolution.

    :func:`fit_affine` (``result_small`` from ``content_small``) then :func:`upsample_affine` onto
    ``content_full``: the output is a local affine colour function of the full-resolution photo.

    Parameters
    ----------
    result_small : torch.Tensor
        The stylised result at the working size, (B, 3, h, w) in [0, 1].
    content_small : torch.Tensor
        The content at the working size (the image the optimisation started from or was guided by),
        same shape and device as ``result_small``.
    content_full : torch.Tensor or numpy.ndarray
        The full-resolution content (B, 3, H, W) tensor in [0, 1], or (H, W, 3) numpy array (uint8 or
        float in [0, 1]); same aspect ratio as the working size (up to rounding), not smaller.
    radius, eps, smoothing : keyword-only
        The fit, see :func:`fit_affine` (defaults 1, 1e-4, ``"weighted"``).
    mode, sigma_range, output, strip_rows : keyword-only
        The upsampling, see :func:`upsample_affine` (defaults ``"bilateral"``, 0.05, ``"tensor"``).
    max_bytes : int or None, keyword-only
        Refuse, before any work, when :func:`estimate_memory` exceeds this many bytes (default None:
        no limit).

    Returns
    -------
    torch.Tensor or numpy.ndarray
        ``output="tensor"`` (default): (B, 3, H, W) float tensor in [0, 1], the dtype of
        ``result_small`` / ``content_small`` (promoted), on their device. ``output="uint8"``: a numpy
        array (H, W, 3), uint8, ready for :func:`photostyle.image.save_image`.

    Examples
    --------
    >>> full = upsample_result(result, content_small, content_full)           # doctest: +SKIP
    >>> photo = upsample_result(result, content_small, read_image(path), output="uint8")  # doctest: +SKIP
    """
    result_small = _check_image("result_small", result_small)
    content_small = _check_image("content_small", content_small)
    if result_small.shape != content_small.shape:
        raise ValueError(
            f"result_small and content_small: expected the same shape, got {tuple(result_small.shape)} and "
            f"{tuple(content_small.shape)}; resize the content to the result's working size."
        )
    b, big_h, big_w = _check_content_full(content_full)
    if b != result_small.shape[0]:
        raise ValueError(
            f"result_small and content_full: expected the same batch size, got {result_small.shape[0]} and {b}."
        )
    h, w = result_small.shape[2:]
    _check_sizes((h, w), (big_h, big_w), small_name="result_small")
    output = _check_choice("output", output, ("tensor", "uint8"))
    if max_bytes is not None:
        max_bytes = _check_int("max_bytes", max_bytes, minimum=1, example=6 * 2**30)
        dtype = torch.promote_types(result_small.dtype, content_small.dtype)
        need = estimate_memory((big_h, big_w), working_shape=(h, w), output=output, dtype=dtype, batch=b,
                               strip_rows=strip_rows)
        if need > max_bytes:
            raise ValueError(
                f"content_full: an output of {big_h}x{big_w} needs about {_format_bytes(need)}, more than "
                f"max_bytes = {_format_bytes(max_bytes)}; use output='uint8', a smaller output size, or raise "
                "max_bytes."
            )
    coef = fit_affine(result_small, content_small, radius=radius, eps=eps, smoothing=smoothing)
    return upsample_affine(
        coef, content_full, content_small=content_small, mode=mode, sigma_range=sigma_range, output=output,
        strip_rows=strip_rows,
    )
