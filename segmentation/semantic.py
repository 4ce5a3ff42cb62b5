"""Semantic segmentation with DeepLabV3 + MobileNetV2 trained on ADE20K, run in PyTorch.

The network is read from its TensorFlow Lite file (``deeplabv3_mobilenetv2_ade20k.tflite``: TensorFlow
Hub ``sayakpaul/lite-model/deeplabv3-mobilenetv2-ade20k/1/default/1``, converted from the official
DeepLab model zoo, Apache-2.0) and rebuilt as an ``nn.Module`` (:class:`SemanticSegmenter`), so it
follows the input's device and dtype. Needs ``pip install photostyle[semantic]`` (the ``tflite``
flatbuffer parser; no TensorFlow runtime).

This module is the semantic method of :func:`segmentation.auto_segment` for a pair of photos
(:func:`segment_pair`) and the one place to import the parts from; they live in

- :mod:`segmentation.ade20k`: the class names, their families, matching classes across the photos,
  ``merge`` / ``drop``;
- :mod:`segmentation.model_file`: where the model file is found (``model``, ``$PHOTOSTYLE_SEG_MODEL``,
  the torch hub cache, else a download from :data:`MODEL_URL` with its sha256 checked);
- :mod:`segmentation.segmenter`: the network, its loading, and photos of any size through it (with
  the numerics compared to the reference runtime);
- :mod:`segmentation.refine`: edge refinement of the probabilities with the photo as guide.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .ade20k import (
    ADE20K_CLASSES,
    CLASS_FAMILIES,
    FAMILY_AREA_GATE,
    _match,
    _merge_map,
    _name_list,
    _names,
    class_family,
    class_id,
)
from .model_file import (
    MODEL_FILE_NAME,
    MODEL_SHA256,
    MODEL_URL,
    SEG_MODEL_ENV_VAR,
    check_model_file,
    download_segmentation_model,
    find_segmentation_model,
)
from .refine import (
    FLOATING_ENCLOSED,
    FRAGMENT_SHARE,
    REFINE_EPS,
    REFINE_RADIUS,
    _absorb_fragments,
    _ground_floating,
    guided_filter_probabilities,
)
from .segmenter import (
    HAZE_BLACK_POINT,
    INPUT_SIZE,
    MIN_SIDE,
    SemanticSegmenter,
    _run,
    _stretches,
    check_photo_size,
    load_segmentation_model,
    looks_hazy,
    photo_rgb,
    semantic_probabilities,
    stretch_contrast,
)

__all__ = [
    "ADE20K_CLASSES",
    "CLASS_FAMILIES",
    "CONTENT_ONLY_JOIN",
    "FAMILY_AREA_GATE",
    "FLOATING_ENCLOSED",
    "MODEL_FILE_NAME",
    "MODEL_SHA256",
    "MODEL_URL",
    "SEG_MODEL_ENV_VAR",
    "HAZE_BLACK_POINT",
    "INPUT_SIZE",
    "MIN_SIDE",
    "SemanticSegmenter",
    "class_family",
    "class_id",
    "download_segmentation_model",
    "find_segmentation_model",
    "load_segmentation_model",
    "looks_hazy",
    "semantic_probabilities",
    "stretch_contrast",
]

_SKY = class_id("sky")
_STRUCTURE = frozenset(class_id(c) for c in CLASS_FAMILIES["structure"])

#: Also importable from here, as before the split (tests and callers use them).
_REEXPORTED = (check_model_file, photo_rgb)


def _present(p: torch.Tensor) -> dict[int, float]:
    """{class: share of pixels} of the argmax of (K, h, w) probabilities."""
    counts = torch.bincount(p.argmax(0).reshape(-1), minlength=p.shape[0]).numpy()
    n = p[0].numel()
    return {int(i): float(counts[i]) / n for i in np.flatnonzero(counts)}


_TOP = 6

#: A class of the style photo that is not in the content and covers at least this share of the style
#: joins the region of the style that it borders most (its look then serves that region's content
#: instead of none). Chosen on the 12 DPST pairs (``benchmarks/bench_quality.py --work-size 350 --masks
#: semantic``, judged with the hand masks): pair 15's green field (39 % of the style, the content's
#: snowy slopes are "mountain") joined to the style's mountains took the transfer from ×3.9 to ×0.99 the
#: hand-mask one's style distance, with the paper's green slopes; joining every style-only class made
#: pair 30 (lamp, wardrobe, chest of drawers, 1-2 % each, into the wall) ×1.7 → ×2.9, pair 58 (a
#: building, 5 %, into the vegetation) ×1.04 → ×1.30 and pair 2 (its cloud band called "sea", 17 %, into
#: the mountains) ×9.1 → ×11.4; pair 13's "land" (13 %, into the lake) did not move.
#: ``auto_segment(..., style_only_join=)`` sets another share; 1 never joins.
STYLE_ONLY_JOIN = 0.25


#: A class of the content photo that is not in the style and covers less than this share of the
#: content joins the matched region of the content that it borders most, instead of taking the whole
#: style image: such a sliver is mostly the network's mistake (a "bed", a "curtain" and a "car" in
#: pair 44's aerial city, a "book" in pair 31's skyline). Chosen on the 12 DPST pairs as above, with the
#: floating-structure rule: pair 44 ×1.26 → ×1.08 the hand-mask one's style distance, 31 ×0.96 → ×0.89,
#: 29 ×1.88 → ×1.78, 2 ×9.1 → ×8.7, 15 ×0.99 → ×0.99; larger content-only classes (pair 29's
#: building, 10 %; pair 13's trees, 9 %) keep the whole style image.
#: ``auto_segment(..., content_only_join=)`` sets another share; 0 never joins.
CONTENT_ONLY_JOIN = 0.05


def _join_one_sided(labels: np.ndarray, one_sided: list[int], matched: set[int], share: float, *,
                    small: bool = False) -> list[tuple[int, int, float]]:
    """Relabel, in place, each one-sided region covering at least ``share`` of the photo (``small``:
    less than ``share``) to the matched region it shares the longest border with (4-neighbours);
    returns (region, joined to, its share)."""
    joins = []
    n = labels.size
    for j in one_sided:
        inside = labels == j
        covers = float(inside.sum()) / n
        if (covers >= share) if small else (covers < share):
            continue
        border = np.zeros(int(labels.max()) + 1, np.int64)
        for a, b in ((labels[1:], labels[:-1]), (labels[:, 1:], labels[:, :-1])):
            for x, y in ((a, b), (b, a)):
                np.add.at(border, y[(x == j) & (y != j)], 1)
        candidates = [t for t in matched if t < border.size and border[t] > 0]
        if candidates:
            target = max(candidates, key=lambda t: (border[t], -t))
            labels[inside] = target
            joins.append((j, target, covers))
    return joins


#: Below this share of the photos in regions matched across them (the mean of the two photos' shares),
#: the semantic masks are not trusted and the whole style image serves the whole photo. On the 12 DPST
#: pairs at 512 px (``benchmarks/bench_segmentation.py --method semantic --size 512``) the share is 0.50
#: and 0.60 on pairs 9 and 45, a dahlia and a teapot: close-ups, which ADE20K does not label (the rose
#: comes out as "person", "water", "wall", "ball"), where the classes routed the style worse than no
#: masks; it is 0.76 to 1.00 on the other ten.
MIN_MATCHED = 0.67


def matched_share(groups: list[list[tuple[str, int]]], areas: list[dict[int, float]]) -> float:
    """Mean over the two photos of the share of the photo in classes whose group spans both photos."""
    share = [0.0, 0.0]
    for g in groups:
        if {side for side, _ in g} == {"c", "s"}:
            for side, cls in g:
                j = 0 if side == "c" else 1
                share[j] += areas[j][cls]
    return (share[0] + share[1]) / 2


def _shares(ranks: torch.Tensor, p: torch.Tensor, keep: np.ndarray) -> dict[int, float]:
    """{class: share of pixels} when each pixel takes its most probable class among ``keep``."""
    ok = torch.from_numpy(keep)[ranks]  # (N, T)
    first = ok.to(torch.uint8).argmax(1)
    lab = ranks.gather(1, first[:, None])[:, 0]
    none = ~ok.any(1)
    if bool(none.any()):
        ids = torch.from_numpy(np.flatnonzero(keep))
        lab[none] = ids[p[ids].reshape(len(ids), -1)[:, none].argmax(0)]
    counts = torch.bincount(lab, minlength=p.shape[0]).numpy()
    return {int(i): float(counts[i]) / lab.numel() for i in np.flatnonzero(counts)}



def segment_pair(
    content: np.ndarray,
    style: np.ndarray,
    *,
    k: int | None = None,
    merge: Any = None,
    drop: Any = None,
    model: Any = None,
    min_region: float = 0.01,
    min_matched: float = MIN_MATCHED,
    work_size: int = 768,
    refine: bool = True,
    download: bool = True,
    device: Any = None,
    stretch: bool | str = "hazy",
    style_only_join: float = STYLE_ONLY_JOIN,
    content_only_join: float = CONTENT_ONLY_JOIN,
) -> Any:
    """The semantic method of :func:`segmentation.auto_segment` (see there); photos as (H, W, 3)
    float arrays in [0, 1]. ``stretch``: the network sees them with their contrast stretched
    (:func:`~segmentation.segmenter.stretch_contrast`; True, False, or "hazy": the photos that
    :func:`~segmentation.segmenter.looks_hazy`); the edges are refined on the photos as they are.
    Returns an :class:`~segmentation.auto.AutoMasks`."""
    from .automasks import AutoMasks
    from .labels import resize_labels

    check_photo_size(content, "content")
    check_photo_size(style, "style")
    merge_map = _merge_map(merge)
    drop_ids = _name_list(drop, "drop")
    if isinstance(model, SemanticSegmenter):
        net = model
    else:
        net = load_segmentation_model(model, download=download)
    if device is None:
        device = next(iter(net.buffers())).device
    photos = (content, style)
    probs = []
    seen_stretched = []
    for side, rgb in zip(("content", "style"), photos):
        stretched = _stretches(stretch, rgb)  # decided once here: the note says what the network saw
        logits, (h, w) = _run(net, rgb, device, torch.float32, stretch=stretched)
        probs.append(torch.softmax(logits[0, :, :h, :w].float(), dim=0).cpu())
        if stretched and stretch == "hazy":
            seen_stretched.append(f"the {side} photo looks hazy (its darkest 1 % above {HAZE_BLACK_POINT:g}): "
                                  "the network saw it with its contrast stretched")

    # every pixel's classes by decreasing probability (the first few): relabelling after removing
    # classes is then a look-up instead of an argmax over 151 channels
    ranks = [p.permute(1, 2, 0).reshape(-1, p.shape[0]).topk(_TOP, dim=1).indices for p in probs]
    raw = [_present(p) for p in probs]
    seen = set(raw[0]) | set(raw[1])

    def absent(cls: int, argument: str) -> ValueError:
        listing = "; ".join(f"{side} has {', '.join(ADE20K_CLASSES[i] for i in sorted(r, key=lambda i: -r[i]))}"
                            for side, r in zip(("content", "style"), raw))
        return ValueError(f"{argument}: expected a class in one of the photos, got '{ADE20K_CLASSES[cls]}', "
                          f"which is in neither ({listing}); name a class that is there.")

    for a in merge_map:
        if a not in seen:
            raise absent(a, "merge")
    for d in drop_ids:
        if d not in seen:
            raise absent(d, "drop")
    allowed = np.ones(len(ADE20K_CLASSES), bool)
    for p in probs:
        for a, b in merge_map.items():
            p[b] += p[a]
            p[a] = 0
    allowed[list(merge_map)] = False
    allowed[drop_ids] = False
    if not allowed.any():
        raise ValueError("drop: expected at least one class left, got every class dropped; keep at least one.")

    def settle(allowed: np.ndarray) -> list[dict[int, float]]:
        """Classes kept in each photo: allowed, and covering at least min_region (iterated, since
        removing one class grows the others)."""
        keep = [allowed.copy(), allowed.copy()]
        out = []
        for i, p in enumerate(probs):
            while True:
                share = _shares(ranks[i], p, keep[i])
                small = [c for c, v in share.items() if v < min_region]
                if not small or len(share) == 1:
                    break
                keep[i][min(small, key=lambda c: share[c])] = False
            out.append(share)
        return out

    areas = settle(allowed)
    groups, notes = _match(areas)
    for side, a in zip(("content", "style"), areas):
        if not all(allowed[c] for c in a):
            raise ValueError(f"drop: expected a class left in each photo, got none in the {side} photo; "
                             "drop fewer classes.")
    if k is not None:
        while len(groups) > k:  # style-only groups go first, then the smallest content groups
            smallest = min(groups, key=lambda g: (any(s == "c" for s, _ in g),
                                                  sum(areas[0 if s == "c" else 1][c] for s, c in g)))
            cand = allowed.copy()
            cand[[c for _, c in smallest]] = False
            if not all(any(cand[c] for c in a) for a in areas):
                break
            allowed = cand
            areas = settle(allowed)
            groups, notes = _match(areas)

    notes = seen_stretched + notes
    trust = matched_share(groups, areas)
    if trust < min_matched:
        return _whole_photo(photos, areas, trust, min_matched, notes)

    # one label per group; order: by mean height in the content, then style-only groups
    regions = []  # (class ids per side, name)
    for g in groups:
        c_ids = sorted((c for s, c in g if s == "c"), key=lambda c: -areas[0][c])
        s_ids = sorted((c for s, c in g if s == "s"), key=lambda c: -areas[1][c])
        name = _names(c_ids) if c_ids else _names(s_ids)
        regions.append((c_ids, s_ids, name))

    labels = []
    for side, (rgb, p) in enumerate(zip(photos, probs)):
        chans = torch.stack([p[list(r[side])].sum(0) if r[side] else torch.full(p.shape[1:], -1.0)
                             for r in regions])  # (R, h, w)
        H, W = rgb.shape[:2]
        scale = min(1.0, work_size / max(H, W))
        wh, ww = max(1, round(H * scale)), max(1, round(W * scale))
        up = F.interpolate(chans[None], size=(wh, ww), mode="bilinear", align_corners=False)[0]
        if refine:
            guide = torch.from_numpy(np.ascontiguousarray(np.moveaxis(rgb, -1, 0))).float()
            if (wh, ww) != (H, W):
                guide = F.interpolate(guide[None], size=(wh, ww), mode="bilinear", align_corners=False,
                                      antialias=True)[0]
            radius = max(1, round(REFINE_RADIUS * max(wh, ww) / INPUT_SIZE))
            up = guided_filter_probabilities(guide, up, radius=radius, eps=REFINE_EPS)
            absent_here = chans.amax(dim=(1, 2)) < 0
            up[absent_here] = -float("inf")  # regions absent from this photo stay out
        lab = up.argmax(0).numpy().astype(np.int64)
        lab = _absorb_fragments(lab, max(1, int(FRAGMENT_SHARE * lab.size)))
        sky = [j for j, r in enumerate(regions) if _SKY in r[side]]
        built = {j for j, r in enumerate(regions) if r[side] and all(c in _STRUCTURE for c in r[side])}
        if sky and built:
            lab, moved = _ground_floating(lab, sky[0], built)
            if moved:
                notes.append(f"{('content', 'style')[side]}: pieces of structure floating in the sky "
                             f"({moved:.1%} of the photo) are taken as sky (clouds the network took for buildings)")
        labels.append(resize_labels(lab, (H, W)))

    present = [set(np.unique(l).tolist()) for l in labels]
    both = present[0] & present[1]
    for j, t, covers in _join_one_sided(labels[1], sorted(present[1] - present[0]), both, style_only_join):
        notes.append(f"style '{regions[j][2]}' ({covers:.0%} of the style) is not in the content: it joins the "
                     f"style's '{regions[t][2]}', which it borders most")
    for j, t, covers in _join_one_sided(labels[0], sorted(present[0] - present[1]), both, content_only_join,
                                        small=True):
        notes.append(f"content '{regions[j][2]}' ({covers:.1%} of the content) is not in the style: it joins the "
                     f"content's '{regions[t][2]}', which it borders most, instead of taking the whole style image")
    present = [set(np.unique(l).tolist()) for l in labels]  # the joins relabel one-sided regions only
    heights = []
    for j in range(len(regions)):
        side = 0 if j in present[0] else 1
        ys = np.nonzero(labels[side] == j)[0]
        heights.append((side, ys.mean() / labels[side].shape[0] if ys.size else np.inf))
    order = [j for j in sorted(range(len(regions)), key=lambda j: heights[j]) if j in present[0] | present[1]]
    remap = np.full(len(regions), -1, np.int64)
    remap[order] = np.arange(len(order))
    labels = [remap[l] for l in labels]
    present = [set(np.unique(l).tolist()) for l in labels]
    names = {int(remap[j]): regions[j][2] for j in order}
    return AutoMasks(
        content_labels=labels[0],
        style_labels=labels[1],
        k=len(order),
        matched=tuple(sorted(present[0] & present[1])),
        content_only=tuple(sorted(present[0] - present[1])),
        style_only=tuple(sorted(present[1] - present[0])),
        scores={},
        n_superpixels=(0, 0),
        names=names,
        method="semantic",
        notes=tuple(notes),
        matched_share=trust,
    )


def _whole_photo(photos, areas, trust: float, min_matched: float, notes: list[str]) -> Any:
    """One region on each photo (the transfer then uses the whole style image, as without masks), with
    a warning that says why and what to do instead."""
    import warnings

    from .automasks import AutoMasks

    def top(a: dict[int, float]) -> str:
        return ", ".join(f"{ADE20K_CLASSES[c]} {v:.0%}" for c, v in sorted(a.items(), key=lambda t: -t[1])[:4])

    why = (f"only {trust:.0%} of the two photos lies in classes found in both (min_matched={min_matched:g}; content: "
           f"{top(areas[0])}; style: {top(areas[1])}), so the network's classes do not pair these photos up")
    note = f"{why}: one region each, the whole style image serves the whole photo"
    warnings.warn(f"auto_segment: {note}. Give masks, pass method='cluster' for regions of colour and position, "
                  "or min_matched=0 to keep the classes.", UserWarning, stacklevel=4)
    return AutoMasks(
        content_labels=np.zeros(photos[0].shape[:2], np.int64),
        style_labels=np.zeros(photos[1].shape[:2], np.int64),
        k=1,
        matched=(0,),
        content_only=(),
        style_only=(),
        names={0: "whole photo"},
        method="semantic",
        notes=tuple(notes) + (note,),
        matched_share=trust,
    )
