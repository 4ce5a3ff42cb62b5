"""Paint with names or colours: COCO-Stuff class names, a colour per label, and back.

Label ids follow the label PNGs the official COCO-Stuff SPADE model was trained on: 0-based
(``person`` is 0, ``sky-other`` is 156), 255 is unlabeled (dontcare).

>>> from photostyle.spade import palette
>>> palette.coco_id("sky-other"), palette.coco_id("sea")
(156, 154)
>>> labels = palette.landscape_bands((256, 256), [("sky-other", 0.0), ("mountain", 0.4), ("sea", 0.6)])
>>> rgb = palette.colorize(labels)                   # (256, 256, 3) uint8, for looking at or painting over
>>> same = palette.colors_to_labels(rgb)            # and back
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from .._checks import got
from .config import SPADEConfig, get_config

__all__ = [
    "COCO_STUFF_NAMES",
    "LANDSCAPE_CLASSES",
    "LANDSCAPE_COLORS",
    "coco_id",
    "coco_name",
    "label_colormap",
    "colorize",
    "colors_to_labels",
    "labels_from_names",
    "landscape_bands",
]

# 182 classes, 0-based: 91 "things" (with the 11 ids unused by COCO) then 91 "stuff" classes.
COCO_STUFF_NAMES: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "street sign", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse",
    "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "hat", "backpack", "umbrella", "shoe",
    "eye glasses", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle", "plate",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant", "bed",
    "mirror", "dining table", "window", "desk", "toilet", "door", "tv", "laptop", "mouse", "remote",
    "keyboard", "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "blender", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush", "hair brush",
    "banner", "blanket", "branch", "bridge", "building-other", "bush", "cabinet", "cage", "cardboard",
    "carpet", "ceiling-other", "ceiling-tile", "cloth", "clothes", "clouds", "counter", "cupboard",
    "curtain", "desk-stuff", "dirt", "door-stuff", "fence", "floor-marble", "floor-other", "floor-stone",
    "floor-tile", "floor-wood", "flower", "fog", "food-other", "fruit", "furniture-other", "grass",
    "gravel", "ground-other", "hill", "house", "leaves", "light", "mat", "metal", "mirror-stuff", "moss",
    "mountain", "mud", "napkin", "net", "paper", "pavement", "pillow", "plant-other", "plastic",
    "platform", "playingfield", "railing", "railroad", "river", "road", "rock", "roof", "rug", "salad",
    "sand", "sea", "shelf", "sky-other", "skyscraper", "snow", "solid-other", "stairs", "stone", "straw",
    "structural-other", "table", "tent", "textile-other", "towel", "tree", "vegetable", "wall-brick",
    "wall-concrete", "wall-other", "wall-panel", "wall-stone", "wall-tile", "wall-wood", "water-other",
    "waterdrops", "window-blind", "window-other", "wood",
)
assert len(COCO_STUFF_NAMES) == 182

_NAME_TO_ID = {name: i for i, name in enumerate(COCO_STUFF_NAMES)}

# Colours for the landscape classes (the first five are those of GauGAN's demo palette).
LANDSCAPE_COLORS: dict[str, tuple[int, int, int]] = {
    "sea": (54, 62, 167),
    "sky-other": (95, 219, 255),
    "tree": (140, 104, 47),
    "clouds": (170, 170, 170),
    "grass": (29, 195, 49),
    "river": (0, 128, 200),
    "water-other": (40, 90, 200),
    "mountain": (110, 80, 70),
    "hill": (150, 190, 70),
    "rock": (120, 120, 110),
    "stone": (100, 100, 95),
    "sand": (230, 210, 140),
    "snow": (250, 250, 250),
    "dirt": (130, 90, 50),
    "gravel": (160, 150, 140),
    "ground-other": (150, 120, 80),
    "mud": (90, 70, 40),
    "bush": (70, 140, 40),
    "leaves": (100, 170, 30),
    "flower": (240, 110, 170),
    "plant-other": (60, 160, 90),
    "moss": (80, 120, 40),
    "fog": (200, 200, 215),
    "road": (110, 110, 120),
    "house": (200, 80, 60),
    "bridge": (180, 140, 200),
    "fence": (200, 160, 100),
    "wood": (160, 110, 70),
}

#: The landscape classes of COCO-Stuff, name → label id.
LANDSCAPE_CLASSES: dict[str, int] = {name: _NAME_TO_ID[name] for name in LANDSCAPE_COLORS}


def coco_id(name: str) -> int:
    """COCO-Stuff label id (0-based) of a class name, e.g. ``coco_id("sky-other") == 156``."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a COCO-Stuff class name (str), got {got(name)}; pass e.g. 'sky-other'.")
    key = name.strip().lower()
    if key in _NAME_TO_ID:
        return _NAME_TO_ID[key]
    if key == "sky":
        return _NAME_TO_ID["sky-other"]
    close = [n for n in COCO_STUFF_NAMES if key and (key in n or n in key)][:6]
    hint = f"did you mean {', '.join(repr(c) for c in close)}?" if close else "see palette.COCO_STUFF_NAMES."
    raise ValueError(f"name: expected a COCO-Stuff class name, got {name!r}; {hint}")


def coco_name(label_id: int) -> str:
    """Class name of a COCO-Stuff label id (255 → 'unlabeled')."""
    if int(label_id) == 255:
        return "unlabeled"
    if not 0 <= int(label_id) < len(COCO_STUFF_NAMES):
        raise ValueError(f"label_id: expected an id in 0 … {len(COCO_STUFF_NAMES) - 1} or 255, got {label_id}; "
                         "see palette.COCO_STUFF_NAMES.")
    return COCO_STUFF_NAMES[int(label_id)]


def _bitmap_colormap(n: int) -> np.ndarray:
    """The usual bit-interleaving label colormap (as in PASCAL VOC), with id i coloured as i + 1."""
    cmap = np.zeros((n, 3), dtype=np.uint8)
    for i in range(n):
        code = i + 1
        r = g = b = 0
        for j in range(8):
            r |= ((code >> 0) & 1) << (7 - j)
            g |= ((code >> 1) & 1) << (7 - j)
            b |= ((code >> 2) & 1) << (7 - j)
            code >>= 3
        cmap[i] = (r, g, b)
    return cmap


def label_colormap(preset: SPADEConfig | str = "coco") -> np.ndarray:
    """(label_nc, 3) uint8 colours, one per class, all distinct; COCO landscape classes get natural colours."""
    config = get_config(preset)
    cmap = _bitmap_colormap(config.label_nc)
    if config.preset == "coco" and config.label_nc == len(COCO_STUFF_NAMES):
        for name, color in LANDSCAPE_COLORS.items():
            cmap[_NAME_TO_ID[name]] = color
    return cmap


_DONTCARE_COLOR = np.array([0, 0, 0], dtype=np.uint8)


def colorize(labels: np.ndarray, *, preset: SPADEConfig | str = "coco") -> np.ndarray:
    """Label ids (H, W) → colour image (H, W, 3) uint8 using :func:`label_colormap`; 255 → black."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"labels: expected an array (H, W), got shape {labels.shape}; pass one map of class ids.")
    cmap = label_colormap(preset)
    out = np.zeros(labels.shape + (3,), dtype=np.uint8)
    valid = (labels >= 0) & (labels < len(cmap))
    out[valid] = cmap[labels[valid].astype(np.int64)]
    out[labels == 255] = _DONTCARE_COLOR
    return out


def colors_to_labels(image: np.ndarray, colors: Mapping[object, Sequence[int]] | None = None, *,
                     preset: SPADEConfig | str = "coco") -> np.ndarray:
    """Decode a painted colour image (H, W, 3) uint8 into label ids (H, W) int64.

    Every pixel takes the label of the nearest listed colour (anti-aliased edges snap to a side).

    Parameters
    ----------
    image
        RGB uint8 array (H, W, 3) (an alpha channel is dropped).
    colors
        ``{label: (r, g, b)}`` where a label is an id or a COCO-Stuff class name, e.g.
        ``{"sky-other": (95, 219, 255), "sea": (0, 0, 255)}``. Default: the preset's full
        :func:`label_colormap`.
    """
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] not in (3, 4):
        raise ValueError(f"image: expected a colour image (H, W, 3), got shape {arr.shape}; pass an RGB array "
                         "(a 2-D array already holds class ids).")
    arr = arr[:, :, :3]
    if colors is None:
        cmap = label_colormap(preset).astype(np.int64)
        ids = np.arange(len(cmap))
    else:
        if not colors:
            raise ValueError("colors: expected at least one {label: (r, g, b)} entry, got none; pass e.g. "
                             "{'sky-other': (95, 219, 255)}, or colors=None for the preset's colours.")
        ids_list, cols = [], []
        for key, col in colors.items():
            ids_list.append(coco_id(key) if isinstance(key, str) else int(key))
            col = tuple(int(c) for c in col)
            if len(col) != 3:
                raise ValueError(f"colors[{key!r}]: expected an (r, g, b) triple, got {col}; pass e.g. "
                                 "(0, 0, 255).")
            cols.append(col)
        ids = np.asarray(ids_list, dtype=np.int64)
        cmap = np.asarray(cols, dtype=np.int64)
    flat = arr.reshape(-1, 3).astype(np.int64)
    # Unique colours first: painted maps have few, so this stays cheap at any size. Colours are packed
    # into one integer each: np.unique on rows (axis=0) took 17 s on a 5-megapixel map, this takes
    # 0.5 s (found by fuzzing: a 114-byte PNG decoding to 5 x 1048576 pixels looked like a hang).
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    uniq_packed, inverse = np.unique(packed, return_inverse=True)
    uniq = np.stack([uniq_packed >> 16, (uniq_packed >> 8) & 255, uniq_packed & 255], axis=1)
    d = ((uniq[:, None, :] - cmap[None, :, :]) ** 2).sum(-1)
    return ids[d.argmin(1)][inverse.reshape(-1)].reshape(arr.shape[:2])


def labels_from_names(names: np.ndarray, *, preset: str = "coco") -> np.ndarray:
    """Array of COCO-Stuff class names (H, W) (e.g. a hand-written grid) → label ids (H, W)."""
    if preset != "coco":
        raise ValueError(f"preset: expected 'coco' (labels_from_names knows COCO-Stuff names only), got "
                         f"{got(preset)}; map other names to ids yourself.")
    names = np.asarray(names)
    lookup = {n: coco_id(str(n)) for n in np.unique(names)}
    return np.vectorize(lookup.__getitem__, otypes=[np.int64])(names)


def landscape_bands(shape: tuple[int, int], bands: Sequence[tuple[str | int, float]]) -> np.ndarray:
    """A quick landscape: horizontal bands of classes, each from a fraction of the height downwards.

    >>> landscape_bands((4, 2), [("sky-other", 0.0), ("sea", 0.5)])[:, 0].tolist()
    [156, 156, 154, 154]
    """
    h, w = shape
    if not bands:
        raise ValueError("bands: expected at least one (class, top_fraction) pair, got none; pass e.g. "
                         "[('sky-other', 0.0), ('sea', 0.5)].")
    out = np.empty((h, w), dtype=np.int64)
    ordered = sorted(bands, key=lambda b: b[1])
    if ordered[0][1] > 0:
        raise ValueError(f"bands: expected a first band starting at 0.0 (the top of the image), got "
                         f"{ordered[0][1]}; start one band at 0.0.")
    for k, (cls, top) in enumerate(ordered):
        if not 0.0 <= float(top) <= 1.0:
            raise ValueError(f"bands: expected top fractions in [0, 1], got {top}; give each band's top as a "
                             "share of the height.")
        label = coco_id(cls) if isinstance(cls, str) else int(cls)
        y0 = int(round(float(top) * h))
        y1 = int(round(float(ordered[k + 1][1]) * h)) if k + 1 < len(ordered) else h
        out[y0:y1] = label
    return out
