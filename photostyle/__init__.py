"""photostyle: photorealistic style transfer (Deep Photo Style Transfer, Luan et al. 2017) in PyTorch.

>>> import photostyle as ps
>>> result = ps.transfer("content.jpg", "style.jpg", content_mask="in.png", style_mask="tar.png")
>>> result.image.save("out.png")
"""

from ._version import __version__
from . import metrics
from ._checks import resolve_device
from .encoders import VGG19Encoder
from .image import read_image, resize_long_side, save_image, to_numpy, to_pil, to_tensor
from .layers import VGG19_LAYERS
from .losses import (
    ContentLoss, MaskedStyleLoss, StyleObjective, TVLoss, content_loss, gram_matrix, masked_gram,
    masked_style_loss, style_targets, tv_loss,
)
from .masks import MaskSet, mask_pyramid, prepare_masks
from .matting import PhotorealismLoss, laplacian_to_torch, matting_laplacian, photorealism_loss
from .optimize import StepInfo, Stop, StopReason, run_lbfgs
from .presets import PRESETS, Level, LossWeights, Preset
from .smoothing import best_local_affine, guided_filter, posterization_refine
from .result import TransferResult
from .transfer import transfer
from .upsample import apply_affine, estimate_memory, fit_affine, upsample_affine, upsample_result
from .colour import colour_transfer
from .weights import VGG19Weights, load_vgg19_weights
from .batch import BatchSummary, run_batch
from ._memory import reuse_freed_memory

__all__ = [
    "__version__",
    # transfer
    "transfer", "TransferResult", "StepInfo", "Stop", "StopReason", "run_lbfgs", "resolve_device",
    # presets
    "Preset", "PRESETS", "Level", "LossWeights",
    # masks
    "MaskSet", "prepare_masks", "mask_pyramid",
    # encoder
    "VGG19Encoder", "VGG19Weights", "VGG19_LAYERS", "load_vgg19_weights",
    # losses
    "gram_matrix", "masked_gram", "content_loss", "masked_style_loss", "style_targets", "tv_loss",
    "ContentLoss", "MaskedStyleLoss", "TVLoss", "StyleObjective",
    # photorealism
    "matting_laplacian", "laplacian_to_torch", "photorealism_loss", "PhotorealismLoss",
    # post-processing and full resolution
    "best_local_affine", "guided_filter", "posterization_refine",
    "fit_affine", "apply_affine", "upsample_affine", "upsample_result", "estimate_memory",
    # start image
    "colour_transfer",
    # images
    "to_tensor", "to_pil", "to_numpy", "read_image", "save_image", "resize_long_side",
    "metrics",
    # many photos
    "run_batch", "BatchSummary",
    # speed
    "reuse_freed_memory",
]
