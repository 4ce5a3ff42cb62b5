"""The VAE image encoder (style code for the generator) and the multi-scale PatchGAN discriminator.

Both follow the layouts of NVlabs/SPADE (``latest_net_E.pth``, ``latest_net_D.pth``) with their
default "spectralinstance" norms: spectral-normed convs followed by parameter-free instance norms.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from .config import SPADEConfig

__all__ = ["ConvEncoder", "NLayerDiscriminator", "MultiscaleDiscriminator", "encoder_input_size"]


def _sn_in(conv: nn.Conv2d) -> nn.Sequential:
    """spectral_norm(conv) followed by InstanceNorm2d(affine=False): keys ``0.weight_orig`` …"""
    return nn.Sequential(spectral_norm(conv), nn.InstanceNorm2d(conv.out_channels, affine=False))


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
        if input_size < 8 or input_size & (input_size - 1):
            raise ValueError(f"input_size must be a power of two >= 8, got {input_size}.")
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
            raise ValueError(f"image: expected (B, 3, H, W), got {tuple(x.shape)}.")
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


class NLayerDiscriminator(nn.Module):
    """PatchGAN: 4x4 convs, stride 2 then 1; returns every layer's output (for feature matching)."""

    def __init__(self, input_nc: int, *, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be >= 1, got {n_layers}.")
        kw, pad = 4, 2
        nf = ndf
        groups: list[list[nn.Module]] = [[nn.Conv2d(input_nc, nf, kw, stride=2, padding=pad), nn.LeakyReLU(0.2)]]
        for n in range(1, n_layers):
            nf_prev, nf = nf, min(nf * 2, 512)
            stride = 1 if n == n_layers - 1 else 2
            groups.append([_sn_in(nn.Conv2d(nf_prev, nf, kw, stride=stride, padding=pad)), nn.LeakyReLU(0.2)])
        groups.append([nn.Conv2d(nf, 1, kw, stride=1, padding=pad)])
        for n, group in enumerate(groups):
            self.add_module(f"model{n}", nn.Sequential(*group))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.children():
            x = block(x)
            feats.append(x)
        return feats


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on the (labels ⊕ image) input at scales 1, 1/2, … (3x3 average pooling).

    forward(x (B, semantic_nc + 3, H, W)) → list over scales of lists of layer outputs; the last
    entry of each inner list is the patch prediction.
    """

    def __init__(self, input_nc: int, *, ndf: int = 64, n_layers: int = 4, num_D: int = 2):
        super().__init__()
        for i in range(num_D):
            self.add_module(f"discriminator_{i}", NLayerDiscriminator(input_nc, ndf=ndf, n_layers=n_layers))

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        out = []
        for d in self.children():
            out.append(d(x))
            x = F.avg_pool2d(x, kernel_size=3, stride=2, padding=1, count_include_pad=False)
        return out
