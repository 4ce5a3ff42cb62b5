"""Generator settings as a small dataclass, and the three presets of the official SPADE models.

A :class:`SPADEConfig` replaces the argparse ``opt`` object of NVlabs/SPADE: it holds only what
fixes the shapes of the networks (and so the keys and shapes of a checkpoint).
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

from .._checks import check_integer, check_one_of, check_positive, got

__all__ = ["SPADEConfig", "PRESETS", "get_config", "preset_for_semantic_nc"]

Upsampling = Literal["normal", "more", "most"]

_NUM_UP = {"normal": 5, "more": 6, "most": 7}
#: What an error about a size setting suggests (the coco preset's values).
_EXAMPLES = {"label_nc": 182, "crop_size": 256, "ngf": 64, "z_dim": 256, "spade_hidden": 128}


@dataclass(frozen=True)
class SPADEConfig:
    """Shape-defining settings of a SPADE generator (and of its encoder and discriminator).

    Attributes
    ----------
    preset
        A name for the setting ("coco", "ade20k", "cityscapes", or anything for your own models).
    label_nc
        Number of semantic classes, *without* the dontcare class. Label ids run from 0 to label_nc - 1.
    contain_dontcare
        Whether the input has a dontcare channel (after the classes); label value 255 maps to it.
    no_instance
        If False, an instance-edge channel is appended last.
    crop_size
        Output width in pixels.
    aspect_ratio
        Width / height of the output.
    num_upsampling_layers
        "normal" (5 doublings from the latent grid), "more" (6), "most" (7, adds block ``up_4``).
    ngf
        Base number of generator filters (64 in the official models).
    use_vae
        If True, ``fc`` is a linear layer from a ``z_dim`` latent (style code) instead of a 3x3 conv
        from the downsampled label map, and an image encoder gives the style code.
    z_dim
        Size of the latent / style code.
    spade_hidden
        Channels of the shared SPADE embedding (128, hard-coded in the official code).
    """

    preset: str = "custom"
    label_nc: int = 182
    contain_dontcare: bool = True
    no_instance: bool = False
    crop_size: int = 256
    aspect_ratio: float = 1.0
    num_upsampling_layers: Upsampling = "normal"
    ngf: int = 64
    use_vae: bool = False
    z_dim: int = 256
    spade_hidden: int = 128

    def __post_init__(self) -> None:
        for name, example in _EXAMPLES.items():
            value = check_integer(f"SPADEConfig.{name}", getattr(self, name), minimum=1, example=example)
            object.__setattr__(self, name, value)  # a numpy integer becomes an int (the config is saved as JSON)
        check_one_of("SPADEConfig.num_upsampling_layers", self.num_upsampling_layers, _NUM_UP)
        ratio = check_positive("SPADEConfig.aspect_ratio", self.aspect_ratio, example="2.0 (twice as wide as high)")
        if not isinstance(self.aspect_ratio, (int, float)):
            object.__setattr__(self, "aspect_ratio", ratio)
        if self.num_upsampling_layers == "most" and self.ngf < 2:
            raise ValueError(f"SPADEConfig.ngf: expected an integer >= 2 with num_upsampling_layers='most', got "
                             f"{self.ngf}; pass e.g. ngf=64.")
        sw, sh = self.latent_size
        if sw < 1 or sh < 1:
            least = 2 ** self.num_up * max(1, math.ceil(self.aspect_ratio))
            raise ValueError(
                f"SPADEConfig.crop_size: expected at least {least} with aspect_ratio {self.aspect_ratio} and "
                f"{self.num_up} upsamplings, got {self.crop_size} (an empty latent grid of {sw}x{sh}); use "
                f"crop_size >= {least}."
            )

    # -- derived sizes ---------------------------------------------------------------------------
    @property
    def num_up(self) -> int:
        """Number of ×2 upsamplings from the latent grid to the output."""
        return _NUM_UP[self.num_upsampling_layers]

    @property
    def semantic_nc(self) -> int:
        """Input channels of the generator: classes + dontcare + instance edges."""
        return self.label_nc + int(self.contain_dontcare) + int(not self.no_instance)

    @property
    def latent_size(self) -> tuple[int, int]:
        """(sw, sh): width and height of the latent grid, as computed by the official code."""
        sw = self.crop_size // (2 ** self.num_up)
        sh = round(sw / self.aspect_ratio)
        return sw, sh

    @property
    def image_size(self) -> tuple[int, int]:
        """(H, W) of the generated image."""
        sw, sh = self.latent_size
        return sh * 2 ** self.num_up, sw * 2 ** self.num_up

    @property
    def max_label(self) -> int:
        """The largest valid class id (255, the dontcare value, is accepted when contain_dontcare)."""
        return self.label_nc - 1

    # -- (de)serialisation ---------------------------------------------------------------------
    def replace(self, **changes: Any) -> "SPADEConfig":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SPADEConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"SPADEConfig: expected settings among {sorted(names)}, got unknown setting(s) "
                             f"{unknown}; drop or rename them.")
        return cls(**data)


PRESETS: dict[str, SPADEConfig] = {
    # COCO-Stuff: 182 classes + dontcare + instance edges = 184 input channels, 256x256.
    "coco": SPADEConfig(preset="coco", label_nc=182, contain_dontcare=True, no_instance=False,
                        crop_size=256, aspect_ratio=1.0, num_upsampling_layers="normal"),
    # ADE20K: 150 classes + dontcare, no instance maps, 256x256.
    "ade20k": SPADEConfig(preset="ade20k", label_nc=150, contain_dontcare=True, no_instance=True,
                          crop_size=256, aspect_ratio=1.0, num_upsampling_layers="normal"),
    # Cityscapes: 35 label ids + instance edges = 36 channels, 512x256, one more upsampling (grid 8x4).
    "cityscapes": SPADEConfig(preset="cityscapes", label_nc=35, contain_dontcare=False, no_instance=False,
                              crop_size=512, aspect_ratio=2.0, num_upsampling_layers="more"),
}


def get_config(preset: "str | SPADEConfig", **overrides: Any) -> SPADEConfig:
    """Return the :class:`SPADEConfig` of a preset name (or a config), with ``overrides`` applied.

    >>> get_config("coco").semantic_nc
    184
    >>> get_config("coco", ngf=16).ngf
    16
    """
    if isinstance(preset, SPADEConfig):
        config = preset
    elif isinstance(preset, str):
        if preset not in PRESETS:
            raise ValueError(
                f"preset: expected one of {', '.join(repr(p) for p in PRESETS)} or a SPADEConfig, got {got(preset)}."
            )
        config = PRESETS[preset]
    else:
        raise TypeError(f"preset: expected a preset name or a SPADEConfig, got {got(preset)}; pass e.g. "
                        "preset='coco'.")
    return config.replace(**overrides) if overrides else config


def preset_for_semantic_nc(semantic_nc: int) -> str | None:
    """Name of the built-in preset whose generator takes ``semantic_nc`` input channels, if any."""
    for name, config in PRESETS.items():
        if config.semantic_nc == semantic_nc:
            return name
    return None
