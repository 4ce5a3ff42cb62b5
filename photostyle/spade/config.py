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

__all__ = ["SPADEConfig", "PRESETS", "get_config", "preset_for_semantic_nc"]

Upsampling = Literal["normal", "more", "most"]

_NUM_UP = {"normal": 5, "more": 6, "most": 7}


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
        for name in ("label_nc", "crop_size", "ngf", "z_dim", "spade_hidden"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SPADEConfig.{name} must be a positive integer, got {value!r}.")
        if self.num_upsampling_layers not in _NUM_UP:
            raise ValueError(
                "SPADEConfig.num_upsampling_layers must be 'normal', 'more' or 'most', "
                f"got {self.num_upsampling_layers!r}."
            )
        if not (isinstance(self.aspect_ratio, (int, float)) and self.aspect_ratio > 0):
            raise ValueError(f"SPADEConfig.aspect_ratio must be > 0, got {self.aspect_ratio!r}.")
        if self.num_upsampling_layers == "most" and self.ngf < 2:
            raise ValueError("SPADEConfig.ngf must be >= 2 with num_upsampling_layers='most'.")
        sw, sh = self.latent_size
        if sw < 1 or sh < 1:
            raise ValueError(
                f"SPADEConfig: crop_size {self.crop_size} with aspect_ratio {self.aspect_ratio} and "
                f"{self.num_up} upsamplings gives an empty latent grid ({sw}x{sh}); use crop_size >= "
                f"{2 ** self.num_up * max(1, math.ceil(self.aspect_ratio))}."
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
            raise ValueError(f"SPADEConfig: unknown setting(s) {unknown}; known ones are {sorted(names)}.")
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
                f"preset must be one of {', '.join(repr(p) for p in PRESETS)} or a SPADEConfig, got {preset!r}."
            )
        config = PRESETS[preset]
    else:
        raise TypeError(f"preset must be a preset name or a SPADEConfig, got {type(preset).__name__}.")
    return config.replace(**overrides) if overrides else config


def preset_for_semantic_nc(semantic_nc: int) -> str | None:
    """Name of the built-in preset whose generator takes ``semantic_nc`` input channels, if any."""
    for name, config in PRESETS.items():
        if config.semantic_nc == semantic_nc:
            return name
    return None
