"""The matting Laplacian and the photorealism loss built on it.

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

import math
import numbers
import warnings
import weakref
from typing import Any, Union

import numpy as np
import scipy.sparse
import torch

__all__ = [
    "matting_laplacian",
    "laplacian_to_torch",
    "photorealism_loss",
    "PhotorealismLoss",
]

LaplacianLike = Union[scipy.sparse.spmatrix, "scipy.sparse.sparray", torch.Tensor]


# --------------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------------


def _got(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{text} ({type(value).__name__})"


def _check_eps(eps: Any) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
        raise TypeError(f"eps must be a positive real number, got {_got(eps)}; pass e.g. eps=1e-7.")
    eps = float(eps)
    if not math.isfinite(eps) or eps <= 0:
        raise ValueError(
            f"eps must be a finite number > 0, got {eps}; it regularises each window's colour "
            "covariance, pass e.g. eps=1e-7 (the paper's value)."
        )
    return eps


def _check_radius(radius: Any) -> int:
    if isinstance(radius, bool) or not isinstance(radius, numbers.Integral):
        raise TypeError(f"radius must be an integer >= 1, got {_got(radius)}; pass e.g. radius=1 (3x3 windows).")
    radius = int(radius)
    if radius < 1:
        raise ValueError(f"radius must be >= 1, got {radius}; pass e.g. radius=1 (3x3 windows).")
    return radius


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
            f"{name}: float values must lie in [0, 1], got values in [{lo:.4g}, {hi:.4g}]; "
            "divide 8-bit data by 255 (or pass it as uint8)."
        )
    return np.ascontiguousarray(arr)


# --------------------------------------------------------------------------------------------------
# the Laplacian
# --------------------------------------------------------------------------------------------------


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
    l10 = s01 / s00
    l20 = s02 / s00
    d1 = s11 - l10 * s01
    t12 = s12 - l10 * s02
    l21 = t12 / d1
    d2 = s22 - l20 * s02 - l21 * t12
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
    eps = _check_eps(eps)
    radius = _check_radius(radius)
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


# --------------------------------------------------------------------------------------------------
# torch side
# --------------------------------------------------------------------------------------------------


def _csr_tensor(crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse CSR tensor support is in beta.*")
        return torch.sparse_csr_tensor(crow, col, values, size=size, check_invariants=False)


def laplacian_to_torch(
    laplacian: LaplacianLike, *, device: torch.device | str | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Convert a matting Laplacian to a torch sparse CSR tensor.

    Parameters
    ----------
    laplacian : scipy.sparse matrix/array or torch sparse tensor
        Shape (N, N), e.g. from :func:`matting_laplacian`.
    device : torch.device or str, keyword-only
        Where the result lives (default: CPU for scipy input, unchanged for tensors).
    dtype : torch.dtype, keyword-only
        Floating dtype of the values (default float32).

    Returns
    -------
    torch.Tensor
        Sparse CSR tensor of shape (N, N) with int64 indices.
    """
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"dtype must be a floating torch.dtype, got {_got(dtype)}; pass e.g. dtype=torch.float32.")
    if scipy.sparse.issparse(laplacian):
        if laplacian.ndim != 2 or laplacian.shape[0] != laplacian.shape[1]:
            raise ValueError(f"laplacian must be square (N, N), got shape {laplacian.shape}.")
        csr = scipy.sparse.csr_matrix(laplacian)
        if not csr.has_sorted_indices:
            csr = csr.sorted_indices()
        crow = torch.from_numpy(csr.indptr.astype(np.int64))
        col = torch.from_numpy(csr.indices.astype(np.int64))
        values = torch.from_numpy(np.asarray(csr.data))
        dev = torch.device(device) if device is not None else torch.device("cpu")
        return _csr_tensor(
            crow.to(dev), col.to(dev), values.to(device=dev, dtype=dtype), (csr.shape[0], csr.shape[1])
        )
    if isinstance(laplacian, torch.Tensor):
        if laplacian.ndim != 2 or laplacian.shape[0] != laplacian.shape[1]:
            raise ValueError(f"laplacian must be square (N, N), got shape {tuple(laplacian.shape)}.")
        dev = torch.device(device) if device is not None else laplacian.device
        t = laplacian.detach()
        if t.layout != torch.sparse_csr:
            t = (t.to_sparse_csr() if t.layout == torch.strided else t.coalesce().to_sparse_csr())
        return _csr_tensor(
            t.crow_indices().to(device=dev, dtype=torch.int64),
            t.col_indices().to(device=dev, dtype=torch.int64),
            t.values().to(device=dev, dtype=dtype),
            (t.shape[0], t.shape[1]),
        )
    raise TypeError(
        f"laplacian must be a scipy.sparse matrix or a torch sparse tensor, got {type(laplacian).__name__}; "
        "build one with matting_laplacian(content)."
    )


# Converted Laplacians, per source object (by identity) and (device, dtype); entries vanish with the source.
_CONVERTED: dict[int, tuple[weakref.ref, dict[tuple[torch.device, torch.dtype], torch.Tensor]]] = {}


def _laplacian_for(laplacian: LaplacianLike, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if (
        isinstance(laplacian, torch.Tensor)
        and laplacian.layout == torch.sparse_csr
        and laplacian.device == device
        and laplacian.dtype == dtype
    ):
        return laplacian
    key = id(laplacian)
    entry = _CONVERTED.get(key)
    if entry is None or entry[0]() is not laplacian:
        try:
            ref = weakref.ref(laplacian)
        except TypeError:  # not weak-referenceable: convert every time
            return laplacian_to_torch(laplacian, device=device, dtype=dtype)
        entry = (ref, {})
        _CONVERTED[key] = entry
        weakref.finalize(laplacian, _CONVERTED.pop, key, None)
    cache = entry[1]
    converted = cache.get((device, dtype))
    if converted is None:
        converted = laplacian_to_torch(laplacian, device=device, dtype=dtype)
        cache[(device, dtype)] = converted
    return converted


class _QuadraticForm(torch.autograd.Function):
    """Σ_columns Vᵀ L V for symmetric L; backward 2·L·V from the forward's product."""

    @staticmethod
    def forward(ctx, image: torch.Tensor, laplacian: torch.Tensor) -> torch.Tensor:
        npix = image.shape[-1] * image.shape[-2]
        v = image.detach().reshape(-1, npix).t().contiguous()  # (N, B·C)
        lv = torch.sparse.mm(laplacian, v) if laplacian.layout != torch.strided else laplacian @ v
        ctx.save_for_backward(lv)
        ctx.image_shape = image.shape
        return (v * lv).sum()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_output: torch.Tensor):
        (lv,) = ctx.saved_tensors
        grad = lv.t().reshape(ctx.image_shape) * (2 * grad_output)
        return grad, None


def _check_loss_image(image: Any, npix_laplacian: int) -> None:
    if not isinstance(image, torch.Tensor):
        raise TypeError(f"image must be a torch tensor (1, C, H, W) in [0, 1], got {type(image).__name__}.")
    if image.ndim not in (3, 4):
        raise ValueError(
            f"image must have shape (C, H, W) or (B, C, H, W), got {tuple(image.shape)}; add the missing axes."
        )
    if not image.is_floating_point():
        raise TypeError(f"image must be a float tensor in [0, 1], got dtype {image.dtype}; divide by 255.")
    npix = image.shape[-1] * image.shape[-2]
    if npix != npix_laplacian:
        h, w = image.shape[-2:]
        raise ValueError(
            f"image is {h}x{w} = {npix} pixels but the Laplacian is for {npix_laplacian} pixels; "
            "build the Laplacian from a content image of the same size (or resize the image)."
        )


def photorealism_loss(image: torch.Tensor, laplacian: LaplacianLike) -> torch.Tensor:
    """Luan et al.'s photorealism regulariser ``Σ_c V_cᵀ L V_c`` (Deep Photo Style Transfer, eq. 2).

    Parameters
    ----------
    image : torch.Tensor
        Shape (C, H, W) or (B, C, H, W), float32 or float64, values in [0, 1] (any device). V_c is
        channel c flattened row-major; with B > 1 the terms of all images are summed.
    laplacian : scipy.sparse matrix or torch sparse tensor
        Shape (N, N), N = H·W, symmetric (e.g. :func:`matting_laplacian` of the content). It is
        converted to the image's device and dtype when they differ; the conversion is cached per
        Laplacian object, so do not modify a Laplacian in place after using it here.

    Returns
    -------
    torch.Tensor
        Scalar (0-dim) of the image's dtype and device, >= 0 for a PSD Laplacian. Its gradient is
        ``2·L·V`` (one sparse product, computed in the forward pass and reused).
    """
    shape = getattr(laplacian, "shape", None)
    if shape is None or len(shape) != 2:
        raise TypeError(
            f"laplacian must be a sparse (N, N) matrix, got {type(laplacian).__name__}; "
            "build one with matting_laplacian(content)."
        )
    _check_loss_image(image, int(shape[0]))
    op = _laplacian_for(laplacian, image.device, image.dtype)
    return _QuadraticForm.apply(image, op)


def _matting_energy(image: Any, laplacian: LaplacianLike) -> float:
    """Photorealism metric: :func:`photorealism_loss` divided by the number of pixels H·W.

    Parameters
    ----------
    image : torch.Tensor or numpy.ndarray
        Tensor (C, H, W) / (1, C, H, W) in [0, 1], or numpy (H, W, 3) (uint8 or float in [0, 1]).
    laplacian : scipy.sparse matrix or torch sparse tensor
        Shape (H·W, H·W), e.g. the matting Laplacian of the content image.

    Returns
    -------
    float
        ``Σ_c V_cᵀ L V_c / (H·W)``; 0 for an image that is locally an affine function of the content.
    """
    if isinstance(image, np.ndarray):
        image = torch.from_numpy(_image_to_chw(image))
    with torch.no_grad():
        value = photorealism_loss(image, laplacian)
    return float(value) / (image.shape[-1] * image.shape[-2])


class PhotorealismLoss(torch.nn.Module):
    """The photorealism loss against a fixed content image, as a module.

    The Laplacian of ``content`` is built once at construction and kept as non-persistent buffers
    (CSR components), so it moves with ``.to(device)``; the sparse operator is rebuilt lazily per
    (device, dtype) of the images it is called with.

    Parameters
    ----------
    content : numpy.ndarray or torch.Tensor
        The content image, in any form :func:`matting_laplacian` accepts (e.g. (1, 3, H, W) in [0, 1]).
    eps, radius : keyword-only
        As in :func:`matting_laplacian`.

    Examples
    --------
    >>> loss_fn = PhotorealismLoss(content)          # content (1, 3, H, W) in [0, 1]
    >>> loss = loss_fn(output)                       # output (1, 3, H, W); scalar tensor
    """

    def __init__(self, content: Any, *, eps: float = 1e-7, radius: int = 1):
        super().__init__()
        with torch.no_grad():
            csr = matting_laplacian(content, eps=eps, radius=radius)
        self.eps = float(eps)
        self.radius = int(radius)
        self.num_pixels = csr.shape[0]
        self.register_buffer("crow_indices", torch.from_numpy(csr.indptr.astype(np.int64)), persistent=False)
        self.register_buffer("col_indices", torch.from_numpy(csr.indices.astype(np.int64)), persistent=False)
        self.register_buffer("values", torch.from_numpy(csr.data), persistent=False)
        self._operators: dict[tuple[torch.device, torch.dtype], torch.Tensor] = {}

    def _apply(self, fn, recurse=True):  # .to(), .cuda(), .double(): drop operators built from old buffers
        self._operators = {}
        return super()._apply(fn, recurse)

    def laplacian(self, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> torch.Tensor:
        """The Laplacian as a sparse CSR tensor (N, N) on ``device`` with ``dtype`` (default: the buffers')."""
        device = torch.device(device) if device is not None else self.values.device
        dtype = dtype if dtype is not None else self.values.dtype
        key = (device, dtype)
        op = self._operators.get(key)
        if op is None:
            op = _csr_tensor(
                self.crow_indices.to(device),
                self.col_indices.to(device),
                self.values.to(device=device, dtype=dtype),
                (self.num_pixels, self.num_pixels),
            )
            self._operators[key] = op
        return op

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Loss of ``image`` (C, H, W) / (B, C, H, W) in [0, 1]; scalar of the image's dtype and device."""
        _check_loss_image(image, self.num_pixels)
        return _QuadraticForm.apply(image, self.laplacian(device=image.device, dtype=image.dtype))

    def extra_repr(self) -> str:
        return f"num_pixels={self.num_pixels}, nnz={self.values.numel()}, eps={self.eps}, radius={self.radius}"
