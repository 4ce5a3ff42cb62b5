"""SPADE's training losses (Park et al. 2019): hinge GAN losses, discriminator feature matching, the KL
term of the image encoder, and the VGG-19 perceptual loss with its encoder.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "VGG_LAYER_WEIGHTS",
    "hinge_d_loss",
    "hinge_g_loss",
    "feature_matching_loss",
    "kld_loss",
    "PerceptualLoss",
    "make_vgg_encoder",
]

#: SPADE's VGG loss weights per layer.
VGG_LAYER_WEIGHTS: dict[str, float] = {
    "relu1_1": 1 / 32, "relu2_1": 1 / 16, "relu3_1": 1 / 8, "relu4_1": 1 / 4, "relu5_1": 1.0,
}


# ------------------------------------------------------------------------------------------- losses
def hinge_d_loss(pred_fake: Sequence[Sequence[torch.Tensor]], pred_real: Sequence[Sequence[torch.Tensor]]
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Discriminator hinge losses (fake, real), averaged over scales: mean(relu(1 ± D))."""
    fake = sum(F.relu(1 + p[-1]).mean() for p in pred_fake) / len(pred_fake)
    real = sum(F.relu(1 - p[-1]).mean() for p in pred_real) / len(pred_real)
    return fake, real


def hinge_g_loss(pred_fake: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """Generator hinge loss −mean(D(fake)), averaged over scales."""
    return sum(-p[-1].mean() for p in pred_fake) / len(pred_fake)


def feature_matching_loss(pred_fake: Sequence[Sequence[torch.Tensor]],
                          pred_real: Sequence[Sequence[torch.Tensor]]) -> torch.Tensor:
    """L1 between the discriminator's intermediate features of fake and real, / number of scales."""
    total = 0.0
    for pf, pr in zip(pred_fake, pred_real):
        for f, r in zip(pf[:-1], pr[:-1]):
            total = total + F.l1_loss(f, r.detach())
    return total / len(pred_fake)


def kld_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) ‖ N(0, I)), summed (as SPADE's KLDLoss)."""
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())


class PerceptualLoss(nn.Module):
    """SPADE's VGG loss: Σ_layers w_l · L1(F_l(fake), F_l(real)) on images in [-1, 1].

    Parameters
    ----------
    encoder
        Any module mapping an RGB image (B, 3, H, W) in [0, 1] to ``{layer: features}`` (e.g.
        :class:`photostyle.encoders.VGG19Encoder`); only the layers it returns are used.
    layer_weights
        ``{layer: weight}``; default :data:`VGG_LAYER_WEIGHTS` (1/32 … 1 for relu1_1 … relu5_1).
    """

    def __init__(self, encoder: nn.Module, layer_weights: Mapping[str, float] | None = None):
        super().__init__()
        self.encoder = encoder
        self.layer_weights = dict(layer_weights if layer_weights is not None else VGG_LAYER_WEIGHTS)

    def forward(self, fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        ff = self.encoder((fake + 1) / 2)
        with torch.no_grad():
            fr = self.encoder((real + 1) / 2)
        used = [k for k in ff if k in self.layer_weights]
        if not used:
            raise ValueError(
                f"encoder: expected some of the layers {sorted(self.layer_weights)}, got {sorted(ff)}; build it "
                "with make_vgg_encoder() or give layer_weights for its layers."
            )
        return sum(self.layer_weights[k] * F.l1_loss(ff[k], fr[k]) for k in used)


def make_vgg_encoder(weights: Any = None, *, layers: Sequence[str] | None = None) -> nn.Module:
    """A :class:`photostyle.encoders.VGG19Encoder` for the perceptual loss.

    ``layers`` default to relu1_1 … relu5_1, cut to what ``weights`` hold: with the shared
    ``vgg19_normalised_conv3_1.pth`` (which ends at conv3_1) that is relu1_1, relu2_1, relu3_1, and a
    warning says so.
    """
    from ..encoders import VGG19Encoder, load_vgg19_weights

    loaded = load_vgg19_weights(weights, progress=False)  # read once, shared with the encoder
    if layers is None:
        wanted = list(VGG_LAYER_WEIGHTS)
        layers = [name for name in wanted if name.replace("relu", "conv") in loaded.available]
        if not layers:
            raise ValueError(f"weights: expected VGG-19 weights that reach conv1_1, got '{loaded.source}'; give "
                             "full weights.")
        if len(layers) < len(wanted):
            warnings.warn(
                f"VGG perceptual loss: the weights '{loaded.source}' end at {loaded.last_conv}, so the loss uses "
                f"{', '.join(layers)} only (SPADE uses relu1_1 … relu5_1); give full VGG-19 weights for the "
                "paper's loss.", stacklevel=2,
            )
    enc = VGG19Encoder.from_state_dict(loaded, list(layers))
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc

