"""The generator: official key sets and shapes, parameter counts, strict round trips, forward shapes."""

from __future__ import annotations

import pytest
import torch

from _spade_helpers import OFFICIAL_PARAMS, OFFICIAL_SEMANTIC_NC, official_layout
from photostyle.spade import PRESETS, SPADEGenerator, encode_labels, get_config, load_model

PRESET_NAMES = ["coco", "ade20k", "cityscapes"]


def _meta_generator(config):
    with torch.device("meta"):  # shapes and keys only: no memory, no time
        return SPADEGenerator(config)


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_official_key_set_and_shapes(preset):
    g = _meta_generator(get_config(preset))
    got = {k: tuple(v.shape) for k, v in g.state_dict().items()}
    expected = official_layout(OFFICIAL_SEMANTIC_NC[preset])
    assert set(got) == set(expected), (sorted(set(got) ^ set(expected)))[:10]
    assert got == expected


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_parameter_counts(preset):
    g = _meta_generator(get_config(preset))
    assert sum(p.numel() for p in g.parameters()) == OFFICIAL_PARAMS[preset]


def test_coco_facts():
    config = get_config("coco")
    assert config.semantic_nc == 184
    g = _meta_generator(config)
    sd = g.state_dict()
    assert tuple(sd["fc.weight"].shape) == (1024, 184, 3, 3)
    # fc and conv_img are plain convs; the resblock convs are spectral-normed; conv_s has no bias.
    assert "fc.weight_orig" not in sd and "conv_img.weight_orig" not in sd
    assert {"up_0.conv_s.weight_orig", "up_0.conv_s.weight_u", "up_0.conv_s.weight_v"} <= set(sd)
    assert "up_0.conv_s.bias" not in sd and "head_0.conv_s.weight_orig" not in sd
    # Channels 1024, 1024, 1024, 1024, 512, 256, 128, 64.
    outs = [sd[f"{b}.conv_1.weight_orig"].shape[0] for b in
            ("head_0", "G_middle_0", "G_middle_1", "up_0", "up_1", "up_2", "up_3")]
    assert outs == [1024, 1024, 1024, 512, 256, 128, 64]


def test_preset_sizes_and_latent_grids():
    assert get_config("coco").image_size == (256, 256) and get_config("coco").latent_size == (8, 8)
    assert get_config("ade20k").semantic_nc == 151
    city = get_config("cityscapes")
    assert city.semantic_nc == 36 and city.latent_size == (8, 4) and city.image_size == (256, 512)
    most = get_config("coco", num_upsampling_layers="most")
    g = _meta_generator(most)
    assert set(official_layout(184, most=True)) == set(g.state_dict())


@pytest.mark.parametrize("preset", PRESET_NAMES)
def test_forward_shapes_small_width(preset):
    # Output size depends on the preset's grid and upsamplings, not on the width: test it cheaply.
    config = get_config(preset, ngf=2, spade_hidden=4)
    g = SPADEGenerator(config).eval()
    h, w = config.image_size
    labels = torch.randint(0, config.label_nc, (1, h, w))
    seg = encode_labels(labels, config)
    with torch.no_grad():
        out = g(seg)
        again = g(seg)
    assert out.shape == (1, 3, h, w)
    assert torch.equal(out, again)  # eval mode: no power iteration, running batch-norm statistics


def test_strict_round_trip_full_size_coco(tmp_path):
    """A random coco generator saved in the official layout reloads strictly; output 256x256, deterministic."""
    torch.manual_seed(0)
    g = SPADEGenerator(get_config("coco"))
    path = tmp_path / "latest_net_G.pth"
    torch.save(g.state_dict(), path)  # exactly what NVlabs/SPADE's save_network writes
    del g
    model = load_model(path)  # preset recognised from fc.weight
    assert model.config.preset == "coco" and model.encoder is None
    reference = torch.load(path, weights_only=True)
    loaded = model.generator.state_dict()
    assert set(loaded) == set(reference)
    assert all(torch.equal(loaded[k], reference[k]) for k in reference)
    fresh = SPADEGenerator(get_config("coco"))
    fresh.load_state_dict(reference, strict=True)  # plain strict load, no renaming
    del fresh, reference, loaded

    labels = torch.full((1, 256, 256), 156)
    labels[:, 160:] = 154
    labels[:, 200:, :50] = 255  # dontcare
    seg = encode_labels(labels, model.config)
    before = {k: v.clone() for k, v in model.generator.state_dict().items() if k.endswith(("weight_u", "running_mean"))}
    with torch.no_grad():
        out = model.generator(seg)
    assert out.shape == (1, 3, 256, 256)
    assert bool(torch.isfinite(out).all())
    assert model.generator.training is False
    after = model.generator.state_dict()
    # eval mode leaves spectral-norm vectors and batch-norm statistics alone: renders are repeatable
    assert all(torch.equal(after[k], v) for k, v in before.items())


@pytest.mark.parametrize("preset", ["ade20k", "cityscapes"])
def test_strict_round_trip_other_presets(tmp_path, preset):
    config = get_config(preset)
    g = SPADEGenerator(config)
    path = tmp_path / "latest_net_G.pth"
    torch.save(g.state_dict(), path)
    del g
    model = load_model(path, preset=preset)
    assert model.config == PRESETS[preset]
    assert sum(p.numel() for p in model.generator.parameters()) == OFFICIAL_PARAMS[preset]
