"""SPADE's multi-scale PatchGAN discriminator, laid out as NVlabs/SPADE's ``latest_net_D.pth``.

Its default "spectralinstance" norm (a spectral-normed conv followed by a parameter-free instance norm,
:func:`_sn_in`) is shared with the image encoder (:mod:`photostyle.spade.encoder`).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from .._checks import check_integer

__all__ = ["NLayerDiscriminator", "MultiscaleDiscriminator"]


def _sn_in(conv: nn.Conv2d) -> nn.Sequential:
    """spectral_norm(conv) followed by InstanceNorm2d(affine=False): keys ``0.weight_orig`` …"""
    return nn.Sequential(spectral_norm(conv), nn.InstanceNorm2d(conv.out_channels, affine=False))


class NLayerDiscriminator(nn.Module):
    """PatchGAN: 4x4 convs, stride 2 then 1; returns every layer's output (for feature matching)."""

    def __init__(self, input_nc: int, *, ndf: int = 64, n_layers: int = 4):
        super().__init__()
        check_integer("n_layers", n_layers, minimum=1, example=4)
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
