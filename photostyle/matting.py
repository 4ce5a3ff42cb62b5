"""The photorealism loss on the matting Laplacian, and the Laplacian as a torch sparse operator.

Luan et al. ("Deep Photo Style Transfer", CVPR 2017) use ``Σ_c V_cᵀ L V_c`` of the output's channels,
with ``L`` the matting Laplacian of the content photo (Levin, Lischinski & Weiss 2008; built by
:func:`matting_laplacian`, see :mod:`photostyle.laplacian`), as their photorealism regulariser. This
module converts ``L`` to a torch sparse CSR tensor (cached per Laplacian, device and dtype) and
evaluates the quadratic form with a gradient of one sparse product.
"""

from __future__ import annotations

import warnings
import weakref
from typing import Any, Union

import numpy as np
import scipy.sparse
import torch

from ._checks import got
from .laplacian import _image_to_chw, matting_laplacian

__all__ = [
    "matting_laplacian",
    "laplacian_to_torch",
    "photorealism_loss",
    "PhotorealismLoss",
]

LaplacianLike = Union[scipy.sparse.spmatrix, "scipy.sparse.sparray", torch.Tensor]


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
        raise TypeError(f"dtype: expected a floating torch.dtype, got {got(dtype)}; pass e.g. dtype=torch.float32.")
    if scipy.sparse.issparse(laplacian):
        if laplacian.ndim != 2 or laplacian.shape[0] != laplacian.shape[1]:
            raise ValueError(f"laplacian: expected a square (N, N) matrix, got shape {laplacian.shape}; "
                             "build one with matting_laplacian(content).")
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
            raise ValueError(f"laplacian: expected a square (N, N) matrix, got shape {tuple(laplacian.shape)}; "
                             "build one with matting_laplacian(content).")
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
        f"laplacian: expected a scipy.sparse matrix or a torch sparse tensor, got {type(laplacian).__name__}; "
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
        raise TypeError(f"image: expected a torch tensor (1, C, H, W) in [0, 1], got {type(image).__name__}.")
    if image.ndim not in (3, 4):
        raise ValueError(
            f"image: expected shape (C, H, W) or (B, C, H, W), got {tuple(image.shape)}; add the missing axes."
        )
    if not image.is_floating_point():
        raise TypeError(f"image: expected a float tensor in [0, 1], got dtype {image.dtype}; divide by 255.")
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
            f"laplacian: expected a sparse (N, N) matrix, got {type(laplacian).__name__}; "
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
