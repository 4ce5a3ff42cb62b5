"""Checkpoint files and bad input: other presets, truncated or foreign files, devices, rendering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _spade_helpers import toy_config
from tests._shared import raises_exactly
from photostyle.spade import (
    ConvEncoder,
    MultiscaleDiscriminator,
    SPADEGenerator,
    config_from_state_dict,
    get_config,
    load_model,
    render,
    save_checkpoint,
)


def _fake_official_state(semantic_nc: int) -> dict[str, torch.Tensor]:
    """The keys load_model inspects first, shaped as an official ngf=64 file (cheap: no full model)."""
    return {
        "fc.weight": torch.zeros(1024, semantic_nc, 3, 3),
        "fc.bias": torch.zeros(1024),
        "head_0.conv_0.weight_orig": torch.zeros(1024, 1, 1, 1),  # only dim 0 (16·ngf) is read
        "head_0.norm_0.mlp_shared.0.weight": torch.zeros(128, semantic_nc, 3, 3),
        "conv_img.weight": torch.zeros(3, 64, 3, 3),
    }


@pytest.mark.parametrize("given,actual,nc", [("coco", "ade20k", 151), ("coco", "cityscapes", 36),
                                             ("cityscapes", "coco", 184), ("ade20k", "coco", 184)])
def test_checkpoint_of_another_preset_says_which(tmp_path, given, actual, nc):
    path = tmp_path / "latest_net_G.pth"
    torch.save(_fake_official_state(nc), path)
    expected = get_config(given).semantic_nc
    with raises_exactly(ValueError, f"checkpoint: expected fc.weight [1024, {expected}, 3, 3] for preset '{given}', got "
                        f"[1024, {nc}, 3, 3]; it fits preset '{actual}': pass preset='{actual}'."):
        load_model(path, preset=given)


def test_checkpoint_fitting_no_preset(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save(_fake_official_state(99), path)
    with raises_exactly(ValueError, "checkpoint: expected a generator of a built-in preset (coco, ade20k, cityscapes), "
                        "got fc.weight [1024, 99, 3, 3] (input channels 99); pass preset= one of coco, ade20k, "
                        "cityscapes or a SPADEConfig, or keep the spade_config.json written by train_spade beside "
                        "the file."):
        load_model(path)
    with raises_exactly(ValueError, "checkpoint: expected fc.weight [1024, 184, 3, 3] for preset 'coco', got "
                        "[1024, 99, 3, 3]; it fits no built-in preset (input channels 99, ngf 64, no VAE): pass the "
                        "SPADEConfig it was trained with, or no preset when its spade_config.json sits beside it."):
        load_model(path, preset="coco")


def test_preset_recognised_from_fc_weight():
    assert config_from_state_dict(_fake_official_state(151)).preset == "ade20k"
    assert config_from_state_dict(_fake_official_state(36)).preset == "cityscapes"


def test_truncated_and_foreign_files(tmp_path):
    g = SPADEGenerator(toy_config())
    good = tmp_path / "good.pth"
    torch.save(g.state_dict(), good)
    truncated = tmp_path / "latest_net_G.pth"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError, match="truncated or not a checkpoint"):
        load_model(truncated, preset=toy_config())
    text = tmp_path / "notes.pth"
    text.write_text("hello, I am not a checkpoint\n")
    with pytest.raises(ValueError, match="truncated or not a checkpoint"):
        load_model(text)
    listing = tmp_path / "list.pth"
    torch.save([1, 2, 3], listing)
    with raises_exactly(ValueError, f"checkpoint: expected a state_dict of tensors, got a list in '{listing}'; give a "
                        "latest_net_G.pth saved by NVlabs/SPADE or photostyle.spade."):
        load_model(listing)
    with raises_exactly(FileNotFoundError, f"checkpoint: expected a latest_net_G.pth file, got "
                        f"'{tmp_path / 'missing.pth'}', which does not exist; give the path of one."):
        load_model(tmp_path / "missing.pth")
    empty = tmp_path / "empty"
    empty.mkdir()
    with raises_exactly(FileNotFoundError, f"checkpoint: expected a folder holding latest_net_G.pth, got '{empty}' "
                        "without one; give the checkpoint file or its folder."):
        load_model(empty)


def test_discriminator_file_is_not_a_generator(tmp_path):
    path = tmp_path / "latest_net_D.pth"
    torch.save(MultiscaleDiscriminator(7, ndf=4, n_layers=2).state_dict(), path)
    with raises_exactly(ValueError, "checkpoint: expected a SPADE generator state_dict (with fc.weight, "
                        "head_0.conv_0.weight_orig and conv_img.weight), got one without; give a latest_net_G.pth "
                        "(not the _D or _E file)."):
        load_model(path, preset=toy_config())


def test_wrong_width_lists_mismatches(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save(SPADEGenerator(toy_config(spade_hidden=8)).state_dict(), path)
    with pytest.raises(ValueError, match=r"^generator checkpoint: expected the networks of preset 'toy', got '.*' "
                       r"with \d+ shape mismatch\(es\) e\.g\. .*; check the preset \(or SPADEConfig\) the file "
                       r"was trained with\.$"):
        load_model(path, preset=toy_config())


def test_trained_folder_round_trip_with_encoder(tmp_path):
    config = toy_config(use_vae=True, z_dim=8)
    torch.manual_seed(0)
    g, e = SPADEGenerator(config), ConvEncoder.from_config(config)
    d = MultiscaleDiscriminator(config.semantic_nc + 3, ndf=4, n_layers=2)
    save_checkpoint(tmp_path / "run", generator=g, encoder=e, discriminator=d)
    names = sorted(p.name for p in (tmp_path / "run").iterdir())
    assert names == ["latest_net_D.pth", "latest_net_E.pth", "latest_net_G.pth", "spade_config.json"]
    model = load_model(tmp_path / "run")  # config from spade_config.json
    assert model.config == config and model.encoder is not None
    for a, b in ((g, model.generator), (e, model.encoder)):
        sa, sb = a.state_dict(), b.state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa)
    model2 = load_model(tmp_path / "run" / "latest_net_G.pth")  # the file: encoder found beside it
    assert model2.encoder is not None


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_asked_where_there_is_none():
    g = SPADEGenerator(toy_config())
    with pytest.raises(ValueError, match="'cuda' was requested but no CUDA device is available"):
        render(np.zeros((32, 32), dtype=np.int64), checkpoint=g, device="cuda")


def test_render_tiny_model_forms_and_errors():
    config = toy_config()
    torch.manual_seed(0)
    g = SPADEGenerator(config)
    labels = np.zeros((64, 48), dtype=np.int64)
    labels[20:] = 2
    result = render(labels, checkpoint=g)
    assert result.image.size == (32, 32) and result.tensor.shape == (1, 3, 32, 32)
    assert 0 <= float(result.tensor.min()) and float(result.tensor.max()) <= 1
    assert result.labels.shape == (32, 32) and set(np.unique(result.labels)) == {0, 2}
    assert g.training  # render restores the module's mode
    again = render(torch.from_numpy(labels), checkpoint=g)
    assert torch.equal(result.tensor, again.tensor)
    with raises_exactly(ValueError, "labels: expected ids in 0 … 3 (preset 'toy', 4 classes), got 4, 6; remap them "
                        "or pick the preset the map was made for."):
        render(labels + 4, checkpoint=g)
    with pytest.raises(ValueError, match="label map of shape"):
        render(np.zeros((2, 32, 32, 1), dtype=np.int64), checkpoint=g)
    with raises_exactly(ValueError, "style_image: expected a generator with an image encoder (use_vae=True), got one "
                        "without (the official coco/ade20k/cityscapes models are trained without one); train a "
                        "model with use_vae=True to render in the style of an example image, or drop style_image."):
        render(labels, checkpoint=g, style_image=np.zeros((8, 8, 3), dtype=np.uint8))
    with raises_exactly(ValueError, "preset: expected one with the model's 4 input channels (preset 'toy'), got "
                        "'coco' with 184; drop preset= or load the matching checkpoint."):
        render(labels, checkpoint=g, preset="coco")
    with raises_exactly(TypeError, "checkpoint: expected the path of a SPADE latest_net_G.pth or a model from "
                        "load_model(), got None; give e.g. NVlabs/SPADE's coco_pretrained file (photostyle does not "
                        "ship or download them)."):
        render(labels, checkpoint=None)
    with raises_exactly(ValueError, "labels: expected one label map (H, W), got a batch of 2; call render per map, "
                        "or use the generator directly for batches."):
        render(torch.zeros(2, 32, 32, dtype=torch.long), checkpoint=g)


def test_get_config_errors():
    with raises_exactly(ValueError, "preset: expected one of 'coco', 'ade20k', 'cityscapes' or a SPADEConfig, got "
                        "'celeba' (str)."):
        get_config("celeba")
    with raises_exactly(ValueError, "SPADEConfig.crop_size: expected at least 32 with aspect_ratio 1.0 and 5 "
                        "upsamplings, got 16 (an empty latent grid of 0x0); use crop_size >= 32."):
        get_config("coco", crop_size=16)
