"""The per-pixel affine colour model: fitted at the working size, applied to a content of the same size.

:func:`fit_affine` fits, at the working size, a per-pixel 3x4 affine colour model
``result ≈ A·content + b`` (as Luan et al.'s best-local-affine reconstruction does): a ridge fit over
(2r+1)² windows, the ridge pulling the colour matrix toward the image's global colour matrix (so a
window without contrast takes the global colour map, and an output that is an exact global affine
function of the content is recovered exactly), then the coefficients are averaged over the windows
covering each pixel (He et al.'s guided filter), weighted by how well each window's model fits
(windows across an edge between two colour models fit badly and count little, which keeps edges
sharp). :func:`apply_affine` applies coefficients to a content image of the same size;
:mod:`photostyle.upsample` applies them at full resolution.

Coefficient layout: a tensor (B, 12, h, w); channel ``4·c + k`` holds ``A[c, k]`` for k < 3 (output
channel c, input channel k) and the offset ``b[c]`` for k = 3.

References
----------
- K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013.
- F. Luan, S. Paris, E. Shechtman, K. Bala, "Deep Photo Style Transfer", CVPR 2017.
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from ._checks import check_image, check_integer, check_one_of, check_positive, check_same_grid
from .smoothing import _box_sum, _fit_local_affine, _joint_bilateral

__all__ = ["fit_affine", "apply_affine"]

Smoothing = Literal["weighted", "box", "bilateral", "none"]

# "weighted" smoothing weighs each window by 1 / (residual + eps·_TAU): a floor well below the ridge, so
# that windows across an edge between two colour models (residual >> floor) barely count.
_TAU = 0.01


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
    output = check_image("output", output)
    content = check_image("content", content)
    check_same_grid("output", output, "content", content,
                    fix="fit at the working size, with the content resized to the result's size")
    radius = check_integer("radius", radius, minimum=0, example=1)
    eps = check_positive("eps", eps, example=1e-4)
    smoothing = check_one_of("smoothing", smoothing, ("weighted", "box", "bilateral", "none"))
    prior = check_one_of("prior", prior, ("global", "zero"))
    filter_radius = check_integer("filter_radius", filter_radius, minimum=0, example=15)
    if sigma_spatial is None:
        sigma_spatial = max(filter_radius / 3.0, 1e-3)
    sigma_spatial = check_positive("sigma_spatial", sigma_spatial, example=5.0)
    sigma_range = check_positive("sigma_range", sigma_range, example=0.01)

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
    content = check_image("content", content)
    check_same_grid("coefficients", coefficients, "content", content, channels=False,
                    fix="for a larger content use upsample_affine")
    dtype = torch.promote_types(coefficients.dtype, content.dtype)
    out = _apply(coefficients.to(dtype), content.to(dtype))
    return out.clamp_(0.0, 1.0) if clamp else out

