"""Edge refinement of semantic probabilities: a colour guided filter with the photo as guide, small
fragments absorbed by their neighbours, and pieces of structure floating in the sky taken as sky."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["guided_filter_probabilities", "REFINE_RADIUS", "REFINE_EPS", "FRAGMENT_SHARE", "FLOATING_ENCLOSED"]

#: Guided-filter refinement: radius at the network's scale (513 px long side), scaled with the photo;
#: regularisation. Connected fragments smaller than FRAGMENT_SHARE of a photo join their neighbour.
REFINE_RADIUS = 6
REFINE_EPS = 1e-3
FRAGMENT_SHARE = 0.002


def _box(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over the (2r+1)^2 window clipped at the borders, for (..., H, W) tensors (cumulative sums)."""
    def along(a: torch.Tensor, dim: int) -> torch.Tensor:
        n = a.shape[dim]
        c = torch.cumsum(a, dim=dim)
        zeros = torch.zeros_like(c.narrow(dim, 0, 1))
        last = c.narrow(dim, n - 1, 1)
        c = torch.cat([zeros.expand_as(c.narrow(dim, 0, 1)).repeat_interleave(r + 1, dim=dim), c,
                       last.repeat_interleave(r, dim=dim)], dim=dim)
        idx = torch.arange(n, device=a.device)
        count = ((idx + r + 1).clamp(max=n) - (idx - r).clamp(min=0)).to(a.dtype)
        shape = [1] * a.ndim
        shape[dim] = n
        return (c.narrow(dim, 2 * r + 1, n) - c.narrow(dim, 0, n)) / count.view(shape)
    return along(along(x, x.ndim - 2), x.ndim - 1)


def guided_filter_probabilities(guide: Any, probs: Any, *, radius: int, eps: float) -> Any:
    """Colour guided filter (He et al. 2010) of every channel of ``probs`` with ``guide`` as guide.

    Parameters
    ----------
    guide : tensor of shape (3, H, W), float in [0, 1]
    probs : tensor of shape (K, H, W), float
    radius : int
        Window radius (pixels).
    eps : float
        Regularisation (larger: smoother, less edge-following).

    Returns
    -------
    tensor of shape (K, H, W)
        The filtered channels, in ``probs``' dtype and device (not renormalised; take the argmax).
    """
    dtype = probs.dtype
    work = torch.float64 if dtype == torch.float64 else torch.float32
    I = guide.to(device=probs.device, dtype=work)
    I = I - I.mean(dim=(1, 2), keepdim=True)  # centred: less cancellation in the local covariances
    p = probs.to(work)
    mean_i = _box(I, radius)  # (3, H, W)
    mean_p = _box(p, radius)  # (K, H, W)
    cov_ii = _box(I[:, None] * I[None, :], radius) - mean_i[:, None] * mean_i[None, :]  # (3, 3, H, W)
    cov_ip = _box(I[:, None] * p[None, :], radius) - mean_i[:, None] * mean_p[None, :]  # (3, K, H, W)
    sigma = cov_ii.permute(2, 3, 0, 1) + eps * torch.eye(3, dtype=I.dtype, device=I.device)
    a = torch.linalg.solve(sigma, cov_ip.permute(2, 3, 0, 1))  # (H, W, 3, K)
    a = a.permute(2, 3, 0, 1)  # (3, K, H, W)
    b = mean_p - (a * mean_i[:, None]).sum(0)
    out = (_box(a, radius) * I[:, None]).sum(0) + _box(b, radius)
    return out.to(dtype)


def _piece_and_ring(
    comp: np.ndarray, c: int, box: tuple[slice, slice]
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray]:
    """Component ``c`` of the labelled ``comp`` (bounding ``box`` from ``ndimage.find_objects``): a window
    one pixel wider than its box (clipped to the frame), and its pixels and 4-neighbour ring in it."""
    from scipy import ndimage

    window = (slice(max(box[0].start - 1, 0), min(box[0].stop + 1, comp.shape[0])),
              slice(max(box[1].start - 1, 0), min(box[1].stop + 1, comp.shape[1])))
    piece = comp[window] == c
    return window, piece, ndimage.binary_dilation(piece) & ~piece


def _absorb_fragments(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Connected fragments smaller than ``min_pixels`` take the label sharing most of their border."""
    from scipy import ndimage

    labels = labels.copy()
    for lab_id in np.unique(labels):
        comp, n = ndimage.label(labels == lab_id)
        if n <= 1:
            continue
        sizes = np.bincount(comp.reshape(-1))
        small = np.nonzero(sizes < min_pixels)[0]
        small = small[small > 0]
        if small.size == 0:
            continue
        boxes = ndimage.find_objects(comp)
        for c in small:
            window, region, ring = _piece_and_ring(comp, c, boxes[c - 1])
            neighbours = labels[window][ring]
            neighbours = neighbours[neighbours != lab_id]
            if neighbours.size:
                labels[window][region] = np.bincount(neighbours).argmax()
    return labels


#: A connected piece of a structure (building, wall, tower, ...) whose border within the frame lies in
#: the sky for at least this share, and which does not reach the photo's bottom edge, floats: the
#: network took a cloud for a building. It becomes sky (see :func:`_ground_floating`).
FLOATING_ENCLOSED = 0.9


def _ground_floating(labels: np.ndarray, sky: int, structures: set[int]) -> tuple[np.ndarray, float]:
    """Relabel as ``sky`` the pieces of the ``structures`` labels that float in it: enclosed by the sky
    (``FLOATING_ENCLOSED`` of their border within the frame) and clear of the bottom edge. Returns the
    labels and the share of the photo relabelled."""
    from scipy import ndimage

    labels = labels.copy()
    moved = 0
    for lab_id in sorted(structures & set(np.unique(labels).tolist())):
        comp, _ = ndimage.label(labels == lab_id)
        for c, box in enumerate(ndimage.find_objects(comp), start=1):
            if box[0].stop == labels.shape[0]:
                continue  # reaches the bottom edge: it stands on something
            window, piece, ring = _piece_and_ring(comp, c, box)
            around = labels[window][ring]
            if around.size and np.mean(around == sky) >= FLOATING_ENCLOSED:
                labels[window][piece] = sky
                moved += int(piece.sum())
    return labels, moved / labels.size
