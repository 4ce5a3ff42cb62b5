"""Automatic, corresponding segmentation of a content and a style image: :func:`auto_segment`.

Two methods: the semantic one (a segmentation network's classes matched by name, see
:mod:`segmentation.semantic`) and the weight-free joint clustering of superpixels
(:mod:`segmentation.cluster`); this module checks the options and chooses between them.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable, Literal, Mapping, Sequence

from ._checks import check_int, check_number, got
from .automasks import AutoMasks
from .cluster import _cluster_segment

__all__ = ["AutoMasks", "auto_segment"]


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
    content_only_join: float | None = None,
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
      its look serves somewhere (a note says so), and a class of the content only that covers less than
      a twentieth of it (:data:`~segmentation.semantic.CONTENT_ONLY_JOIN`; mostly the network's mistakes)
      joins the content region it borders most; a piece of a structure floating in the sky (a cloud
      taken for a building) becomes sky. Classes covering less than ``min_region`` of a photo are
      merged into the next most probable class; edges follow the photo's own edges (a guided filter on
      the class probabilities). ``result.names`` says which id is which class. When too little of the
      photos is in matched classes (``min_matched``), the result is one region each, with a warning.
    - ``"cluster"``: the weight-free joint clustering of superpixels by colour, texture and position
      (SLIC + Ward, see :mod:`segmentation.cluster`); no names.
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
    content_only_join : float, default 0.05
        Semantic only: a class of the content only that covers less than this share of the content joins
        the content region it borders most (:data:`~segmentation.semantic.CONTENT_ONLY_JOIN`) instead of
        taking the whole style image; 0 never joins.

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
    if content_only_join is not None:
        content_only_join = check_number("content_only_join", content_only_join, minimum=0.0, maximum=1.0)
        semantic_opts.append("content_only_join")
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
        from .semantic import CONTENT_ONLY_JOIN, MIN_MATCHED, STYLE_ONLY_JOIN, segment_pair

        return segment_pair(c_rgb, s_rgb, k=k, merge=merge, drop=drop, model=model, min_region=min_region,
                            work_size=768 if work_size is None else work_size, refine=bool(refine), stretch=stretch,
                            min_matched=MIN_MATCHED if min_matched is None else min_matched,
                            style_only_join=STYLE_ONLY_JOIN if style_only_join is None else style_only_join,
                            content_only_join=CONTENT_ONLY_JOIN if content_only_join is None else content_only_join)
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
