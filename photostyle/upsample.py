"""Deliver at full size: a local affine colour model fitted at the working size, applied at full resolution.

The optimisation runs at a small working size; the photo is delivered at its own resolution by fitting,
at the working size, a per-pixel 3x4 affine colour model ``result ≈ A·content + b`` (as Luan et al.'s
best-local-affine reconstruction does), upsampling the twelve coefficient maps to the full-resolution
content, and applying them there. The output is a local affine function of the real photo, so its
edges and texture are the photo's own at any size.

Three steps, each public, and :func:`upsample_result` composing them:

1. :func:`fit_affine` (working size, in :mod:`photostyle.affine`): per-pixel ridge fit over (2r+1)²
   windows, the coefficients averaged over the windows covering each pixel, weighted by how well each
   window's model fits (so edges stay sharp).
2. :func:`upsample_affine` (full size): bilinear interpolation of the coefficients (He & Sun's fast
   guided filter, ``mode="bilinear"``) or joint-bilateral upsampling (``mode="bilateral"``, Kopf et al.
   2007, in the spirit of Chen et al.'s bilateral guided upsampling): each full-resolution pixel takes the
   coefficients of its 2x2 working-size neighbours weighted by distance and by how close their
   (working-size) content colour is to its own full-resolution colour, so a model does not leak across a
   colour edge. Fused with step 3 and processed in horizontal strips: only the coefficient rows a strip
   needs are touched, the full-resolution coefficients never exist, and the result is written into one
   preallocated array (float tensor or uint8 array). Memory: the output plus a fixed strip workspace
   (:func:`estimate_memory`).
3. :func:`apply_affine` (in :mod:`photostyle.affine`): apply coefficients to a content image of the same size.

Coefficients: a tensor (B, 12, h, w), laid out as :mod:`photostyle.affine` says.

References
----------
- K. He, J. Sun, X. Tang, "Guided Image Filtering", ECCV 2010 / TPAMI 2013.
- K. He, J. Sun, "Fast Guided Filter", arXiv:1505.00996, 2015.
- J. Kopf, M. Cohen, D. Lischinski, M. Uyttendaele, "Joint Bilateral Upsampling", SIGGRAPH 2007.
- J. Chen, A. Adams, N. Wadhwa, S. Hasinoff, "Bilateral Guided Upsampling", SIGGRAPH Asia 2016.
- F. Luan, S. Paris, E. Shechtman, K. Bala, "Deep Photo Style Transfer", CVPR 2017.
"""

from __future__ import annotations

from typing import Any, Literal, Union

import numpy as np
import torch

from ._checks import check_image, check_integer, check_one_of, check_positive, check_same_grid, got
from .affine import Smoothing, _check_coefficients, apply_affine, fit_affine

__all__ = [
    "fit_affine",
    "apply_affine",
    "upsample_affine",
    "upsample_result",
    "estimate_memory",
]

Mode = Literal["bilateral", "bilinear"]
Output = Literal["tensor", "uint8"]
ContentLike = Union[torch.Tensor, np.ndarray]

# Full-resolution pixels processed per strip unless strip_rows is given (about 2^20: ~100 MB of float32
# workspace, independent of the output size).
STRIP_PIXELS = 1 << 20
# Floats of workspace per strip pixel (gathered coefficients of one neighbour, guide colours, weights,
# the content strip, the accumulator); measured peak of the strip loop, rounded up.
_WORKSPACE_FLOATS_PER_PIXEL = 40
# Floats per working-size pixel while fitting (float64 window sums and the coefficients).
_FIT_FLOATS_PER_PIXEL = 120


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------


def _check_content_full(content_full: Any) -> tuple[int, int, int]:
    """Validate the full-resolution content; return (B, H, W)."""
    if isinstance(content_full, torch.Tensor):
        check_image("content_full", content_full)
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
    mode = check_one_of("mode", mode, ("bilateral", "bilinear"))
    output = check_one_of("output", output, ("tensor", "uint8"))
    sigma_range = check_positive("sigma_range", sigma_range, example=0.05)
    if strip_rows is not None:
        strip_rows = check_integer("strip_rows", strip_rows, minimum=1, example=256)
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
        content_small = check_image("content_small", content_small)
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
        raise TypeError(f"shape: expected (H, W), got {got(shape)}.")
    big_h = check_integer("shape[0]", shape[0], minimum=1, example=3000)
    big_w = check_integer("shape[1]", shape[1], minimum=1, example=4000)
    if not isinstance(working_shape, (tuple, list)) or len(working_shape) != 2:
        raise TypeError(f"working_shape: expected (h, w), got {got(working_shape)}.")
    h = check_integer("working_shape[0]", working_shape[0], minimum=1, example=384)
    w = check_integer("working_shape[1]", working_shape[1], minimum=1, example=512)
    output = check_one_of("output", output, ("tensor", "uint8"))
    batch = check_integer("batch", batch, minimum=1, example=1)
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype: expected a floating torch dtype, got {got(dtype)}.")
    if strip_rows is not None:
        strip_rows = check_integer("strip_rows", strip_rows, minimum=1, example=256)
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
    result_small = check_image("result_small", result_small)
    content_small = check_image("content_small", content_small)
    check_same_grid("result_small", result_small, "content_small", content_small,
                    fix="resize the content to the result's working size")
    b, big_h, big_w = _check_content_full(content_full)
    if b != result_small.shape[0]:
        raise ValueError(
            f"result_small and content_full: expected the same batch size, got {result_small.shape[0]} and {b}."
        )
    h, w = result_small.shape[2:]
    _check_sizes((h, w), (big_h, big_w), small_name="result_small")
    output = check_one_of("output", output, ("tensor", "uint8"))
    if max_bytes is not None:
        max_bytes = check_integer("max_bytes", max_bytes, minimum=1, example=6 * 2**30)
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
