"""Post-processing: box and guided filters, best-local-affine reconstruction, posterization refine.

All functions take and return torch tensors of shape (B, C, H, W) and follow the input's device and
dtype. The filters are differentiable; :func:`best_local_affine` (a post-processing step) is not.

References
----------
- K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 (and TPAMI 2013).
- F. Luan, S. Paris, E. Shechtman, K. Bala, "Deep Photo Style Transfer", CVPR 2017: the "best local
  affine" reconstruction of the result from the content and the optional posterization refine.
"""

from __future__ import annotations

import torch

from ._checks import check_image, check_integer, check_positive, check_same_grid, got
from ._ldl3 import ldl3

__all__ = [
    "box_filter",
    "guided_filter",
    "best_local_affine",
    "posterization_refine",
    "GuidedFilter",
    "BestLocalAffine",
]


# --------------------------------------------------------------------------------------------------
# box and guided filters
# --------------------------------------------------------------------------------------------------


def _box_sum_1d(x: torch.Tensor, radius: int, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sums over [i - r, i + r] ∩ [0, n) along ``dim`` via a cumulative sum, and the window lengths."""
    n = x.shape[dim]
    csum = torch.cumsum(x, dim=dim)
    zero_shape = list(x.shape)
    zero_shape[dim] = 1
    csum = torch.cat([torch.zeros(zero_shape, dtype=x.dtype, device=x.device), csum], dim=dim)
    idx = torch.arange(n, device=x.device)
    hi = (idx + radius + 1).clamp(max=n)
    lo = (idx - radius).clamp(min=0)
    return csum.index_select(dim, hi) - csum.index_select(dim, lo), (hi - lo)


def _box_sum(x: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Window sums over the last two axes (edge windows shrunk) and the (H, W) window pixel counts."""
    s, ny = _box_sum_1d(x, radius, x.ndim - 2)
    s, nx = _box_sum_1d(s, radius, x.ndim - 1)
    return s, (ny[:, None] * nx[None, :]).to(x.dtype)


def box_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    """Mean over (2r+1)x(2r+1) windows, edge windows shrunk to the image (He et al.'s ``boxfilter / N``).

    Uses cumulative sums, so the cost does not depend on ``radius``.

    Parameters
    ----------
    x : torch.Tensor
        Shape (..., H, W) (e.g. (B, C, H, W)), float, any range.
    radius : int
        Window radius r >= 0 (r = 0 returns ``x``).

    Returns
    -------
    torch.Tensor
        Same shape, dtype and device as ``x``.
    """
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise TypeError(f"x: expected a tensor of shape (..., H, W), got {got(x)}.")
    if not x.is_floating_point():
        raise TypeError(f"x: expected a float tensor, got dtype {x.dtype}; convert with .float().")
    radius = check_integer("radius", radius, minimum=0, example=2)
    s, count = _box_sum(x, radius)
    return s / count


def _solve_sym3(
    s00: torch.Tensor, s01: torch.Tensor, s02: torch.Tensor, s11: torch.Tensor, s12: torch.Tensor,
    s22: torch.Tensor, v0: torch.Tensor, v1: torch.Tensor, v2: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Solve S x = v for batched symmetric positive-definite 3x3 S (elementwise L D Lᵀ; broadcasts)."""
    l10, l20, l21, d1, d2 = ldl3(s00, s01, s02, s11, s12, s22)
    y0 = v0
    y1 = v1 - l10 * y0
    y2 = v2 - l20 * y0 - l21 * y1
    x2 = y2 / d2
    x1 = y1 / d1 - l21 * x2
    x0 = y0 / s00 - l10 * x1 - l20 * x2
    return x0, x1, x2


def guided_filter(guide: torch.Tensor, src: torch.Tensor, *, radius: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter (ECCV 2010), with a colour or a grey guide.

    Per window, ``q = a·I + b`` is the ridge-regularised least-squares fit of ``src`` on the guide
    ``I``; the per-pixel output averages the coefficients of all windows covering the pixel. With a
    colour guide, ``a = cov(I, p)ᵀ (Σ_I + eps·Id)⁻¹`` (a batched 3x3 solve), as ``guidedfilter_color``.
    Windows are (2r+1)x(2r+1), shrunk at the image border.

    Parameters
    ----------
    guide : torch.Tensor
        Shape (B, 3, H, W) (colour) or (B, 1, H, W) (grey), float, usually in [0, 1].
    src : torch.Tensor
        Shape (B, C, H, W), same B, H, W, device; every channel is filtered with the same guide.
    radius : int, keyword-only
        Window radius r >= 0.
    eps : float, keyword-only
        Regulariser > 0 (in squared intensity units: 0.01 ≈ edges of contrast 0.1 are kept).

    Returns
    -------
    torch.Tensor
        Shape (B, C, H, W), dtype of ``guide`` and ``src`` promoted, on their device.
    """
    guide = check_image("guide", guide, channels=(1, 3))
    src = check_image("src", src, channels=None)
    check_same_grid("guide", guide, "src", src, channels=False)
    radius = check_integer("radius", radius, minimum=0, example=2)
    eps = check_positive("eps", eps, example=0.01)
    dtype = torch.promote_types(guide.dtype, src.dtype)
    guide, src = guide.to(dtype), src.to(dtype)
    return _guided_filter(guide, src, radius, eps)


def _guided_filter(guide: torch.Tensor, src: torch.Tensor, radius: int, eps: float) -> torch.Tensor:
    b, c, h, w = src.shape
    _, count = _box_sum(guide[:1, :1], radius)

    def mean(x: torch.Tensor) -> torch.Tensor:
        return _box_sum(x, radius)[0] / count

    mean_i = mean(guide)  # (B, G, H, W)
    mean_p = mean(src)  # (B, C, H, W)
    if guide.shape[1] == 1:
        cov_ip = mean(guide * src) - mean_i * mean_p
        var_i = mean(guide * guide) - mean_i * mean_i
        a = cov_ip / (var_i + eps)
        bb = mean_p - a * mean_i
        return mean(a) * guide + mean(bb)
    # colour guide: per source channel, solve (Σ_I + eps Id) a = cov(I, p)
    mean_ip = mean((guide[:, :, None] * src[:, None]).reshape(b, 3 * c, h, w)).reshape(b, 3, c, h, w)
    cov_ip = mean_ip - mean_i[:, :, None] * mean_p[:, None]  # (B, 3, C, H, W)
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    prods = torch.stack([guide[:, i] * guide[:, j] for i, j in pairs], dim=1)
    var = mean(prods) - torch.stack([mean_i[:, i] * mean_i[:, j] for i, j in pairs], dim=1)
    s00, s01, s02, s11, s12, s22 = (var[:, k, None] for k in range(6))  # (B, 1, H, W): broadcast over C
    a0, a1, a2 = _solve_sym3(
        s00 + eps, s01, s02, s11 + eps, s12, s22 + eps, cov_ip[:, 0], cov_ip[:, 1], cov_ip[:, 2]
    )
    bb = mean_p - a0 * mean_i[:, 0:1] - a1 * mean_i[:, 1:2] - a2 * mean_i[:, 2:3]
    mean_a = mean(torch.cat([a0, a1, a2, bb], dim=1))  # (B, 4C, H, W)
    return (
        mean_a[:, 0:c] * guide[:, 0:1]
        + mean_a[:, c : 2 * c] * guide[:, 1:2]
        + mean_a[:, 2 * c : 3 * c] * guide[:, 2:3]
        + mean_a[:, 3 * c :]
    )


# --------------------------------------------------------------------------------------------------
# best local affine
# --------------------------------------------------------------------------------------------------


def _fit_local_affine(
    output: torch.Tensor, content: torch.Tensor, patch_radius: int, ridge: float,
    prior: torch.Tensor | None = None, return_residual: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel ridge fit ``output ≈ A·content + b`` over the patch; returns (B, 12, H, W) = rows [A_c | b_c].

    ``prior`` (B, 3, 3) or per pixel (B, 3, 3, H, W), rows ``A_c``: the ridge pulls ``A`` toward it
    instead of toward zero (a window without contrast then takes the prior's colour matrix; an output
    that is exactly ``prior·content + b`` is recovered exactly). With ``return_residual`` also the mean squared residual of each window's fit,
    summed over the output channels, shape (B, 1, H, W).
    """
    b, _, h, w = content.shape
    x, y = content, output
    sx, n = _box_sum(x, patch_radius)  # (B, 3, H, W), (H, W)
    sy, _ = _box_sum(y, patch_radius)
    pairs = ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2))
    sxx, _ = _box_sum(torch.stack([x[:, i] * x[:, j] for i, j in pairs], dim=1), patch_radius)
    sxy, _ = _box_sum((x[:, :, None] * y[:, None]).reshape(b, 9, h, w), patch_radius)
    sxy = sxy.reshape(b, 3, 3, h, w)  # [input channel i, output channel c]
    # centred normal equations: (Cxx + ridge Id) a_c = Cxy[:, c] (+ ridge·prior_c), b_c = (Σy_c − a_c·Σx) / n
    cxx = [sxx[:, k] - sx[:, i] * sx[:, j] / n for k, (i, j) in enumerate(pairs)]
    cxy = sxy - sx[:, :, None] * sy[:, None] / n
    rhs = cxy
    if prior is not None:
        prior = prior.to(cxy.dtype).transpose(1, 2)  # [i, c]
        rhs = cxy + ridge * (prior[:, :, :, None, None] if prior.ndim == 3 else prior)
    s00, s01, s02, s11, s12, s22 = (v[:, None] for v in cxx)
    a0, a1, a2 = _solve_sym3(s00 + ridge, s01, s02, s11 + ridge, s12, s22 + ridge, rhs[:, 0], rhs[:, 1], rhs[:, 2])
    bias = (sy - a0 * sx[:, 0:1] - a1 * sx[:, 1:2] - a2 * sx[:, 2:3]) / n
    coef = torch.stack([a0, a1, a2, bias], dim=2).reshape(b, 12, h, w)
    if not return_residual:
        return coef
    # Σ (y − a·x − b)² over the window = Cyy − 2 a·Cxy + aᵀ Cxx a (centred sums), per output channel
    syy, _ = _box_sum(y * y, patch_radius)
    cyy = syy - sy * sy / n
    a = (a0, a1, a2)
    full = [[None] * 3 for _ in range(3)]
    for k, (i, j) in enumerate(pairs):
        full[i][j] = full[j][i] = cxx[k][:, None]
    quad = sum(a[i] * a[j] * full[i][j] for i in range(3) for j in range(3))
    lin = a0 * cxy[:, 0] + a1 * cxy[:, 1] + a2 * cxy[:, 2]
    residual = ((cyy - 2.0 * lin + quad).clamp_(min=0.0) / n).sum(dim=1, keepdim=True)
    return coef, residual


def _joint_bilateral(
    coef: torch.Tensor, guide: torch.Tensor, radius: int, sigma_s: float, sigma_r: float
) -> torch.Tensor:
    """Joint-bilateral mean of ``coef`` (B, K, H, W) with guide (B, G, H, W); out-of-image neighbours skipped."""
    _, _, h, w = coef.shape
    acc = coef.clone()  # the centre pixel, weight 1
    wsum = torch.ones_like(guide[:, :1])
    range_scale = -1.0 / (2.0 * sigma_r * sigma_r * guide.shape[1])
    channels = guide.unbind(dim=1)
    # w(p, p+o) = w(p+o, p): each weight serves an offset and its mirror, so half the offsets suffice.
    for dy in range(0, min(radius, h - 1) + 1):
        for dx in range(-min(radius, w - 1), min(radius, w - 1) + 1):
            if dy == 0 and dx <= 0:
                continue
            p = (slice(0, h - dy), slice(0, w - dx) if dx >= 0 else slice(-dx, w))
            q = (slice(dy, h), slice(dx, w) if dx >= 0 else slice(0, w + dx))
            diff = channels[0][:, p[0], p[1]] - channels[0][:, q[0], q[1]]
            dist = diff * diff
            for g in channels[1:]:
                torch.sub(g[:, p[0], p[1]], g[:, q[0], q[1]], out=diff)
                dist.addcmul_(diff, diff)
            weight = dist.mul_(range_scale).add_(-(dx * dx + dy * dy) / (2.0 * sigma_s * sigma_s)).exp_()[:, None]
            acc[:, :, p[0], p[1]].addcmul_(coef[:, :, q[0], q[1]], weight)
            acc[:, :, q[0], q[1]].addcmul_(coef[:, :, p[0], p[1]], weight)
            wsum[:, :, p[0], p[1]] += weight
            wsum[:, :, q[0], q[1]] += weight
    return acc / wsum


def best_local_affine(
    output: torch.Tensor, content: torch.Tensor, *, patch_radius: int = 1, ridge: float = 1e-3,
    filter_radius: int = 15, sigma_spatial: float | None = None, sigma_range: float = 0.01,
) -> torch.Tensor:
    """Luan et al.'s "best local affine" reconstruction of a stylised result from the content.

    1. For every pixel, fit a 3x4 affine colour model ``output ≈ A·content + b`` over its
       (2·patch_radius+1)² patch (neighbours outside the image skipped), by least squares with
       ``ridge`` added to the three colour diagonal entries of the normal equations (not the
       constant term), as in Luan et al.'s ``cuda_utils.cu``.
    2. Joint-bilateral filter the 12 coefficients with the content as guide: weight
       ``exp(−(dx²+dy²)/(2σs²)) · exp(−mean_c(Δcontent_c²)/(2σr²))`` over a
       (2·filter_radius+1)² window, out-of-image neighbours skipped, normalised by the weight sum.
    3. Apply the filtered model to the content and clamp to [0, 1].

    Parameters
    ----------
    output : torch.Tensor
        The stylised result, shape (B, 3, H, W), values in [0, 1].
    content : torch.Tensor
        The content photo, same shape and device, values in [0, 1].
    patch_radius : int, keyword-only
        Radius of the fitting patch (default 1: 3x3).
    ridge : float, keyword-only
        Ridge > 0 on the colour coefficients (default 1e-3); larger values flatten the model in
        low-contrast patches.
    filter_radius : int, keyword-only
        Radius of the bilateral window (default 15).
    sigma_spatial : float or None, keyword-only
        Spatial σ in pixels (default ``filter_radius / 3``).
    sigma_range : float, keyword-only
        Range σ on content colours in [0, 1] units (default 0.01).

    Returns
    -------
    torch.Tensor
        Shape (B, 3, H, W), the dtype of the inputs (promoted) on their device, values clamped to
        [0, 1]. The fit is computed in float64 on CPU and CUDA, the filter in the input dtype.
        Not differentiable (computed under ``torch.no_grad()``): it is a post-processing step.
    """
    output = check_image("output", output, channels=(3,))
    content = check_image("content", content, channels=(3,))
    check_same_grid("output", output, "content", content, channels=True)
    patch_radius = check_integer("patch_radius", patch_radius, minimum=0, example=1)
    ridge = check_positive("ridge", ridge, example=1e-3)
    filter_radius = check_integer("filter_radius", filter_radius, minimum=0, example=15)
    if sigma_spatial is None:
        sigma_spatial = max(filter_radius / 3.0, 1e-3)
    sigma_spatial = check_positive("sigma_spatial", sigma_spatial, example=5.0)
    sigma_range = check_positive("sigma_range", sigma_range, example=0.01)

    with torch.no_grad():
        return _best_local_affine(output, content, patch_radius, ridge, filter_radius, sigma_spatial, sigma_range)


def _best_local_affine(
    output: torch.Tensor, content: torch.Tensor, patch_radius: int, ridge: float, filter_radius: int,
    sigma_spatial: float, sigma_range: float,
) -> torch.Tensor:
    dtype = torch.promote_types(output.dtype, content.dtype)
    fit_dtype = torch.float64 if content.device.type in ("cpu", "cuda") else dtype
    coef = _fit_local_affine(output.to(fit_dtype), content.to(fit_dtype), patch_radius, ridge).to(dtype)
    content = content.to(dtype)
    coef = _joint_bilateral(coef, content, filter_radius, sigma_spatial, sigma_range)
    b, _, h, w = content.shape
    model = coef.reshape(b, 3, 4, h, w)
    result = (model[:, :, :3] * content[:, None]).sum(dim=2) + model[:, :, 3]
    return result.clamp_(0.0, 1.0)


def posterization_refine(
    result: torch.Tensor, content: torch.Tensor, *, radius: int = 8, eps: float = 0.01
) -> torch.Tensor:
    """Luan et al.'s optional refinement against posterization: ``K = J + I − guided_filter(I, I)``.

    The content's detail layer ``I − guided_filter(I, I, radius, eps)`` (He et al. 2010, each
    channel filtered with the colour content as guide) is added to the result ``J``.

    Parameters
    ----------
    result : torch.Tensor
        The stylised result J, shape (B, 3, H, W), values in [0, 1].
    content : torch.Tensor
        The content photo I, same shape and device, values in [0, 1].
    radius : int, keyword-only
        Guided-filter radius (default 8).
    eps : float, keyword-only
        Guided-filter regulariser > 0 (default 0.01).

    Returns
    -------
    torch.Tensor
        Shape (B, 3, H, W), clamped to [0, 1], dtype of the inputs (promoted).
    """
    result = check_image("result", result, channels=(3,))
    content = check_image("content", content, channels=(3,))
    check_same_grid("result", result, "content", content, channels=True)
    radius = check_integer("radius", radius, minimum=0, example=8)
    eps = check_positive("eps", eps, example=0.01)
    dtype = torch.promote_types(result.dtype, content.dtype)
    content = content.to(dtype)
    detail = content - _guided_filter(content, content, radius, eps)
    return (result.to(dtype) + detail).clamp_(0.0, 1.0)


# --------------------------------------------------------------------------------------------------
# thin modules
# --------------------------------------------------------------------------------------------------


class GuidedFilter(torch.nn.Module):
    """:func:`guided_filter` with its settings; ``forward(guide, src)``."""

    def __init__(self, *, radius: int, eps: float):
        super().__init__()
        self.radius = check_integer("radius", radius, minimum=0, example=2)
        self.eps = check_positive("eps", eps, example=0.01)

    def forward(self, guide: torch.Tensor, src: torch.Tensor) -> torch.Tensor:
        """guide (B, 3|1, H, W), src (B, C, H, W) → (B, C, H, W)."""
        return guided_filter(guide, src, radius=self.radius, eps=self.eps)

    def extra_repr(self) -> str:
        return f"radius={self.radius}, eps={self.eps}"


class BestLocalAffine(torch.nn.Module):
    """:func:`best_local_affine` with its settings; ``forward(output, content)``."""

    def __init__(
        self, *, patch_radius: int = 1, ridge: float = 1e-3, filter_radius: int = 15,
        sigma_spatial: float | None = None, sigma_range: float = 0.01,
    ):
        super().__init__()
        self.patch_radius = check_integer("patch_radius", patch_radius, minimum=0, example=1)
        self.ridge = check_positive("ridge", ridge, example=1e-3)
        self.filter_radius = check_integer("filter_radius", filter_radius, minimum=0, example=15)
        self.sigma_spatial = (
            None if sigma_spatial is None else check_positive("sigma_spatial", sigma_spatial, example=5.0)
        )
        self.sigma_range = check_positive("sigma_range", sigma_range, example=0.01)

    def forward(self, output: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
        """output, content (B, 3, H, W) in [0, 1] → reconstruction (B, 3, H, W) in [0, 1]."""
        return best_local_affine(
            output, content, patch_radius=self.patch_radius, ridge=self.ridge, filter_radius=self.filter_radius,
            sigma_spatial=self.sigma_spatial, sigma_range=self.sigma_range,
        )

    def extra_repr(self) -> str:
        return (
            f"patch_radius={self.patch_radius}, ridge={self.ridge}, filter_radius={self.filter_radius}, "
            f"sigma_spatial={self.sigma_spatial}, sigma_range={self.sigma_range}"
        )
