"""photostyle: photorealistic style transfer (Deep Photo Style Transfer, Luan et al. 2017) in PyTorch.

>>> import photostyle as ps
>>> result = ps.transfer("content.jpg", "style.jpg", content_mask="in.png", style_mask="tar.png")
>>> result.image.save("out.png")
"""

__version__ = "0.1.0"

from .encoders import VGG19_LAYERS, VGG19Encoder, VGG19Weights, load_vgg19_weights
from .image import read_image, resize_long_side, save_image, to_numpy, to_pil, to_tensor
from .losses import (
    ContentLoss, MaskedStyleLoss, TVLoss, content_loss, gram_matrix, masked_gram, masked_style_loss,
    style_targets, tv_loss,
)
from .matting import PhotorealismLoss, laplacian_to_torch, matting_laplacian, photorealism_loss
from .smoothing import best_local_affine, guided_filter, posterization_refine
from .transfer import PRESETS, Preset, StepInfo, StyleObjective, TransferResult, run_lbfgs, transfer
from . import metrics

__all__ = [
    "__version__",
    # transfer
    "transfer", "TransferResult", "StepInfo", "Preset", "PRESETS", "StyleObjective", "run_lbfgs",
    # encoder
    "VGG19Encoder", "VGG19Weights", "VGG19_LAYERS", "load_vgg19_weights",
    # losses
    "gram_matrix", "masked_gram", "content_loss", "masked_style_loss", "style_targets", "tv_loss",
    "ContentLoss", "MaskedStyleLoss", "TVLoss",
    # photorealism
    "matting_laplacian", "laplacian_to_torch", "photorealism_loss", "PhotorealismLoss",
    # post-processing
    "best_local_affine", "guided_filter", "posterization_refine",
    # images
    "to_tensor", "to_pil", "to_numpy", "read_image", "save_image", "resize_long_side",
    "metrics",
]
