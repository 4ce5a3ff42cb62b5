"""The VAE image encoder, style-guided rendering, and the multi-scale discriminator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from _spade_helpers import toy_config
from photostyle.spade import (
    ConvEncoder,
    MultiscaleDiscriminator,
    SPADEGenerator,
    SPADEModel,
    encode_labels,
    get_config,
    render,
)


def test_official_size_encoder_layout():
    with torch.device("meta"):
        enc = ConvEncoder.from_config(get_config("coco", use_vae=True))
    sd = enc.state_dict()
    layers = sorted({k.split(".")[0] for k in sd if k.startswith("layer")})
    assert layers == [f"layer{i}" for i in range(1, 7)]  # 6 stride-2 convs: 256 -> 4
    assert tuple(sd["layer1.0.weight_orig"].shape) == (64, 3, 3, 3)
    assert tuple(sd["layer6.0.weight_orig"].shape) == (512, 512, 3, 3)
    assert {"layer1.0.weight_u", "layer1.0.weight_v", "layer1.0.bias"} <= set(sd)
    assert tuple(sd["fc_mu.weight"].shape) == (256, 512 * 4 * 4)
    assert tuple(sd["fc_var.weight"].shape) == (256, 512 * 4 * 4)
    assert not any("layer1.1" in k for k in sd)  # instance norm without parameters or buffers


def test_encoder_forward_and_reparameterize():
    enc = ConvEncoder(4, 8, input_size=32).eval()
    x = torch.rand(2, 3, 50, 70) * 2 - 1  # any size: resized to 32x32
    mu, logvar = enc(x)
    assert mu.shape == (2, 8) and logvar.shape == (2, 8)
    gen = torch.Generator().manual_seed(1)
    z = ConvEncoder.reparameterize(mu, logvar, generator=gen)
    assert z.shape == (2, 8) and not torch.equal(z, mu)
    with pytest.raises(ValueError, match=r"expected \(B, 3, H, W\)"):
        enc(torch.zeros(1, 1, 32, 32))


def test_vae_generator_uses_linear_fc():
    config = get_config("coco", use_vae=True)
    with torch.device("meta"):
        g = SPADEGenerator(config)
    assert tuple(g.fc.weight.shape) == (16 * 64 * 8 * 8, 256)


def test_style_guided_rendering():
    config = toy_config(use_vae=True, z_dim=8)
    torch.manual_seed(0)
    model = SPADEModel(generator=SPADEGenerator(config), config=config,
                       encoder=ConvEncoder.from_config(config)).eval()
    labels = np.zeros((32, 32), dtype=np.int64)
    labels[:, 16:] = 1
    red = np.zeros((32, 32, 3), dtype=np.uint8)
    red[..., 0] = 255
    blue = np.zeros((32, 32, 3), dtype=np.uint8)
    blue[..., 2] = 255
    a = render(labels, checkpoint=model, style_image=red)
    b = render(labels, checkpoint=model, style_image=red)
    c = render(labels, checkpoint=model, style_image=blue)
    assert torch.equal(a.tensor, b.tensor) and torch.equal(a.style_code, b.style_code)
    assert not torch.equal(a.style_code, c.style_code)
    # without an example image: a random code, repeatable by seed
    r1 = render(labels, checkpoint=model, seed=3)
    r2 = render(labels, checkpoint=model, seed=3)
    r3 = render(labels, checkpoint=model, seed=4)
    assert torch.equal(r1.tensor, r2.tensor) and not torch.equal(r1.style_code, r3.style_code)
    sampled = render(labels, checkpoint=model, style_image=red, sample_style=True, seed=1)
    assert not torch.equal(sampled.style_code, a.style_code)


def test_multiscale_discriminator_outputs():
    d = MultiscaleDiscriminator(7, ndf=8, n_layers=3, num_D=2)
    out = d(torch.randn(2, 7, 32, 32))
    assert len(out) == 2 and all(len(o) == 4 for o in out)
    assert out[0][-1].shape[1] == 1 and out[1][-1].shape[-1] < out[0][-1].shape[-1]
    assert {"discriminator_0.model0.0.weight", "discriminator_0.model1.0.0.weight_orig",
            "discriminator_1.model3.0.weight"} <= set(d.state_dict())


def test_encode_labels_on_batch_for_generator():
    config = toy_config()
    seg = encode_labels(torch.randint(0, 4, (3, 32, 32)), config)
    g = SPADEGenerator(config)
    assert g(seg).shape == (3, 3, 32, 32)
    with pytest.raises(ValueError, match=r"expected a one-hot map of shape \(B, 4, H, W\)"):
        g(torch.zeros(1, 5, 32, 32))
