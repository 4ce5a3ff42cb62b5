"""SPADE's errors speak the house format word for word: "name: expected …, got …; fix" (TypeError for a
wrong type, ValueError for a wrong value). Messages quoted by the other test files are checked there."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _spade_helpers import toy_config
from tests._shared import raises_exactly
from photostyle.spade import (ConvEncoder, MultiscaleDiscriminator, SPADEConfig, SPADEGenerator, as_label_tensor,
                              encode_labels, get_config, label_edges, load_labels, palette, render)
from photostyle.spade.checkpoint import read_state_dict
from photostyle.spade.train import train_spade
from photostyle.spade.train_data import SyntheticLabelDataset

LABELS = np.zeros((32, 32), dtype=np.int64)


@pytest.mark.parametrize("exc, message, call", [
    # SPADEConfig: a wrong type is a TypeError, a wrong value a ValueError
    (ValueError, "SPADEConfig.label_nc: expected an integer >= 1, got 0; pass e.g. SPADEConfig.label_nc=182.",
     lambda: SPADEConfig(label_nc=0)),
    (TypeError, "SPADEConfig.ngf: expected an integer >= 1, got 1.5 (float); pass e.g. SPADEConfig.ngf=64.",
     lambda: SPADEConfig(label_nc=3, ngf=1.5)),
    (ValueError, "SPADEConfig.num_upsampling_layers: expected one of 'normal', 'more', 'most', got 'x' (str).",
     lambda: SPADEConfig(label_nc=3, num_upsampling_layers="x")),
    (ValueError, "SPADEConfig.aspect_ratio: expected a finite number > 0, got 0.0; pass e.g. "
     "SPADEConfig.aspect_ratio=2.0 (twice as wide as high).", lambda: SPADEConfig(label_nc=3, aspect_ratio=0)),
    (TypeError, "SPADEConfig.aspect_ratio: expected a positive real number, got '2' (str); pass e.g. "
     "SPADEConfig.aspect_ratio=2.0 (twice as wide as high).", lambda: SPADEConfig(label_nc=3, aspect_ratio="2")),
    (ValueError, "SPADEConfig.ngf: expected an integer >= 2 with num_upsampling_layers='most', got 1; pass e.g. "
     "ngf=64.", lambda: SPADEConfig(label_nc=3, ngf=1, num_upsampling_layers="most")),
    (ValueError, "SPADEConfig: expected settings among ['aspect_ratio', 'contain_dontcare', 'crop_size', 'label_nc', "
     "'ngf', 'no_instance', 'num_upsampling_layers', 'preset', 'spade_hidden', 'use_vae', 'z_dim'], got unknown "
     "setting(s) ['foo']; drop or rename them.", lambda: SPADEConfig.from_dict({"label_nc": 3, "foo": 1})),
    (TypeError, "preset: expected a preset name or a SPADEConfig, got 3 (int); pass e.g. preset='coco'.",
     lambda: get_config(3)),
    # networks
    (TypeError, "config: expected a SPADEConfig, got 'coco' (str); use get_config('coco').",
     lambda: SPADEGenerator("coco")),
    (ValueError, "input_size: expected a power of two >= 8, got 12; pass e.g. input_size=256.",
     lambda: ConvEncoder(input_size=12)),
    (TypeError, "input_size: expected an integer >= 8, got '256' (str); pass e.g. input_size=256.",
     lambda: ConvEncoder(input_size="256")),
    (ValueError, "n_layers: expected an integer >= 1, got 0; pass e.g. n_layers=4.",
     lambda: MultiscaleDiscriminator(7, ndf=4, n_layers=0)),
    # palette
    (TypeError, "name: expected a COCO-Stuff class name (str), got 3 (int); pass e.g. 'sky-other'.",
     lambda: palette.coco_id(3)),
    (ValueError, "name: expected a COCO-Stuff class name, got 'zzzz'; see palette.COCO_STUFF_NAMES.",
     lambda: palette.coco_id("zzzz")),
    (ValueError, "label_id: expected an id in 0 … 181 or 255, got 300; see palette.COCO_STUFF_NAMES.",
     lambda: palette.coco_name(300)),
    (ValueError, "labels: expected an array (H, W), got shape (2, 2, 2); pass one map of class ids.",
     lambda: palette.colorize(np.zeros((2, 2, 2)))),
    (ValueError, "image: expected a colour image (H, W, 3), got shape (2, 2); pass an RGB array (a 2-D array "
     "already holds class ids).", lambda: palette.colors_to_labels(np.zeros((2, 2)))),
    (ValueError, "colors: expected at least one {label: (r, g, b)} entry, got none; pass e.g. "
     "{'sky-other': (95, 219, 255)}, or colors=None for the preset's colours.",
     lambda: palette.colors_to_labels(np.zeros((2, 2, 3)), {})),
    (ValueError, "colors[1]: expected an (r, g, b) triple, got (1, 2); pass e.g. (0, 0, 255).",
     lambda: palette.colors_to_labels(np.zeros((2, 2, 3)), {1: (1, 2)})),
    (ValueError, "preset: expected 'coco' (labels_from_names knows COCO-Stuff names only), got 'ade20k' (str); "
     "map other names to ids yourself.", lambda: palette.labels_from_names(np.array([["sea"]]), preset="ade20k")),
    (ValueError, "bands: expected at least one (class, top_fraction) pair, got none; pass e.g. "
     "[('sky-other', 0.0), ('sea', 0.5)].", lambda: palette.landscape_bands((4, 2), [])),
    (ValueError, "bands: expected a first band starting at 0.0 (the top of the image), got 0.5; start one band at "
     "0.0.", lambda: palette.landscape_bands((4, 2), [("sea", 0.5)])),
    (ValueError, "bands: expected top fractions in [0, 1], got 1.5; give each band's top as a share of the height.",
     lambda: palette.landscape_bands((4, 2), [("sea", 0.0), ("sky-other", 1.5)])),
    # label maps
    (TypeError, "labels: expected integer class ids, got dtype torch.bool; convert them with .long().",
     lambda: as_label_tensor(torch.zeros(2, 2, dtype=torch.bool))),
    (ValueError, "labels: expected a non-empty label map, got shape (1, 0, 2); pass a map with at least one pixel.",
     lambda: as_label_tensor(torch.zeros(0, 2))),
    (ValueError, "t: expected an id map (B, H, W), got shape (2, 2); add a batch axis with t[None].",
     lambda: label_edges(torch.zeros(2, 2))),
    (ValueError, "instances: expected the labels' shape (1, 4, 4), got (1, 2, 2); pass the instance map of this "
     "label map.", lambda: encode_labels(torch.zeros(1, 4, 4, dtype=torch.long), get_config("coco"),
                                         instances=torch.zeros(1, 2, 2, dtype=torch.long))),
    # render
    (TypeError, "seed: expected an integer, got 1.5 (float); pass e.g. seed=0.",
     lambda: render(LABELS, checkpoint=SPADEGenerator(toy_config()), seed=1.5)),
    (TypeError, "checkpoint: expected a path, a SPADEModel or a SPADEGenerator, got 3 (int); load one with "
     "photostyle.spade.load_model.", lambda: render(LABELS, checkpoint=3)),
    (ValueError, "instances: expected the labels' shape (32, 32), got (3, 32); pass the instance map of this label "
     "map.", lambda: render(LABELS, checkpoint=SPADEGenerator(toy_config()), instances=LABELS[:3])),
    # training
    (ValueError, "num_labels: expected at most 8 without colors=, got 50; pass colors= with one RGB triple per label.",
     lambda: SyntheticLabelDataset(num_labels=50)),
    (ValueError, "colors: expected shape (2, 3), got (1, 3); give one RGB triple in [0, 1] per label.",
     lambda: SyntheticLabelDataset(num_labels=2, colors=[(1, 0, 0)])),
    (TypeError, "steps: expected an integer >= 1, got 2.5 (float); pass e.g. steps=1000.",
     lambda: train_spade("data", config=toy_config(), steps=2.5)),
    (ValueError, "lr_g: expected a number >= 0.0, got -1.0; pass e.g. lr_g=0.0001.",
     lambda: train_spade("data", config=toy_config(), lr_g=-1)),
    (TypeError, "data: expected a folder path or a torch Dataset, got 3 (int); pass a folder with images/ and "
     "labels/.", lambda: train_spade(3, config=toy_config(), vgg_encoder=None)),
])
def test_message(exc, message, call):
    with raises_exactly(exc, message):
        call()


def test_file_messages(tmp_path):
    with raises_exactly(ValueError, f"labels: expected a label image file, got the directory '{tmp_path}'; pass a "
                        "file in it."):
        load_labels(tmp_path)
    with raises_exactly(ValueError, f"checkpoint: expected a checkpoint file, got the directory '{tmp_path}' without "
                        "latest_net_G.pth; give the checkpoint file."):
        read_state_dict(tmp_path)
    (tmp_path / "a.txt").write_text("x")
    with raises_exactly(ValueError, f"out_dir: expected a folder, got the file '{tmp_path / 'a.txt'}'; give a folder "
                        "for checkpoints and samples."):
        train_spade(SyntheticLabelDataset(4, size=32, num_labels=3), config=toy_config(label_nc=3), steps=1,
                    batch_size=2, out_dir=tmp_path / "a.txt", vgg_encoder=None, n_layers_D=1, num_D=1)

