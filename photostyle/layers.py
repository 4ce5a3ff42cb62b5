"""The VGG-19 layer table: names, torchvision indices, channels, and how each weight layout pads and pools.

Layer names follow the paper: ``conv4_2`` is the second convolution of block 4, ``relu4_2`` the ReLU
after it, ``pool4`` the max-pooling that ends the block. :data:`VGG19_LAYERS` lists all 37 in the order
of torchvision's ``vgg19().features``, so a name's index there is the ``N`` of ``features.N``.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "VGG19_LAYERS",
    "CONV_NAMES",
    "CONV_INDEX",
    "CONV_SHAPES",
    "NORMALISED_INDEX",
    "LayoutSpec",
    "LAYOUT_SPECS",
    "check_layer_names",
    "conv_needed",
    "pooled_shape",
]

# (channels, convolutions) per block of VGG-19.
_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def _build_layer_table() -> tuple[tuple[str, ...], dict[str, tuple[int, int]]]:
    names: list[str] = []
    conv_shapes: dict[str, tuple[int, int]] = {}  # conv name -> (out_channels, in_channels)
    in_channels = 3
    for block, (channels, convs) in enumerate(_BLOCKS, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            conv_shapes[f"conv{block}_{i}"] = (channels, in_channels)
            in_channels = channels
        names.append(f"pool{block}")
    return tuple(names), conv_shapes


VGG19_LAYERS, CONV_SHAPES = _build_layer_table()
VGG19_LAYERS: tuple[str, ...]
"""The 37 module names of torchvision's ``vgg19().features``, in order (index == ``N`` in ``features.N``)."""

CONV_NAMES: tuple[str, ...] = tuple(name for name in VGG19_LAYERS if name.startswith("conv"))
CONV_INDEX: dict[str, int] = {name: VGG19_LAYERS.index(name) for name in CONV_NAMES}


def _normalised_index(conv: str) -> int:
    """Index of a convolution in the "normalised" Sequential.

    That Sequential is ``[1x1 conv, (ReflectionPad2d, Conv2d, ReLU) per conv, MaxPool2d per block]``,
    so a convolution at torchvision index ``N`` sits after the 1x1 conv, after the ``N`` torchvision
    modules before it, after one padding module per earlier convolution, and after its own padding.
    """
    n = CONV_INDEX[conv]
    convs_before = sum(1 for name in VGG19_LAYERS[:n] if name.startswith("conv"))
    return n + convs_before + 2


NORMALISED_INDEX: dict[str, int] = {conv: _normalised_index(conv) for conv in CONV_NAMES}


@dataclass(frozen=True)
class LayoutSpec:
    """How a weight layout's network pads its 3x3 convolutions and rounds its 2x2 poolings."""

    padding_mode: str
    pool_ceil_mode: bool


LAYOUT_SPECS: dict[str, LayoutSpec] = {
    "torchvision": LayoutSpec(padding_mode="zeros", pool_ceil_mode=False),
    "caffe": LayoutSpec(padding_mode="zeros", pool_ceil_mode=True),
    "normalised": LayoutSpec(padding_mode="reflect", pool_ceil_mode=True),
}

_LAYER_SET = frozenset(VGG19_LAYERS)


def check_layer_names(layers: object) -> tuple[str, ...]:
    """Return ``layers`` as a tuple of known VGG-19 layer names (duplicates dropped), or raise."""
    if isinstance(layers, str):
        layers = (layers,)
    if not isinstance(layers, Sequence) and not isinstance(layers, (set, frozenset)):
        raise TypeError(
            f"layers: expected a sequence of layer names such as ('relu1_1', 'relu4_2'), "
            f"got {type(layers).__name__}."
        )
    names = tuple(dict.fromkeys(layers))
    if not names:
        raise ValueError("layers: expected at least one layer name, got an empty sequence; pass e.g. "
                         "layers=['relu4_2'].")
    for name in names:
        if not isinstance(name, str) or name not in _LAYER_SET:
            close = difflib.get_close_matches(str(name), VGG19_LAYERS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"layers: unknown VGG-19 layer {name!r}.{hint} Valid names: {', '.join(VGG19_LAYERS)}."
            )
    return names


def conv_needed(name: str) -> str:
    """The deepest convolution a layer's output depends on (``relu4_2`` -> ``conv4_2``)."""
    index = VGG19_LAYERS.index(name)
    return [conv for conv in CONV_NAMES if CONV_INDEX[conv] <= index][-1]


def pooled_shape(shape: tuple[int, int], *, ceil_mode: bool = True) -> tuple[int, int]:
    """Spatial size after a 2x2, stride-2 max-pool (as ``torch.nn.MaxPool2d(2, 2, ceil_mode=...)``)."""
    h, w = shape
    if ceil_mode:
        return math.ceil(h / 2), math.ceil(w / 2)
    return h // 2, w // 2
