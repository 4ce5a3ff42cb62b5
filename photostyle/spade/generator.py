"""The SPADE generator (Park et al., CVPR 2019), laid out so that the official checkpoints load as they are.

Module names, parameter names and shapes follow NVlabs/SPADE (``latest_net_G.pth`` of the coco,
ade20k and cityscapes models load with ``load_state_dict(strict=True)``):

* ``fc``: 3x3 conv from the label map downsampled (nearest) to the latent grid, or, with a VAE, a
  linear layer from the style code;
* residual blocks ``head_0``, ``G_middle_0``, ``G_middle_1``, ``up_0`` … ``up_3`` (and ``up_4`` with
  ``num_upsampling_layers="most"``), each with spectral-normed convs ``conv_0``, ``conv_1`` (and a
  bias-free 1x1 ``conv_s`` when the channel count changes) and :class:`SPADE` norms ``norm_0``,
  ``norm_1`` (``norm_s``);
* ``conv_img``: 3x3 conv to RGB after a leaky ReLU (0.2), then tanh: output in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils import spectral_norm

from .._checks import got
from .config import SPADEConfig

__all__ = ["SPADE", "SPADEResnetBlock", "SPADEGenerator"]


class SPADE(nn.Module):
    """Spatially-adaptive normalisation: ``out = norm(x) · (1 + γ(seg)) + β(seg)``.

    ``norm`` is a parameter-free batch norm (its running statistics are buffers: ``running_mean``,
    ``running_var``, ``num_batches_tracked``); γ and β are 3x3 convs on a shared 3x3 conv + ReLU
    embedding of the label map, resized (nearest) to ``x``.

    Parameters
    ----------
    norm_nc
        Channels of ``x``.
    label_nc
        Channels of the semantic map (one-hot classes, dontcare, edges).
    hidden
        Channels of the shared embedding (128 in the official models).
    """

    def __init__(self, norm_nc: int, label_nc: int, *, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.param_free_norm = nn.BatchNorm2d(norm_nc, affine=False)
        self.mlp_shared = nn.Sequential(nn.Conv2d(label_nc, hidden, kernel_size, padding=pad), nn.ReLU())
        self.mlp_gamma = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)
        self.mlp_beta = nn.Conv2d(hidden, norm_nc, kernel_size, padding=pad)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        """x: (B, norm_nc, H, W); seg: (B, label_nc, H', W') → (B, norm_nc, H, W)."""
        normalized = self.param_free_norm(x)
        seg = F.interpolate(seg, size=x.shape[2:], mode="nearest")
        actv = self.mlp_shared(seg)
        return normalized * (1 + self.mlp_gamma(actv)) + self.mlp_beta(actv)


class SPADEResnetBlock(nn.Module):
    """Residual block: SPADE → leaky ReLU → conv, twice, plus a (learned when fin ≠ fout) shortcut."""

    def __init__(self, fin: int, fout: int, semantic_nc: int, *, hidden: int = 128):
        super().__init__()
        self.learned_shortcut = fin != fout
        fmiddle = min(fin, fout)
        self.conv_0 = spectral_norm(nn.Conv2d(fin, fmiddle, 3, padding=1))
        self.conv_1 = spectral_norm(nn.Conv2d(fmiddle, fout, 3, padding=1))
        if self.learned_shortcut:
            self.conv_s = spectral_norm(nn.Conv2d(fin, fout, 1, bias=False))
        self.norm_0 = SPADE(fin, semantic_nc, hidden=hidden)
        self.norm_1 = SPADE(fmiddle, semantic_nc, hidden=hidden)
        if self.learned_shortcut:
            self.norm_s = SPADE(fin, semantic_nc, hidden=hidden)

    def forward(self, x: torch.Tensor, seg: torch.Tensor) -> torch.Tensor:
        x_s = self.conv_s(self.norm_s(x, seg)) if self.learned_shortcut else x
        dx = self.conv_0(F.leaky_relu(self.norm_0(x, seg), 0.2))
        dx = self.conv_1(F.leaky_relu(self.norm_1(dx, seg), 0.2))
        return x_s + dx


class SPADEGenerator(nn.Module):
    """Label map (one-hot, see :func:`photostyle.spade.encode_labels`) → RGB image in [-1, 1].

    Parameters
    ----------
    config
        A :class:`SPADEConfig` (e.g. ``get_config("coco")``); it fixes every shape.

    Notes
    -----
    The output size is ``config.image_size`` whatever the size of the input map (the map is
    resized by nearest neighbour inside, as in the official code). With ``config.use_vae`` the
    forward pass takes a style code ``z`` of shape (B, z_dim); without one it draws z ~ N(0, I).
    """

    def __init__(self, config: SPADEConfig):
        super().__init__()
        if not isinstance(config, SPADEConfig):
            raise TypeError(f"config: expected a SPADEConfig, got {got(config)}; use get_config('coco').")
        self.config = config
        nf = config.ngf
        snc = config.semantic_nc
        hid = config.spade_hidden
        self.sw, self.sh = config.latent_size
        if config.use_vae:
            self.fc = nn.Linear(config.z_dim, 16 * nf * self.sw * self.sh)
        else:
            self.fc = nn.Conv2d(snc, 16 * nf, 3, padding=1)
        self.head_0 = SPADEResnetBlock(16 * nf, 16 * nf, snc, hidden=hid)
        self.G_middle_0 = SPADEResnetBlock(16 * nf, 16 * nf, snc, hidden=hid)
        self.G_middle_1 = SPADEResnetBlock(16 * nf, 16 * nf, snc, hidden=hid)
        self.up_0 = SPADEResnetBlock(16 * nf, 8 * nf, snc, hidden=hid)
        self.up_1 = SPADEResnetBlock(8 * nf, 4 * nf, snc, hidden=hid)
        self.up_2 = SPADEResnetBlock(4 * nf, 2 * nf, snc, hidden=hid)
        self.up_3 = SPADEResnetBlock(2 * nf, 1 * nf, snc, hidden=hid)
        final_nc = nf
        if config.num_upsampling_layers == "most":
            self.up_4 = SPADEResnetBlock(nf, nf // 2, snc, hidden=hid)
            final_nc = nf // 2
        self.conv_img = nn.Conv2d(final_nc, 3, 3, padding=1)

    @staticmethod
    def _up(x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="nearest")

    def forward(self, seg: torch.Tensor, z: torch.Tensor | None = None) -> torch.Tensor:
        """seg: (B, semantic_nc, H, W) float; z: (B, z_dim) or None → (B, 3, *config.image_size) in [-1, 1]."""
        cfg = self.config
        if seg.ndim != 4 or seg.shape[1] != cfg.semantic_nc:
            raise ValueError(
                f"seg: expected a one-hot map of shape (B, {cfg.semantic_nc}, H, W) for preset "
                f"'{cfg.preset}', got {tuple(seg.shape)}; build it with photostyle.spade.encode_labels."
            )
        if cfg.use_vae:
            if z is None:
                z = torch.randn(seg.shape[0], cfg.z_dim, device=seg.device, dtype=seg.dtype)
            x = self.fc(z).view(-1, 16 * cfg.ngf, self.sh, self.sw)
        else:
            x = self.fc(F.interpolate(seg, size=(self.sh, self.sw), mode="nearest"))
        x = self.head_0(x, seg)
        x = self._up(x)
        x = self.G_middle_0(x, seg)
        if cfg.num_upsampling_layers in ("more", "most"):
            x = self._up(x)
        x = self.G_middle_1(x, seg)
        for block in (self.up_0, self.up_1, self.up_2, self.up_3):
            x = block(self._up(x), seg)
        if cfg.num_upsampling_layers == "most":
            x = self.up_4(self._up(x), seg)
        x = self.conv_img(F.leaky_relu(x, 0.2))
        return torch.tanh(x)
