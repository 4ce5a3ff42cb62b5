"""The matting Laplacian: its sparse (scipy) construction from an image.

The matting Laplacian of Levin, Lischinski & Weiss ("A Closed-Form Solution to Natural Image
Matting", TPAMI 2008) is a sparse, symmetric, positive semi-definite ``(N, N)`` matrix, ``N = H·W``,
whose quadratic form ``vᵀ L v`` is small when ``v`` is locally an affine function of the image's
colours. Luan et al. ("Deep Photo Style Transfer", CVPR 2017) use ``Σ_c V_cᵀ L V_c`` of the output's
channels, with ``L`` built from the content photo, as their photorealism regulariser.

For a window ``w_k`` of ``n = (2r+1)²`` pixels with colour mean ``μ_k`` and covariance ``Σ_k``
(normalised by ``n``)::

    L_ij = Σ_{k : i, j ∈ w_k} ( δ_ij − (1 + (I_i − μ_k)ᵀ (Σ_k + ε/n · Id)⁻¹ (I_j − μ_k)) / n )

summed over the windows lying fully inside the image, exactly as Levin's Matlab ``getLaplacian1``
without a constraint map; as there, the diagonal is the sum of the row's off-diagonal affinities, so
every row sums to zero up to rounding. Pixel ``(y, x)`` has index ``y·W + x`` (row-major).

Implementation. Only pixel pairs closer than ``2r + 1`` in both directions interact, so the matrix
has ``(4r+1)²`` fixed bands. Each window's regularised covariance is factored as ``L D Lᵀ``
(batched, closed form); the centred colours are whitened with it, so that the window's affinity
between two of its pixels is a 3-term dot product. The affinities are accumulated per band with
shifted slice-adds on ``(H, W)`` grids and the CSR arrays are written straight from the bands, with
no COO sort. (Whitening instead of an explicit 3x3 inverse keeps near-singular windows, e.g. a hard
edge between two flat colours, accurate to ~1e-9: the explicit inverse loses ~1e-2 there.)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse
import torch

from ._checks import check_integer, check_positive
from ._ldl3 import ldl3

__all__ = ["matting_laplacian"]


def _image_to_chw(image: Any, *, name: str = "image") -> np.ndarray:
    """Any supported image → contiguous float64 numpy array (C, H, W), C in {1, 3}, values in [0, 1]."""
    if isinstance(image, torch.Tensor):
        t = image.detach()
        shape = tuple(t.shape)
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise ValueError(
                    f"{name}: expected one image, shape (1, 3, H, W), got a batch of shape {shape}; "
                    f"pass {name}[i:i+1]."
                )
            t = t[0]
        elif t.ndim == 2:
            t = t[None]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(
                f"{name}: expected a tensor of shape (3, H, W), (1, 3, H, W), (1, H, W) or (H, W), "
                f"got {shape}; tensors are channels-first."
            )
        if not t.is_floating_point():
            raise TypeError(f"{name}: expected a float tensor in [0, 1], got dtype {t.dtype}; divide by 255.")
        arr = t.to(device="cpu", dtype=torch.float64).numpy()
    elif isinstance(image, np.ndarray):
        shape = tuple(image.shape)
        if image.ndim == 2:
            arr = image[None]
        elif image.ndim == 3 and image.shape[2] in (1, 3):
            arr = np.moveaxis(image, 2, 0)
        else:
            raise ValueError(
                f"{name}: expected a numpy array of shape (H, W), (H, W, 1) or (H, W, 3), got {shape}; "
                "channels go last for numpy images (drop an alpha channel with image[..., :3])."
            )
        if arr.dtype == np.uint8:
            arr = arr.astype(np.float64) / 255.0
        elif arr.dtype == np.uint16:
            arr = arr.astype(np.float64) / 65535.0
        elif np.issubdtype(arr.dtype, np.floating):
            arr = arr.astype(np.float64)
        else:
            raise TypeError(
                f"{name}: unsupported array dtype {arr.dtype}; expected uint8, uint16 or float in [0, 1]."
            )
    else:
        raise TypeError(
            f"{name}: expected a numpy array (H, W[, 3]) or a torch tensor (3, H, W), "
            f"got {type(image).__name__}."
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: the image holds NaN or infinite values; clean it (e.g. np.nan_to_num) first.")
    lo, hi = float(arr.min(initial=0.0)), float(arr.max(initial=0.0))
    if lo < -1e-3 or hi > 1 + 1e-3:
        raise ValueError(
            f"{name}: expected float values in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
            "divide 8-bit data by 255 (or pass it as uint8)."
        )
    return np.ascontiguousarray(arr)



def _valid_box_sum(x: np.ndarray, w: int) -> np.ndarray:
    """Sum over every w x w window fully inside the last two axes: (..., H, W) → (..., H-w+1, W-w+1)."""
    hv, wv = x.shape[-2] - w + 1, x.shape[-1] - w + 1
    rows = x[..., 0:hv, :].copy()
    for k in range(1, w):
        rows += x[..., k : k + hv, :]
    out = rows[..., 0:wv].copy()
    for k in range(1, w):
        out += rows[..., k : k + wv]
    return out


def _pair_window_count(length: int, radius: int, offset: int) -> np.ndarray:
    """For p in range(length): how many windows (fully inside) contain both p and p + offset, along one axis."""
    p = np.arange(length)
    lo = np.maximum(np.maximum(p, p + offset) - 2 * radius, 0)
    hi = np.minimum(np.minimum(p, p + offset), length - 2 * radius - 1)
    return np.maximum(hi - lo + 1, 0).astype(np.float64)


def _whitened_windows(img: np.ndarray, eps: float, radius: int) -> np.ndarray:
    """Centred window colours whitened by each window's regularised covariance.

    Returns Z of shape (n, C, Hv, Wv), n = (2r+1)², Hv = H - 2r: Z[a, :, wy, wx] for the pixel at
    position a (raster order) inside the window with top-left corner (wy, wx), scaled so that
    Z_aᵀ Z_b = (I_a − μ)ᵀ (Σ + ε/n)⁻¹ (I_b − μ) / n.
    """
    c, h, w = img.shape
    win = 2 * radius + 1
    n = win * win
    hv, wv = h - 2 * radius, w - 2 * radius
    mu = _valid_box_sum(img, win)
    mu /= n

    def cov(i: int, j: int) -> np.ndarray:
        s = _valid_box_sum(img[i] * img[j], win)
        s /= n
        s -= mu[i] * mu[j]
        if i == j:
            s += eps / n
        return s

    positions = [(ay, ax) for ay in range(win) for ax in range(win)]
    z = np.empty((n, c, hv, wv))
    if c == 1:
        g0 = 1.0 / np.sqrt(n * np.maximum(cov(0, 0), eps / n))
        for a, (ay, ax) in enumerate(positions):
            np.subtract(img[0, ay : ay + hv, ax : ax + wv], mu[0], out=z[a, 0])
            z[a, 0] *= g0
        return z
    # Σ = L D Lᵀ with unit lower-triangular L; whitened y = L⁻¹ (I − μ), scaled by 1 / sqrt(n·D).
    s00, s01, s02 = cov(0, 0), cov(0, 1), cov(0, 2)
    s11, s12, s22 = cov(1, 1), cov(1, 2), cov(2, 2)
    l10, l20, l21, d1, d2 = ldl3(s00, s01, s02, s11, s12, s22)
    # every pivot is >= eps/n in exact arithmetic; the floor only guards rounding for a tiny eps
    floor = eps / n
    g0 = 1.0 / np.sqrt(n * np.maximum(s00, floor))
    g1 = 1.0 / np.sqrt(n * np.maximum(d1, floor))
    g2 = 1.0 / np.sqrt(n * np.maximum(d2, floor))
    for a, (ay, ax) in enumerate(positions):
        d = img[:, ay : ay + hv, ax : ax + wv] - mu
        y1 = d[1] - l10 * d[0]
        y2 = d[2] - l20 * d[0]
        y2 -= l21 * y1
        np.multiply(d[0], g0, out=z[a, 0])
        np.multiply(y1, g1, out=z[a, 1])
        np.multiply(y2, g2, out=z[a, 2])
    return z


def matting_laplacian(image: Any, *, eps: float = 1e-7, radius: int = 1) -> scipy.sparse.csr_matrix:
    """The matting Laplacian of an image (Levin et al. 2008), as used by Luan et al. 2017.

    Parameters
    ----------
    image : numpy.ndarray or torch.Tensor
        The (content) image. numpy: shape (H, W), (H, W, 1) or (H, W, 3), float in [0, 1], uint8
        (divided by 255) or uint16 (divided by 65535). torch: float, shape (3, H, W), (1, 3, H, W),
        (1, H, W) or (H, W), values in [0, 1]. Grey images use the one-channel form of the formula
        (a 1x1 covariance), as ``getLaplacian1`` does for a grey Matlab image; they are not
        replicated to three channels (that would change the effective ``eps``).
    eps : float, keyword-only
        Regulariser ε > 0 of the window covariances (added as ε/n·Id). Default 1e-7 (the paper's).
    radius : int, keyword-only
        Window radius r >= 1; windows are (2r+1)x(2r+1) and only those fully inside the image count.

    Returns
    -------
    scipy.sparse.csr_matrix
        float64, shape (N, N) with N = H·W; row/column y·W + x is pixel (y, x). Symmetric, positive
        semi-definite, rows sum to 0; entry magnitudes up to about (2r+1)² − 1. Pixels interact
        within a (4r+1)x(4r+1) neighbourhood, so nnz ≈ (4r+1)²·N, with sorted column indices.

    Raises
    ------
    ValueError
        If the image is smaller than one window, has an unsupported shape, holds NaN/inf or values
        outside [0, 1], or ``eps <= 0`` / ``radius < 1``.
    TypeError
        If ``image`` is not an array/tensor or has an unsupported dtype.
    """
    eps = check_positive("eps", eps, example="1e-7 (the paper's value; it regularises each window's colour covariance)")
    radius = check_integer("radius", radius, minimum=1, example="1 (3x3 windows)")
    img = _image_to_chw(image)
    _, h, w = img.shape
    win = 2 * radius + 1
    if h < win or w < win:
        raise ValueError(
            f"image is {h}x{w} (HxW) but radius={radius} needs windows of {win}x{win} fully inside it, "
            f"so at least {win}x{win} pixels; pass a larger image or a smaller radius."
        )

    n = win * win
    hv, wv = h - 2 * radius, w - 2 * radius
    span = 2 * radius  # largest |offset| between two pixels sharing a window
    k = 2 * span + 1  # band offsets per axis
    z = _whitened_windows(img, eps, radius)
    positions = [(ay, ax) for ay in range(win) for ax in range(win)]

    # bands[oy + span, ox + span, y, x] = affinity A(p, p + o) summed over windows, p = (y, x).
    bands = np.zeros((k, k, h, w))
    prod = np.empty((hv, wv))
    term = np.empty((hv, wv))
    channels = z.shape[1]
    for a, (ay, ax) in enumerate(positions):
        for b in range(a + 1, n):
            by, bx = positions[b]
            np.multiply(z[a, 0], z[b, 0], out=prod)
            for ch in range(1, channels):
                np.multiply(z[a, ch], z[b, ch], out=term)
                prod += term
            bands[by - ay + span, bx - ax + span, ay : ay + hv, ax : ax + wv] += prod
    del z, prod, term

    # Add the constant 1/n of every window containing both pixels, mirror to the negative offsets
    # (A is symmetric: A(p, p − o) = A(p − o, p)) and, as Levin's D − A, put the sum of the row's
    # off-diagonal affinities on the diagonal.
    diag = np.zeros((h, w))
    for oy in range(0, span + 1):
        for ox in range(-span, span + 1):
            if oy == 0 and ox <= 0:
                continue
            band = bands[oy + span, ox + span]
            band += np.multiply.outer(_pair_window_count(h, radius, oy), _pair_window_count(w, radius, ox)) / n
            mirror = bands[span - oy, span - ox]
            dst_x = slice(ox, w) if ox >= 0 else slice(0, w + ox)
            src_x = slice(0, w - ox) if ox >= 0 else slice(-ox, w)
            mirror[oy:h, dst_x] = band[0 : h - oy, src_x]
            diag += band
            diag += mirror
    np.negative(bands, out=bands)
    bands[span, span] = diag
    del diag

    # CSR straight from the bands: row p holds the in-image offsets in raster order (sorted columns).
    offsets = np.arange(-span, span + 1)
    ok_y = (np.arange(h)[:, None] + offsets >= 0) & (np.arange(h)[:, None] + offsets < h)
    ok_x = (np.arange(w)[:, None] + offsets >= 0) & (np.arange(w)[:, None] + offsets < w)
    inside = ok_y[:, None, :, None] & ok_x[None, :, None, :]
    data = bands.transpose(2, 3, 0, 1)[inside]
    del bands
    npix = h * w
    index_dtype = np.int32 if (data.size < 2**31 and npix < 2**31) else np.int64
    column_offsets = (offsets[:, None] * w + offsets[None, :]).astype(index_dtype)
    indices = (np.arange(npix, dtype=index_dtype).reshape(h, w, 1, 1) + column_offsets)[inside]
    row_counts = ok_y.sum(axis=1)[:, None] * ok_x.sum(axis=1)[None, :]
    indptr = np.zeros(npix + 1, dtype=index_dtype)
    np.cumsum(row_counts.ravel(), out=indptr[1:])
    laplacian = scipy.sparse.csr_matrix((data, indices, indptr), shape=(npix, npix), copy=False)
    laplacian.has_sorted_indices = True
    return laplacian

