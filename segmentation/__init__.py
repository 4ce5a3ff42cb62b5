"""Semantic masks for photostyle: palettes, label maps, matching and automatic segmentation.

This package never imports :mod:`photostyle` (photostyle imports it).
"""

from .auto import AutoMasks, auto_segment
from .deep import DEEP_MODELS, DeepLabels, deep_segment
from .labels import load_label_map, one_hot, resize_labels, resize_soft, save_label_map
from .matching import LabelIoU, LabelMatch, fit_labels, label_iou, match_labels, routing_agreement
from .overlay import label_colors, overlay
from .palette import DPST_PALETTE, DecodedMask, Palette, decode_color_mask
from .semantic import (
    ADE20K_CLASSES,
    CLASS_FAMILIES,
    SemanticSegmenter,
    download_segmentation_model,
    load_segmentation_model,
    looks_hazy,
    semantic_probabilities,
    stretch_contrast,
)

__all__ = [
    "Palette",
    "DPST_PALETTE",
    "DecodedMask",
    "decode_color_mask",
    "load_label_map",
    "save_label_map",
    "resize_labels",
    "one_hot",
    "resize_soft",
    "LabelMatch",
    "match_labels",
    "fit_labels",
    "LabelIoU",
    "label_iou",
    "routing_agreement",
    "AutoMasks",
    "auto_segment",
    "DeepLabels",
    "deep_segment",
    "DEEP_MODELS",
    "ADE20K_CLASSES",
    "CLASS_FAMILIES",
    "SemanticSegmenter",
    "load_segmentation_model",
    "download_segmentation_model",
    "semantic_probabilities",
    "stretch_contrast",
    "looks_hazy",
    "overlay",
    "label_colors",
]
