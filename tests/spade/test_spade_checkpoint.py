"""Checkpoint files and bad input: other presets, truncated or foreign files, devices, rendering."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _spade_helpers import toy_config
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
    with pytest.raises(ValueError, match=rf"does not fit preset '{given}'.*fits preset '{actual}'; pass preset='{actual}'"):
        load_model(path, preset=given)


def test_checkpoint_fitting_no_preset(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save(_fake_official_state(99), path)
    with pytest.raises(ValueError, match="fits no built-in preset"):
        load_model(path)
    with pytest.raises(ValueError, match="fits no built-in preset"):
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
    with pytest.raises(ValueError, match="not a state_dict"):
        load_model(listing)
    with pytest.raises(FileNotFoundError, match="not found"):
        load_model(tmp_path / "missing.pth")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="has no latest_net_G.pth"):
        load_model(empty)


def test_discriminator_file_is_not_a_generator(tmp_path):
    path = tmp_path / "latest_net_D.pth"
    torch.save(MultiscaleDiscriminator(7, ndf=4, n_layers=2).state_dict(), path)
    with pytest.raises(ValueError, match="not a SPADE generator"):
        load_model(path, preset=toy_config())


def test_wrong_width_lists_mismatches(tmp_path):
    path = tmp_path / "latest_net_G.pth"
    torch.save(SPADEGenerator(toy_config(spade_hidden=8)).state_dict(), path)
    with pytest.raises(ValueError, match="shape mismatch"):
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
    with pytest.raises(ValueError, match=r"out of range for preset 'toy'"):
        render(labels + 4, checkpoint=g)
    with pytest.raises(ValueError, match="label map of shape"):
        render(np.zeros((2, 32, 32, 1), dtype=np.int64), checkpoint=g)
    with pytest.raises(ValueError, match="has no image encoder"):
        render(labels, checkpoint=g, style_image=np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="takes 184 input channels"):
        render(labels, checkpoint=g, preset="coco")
    with pytest.raises(TypeError, match="checkpoint is required"):
        render(labels, checkpoint=None)
    with pytest.raises(ValueError, match="one label map"):
        render(torch.zeros(2, 32, 32, dtype=torch.long), checkpoint=g)


def test_get_config_errors():
    with pytest.raises(ValueError, match="preset must be one of 'coco', 'ade20k', 'cityscapes'"):
        get_config("celeba")
    with pytest.raises(ValueError, match="empty latent grid"):
        get_config("coco", crop_size=16)
