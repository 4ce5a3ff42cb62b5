"""The weight-free method of :func:`segmentation.auto_segment` (``method="cluster"``): a joint
clustering of both photos' superpixels by colour, texture and position, no downloaded weights.

Method
------
1. Both images are brought to a working size (long side ``work_size``) and cut into SLIC superpixels.
2. Every superpixel is described by its mean CIE-Lab colour, its texture (mean gradient magnitude of
   L), its centroid (y weighted more than x: skies are on top in both photos), and, when an
   ``encoder`` is given, its mean deep features (reduced by a joint PCA).
   Colour and texture are standardised *per image*, so that "the brightest, bluest, smoothest part"
   of a night photo lines up with that of a daytime one: a style image differs from the content in
   look by design, and absolute colours would separate the two images instead of their regions.
3. The superpixels of both images are clustered together (Ward's agglomerative clustering), so
   cluster ``i`` is the same kind of region in both: the label ids correspond by construction.
   ``k`` is given, or chosen among 2..``k_max`` where the dendrogram's merge cost jumps most (the
   largest ratio between merging k clusters into k-1 and k+1 into k).
4. Regions smaller than ``min_region`` of an image are merged into their largest neighbour, and the
   labels are brought back to the full size (nearest neighbour).
"""

from __future__ import annotations

import math
import warnings
from typing import Callable

import numpy as np

from ._checks import check_int, check_number, got
from .automasks import AutoMasks
from .labels import resize_labels


def _resize_rgb(rgb: np.ndarray, long_side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = long_side / max(h, w)
    if scale >= 1:
        return rgb
    from skimage.transform import resize

    shape = (max(1, round(h * scale)), max(1, round(w * scale)))
    return resize(rgb, shape, order=1, anti_aliasing=True, mode="reflect")


# -- superpixels and their descriptors -------------------------------------------------------------

def _superpixels(rgb: np.ndarray, n_segments: int, compactness: float) -> np.ndarray:
    from skimage.segmentation import slic

    seg = slic(rgb, n_segments=n_segments, compactness=compactness, start_label=0,
               convert2lab=True, enforce_connectivity=True, sigma=0.5)
    _, seg = np.unique(seg, return_inverse=True)
    return seg.reshape(rgb.shape[:2]).astype(np.int64)


def _region_means(values: np.ndarray, seg: np.ndarray, n: int) -> np.ndarray:
    """Mean of every channel of ``values`` (H, W, C) over each of the ``n`` superpixels."""
    flat = seg.reshape(-1)
    count = np.bincount(flat, minlength=n).astype(np.float64)
    out = np.stack([np.bincount(flat, weights=values[..., c].reshape(-1), minlength=n)
                    for c in range(values.shape[-1])], axis=1)
    return out / np.maximum(count, 1)[:, None]


def _describe(rgb: np.ndarray, seg: np.ndarray) -> dict[str, np.ndarray]:
    from scipy import ndimage
    from skimage.color import rgb2lab

    n = int(seg.max()) + 1
    h, w = seg.shape
    lab = rgb2lab(rgb)
    light = lab[..., 0]
    grad = np.hypot(ndimage.sobel(light, axis=0), ndimage.sobel(light, axis=1))
    yy, xx = np.mgrid[0:h, 0:w]
    stack = np.dstack([lab, np.log1p(grad), yy / max(h - 1, 1), xx / max(w - 1, 1)])
    means = _region_means(stack, seg, n)
    area = np.bincount(seg.reshape(-1), minlength=n).astype(np.float64)
    return {"lab": means[:, :3], "texture": means[:, 3:4], "y": means[:, 4:5], "x": means[:, 5:6],
            "area": area / area.sum()}


def _standardise(x: np.ndarray, weight: np.ndarray, floor: np.ndarray | float) -> np.ndarray:
    """Weighted per-column standardisation with a floor on the scale (flat images are not inflated)."""
    mean = (x * weight[:, None]).sum(0) / weight.sum()
    std = np.sqrt(((x - mean) ** 2 * weight[:, None]).sum(0) / weight.sum())
    return (x - mean) / np.maximum(std, floor)


def _deep_features(encoder: Callable, rgb: np.ndarray, seg: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0))).float()[None]
    with torch.no_grad():
        feats = encoder(x)
    if not isinstance(feats, dict) or not feats:
        raise TypeError(f"encoder: expected a callable returning a non-empty dict of feature maps (1, C, h, w), "
                        f"got {got(feats)} from it; return e.g. {{'relu3_1': features}}.")
    n = int(seg.max()) + 1
    blocks = []
    for name, f in feats.items():
        if not isinstance(f, torch.Tensor) or f.ndim != 4:
            raise TypeError(f"encoder: expected output {name!r} to be a (1, C, h, w) tensor, got {got(f)}; "
                            "return 4-D feature maps.")
        up = F.interpolate(f.float(), size=seg.shape, mode="bilinear", align_corners=False)[0]
        blocks.append(_region_means(up.permute(1, 2, 0).cpu().numpy().astype(np.float64), seg, n))
    return np.concatenate(blocks, axis=1)


def _pca(x: np.ndarray, dims: int) -> np.ndarray:
    x = x - x.mean(0)
    x = x / np.maximum(x.std(0), 1e-8)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    d = min(dims, len(s))
    out = u[:, :d] * s[:d]
    return out / max(out[:, 0].std(), 1e-8)


# -- clustering ------------------------------------------------------------------------------------

def _ward(x: np.ndarray, k: int | None, k_max: int) -> tuple[np.ndarray, int, dict[int, float]]:
    """Ward clustering of the superpixels; k given, or where the dendrogram's merge cost jumps most.

    Returns the cluster of every row, k, and the jump ratio (merge cost from k to k-1 clusters over
    that from k+1 to k) of every k tried.
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    z = linkage(x, method="ward")
    heights = z[:, 2]
    scores: dict[int, float] = {}
    if k is None:
        for kk in range(2, min(k_max, len(x) - 1) + 1):
            scores[kk] = float(heights[-(kk - 1)] / max(heights[-kk], 1e-12))
        k = max(scores, key=scores.get) if scores else 1
    assign = fcluster(z, k, criterion="maxclust") - 1
    return assign.astype(np.int64), k, scores


# -- clean-up --------------------------------------------------------------------------------------

def _merge_small(labels: np.ndarray, min_pixels: int) -> np.ndarray:
    """Merge connected regions smaller than ``min_pixels`` into the neighbour sharing most border."""
    from scipy import ndimage

    labels = labels.copy()
    for _ in range(10):
        changed = False
        for lab_id in np.unique(labels):
            comp, n = ndimage.label(labels == lab_id)
            if n == 0:
                continue
            sizes = np.bincount(comp.reshape(-1))
            for c in np.nonzero(sizes < min_pixels)[0]:
                if c == 0:
                    continue
                region = comp == c
                ring = ndimage.binary_dilation(region) & ~region
                neighbours = labels[ring]
                neighbours = neighbours[neighbours != lab_id]
                if neighbours.size == 0:
                    continue
                labels[region] = np.bincount(neighbours).argmax()
                changed = True
        if not changed:
            break
    return labels


# -- the method ------------------------------------------------------------------------------------

def _cluster_segment(
    c_rgb: np.ndarray,
    s_rgb: np.ndarray,
    *,
    k: int | None,
    encoder: Callable | None,
    n_segments: int,
    compactness: float,
    work_size: int,
    k_max: int,
    min_region: float,
    position_weight: float,
) -> AutoMasks:
    """The weight-free joint clustering (method "cluster"); photos as (H, W, 3) float in [0, 1]."""
    n_segments = check_int("n_segments", n_segments, minimum=1)
    k_max = check_int("k_max", k_max, minimum=2)
    compactness = check_number("compactness", compactness, minimum=0.0)
    position_weight = check_number("position_weight", position_weight, minimum=0.0)
    if encoder is not None and not callable(encoder):
        raise TypeError(f"encoder: expected a callable (tensor -> dict of feature maps) or None, got {got(encoder)}; "
                        "pass e.g. photostyle's VGG19Encoder, or None for colour and position only.")

    works = [_resize_rgb(c_rgb, work_size), _resize_rgb(s_rgb, work_size)]
    segs = [_superpixels(im, n_segments, compactness) for im in works]
    n_sp = tuple(int(s.max()) + 1 for s in segs)
    if k is not None and k > min(n_sp):
        which = "content" if n_sp[0] <= n_sp[1] else "style"
        raise ValueError(f"k: expected at most {min(n_sp)} (the superpixels of the {which} image), got {k}; "
                         f"pass k <= {min(n_sp)} or raise n_segments (now {n_segments}).")

    desc = [_describe(im, sg) for im, sg in zip(works, segs)]
    blocks = []
    for d in desc:
        col = _standardise(d["lab"], d["area"], np.array([8.0, 4.0, 4.0]))
        tex = _standardise(d["texture"], d["area"], 0.1)
        blocks.append(np.hstack([col, 0.7 * tex,
                                 2.5 * position_weight * d["y"], 0.6 * position_weight * d["x"]]))
    x = np.vstack(blocks)
    if encoder is not None:
        deep = np.vstack([_deep_features(encoder, im, sg) for im, sg in zip(works, segs)])
        x = np.hstack([x, _pca(deep, 4)])

    assign, k, scores = _ward(x, k, k_max)

    maps = [assign[: n_sp[0]][segs[0]], assign[n_sp[0]:][segs[1]]]
    maps = [_merge_small(m, max(1, int(min_region * m.size))) for m in maps]

    # canonical ids: by mean height in the content (then in the style for style-only clusters)
    heights = []
    for j in range(k):
        ys = [np.nonzero(m == j)[0].mean() / m.shape[0] for m in maps if (m == j).any()]
        heights.append((0 if (maps[0] == j).any() else 1, ys[0] if ys else math.inf))
    order = sorted(range(k), key=lambda j: heights[j])
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    maps = [remap[m] for m in maps]
    present = [set(np.unique(m).tolist()) for m in maps]
    k_final = len(present[0] | present[1])
    if k_final < k:
        warnings.warn(f"auto_segment: {k - k_final} of the k={k} regions vanished when merging small regions; "
                      f"{k_final} remain.", UserWarning, stacklevel=3)
    full = [resize_labels(maps[0], c_rgb.shape[:2]), resize_labels(maps[1], s_rgb.shape[:2])]
    matched = tuple(sorted(present[0] & present[1]))
    return AutoMasks(
        content_labels=full[0],
        style_labels=full[1],
        k=k,
        matched=matched,
        content_only=tuple(sorted(present[0] - present[1])),
        style_only=tuple(sorted(present[1] - present[0])),
        scores=scores,
        n_superpixels=n_sp,
    )
