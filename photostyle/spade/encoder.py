"""The VAE image encoder: a photo's style code for the generator.

It follows the layout of NVlabs/SPADE (``latest_net_E.pth``) with the default "spectralinstance" norms:
spectral-normed convs followed by parameter-free instance norms. The discriminators, which were here, live
in :mod:`photostyle.spade.discriminator` and are importable from here as before.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._checks import check_integer
from .config import SPADEConfig
from .discriminator import MultiscaleDiscriminator, NLayerDiscriminator, _sn_in

__all__ = ["ConvEncoder", "NLayerDiscriminator", "MultiscaleDiscriminator", "encoder_input_size"]


def encoder_input_size(config: SPADEConfig) -> int:
    """Square size the encoder resizes its image to: 256 (6 stride-2 convs → 4x4) for official-size
    models; for small models the crop size rounded up to a power of two (at least 8)."""
    if config.crop_size >= 256:
        return 256
    return max(8, 2 ** math.ceil(math.log2(config.crop_size)))


class ConvEncoder(nn.Module):
    """Image → (mu, logvar) of the style code, each (B, z_dim).

    Stride-2 3x3 convs (``layer1`` … ``layer6`` at 256x256 input) with spectral norm, instance norm
    and leaky ReLU 0.2, then ``fc_mu`` and ``fc_var`` from the final 4x4 grid.

    Parameters
    ----------
    ngf
        Base width (``ndf = ngf`` as in the official code); channels ngf, 2ngf, 4ngf, 8ngf, 8ngf, ….
    z_dim
        Size of the style code.
    input_size
        Images are resized (bilinear) to ``input_size x input_size``; a power of two >= 8, giving
        ``log2(input_size / 4)`` convs (6 for 256).

    The input is an RGB image in [-1, 1] of shape (B, 3, H, W) (any H, W).
    """

    def __init__(self, ngf: int = 64, z_dim: int = 256, *, input_size: int = 256):
        super().__init__()
        check_integer("input_size", input_size, minimum=8, example=256)
        if input_size & (input_size - 1):
            raise ValueError(f"input_size: expected a power of two >= 8, got {input_size}; pass e.g. input_size=256.")
        self.input_size = input_size
        n_layers = int(math.log2(input_size // 4))
        channels = [3] + [ngf * min(2 ** i, 8) for i in range(n_layers)]
        for i in range(n_layers):
            self.add_module(f"layer{i + 1}", _sn_in(nn.Conv2d(channels[i], channels[i + 1], 3, stride=2, padding=1)))
        self.n_layers = n_layers
        self.fc_mu = nn.Linear(channels[-1] * 16, z_dim)
        self.fc_var = nn.Linear(channels[-1] * 16, z_dim)

    @classmethod
    def from_config(cls, config: SPADEConfig) -> "ConvEncoder":
        return cls(config.ngf, config.z_dim, input_size=encoder_input_size(config))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: (B, 3, H, W) in [-1, 1] → (mu, logvar), each (B, z_dim)."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"image: expected (B, 3, H, W), got {tuple(x.shape)}; pass a batch of RGB images "
                             "in [-1, 1].")
        s = self.input_size
        if x.shape[2] != s or x.shape[3] != s:
            x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        for i in range(self.n_layers):
            x = getattr(self, f"layer{i + 1}")(x)
            x = F.leaky_relu(x, 0.2)
        x = x.flatten(1)
        return self.fc_mu(x), self.fc_var(x)

    @staticmethod
    def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, *,
                       generator: torch.Generator | None = None) -> torch.Tensor:
        """z = mu + exp(logvar / 2) · ε, ε ~ N(0, I)."""
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        return mu + torch.exp(0.5 * logvar) * eps

