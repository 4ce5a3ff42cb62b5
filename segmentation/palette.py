"""Colour palettes and decoding of colour-coded (possibly anti-aliased) masks.

A colour-coded mask paints every region in one palette colour. Painted masks such as the ones of the
Deep Photo Style Transfer benchmark are anti-aliased, so their edges hold in-between colours; decoding
gives every pixel the label of its *nearest* palette colour (Euclidean distance in RGB, 0..255) and
reports the share of pixels that are far from every palette entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._checks import check_number, got

__all__ = [
    "Palette",
    "DPST_PALETTE",
    "DecodedMask",
    "decode_color_mask",
    "DEFAULT_FAR_THRESHOLD",
    "DEFAULT_MAX_FAR_SHARE",
]

#: Distance (Euclidean, RGB 0..255) beyond which a pixel counts as "far" from every palette entry.
#: 64 is a quarter of the channel range: an anti-aliased edge pixel that is at most a quarter of the
#: way from one palette colour to another still counts as near. On the 24 hand-painted DPST masks
#: 0.0–1.5 % of the pixels are farther than this (the edges); on photographs 60–80 % are.
DEFAULT_FAR_THRESHOLD = 64.0

#: A colour mask with more than this share of far pixels is refused as "does not look like a label
#: image": painted masks stay below 2.5 %, photographs are far above 50 %.
DEFAULT_MAX_FAR_SHARE = 0.05


@dataclass(frozen=True, eq=False)
class Palette:
    """Named label colours; label id ``i`` is painted in ``colors[i]``.

    Parameters
    ----------
    names : tuple of str
        One unique name per label, in id order.
    colors : ndarray of shape (K, 3), uint8
        The RGB colour of each label (0..255).

    Examples
    --------
    >>> pal = Palette.from_dict({"sky": (0, 0, 255), "ground": (0, 255, 0)})
    >>> len(pal), pal.index("ground")
    (2, 1)
    """

    names: tuple[str, ...]
    colors: np.ndarray = field(repr=False)

    def __post_init__(self) -> None:
        names = tuple(self.names) if not isinstance(self.names, str) else None
        if names is None or not all(isinstance(n, str) for n in names):
            raise TypeError(f"names: expected a sequence of str, got {got(self.names)}; "
                            "pass e.g. names=('sky', 'water').")
        if len(set(names)) != len(names):
            dup = sorted({n for n in names if names.count(n) > 1})
            raise ValueError(f"names: expected unique names, got duplicates {dup}; rename them.")
        colors = np.asarray(self.colors)
        if colors.ndim != 2 or colors.shape[1] != 3 or colors.shape[0] != len(names) or len(names) == 0:
            raise ValueError(f"colors: expected shape (K, 3) with K = len(names) = {len(names)} >= 1, "
                             f"got {got(colors)}; give one RGB triple per name.")
        if not np.issubdtype(colors.dtype, np.integer) and not np.all(np.mod(colors, 1) == 0):
            raise ValueError(f"colors: expected integer RGB values in 0..255, got {got(colors)}; "
                             "scale float colours by 255 and round them.")
        if colors.size and (colors.min() < 0 or colors.max() > 255):
            raise ValueError(f"colors: expected RGB values in 0..255, got values in [{colors.min()}, {colors.max()}]; "
                             "pass 8-bit colours.")
        colors = colors.astype(np.uint8)
        colors.setflags(write=False)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "colors", colors)

    # -- constructors -----------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, mapping: Mapping[str, Sequence[int]]) -> "Palette":
        """Build a palette from ``{name: (r, g, b)}``; ids follow the mapping's order."""
        if not isinstance(mapping, Mapping) or len(mapping) == 0:
            error = TypeError if not isinstance(mapping, Mapping) else ValueError
            raise error(f"mapping: expected a non-empty dict name -> (r, g, b), got {got(mapping)}; "
                        "pass e.g. {'sky': (0, 0, 255)}.")
        colors = []
        for name, rgb in mapping.items():
            arr = np.asarray(rgb)
            if arr.shape != (3,):
                raise ValueError(f"mapping[{name!r}]: expected an (r, g, b) triple, got {got(rgb)}; "
                                 "pass e.g. (0, 0, 255).")
            colors.append(arr)
        return cls(tuple(mapping.keys()), np.stack(colors))

    @classmethod
    def from_pil(cls, image: Any) -> "Palette":
        """The palette of a ``"P"``-mode PIL image; entry ``i`` is named ``"index_<i>"``.

        All entries of the image's palette are kept, so pixel value ``i`` maps to palette id ``i``.
        """
        mode = getattr(image, "mode", None)
        if mode not in ("P", "PA"):
            error = TypeError if mode is None else ValueError
            raise error(f"image: expected a PIL image in 'P' (palette) mode, got mode {mode!r} "
                        f"({type(image).__name__}); use Palette.from_dict for RGB masks.")
        raw = image.getpalette() or []
        rgb = np.asarray(raw[: len(raw) // 3 * 3], dtype=np.uint8).reshape(-1, 3)
        if len(rgb) == 0:
            raise ValueError("image: expected a 'P'-mode image that carries a palette, got one without; "
                             "save it with one.")
        return cls(tuple(f"index_{i}" for i in range(len(rgb))), rgb)

    # -- queries ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    def index(self, name: str) -> int:
        """The id of the label called ``name``."""
        try:
            return self.names.index(name)
        except ValueError:
            raise ValueError(f"name: expected one of {list(self.names)}, got {name!r}.") from None

    def color(self, key: int | str) -> tuple[int, int, int]:
        """The RGB colour of a label given by id or name."""
        i = self.index(key) if isinstance(key, str) else int(key)
        if not 0 <= i < len(self):
            raise ValueError(f"key: expected a label id in 0..{len(self) - 1} or a name, got {key!r}.")
        return tuple(int(c) for c in self.colors[i])

    def as_dict(self) -> dict[str, tuple[int, int, int]]:
        """``{name: (r, g, b)}`` in id order."""
        return {n: self.color(i) for i, n in enumerate(self.names)}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Palette):
            return NotImplemented
        return self.names == other.names and np.array_equal(self.colors, other.colors)

    def __hash__(self) -> int:
        return hash((self.names, self.colors.tobytes()))

    def __repr__(self) -> str:
        items = ", ".join(f"{n}={tuple(int(c) for c in col)}" for n, col in zip(self.names, self.colors))
        return f"Palette({items})"


#: The nine colours of the Deep Photo Style Transfer masks, ids 0..8 in this order.
DPST_PALETTE = Palette.from_dict({
    "blue": (0, 0, 255),
    "green": (0, 255, 0),
    "black": (0, 0, 0),
    "white": (255, 255, 255),
    "red": (255, 0, 0),
    "yellow": (255, 255, 0),
    "grey": (128, 128, 128),
    "lightblue": (0, 255, 255),
    "purple": (255, 0, 255),
})


@dataclass(frozen=True, eq=False)
class DecodedMask:
    """Result of :func:`decode_color_mask`.

    Attributes
    ----------
    labels : ndarray of shape (H, W), int64
        Palette id of every pixel (its nearest palette colour).
    far_share : float
        Share of pixels (0..1) farther than ``far_threshold`` from every palette colour.
    shares : dict of int to float
        Share of pixels (0..1) of every id that occurs (ids with no pixel are left out); sums to 1.
    palette : Palette
        The palette the ids refer to.
    far_threshold : float
        The distance used for ``far_share``.
    """

    labels: np.ndarray
    far_share: float
    shares: dict[int, float]
    palette: Palette
    far_threshold: float = DEFAULT_FAR_THRESHOLD

    def names(self) -> dict[int, str]:
        """``{id: name}`` of the ids that occur."""
        return {i: self.palette.names[i] for i in self.shares}


def as_rgb_uint8(image: Any, name: str = "mask") -> np.ndarray:
    """Return ``image`` (PIL image, or numpy (H, W, 3|4) uint8 or float in [0, 1]) as (H, W, 3) uint8."""
    if hasattr(image, "convert") and hasattr(image, "mode"):  # PIL image
        return np.asarray(image.convert("RGB"), dtype=np.uint8)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{name}: expected an RGB numpy array (H, W, 3) or a PIL image, got {got(image)}; "
                        "load files with segmentation.load_label_map or PIL.Image.open.")
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name}: expected shape (H, W, 3) (RGB) or (H, W, 4) (RGBA), got {got(image)}; "
                         "2-D arrays are label maps: use segmentation.load_label_map.")
    image = image[..., :3]
    if image.dtype == np.uint8:
        return np.ascontiguousarray(image)
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
            raise ValueError(f"{name}: expected float values in [0, 1], got range "
                             f"[{np.nanmin(image):.3g}, {np.nanmax(image):.3g}]; divide uint8 data by 255.")
        return np.round(image * 255).astype(np.uint8)
    if np.issubdtype(image.dtype, np.integer):
        if image.min() < 0 or image.max() > 255:
            raise ValueError(f"{name}: expected integer values in 0..255, got range "
                             f"[{image.min()}, {image.max()}]; pass 8-bit values (uint8).")
        return image.astype(np.uint8)
    raise TypeError(f"{name}: expected uint8 or float in [0, 1], got dtype {image.dtype}; "
                    "convert it with .astype(np.uint8).")


#: Above this many pixels the distinct colours are found by counting over all 2^24, not by sorting.
_COUNTING_PIXELS = 1 << 20


def _nearest(rgb: np.ndarray, palette: Palette) -> tuple[np.ndarray, np.ndarray]:
    """Nearest palette id and its distance for every pixel of an (H, W, 3) uint8 image.

    Works on the distinct colours only (painted masks hold few), so it is cheap for large images.
    """
    flat = rgb.reshape(-1, 3)
    packed = (flat[:, 0].astype(np.int32) << 16) | (flat[:, 1].astype(np.int32) << 8) | flat[:, 2]
    if packed.size > _COUNTING_PIXELS:
        # a 12 MP mask: one counting pass over the 2^24 colours instead of sorting the pixels (np.unique
        # took 11.5 of the 17 s its decoding took on one thread); the same ids and order as np.unique
        uniq = np.flatnonzero(np.bincount(packed, minlength=1 << 24))
        lookup = np.empty(1 << 24, dtype=np.int32)
        lookup[uniq] = np.arange(len(uniq), dtype=np.int32)
        inverse = lookup[packed]
    else:
        uniq, inverse = np.unique(packed, return_inverse=True)
    ucol = np.stack([(uniq >> 16) & 255, (uniq >> 8) & 255, uniq & 255], axis=1).astype(np.float64)
    d2 = ((ucol[:, None, :] - palette.colors[None, :, :].astype(np.float64)) ** 2).sum(-1)
    ids = d2.argmin(1)  # ties: the lower id wins
    dist = np.sqrt(d2[np.arange(len(uniq)), ids])
    inverse = inverse.reshape(-1)
    return ids[inverse].reshape(rgb.shape[:2]).astype(np.int64), dist[inverse].reshape(rgb.shape[:2])


#: A pixel within this RGB distance of its palette colour is painted in it, not blended.
EXACT_TOLERANCE = 4.0


def reassign_edge_debris(labels: np.ndarray, blended: np.ndarray) -> np.ndarray:
    """Give anti-aliasing debris the label of the nearest pixel of a solid region.

    Debris is a connected region (8-connectivity) that is thin — no pixel of it has a 5x5
    neighbourhood all of its own label — and holds at least one ``blended`` pixel (a colour between
    palette entries). Regions painted in exact palette colours are never touched, however small.

    Parameters
    ----------
    labels : ndarray of shape (H, W), int
    blended : ndarray of shape (H, W), bool
    """
    from scipy import ndimage

    full = np.ones((3, 3), dtype=bool)
    core = np.ones((5, 5), dtype=bool)
    debris = np.zeros(labels.shape, dtype=bool)
    for value in np.unique(labels[blended]):
        region = labels == value
        components, count = ndimage.label(region, structure=full)
        interior = ndimage.binary_erosion(region, structure=core, border_value=1)
        keep = np.ones(count + 1, dtype=bool)
        keep[np.unique(components[blended & region])] = False  # regions holding blended pixels...
        keep[np.unique(components[interior])] = True  # ...unless they are solid somewhere
        debris |= ~keep[components]
    if not debris.any() or debris.all():
        return labels
    _, (iy, ix) = ndimage.distance_transform_edt(debris, return_indices=True)
    return labels[iy, ix]


def decode_color_mask(
    mask: Any,
    palette: Palette | None = None,
    *,
    strict: bool = False,
    far_threshold: float = DEFAULT_FAR_THRESHOLD,
    max_far_share: float = DEFAULT_MAX_FAR_SHARE,
    clean_edges: bool = True,
) -> DecodedMask:
    """Decode a colour-coded mask into palette ids, every pixel taking its nearest palette colour.

    Parameters
    ----------
    mask : ndarray of shape (H, W, 3) or (H, W, 4), or PIL.Image.Image
        The colour mask, uint8 0..255 or float in [0, 1]; an alpha channel is ignored.
    palette : Palette, optional
        The label colours; default :data:`DPST_PALETTE`.
    strict : bool, default False
        Refuse (``ValueError``) any pixel farther than ``far_threshold`` from every palette colour,
        instead of giving it its nearest colour's label. Anti-aliased masks fail this by design.
    far_threshold : float, default 64
        Euclidean RGB distance (0..255 scale) beyond which a pixel counts as far. 64, a quarter of
        the range, keeps anti-aliased edges near their colours; on the DPST masks 0–1.5 % of the
        pixels are far, on photographs 60–80 %.
    max_far_share : float, default 0.05
        A mask with a larger share of far pixels does not look like a label image (a photo, or a
        mask painted in another palette) and is refused with ``ValueError``.
    clean_edges : bool, default True
        Give anti-aliasing debris the label of the nearest solid region. An anti-aliased edge between
        two colours passes through others (black to white through mid-grey, blue to green through
        light blue), so nearest-colour decoding leaves thin lines of a third label along edges (0.2–0.9 %
        of the pixels of many DPST masks). A connected region that holds blended colours and has no
        pixel whose 5x5 neighbourhood is all of its own label (at most 4 px thick everywhere) counts as
        debris; regions painted in exact palette colours are kept however small.

    Returns
    -------
    DecodedMask
        ``labels`` (H, W) int64, ``far_share``, ``shares`` (id -> share of pixels).

    Raises
    ------
    ValueError
        If the mask looks like a photo, or ``strict`` and some colours are far from the palette.
    """
    palette = DPST_PALETTE if palette is None else palette
    if not isinstance(palette, Palette):
        raise TypeError(f"palette: expected a segmentation.Palette, got {got(palette)}; "
                        "build one with Palette.from_dict({'sky': (0, 0, 255), ...}).")
    far_threshold = check_number("far_threshold", far_threshold, minimum=0.0)
    max_far_share = check_number("max_far_share", max_far_share, minimum=0.0, maximum=1.0)
    rgb = as_rgb_uint8(mask, "mask")
    labels, dist = _nearest(rgb, palette)
    far = dist > far_threshold
    far_share = float(far.mean())
    if far_share > max_far_share:
        n_colors = len(np.unique(rgb.reshape(-1, 3), axis=0))
        raise ValueError(
            f"mask: expected a label image painted in this palette, got {far_share:.1%} of its pixels "
            f"(more than max_far_share={max_far_share:.0%}) farther than {far_threshold:g} from every one of "
            f"the {len(palette)} palette colours, and {n_colors} distinct colours; pass the mask (not the "
            "photo), or the palette it was painted with (palette=Palette.from_dict(...))."
        )
    if strict and far.any():
        ys, xs = np.nonzero(far)
        example = tuple(int(c) for c in rgb[ys[0], xs[0]])
        raise ValueError(
            f"mask: expected every pixel within far_threshold={far_threshold:g} of a palette colour "
            f"(strict=True), got {far_share:.2%} of pixels ({int(far.sum())}) farther (e.g. {example} at row "
            f"{ys[0]}, column {xs[0]}); pass strict=False to give them their nearest colour, or raise far_threshold."
        )
    if clean_edges:
        labels = reassign_edge_debris(labels, dist > EXACT_TOLERANCE)
    counts = np.bincount(labels.reshape(-1), minlength=len(palette))
    total = labels.size
    shares = {int(i): float(counts[i] / total) for i in np.nonzero(counts)[0]}
    return DecodedMask(labels=labels, far_share=far_share, shares=shares, palette=palette,
                       far_threshold=far_threshold)
