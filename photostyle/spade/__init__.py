"""Optional SPADE generator (Park et al., CVPR 2019): from a label map to a photo, and on to a photo
with the look of a reference (through :func:`photostyle.transfer`).

Never imported by ``photostyle/__init__``: ``import photostyle.spade`` when you need it.

The official NVlabs/SPADE checkpoints (``latest_net_G.pth`` of the coco, ade20k and cityscapes
models; licence CC BY-NC-SA 4.0) load strictly and unchanged, but are neither bundled nor downloaded:
give the path of a file you obtained yourself.

>>> import photostyle.spade as spade
>>> labels = spade.palette.landscape_bands((256, 256), [("sky-other", 0), ("sea", 0.6)])
>>> result = spade.render(labels, checkpoint="coco_pretrained/latest_net_G.pth", preset="coco")  # doctest: +SKIP
>>> final = spade.render_and_restyle(labels, "reference.jpg", checkpoint=..., preset="coco",
...                                  style_mask="reference_labels.png")                            # doctest: +SKIP
"""

from . import palette
from .checkpoint import (
    SPADEModel,
    config_from_state_dict,
    load_generator,
    load_model,
    read_state_dict,
    read_train_state,
    save_checkpoint,
)
from .config import PRESETS, SPADEConfig, get_config
from .discriminator import MultiscaleDiscriminator, NLayerDiscriminator
from .encoder import ConvEncoder
from .generator import SPADE, SPADEGenerator, SPADEResnetBlock
from .labels import DONTCARE, ade20k_from_raw, as_label_tensor, encode_labels, label_edges, load_labels
from .render import RenderResult, RestyleResult, encode_style, render, render_and_restyle
from .train import (
    PairedFolderDataset,
    PerceptualLoss,
    SyntheticLabelDataset,
    TrainResult,
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
    init_weights,
    kld_loss,
    make_vgg_encoder,
    train_spade,
)

__all__ = [
    "palette",
    "SPADEConfig",
    "PRESETS",
    "get_config",
    "SPADE",
    "SPADEResnetBlock",
    "SPADEGenerator",
    "ConvEncoder",
    "NLayerDiscriminator",
    "MultiscaleDiscriminator",
    "DONTCARE",
    "load_labels",
    "as_label_tensor",
    "encode_labels",
    "label_edges",
    "ade20k_from_raw",
    "SPADEModel",
    "load_model",
    "load_generator",
    "read_state_dict",
    "save_checkpoint",
    "read_train_state",
    "config_from_state_dict",
    "render",
    "render_and_restyle",
    "encode_style",
    "RenderResult",
    "RestyleResult",
    "train_spade",
    "TrainResult",
    "SyntheticLabelDataset",
    "PairedFolderDataset",
    "PerceptualLoss",
    "make_vgg_encoder",
    "init_weights",
    "hinge_d_loss",
    "hinge_g_loss",
    "feature_matching_loss",
    "kld_loss",
]
