"""What :func:`segmentation.auto_segment` returns (both methods)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["AutoMasks"]


@dataclass(frozen=True)
class AutoMasks:
    """Result of :func:`auto_segment`.

    Attributes
    ----------
    content_labels, style_labels : ndarray of shape (H, W) and (H', W'), int64
        Label maps at the input sizes; ids 0..k-1, the same id meaning the same kind of region.
        Ids are ordered by the mean height of the region in the content (0 is the highest).
    k : int
        Number of clusters.
    matched : tuple of int
        Ids present in both label maps.
    content_only, style_only : tuple of int
        Ids present in one map only (the core falls back to the whole style image for content-only ids).
    scores : dict of int to float
        Merge-cost jump ratio of every k tried (empty when ``k`` was given); the largest wins.
    n_superpixels : tuple of int
        Superpixels of the content and of the style image ((0, 0) for the semantic method).
    names : dict of int to str
        Semantic method: the class name(s) of every id (``{0: "sky", 1: "building", 2: "tree+grass"}``;
        regions joined by family matching or ``merge`` carry the names of their content classes joined
        by "+"). Empty for the clustering.
    method : {"cluster", "semantic"}
        The method that made the masks.
    notes : tuple of str
        Semantic method: how classes present in one photo only were matched (by family, or to the whole
        style image), and why the masks fell back to one region, where they did.
    matched_share : float or None
        Semantic method: the mean over the two photos of the share in classes matched across them (see
        ``min_matched`` of :func:`auto_segment`); None for the clustering.
    """

    content_labels: np.ndarray
    style_labels: np.ndarray
    k: int
    matched: tuple[int, ...]
    content_only: tuple[int, ...]
    style_only: tuple[int, ...]
    scores: dict[int, float] = field(default_factory=dict)
    n_superpixels: tuple[int, int] = (0, 0)
    names: dict[int, str] = field(default_factory=dict)
    method: str = "cluster"
    notes: tuple[str, ...] = ()
    matched_share: float | None = None


# -- image preparation -----------------------------------------------------------------------------
