"""Matching the labels of a content mask to those of a style mask, and comparing label maps.

The masked style loss pairs every content region with a style region. By default a content label
matches the style label with the same id (both masks painted with one palette); a user mapping can
pair different ids. Labels found on one side only are reported: the core then falls back to the
whole style image for such a content label.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._checks import got
from .labels import check_label_map, resize_labels

__all__ = ["LabelMatch", "match_labels", "fit_labels", "label_iou", "LabelIoU", "routing_agreement"]


@dataclass(frozen=True)
class LabelMatch:
    """Result of :func:`match_labels`.

    Attributes
    ----------
    pairs : tuple of (int, int)
        ``(content_id, style_id)`` for every matched content label, sorted by content id.
    content_only : tuple of int
        Content ids with no style partner (the core uses the whole style image for them).
    style_only : tuple of int
        Style ids no content label uses.
    """

    pairs: tuple[tuple[int, int], ...]
    content_only: tuple[int, ...]
    style_only: tuple[int, ...]

    def as_dict(self) -> dict[int, int]:
        """``{content_id: style_id}``."""
        return dict(self.pairs)

    def masks(self, content_labels: Any, style_labels: Any) -> tuple[np.ndarray, np.ndarray]:
        """Binary masks of the matched pairs, ``(P, H, W)`` for the content and ``(P, H', W')`` for the style.

        Row ``p`` of both is pair ``pairs[p]``; float32 in {0, 1}.
        """
        c = check_label_map(content_labels, "content_labels")
        s = check_label_map(style_labels, "style_labels")
        cid = np.array([p[0] for p in self.pairs], dtype=np.int64)
        sid = np.array([p[1] for p in self.pairs], dtype=np.int64)
        return ((c[None] == cid[:, None, None]).astype(np.float32),
                (s[None] == sid[:, None, None]).astype(np.float32))


def match_labels(
    content_labels: Any,
    style_labels: Any,
    *,
    mapping: Mapping[int, int] | None = None,
    warn: bool = True,
) -> LabelMatch:
    """Pair content labels with style labels.

    Parameters
    ----------
    content_labels, style_labels : ndarray of shape (H, W) and (H', W'), integer
        Label maps of the content and the style image (sizes may differ).
    mapping : dict of int to int, optional
        ``{content_id: style_id}`` for labels whose ids differ between the masks. Content ids not in
        the mapping match the style label with the same id, when there is one. Every key must occur
        in the content labels and every value in the style labels.
    warn : bool, default True
        Emit a ``UserWarning`` naming content labels without a style partner.

    Returns
    -------
    LabelMatch

    Raises
    ------
    ValueError
        If no content label matches any style label, or the mapping names ids that do not occur.
    """
    c = check_label_map(content_labels, "content_labels")
    s = check_label_map(style_labels, "style_labels")
    c_ids = [int(i) for i in np.unique(c)]
    s_ids = [int(i) for i in np.unique(s)]
    s_set = set(s_ids)
    table: dict[int, int] = {}
    if mapping is not None:
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping: expected a dict {{content_id: style_id}}, got {got(mapping)}; "
                            "pass e.g. mapping={0: 2}.")
        bad_keys = sorted(int(k) for k in mapping if int(k) not in set(c_ids))
        bad_vals = sorted({int(v) for v in mapping.values() if int(v) not in s_set})
        if bad_keys or bad_vals:
            raise ValueError(
                f"mapping: expected ids that occur in the masks, got content ids {bad_keys} (content has "
                f"{c_ids}) and style ids {bad_vals} (style has {s_ids}); fix the mapping or the masks."
            )
        table = {int(k): int(v) for k, v in mapping.items()}
    pairs = []
    content_only = []
    for i in c_ids:
        if i in table:
            pairs.append((i, table[i]))
        elif i in s_set:
            pairs.append((i, i))
        else:
            content_only.append(i)
    if not pairs:
        raise ValueError(
            f"content_labels and style_labels: expected at least one shared id, got content ids {c_ids} and "
            f"style ids {s_ids}; pass mapping={{content_id: style_id}}, paint both masks with one palette, or use "
            "segmentation.auto_segment to make corresponding masks."
        )
    used = {p[1] for p in pairs}
    style_only = [i for i in s_ids if i not in used]
    if warn and content_only:
        warnings.warn(
            f"content labels {content_only} have no style label to match (style has {s_ids}); the whole "
            "style image is used for them. Pass mapping={content_id: style_id} to pair them.",
            UserWarning,
            stacklevel=2,
        )
    return LabelMatch(tuple(pairs), tuple(content_only), tuple(style_only))


def fit_labels(labels: Any, shape: tuple[int, int], *, strict: bool = False, name: str = "mask") -> np.ndarray:
    """Make a label map the size of its image: unchanged when it fits, else nearest-resized with a warning.

    Parameters
    ----------
    labels : ndarray of shape (H, W), integer
    shape : (int, int)
        The image's (height, width).
    strict : bool, default False
        Refuse a size mismatch with ``ValueError`` instead of resizing.
    name : str
        The argument's name, for messages.
    """
    labels = check_label_map(labels, name)
    shape = (int(shape[0]), int(shape[1]))
    if labels.shape == shape:
        return labels
    if strict:
        raise ValueError(f"{name}: expected its image's size {shape} (H, W), got {labels.shape}; resize the mask "
                         "to the image (segmentation.resize_labels) or pass strict=False to resize it here.")
    ratio_h, ratio_w = shape[0] / labels.shape[0], shape[1] / labels.shape[1]
    aspect = "" if abs(ratio_h / ratio_w - 1) < 0.02 else " (aspect ratios differ: check it is the right mask)"
    out = resize_labels(labels, shape)
    lost = sorted(set(np.unique(labels).tolist()) - set(np.unique(out).tolist()))
    gone = f"; labels {lost} are too small to survive and vanished" if lost else ""
    warnings.warn(f"{name} has size {labels.shape} but its image has {shape}; resized with nearest "
                  f"neighbour{aspect}{gone}.", UserWarning, stacklevel=2)
    return out


@dataclass(frozen=True)
class LabelIoU:
    """Result of :func:`label_iou`.

    Attributes
    ----------
    mean_iou : float
        Mean over the reference labels of the IoU with their matched predicted label (0 when unmatched).
    per_label : dict of int to float
        IoU of every reference label.
    mapping : dict of int to int
        ``{predicted_id: reference_id}`` of the optimal one-to-one matching.
    """

    mean_iou: float
    per_label: dict[int, float]
    mapping: dict[int, int]


def _iou_matrix(pred: np.ndarray, ref: np.ndarray, valid: np.ndarray, p_ids, r_ids) -> np.ndarray:
    p_idx = np.searchsorted(p_ids, pred[valid])
    r_idx = np.searchsorted(r_ids, ref[valid])
    inter = np.zeros((len(p_ids), len(r_ids)))
    np.add.at(inter, (p_idx, r_idx), 1)
    union = inter.sum(1)[:, None] + inter.sum(0)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0.0)


def label_iou(
    pred: Any,
    reference: Any,
    *,
    min_share: float = 0.0,
    mapping: Mapping[int, int] | None = None,
) -> LabelIoU:
    """IoU of a predicted label map against a reference, after the best one-to-one label matching.

    The matching maximises the summed IoU (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment``).

    Parameters
    ----------
    pred, reference : ndarray of shape (H, W), integer
        Same size (resize first with :func:`resize_labels`).
    min_share : float, default 0
        Reference labels covering less than this share are ignored, pixels included (e.g. 0.01 drops
        anti-aliasing debris of painted masks).
    mapping : dict of int to int, optional
        Use this ``{predicted_id: reference_id}`` matching instead of the optimal one (e.g. to score a
        style mask with the matching found on its content).
    """
    from scipy.optimize import linear_sum_assignment

    p = check_label_map(pred, "pred")
    r = check_label_map(reference, "reference")
    if p.shape != r.shape:
        raise ValueError(f"pred and reference: expected the same size, got {p.shape} and {r.shape}; "
                         "resize one with resize_labels.")
    r_ids, counts = np.unique(r, return_counts=True)
    keep = r_ids[counts / r.size >= min_share]
    valid = np.isin(r, keep)
    p_ids = np.unique(p[valid]) if valid.any() else np.unique(p)
    iou = _iou_matrix(p, r, valid, p_ids, keep)
    if mapping is None:
        rows, cols = linear_sum_assignment(-iou)
        table = {int(p_ids[a]): int(keep[b]) for a, b in zip(rows, cols) if iou[a, b] > 0}
    else:
        table = {int(a): int(b) for a, b in mapping.items()}
    per_label = {int(i): 0.0 for i in keep}
    p_pos = {int(v): j for j, v in enumerate(p_ids)}
    r_pos = {int(v): j for j, v in enumerate(keep)}
    for a, b in table.items():
        if a in p_pos and b in r_pos:
            per_label[b] = max(per_label[b], float(iou[p_pos[a], r_pos[b]]))
    mean = float(np.mean(list(per_label.values()))) if per_label else 0.0
    return LabelIoU(mean, per_label, table)


def routing_agreement(content_labels: Any, style_labels: Any, content_reference: Any, style_reference: Any) -> float:
    """How well a pair of label maps routes the style to the content, scored against reference masks.

    The masked style loss gives every content pixel the statistics of the style pixels that share its
    label (the whole style image where the label is absent from the style). For every reference label
    ``h`` of the content, the pixels of ``h`` so receive a weighting of the style pixels: the mean over
    them of a uniform weight on their label's style region. The reference's own weighting is uniform
    on the style pixels of ``h`` (the whole style where ``h`` is absent there). The score is one minus
    the total variation distance between the two, averaged over the content's pixels: 1 for labels
    that route exactly like the reference (the reference itself, with any ids), lower the more of
    the style reaches the wrong place, 0 when none reaches the right one. The references' ids must
    correspond across the pair (one palette); the labels' ids likewise.

    Parameters
    ----------
    content_labels, style_labels : ndarray of shape (H, W) and (H', W'), integer
        The label maps to score (e.g. :func:`auto_segment`'s).
    content_reference, style_reference : ndarray of the same shapes, integer
        The reference (hand) masks.

    Returns
    -------
    float in [0, 1]
    """
    maps = [check_label_map(m, n) for m, n in ((content_labels, "content_labels"), (style_labels, "style_labels"),
                                                 (content_reference, "content_reference"),
                                                 (style_reference, "style_reference"))]
    for a, b, names in ((maps[0], maps[2], "content_labels and content_reference"),
                        (maps[1], maps[3], "style_labels and style_reference")):
        if a.shape != b.shape:
            raise ValueError(f"{names}: expected the same size, got {a.shape} and {b.shape}; "
                             "resize one with resize_labels.")
    ac, as_, hc, hs = (m.ravel() for m in maps)
    ac, as_ = _joint_ids(ac, as_)
    hc, hs = _joint_ids(hc, hs)
    n_a, n_h = int(max(ac.max(), as_.max())) + 1, int(max(hc.max(), hs.max())) + 1
    cells = np.zeros((n_a, n_h))  # style pixels by (label, reference label)
    np.add.at(cells, (as_, hs), 1)
    region = cells.sum(1)  # style pixels of each label
    absent = region == 0
    inflow = np.zeros((n_h, n_a))  # content pixels by (reference label, label)
    np.add.at(inflow, (hc, ac), 1)
    total = 0.0
    for h in np.flatnonzero(inflow.sum(1)):
        n = inflow[h].sum()
        frac = inflow[h] / n
        # the weight of one style pixel in cell (a, g): its label's share of h, frac[a], over the label's
        # region; labels absent from the style spread their share over the whole style image
        w = np.where(absent, 0.0, frac / np.maximum(region, 1))[:, None] + frac[absent].sum() / hs.size
        ref_n = cells[:, h].sum()
        target = np.zeros(n_h)
        if ref_n:
            target[h] = 1.0 / ref_n
        else:
            target[:] = 1.0 / hs.size
        total += 0.5 * float((np.abs(w - target[None, :]) * cells).sum()) * n
    return 1.0 - total / hc.size


def _joint_ids(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The ids of two flat label arrays renumbered 0..n-1 together (the same id, the same number)."""
    _, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    return inverse[:a.size], inverse[a.size:]
