"""Automatic, corresponding segmentation of a content and a style image, without downloaded weights.

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
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np

from ._checks import check_int, check_number, got
from .labels import resize_labels
from .automasks import AutoMasks
from .palette import as_rgb_uint8

__all__ = ["AutoMasks", "auto_segment"]


def _as_float_rgb(image: Any, name: str) -> np.ndarray:
    if hasattr(image, "detach") and hasattr(image, "cpu"):  # torch (3, H, W) or (1, 3, H, W)
        arr = image.detach().cpu().float().numpy()
        if arr.ndim == 4 and arr.shape[0] == 1:
            arr = arr[0]
        if arr.ndim != 3 or arr.shape[0] != 3:
            raise ValueError(f"{name}: expected a tensor of shape (3, H, W) or (1, 3, H, W), got {got(image)}; "
                             "pass an RGB image.")
        image = np.moveaxis(arr, 0, -1)
    return as_rgb_uint8(image, name).astype(np.float64) / 255.0


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


# -- public ----------------------------------------------------------------------------------------

#: Why a semantic-only option needs the network: (where the network is not available, in the clustering).
_NAMES_CLASSES = ("it names classes", "the clustering has no class names")
_SEMANTIC_ONLY_WHY = {"stretch": ("it prepares the network's input", "the clustering runs no network")}


def auto_segment(
    content: Any,
    style: Any,
    *,
    k: int | None = None,
    method: Literal["auto", "semantic", "cluster"] = "auto",
    merge: Mapping[str, str] | None = None,
    drop: Sequence[str] | None = None,
    model: Any = None,
    encoder: Callable | None = None,
    n_segments: int | None = None,
    compactness: float | None = None,
    work_size: int | None = None,
    k_max: int | None = None,
    min_region: float = 0.01,
    position_weight: float | None = None,
    refine: bool = True,
    min_matched: float | None = None,
    stretch: bool | str = "hazy",
    style_only_join: float | None = None,
) -> AutoMasks:
    """Segment a content and a style photo into corresponding regions (the same id, the same kind).

    Two methods:

    - ``"semantic"``: a segmentation network (DeepLabV3 + MobileNetV2, ADE20K's 150 classes; see
      :mod:`segmentation.semantic`) labels both photos; classes are matched by name, a class present in
      one photo only is matched to all the classes of its family in the other (sky, vegetation, water,
      landform, ground, structure, person, vehicle, animal, furniture, object) unless the style's side
      covers less than a quarter of the content's, and otherwise left without a partner (the core then
      uses the whole style image for it); a class of the style only that covers at least a quarter of
      it (:data:`~segmentation.semantic.STYLE_ONLY_JOIN`) joins the style region it borders most, so that
      its look serves somewhere (a note says so). Classes covering less than ``min_region`` of a photo are
      merged into the next most probable class; edges follow the photo's own edges (a guided filter on
      the class probabilities). ``result.names`` says which id is which class. When too little of the
      photos is in matched classes (``min_matched``), the result is one region each, with a warning.
    - ``"cluster"``: the weight-free joint clustering of superpixels by colour, texture and position
      (SLIC + Ward, see the module docstring); no names.
    - ``"auto"`` (default): ``"semantic"`` when the model file is found without downloading (``model``,
      ``$PHOTOSTYLE_SEG_MODEL`` or the torch hub cache) and the ``tflite`` package imports, and no
      clustering-only option (``encoder``, ``n_segments``, ``compactness``, ``k_max``,
      ``position_weight``) is given; otherwise ``"cluster"``, with a warning that says how to get the
      model when it was missing.

    Parameters
    ----------
    content, style : photo
        (H, W, 3) arrays, uint8 or float in [0, 1] (grey (H, W) and RGBA (H, W, 4) are accepted too),
        PIL images, or tensors (C, H, W) / (1, C, H, W) in [0, 1]. Sizes and aspect ratios may differ.
    k : int, optional
        Number of regions. Semantic: at most ``k`` (the smallest classes join their neighbours);
        default every class covering at least ``min_region``. Cluster: exactly ``k``; default chosen
        among 2..``k_max`` by the largest jump in Ward merge cost.
    method : {"auto", "semantic", "cluster"}, default "auto"
    merge : dict of str to str, optional
        Semantic only: classes to relabel before matching, e.g. ``{"tree": "grass"}`` (tree pixels
        become grass in both photos). Names from :data:`segmentation.semantic.ADE20K_CLASSES`.
    drop : sequence of str, optional
        Semantic only: classes to remove; their pixels go to the next most probable class.
    model : path or SemanticSegmenter, optional
        The ``.tflite`` file or a loaded network (:func:`segmentation.semantic.load_segmentation_model`).
        Default: ``$PHOTOSTYLE_SEG_MODEL``, else the cache; ``method="semantic"`` downloads it there if
        it is missing, ``"auto"`` never downloads.
    encoder : callable, optional
        Cluster only: called with a (1, 3, h, w) float tensor in [0, 1], returns a dict of
        (1, C, h', w') feature maps (e.g. photostyle's VGG-19 encoder). Its features, averaged per
        superpixel and reduced by a joint PCA to 4 dimensions, join the colour descriptors.
    n_segments : int, default 300
        Cluster only: approximate number of SLIC superpixels per image.
    compactness : float, default 10
        Cluster only: SLIC compactness (higher: more regular superpixels, less edge-following).
    work_size : int, optional
        Long side (pixels) at which the labels are computed (cluster: default 320; semantic: default
        768, the refinement's resolution); labels are returned at input size.
    k_max : int, default 4
        Cluster only: largest k tried when ``k`` is None.
    min_region : float, default 0.01
        Regions (semantic: classes) covering less than this share of a photo are merged into their
        neighbours.
    position_weight : float, default 1
        Cluster only: weight of the position relative to colour (1: the vertical position spans 2.5
        colour standard deviations, the horizontal one 0.6).
    refine : bool, default True
        Semantic only: refine the class edges with a guided filter guided by the photo.
    min_matched : float, default 0.67
        Semantic only: the trust threshold. When less than this share of the photos (the mean of the
        two photos' shares) is in classes matched across them, the network's classes do not pair the
        photos up (close-ups, which ADE20K does not label, come out as "wall", "water", "ball"), and
        the result is one region on each photo (the whole style image for the whole photo, as without
        masks), with a warning and a note in ``notes``. 0 keeps the classes always.
    stretch : True, False or "hazy", default "hazy"
        Semantic: let the network see the photos with their contrast stretched
        (:func:`segmentation.segmenter.stretch_contrast`): "hazy" only the photos whose darkest 1 % is
        brighter than :data:`~segmentation.segmenter.HAZE_BLACK_POINT` (haze, fog), which the network
        labels better so (pair 44's hazy city: IoU against the hand masks 0.20 → 0.52, its transfer's
        style distance ×1.64 → ×1.26 the hand-mask one's); True every photo, which on the 12 DPST
        pairs gave transfers further from the hand-mask ones (pair 2, a sunset: ×8.9 → ×21.7);
        False none. ``True`` with the clustering is an error (it runs no network); "hazy" is ignored.
    style_only_join : float, default 0.25
        Semantic only: a class of the style only that covers at least this share of the style joins the
        style region it borders most (:data:`~segmentation.semantic.STYLE_ONLY_JOIN`); 1 never joins
        (the class then stays a region of the style alone, whose look serves no content).

    Returns
    -------
    AutoMasks
        Label maps at the input sizes, matched ids, and (semantic) the class names of the ids.

    Raises
    ------
    ValueError
        A bad argument; ``merge`` / ``drop`` naming an unknown class or one in neither photo; a photo
        smaller than the network's stride (8 px a side); a corrupt model file (its sha256 named).
    FileNotFoundError
        ``model`` or ``$PHOTOSTYLE_SEG_MODEL`` names a missing file.
    ImportError
        ``method="semantic"`` without the ``tflite`` package (``pip install photostyle[semantic]``).
    """
    from .segmenter import check_stretch, photo_rgb

    if method not in ("auto", "semantic", "cluster"):
        raise ValueError(f"method: expected 'auto', 'semantic' or 'cluster', got {got(method)}.")
    c_rgb = photo_rgb(content, "content")
    s_rgb = photo_rgb(style, "style")
    if k is not None:
        k = check_int("k", k, minimum=1)
    min_region = check_number("min_region", min_region, minimum=0.0, maximum=0.5)
    if work_size is not None:
        work_size = check_int("work_size", work_size, minimum=8)
    cluster_opts = {name: value for name, value in (
        ("encoder", encoder), ("n_segments", n_segments), ("compactness", compactness), ("k_max", k_max),
        ("position_weight", position_weight)) if value is not None}
    if min_matched is not None:
        min_matched = check_number("min_matched", min_matched, minimum=0.0, maximum=1.0)
    semantic_opts = [name for name, value in (("merge", merge), ("drop", drop)) if value]
    semantic_opts += ["min_matched"] if min_matched is not None else []
    if style_only_join is not None:
        style_only_join = check_number("style_only_join", style_only_join, minimum=0.0, maximum=1.0)
        semantic_opts.append("style_only_join")
    check_stretch(stretch)
    semantic_opts += ["stretch"] if stretch is True else []

    if method == "auto":
        if cluster_opts:
            method = "cluster"
        else:
            method, why = _semantic_available(model)
            if method == "cluster":
                if semantic_opts:
                    raise ValueError(f"{semantic_opts[0]}: expected the semantic method "
                                     f"({_SEMANTIC_ONLY_WHY.get(semantic_opts[0], _NAMES_CLASSES)[0]}), got "
                                     f"method='auto' where it is not available: {why}")
                warnings.warn(f"auto_segment: {why} The weight-free clustering (colour and position, no class "
                              "names) is used instead; pass method='cluster' to silence this.",
                              UserWarning, stacklevel=2)
    if method == "semantic":
        if cluster_opts:
            raise ValueError(f"{next(iter(cluster_opts))}: expected method='cluster' (it applies to the clustering "
                             "only), got method='semantic'; drop it, or pass method='cluster'.")
        from .semantic import segment_pair

        return segment_pair(c_rgb, s_rgb, k=k, merge=merge, drop=drop, model=model, min_region=min_region,
                            work_size=768 if work_size is None else work_size, refine=bool(refine), stretch=stretch,
                            **({} if min_matched is None else {"min_matched": min_matched}),
                            **({} if style_only_join is None else {"style_only_join": style_only_join}))
    if semantic_opts:
        raise ValueError(f"{semantic_opts[0]}: expected the semantic method "
                         f"({_SEMANTIC_ONLY_WHY.get(semantic_opts[0], _NAMES_CLASSES)[1]}), "
                         "got the clustering; pass method='semantic'.")
    return _cluster_segment(
        c_rgb, s_rgb, k=k, encoder=encoder,
        n_segments=300 if n_segments is None else n_segments,
        compactness=10.0 if compactness is None else compactness,
        work_size=320 if work_size is None else work_size,
        k_max=4 if k_max is None else k_max,
        min_region=min_region,
        position_weight=1.0 if position_weight is None else position_weight,
    )


def _semantic_available(model: Any) -> tuple[str, str]:
    """("semantic", "") when the network can run without downloading, else ("cluster", why + how)."""
    from .model_file import MODEL_FILE_NAME, SEG_MODEL_ENV_VAR, _hub_path, find_segmentation_model
    from .segmenter import SemanticSegmenter

    if isinstance(model, SemanticSegmenter):
        return "semantic", ""
    try:
        import tflite  # noqa: F401
    except ImportError:
        return "cluster", ("the semantic segmentation needs the `tflite` package, which does not import here; "
                           "install it with `pip install photostyle[semantic]`.")
    if find_segmentation_model(model) is None:  # raises for a model / env var naming a missing file
        return "cluster", (f"the semantic segmentation model {MODEL_FILE_NAME} was not found (${SEG_MODEL_ENV_VAR} "
                           f"is unset and the cache '{_hub_path()}' has no copy). Fetch it once with "
                           "segmentation.download_segmentation_model() (or call auto_segment(..., "
                           "method='semantic'), which downloads it), or set "
                           f"${SEG_MODEL_ENV_VAR}=/path/to/{MODEL_FILE_NAME}.")
    return "semantic", ""


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
