"""The ADE20K classes of the semantic segmenter: names, families, and how classes of two photos are matched.

Classes are named as in :data:`ADE20K_CLASSES` (or by id); each belongs to one family of
:data:`CLASS_FAMILIES`. A class present in one photo only is matched to the classes of its family in
the other where they are not much smaller (:data:`FAMILY_AREA_GATE`), else to the whole style image.
``merge`` / ``drop`` arguments are parsed here into class ids.
"""

from __future__ import annotations

from typing import Any, Sequence

from ._checks import got

__all__ = [
    "ADE20K_CLASSES",
    "CLASS_FAMILIES",
    "FAMILY_AREA_GATE",
    "class_family",
    "class_id",
]

#: Class names: id 0 is "other" (no ADE20K class), ids 1..150 the ADE20K classes in the model's order.
#: The first word of each name is the label in the ``ade20k_labels.txt`` shipped with the model (which
#: also names id 59, here "screen door", "screen"); either form is accepted where a class is named.
ADE20K_CLASSES: tuple[str, ...] = (
    "other", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane", "grass",
    "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant", "curtain", "chair",
    "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror", "rug", "field", "armchair",
    "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub", "railing", "cushion", "base", "box",
    "column", "signboard", "chest of drawers", "counter", "sand", "sink", "skyscraper", "fireplace",
    "refrigerator", "grandstand", "path", "stairs", "runway", "case", "pool table", "pillow",
    "screen door", "stairway", "river", "bridge", "bookcase", "blind", "coffee table", "toilet", "flower",
    "book", "hill", "bench", "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair",
    "boat", "bar", "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television", "airplane", "dirt track", "apparel", "pole", "land",
    "bannister", "escalator", "ottoman", "bottle", "buffet", "poster", "stage", "van", "ship", "fountain",
    "conveyer belt", "canopy", "washer", "plaything", "swimming pool", "stool", "barrel", "basket",
    "waterfall", "tent", "bag", "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name",
    "microwave", "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate", "monitor",
    "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)

#: Family of every class: a class present in one photo only is matched to the same family in the other.
CLASS_FAMILIES: dict[str, tuple[str, ...]] = {
    "sky": ("sky",),
    "vegetation": ("tree", "grass", "plant", "field", "flower", "palm"),
    "water": ("water", "sea", "river", "lake", "waterfall", "fountain", "swimming pool"),
    "landform": ("mountain", "hill", "rock"),
    "ground": ("floor", "road", "sidewalk", "earth", "sand", "path", "runway", "dirt track", "land", "rug"),
    "structure": ("wall", "building", "ceiling", "windowpane", "door", "house", "fence", "railing", "column",
                  "skyscraper", "stairs", "stairway", "bridge", "hovel", "tower", "awning", "booth", "pole",
                  "bannister", "escalator", "step", "pier", "grandstand", "canopy", "tent", "streetlight",
                  "signboard", "screen door", "stage", "traffic light", "trade name"),
    "person": ("person",),
    "vehicle": ("car", "boat", "bus", "truck", "airplane", "van", "ship", "minibike", "bicycle"),
    "animal": ("animal",),
    "furniture": ("bed", "cabinet", "table", "chair", "sofa", "shelf", "armchair", "seat", "desk", "wardrobe",
                  "bathtub", "chest of drawers", "counter", "sink", "fireplace", "refrigerator", "case",
                  "pool table", "bookcase", "coffee table", "toilet", "bench", "countertop", "stove",
                  "kitchen island", "swivel chair", "bar", "buffet", "ottoman", "stool", "cradle", "oven",
                  "washer", "dishwasher", "microwave", "radiator", "shower", "hood", "arcade machine"),
    "object": ("curtain", "painting", "mirror", "lamp", "cushion", "base", "box", "pillow", "blind", "book",
               "computer", "towel", "light", "chandelier", "television", "apparel", "bottle", "poster",
               "conveyer belt", "plaything", "barrel", "basket", "bag", "ball", "food", "tank", "pot",
               "screen", "blanket", "sculpture", "sconce", "vase", "tray", "ashcan", "fan", "crt screen",
               "plate", "monitor", "bulletin board", "glass", "clock", "flag"),
    "other": ("other",),
}

#: A class in one photo only joins its family in the other only when the style's side of the join covers
#: at least this share of the content's side (a large content region fed by a sliver of the style is
#: worse off than with the whole style image; measured on the DPST pairs, see :func:`_match`).
FAMILY_AREA_GATE = 0.25

_FAMILY_OF: dict[str, str] = {c: fam for fam, cs in CLASS_FAMILIES.items() for c in cs}
_ID_OF: dict[str, int] = {name: i for i, name in enumerate(ADE20K_CLASSES)}
_ALIASES: dict[str, int] = {}
for _i, _name in enumerate(ADE20K_CLASSES):
    _first = _name.split()[0]
    if _first not in _ID_OF:
        _ALIASES.setdefault(_first, _i)


def class_id(name: Any, *, argument: str = "name") -> int:
    """The id (0..150) of an ADE20K class given by name (``"tree"``, ``"chest of drawers"`` or the
    label file's first word ``"chest"``), or by id.

    Raises
    ------
    ValueError
        For an unknown name, with the closest known names.
    """
    import difflib
    import numbers

    if isinstance(name, numbers.Integral) and not isinstance(name, bool):
        if 0 <= int(name) < len(ADE20K_CLASSES):
            return int(name)
        raise ValueError(f"{argument}: expected a class id in 0..{len(ADE20K_CLASSES) - 1} or a class name, got "
                         f"{name}; the names are in segmentation.semantic.ADE20K_CLASSES.")
    if not isinstance(name, str):
        raise TypeError(f"{argument}: expected an ADE20K class name (str), got {got(name)}; pass a name such as 'tree'.")
    key = " ".join(name.strip().lower().replace("_", " ").split())
    if key in _ID_OF:
        return _ID_OF[key]
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, list(_ID_OF), n=3)
    hint = f"did you mean {', '.join(map(repr, close))}? The" if close else "the"
    raise ValueError(f"{argument}: expected an ADE20K class name, got {name!r}; {hint} names are in "
                     "segmentation.semantic.ADE20K_CLASSES.")


def class_family(name: Any) -> str:
    """The family (``"sky"``, ``"vegetation"``, ``"water"``, ...) of a class name or id."""
    return _FAMILY_OF[ADE20K_CLASSES[class_id(name)]]


# -- merge and drop arguments ------------------------------------------------------------------------

def _name_list(value: Any, argument: str) -> list[int]:
    if value is None:
        return []
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple, set, frozenset)):
        raise TypeError(f"{argument}: expected a list of ADE20K class names, got {got(value)}; "
                        f"e.g. {argument}=['person'].")
    return [class_id(v, argument=argument) for v in value]


def _merge_map(merge: Any) -> dict[int, int]:
    if merge is None:
        return {}
    if not isinstance(merge, dict):
        raise TypeError(f"merge: expected a dict {{class: class it joins}}, got {got(merge)}; "
                        "e.g. merge={'tree': 'grass'}.")
    out = {class_id(a, argument="merge"): class_id(b, argument="merge") for a, b in merge.items()}
    for a in out:  # resolve chains, refuse cycles
        seen, b = {a}, out[a]
        while b in out:
            if b in seen:
                raise ValueError(f"merge: expected chains without a cycle, got the classes "
                                 f"{sorted(ADE20K_CLASSES[i] for i in seen)} merging into each other; name each "
                                 "class at most once on the left of a chain.")
            seen.add(b)
            b = out[b]
        out[a] = b
    return {a: b for a, b in out.items() if a != b}


# -- the pair: classes matched by name, then by family -------------------------------------------------

def _names(ids: Sequence[int]) -> str:
    return "+".join(ADE20K_CLASSES[i] for i in ids)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, a):
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a, b) -> None:
        self.parent[self.find(a)] = self.find(b)


def _match(areas: list[dict[int, float]]) -> tuple[list[list[tuple[str, int]]], list[str]]:
    """Connected groups of (side, class) nodes, and notes on the matches that were not by name.

    ``areas`` are the {class: share} of the content and the style. A class in both photos is one
    group. A class in one photo only joins every class of its family in the other (whether or not
    that class has its own partner) when the style's side of the join covers at least
    :data:`FAMILY_AREA_GATE` of the content's side; otherwise it has no partner (a content class then
    takes the whole style image). Chosen by the routing of the 12 DPST pairs against their hand masks
    (:func:`segmentation.routing_agreement`, a column of ``benchmarks/bench_segmentation.py``): a
    neighbouring family (ground for a flower) and a family's unclaimed classes first (the style's
    stairway for the content's house, not its building) each routed worse than the whole style image.
    """
    c_cls, s_cls = set(areas[0]), set(areas[1])
    uf = _UnionFind()
    notes: list[str] = []
    for c in c_cls:
        uf.find(("c", c))
    for s in s_cls:
        uf.find(("s", s))
    for c in c_cls & s_cls:
        uf.union(("c", c), ("s", c))
    for side, other_side, mine, other, own, theirs in (("c", "s", c_cls, s_cls, areas[0], areas[1]),
                                                       ("s", "c", s_cls, c_cls, areas[1], areas[0])):
        for cls in sorted(mine - other, key=lambda i: -own[i]):
            fam = _FAMILY_OF[ADE20K_CLASSES[cls]]
            pool = sorted(o for o in other if _FAMILY_OF[ADE20K_CLASSES[o]] == fam)
            cover = sum(theirs[o] for o in pool)
            content_area, style_area = (own[cls], cover) if side == "c" else (cover, own[cls])
            if pool and style_area >= FAMILY_AREA_GATE * content_area:
                for o in pool:
                    uf.union((side, cls), (other_side, o))
                if side == "c":
                    notes.append(f"content '{ADE20K_CLASSES[cls]}' is not in the style: matched to its {fam} "
                                 f"({', '.join(ADE20K_CLASSES[o] for o in pool)})")
            elif side == "c":
                why = (f"has no class of its family ({fam}) in the style" if not pool else
                       f"is {own[cls]:.0%} of the content and its {fam} only {cover:.0%} of the style")
                notes.append(f"content '{ADE20K_CLASSES[cls]}' {why}: the whole style image serves it")
    groups: dict = {}
    for node in list(uf.parent):
        groups.setdefault(uf.find(node), []).append(node)
    return list(groups.values()), notes
