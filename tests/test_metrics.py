"""photostyle.metrics on known values: style distance, matting energy, edge SSIM."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from photostyle import metrics
from photostyle.matting import matting_laplacian

from ._vgg_files import write_normalised_vgg19


@pytest.fixture(scope="module")
def encoder(tmp_path_factory):
    from photostyle.encoders import VGG19Encoder

    path = write_normalised_vgg19(tmp_path_factory.mktemp("w") / "n.pth", up_to="conv2_1", seed=1)
    return VGG19Encoder(["relu1_1", "relu2_1"], weights=path)


def _img(h=24, w=20, seed=0):
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


def test_style_distance_is_zero_for_the_style_itself_and_grows_with_difference(encoder):
    s = _img(seed=1)
    assert metrics.style_distance(s, s, encoder=encoder) == 0.0
    near = (s + 0.02 * _img(seed=2)).clamp(0, 1)
    far = _img(seed=3) * 0.3
    assert 0 < metrics.style_distance(near, s, encoder=encoder) < metrics.style_distance(far, s, encoder=encoder)


def test_style_distance_known_value_single_layer(encoder):
    """Against the definition: MSE of Gram matrices F Fᵀ / (C·H·W) at relu1_1."""
    x, s = _img(seed=4), _img(16, 16, seed=5)
    fx, fs = encoder(x)["relu1_1"][0].flatten(1), encoder(s)["relu1_1"][0].flatten(1)
    gx = fx @ fx.T / fx.numel()
    gs = fs @ fs.T / fs.numel()
    expected = float(((gx - gs) ** 2).mean())
    assert metrics.style_distance(x, s, encoder=encoder, layers=["relu1_1"]) == pytest.approx(expected, rel=1e-5)


def test_masked_style_distance_one_label_equals_unmasked(encoder):
    x, s = _img(seed=6), _img(18, 22, seed=7)
    plain = metrics.style_distance(x, s, encoder=encoder)
    ones = metrics.style_distance(x, s, encoder=encoder, content_mask=np.zeros((24, 20), int),
                                  style_mask=np.zeros((18, 22), int))
    assert ones == pytest.approx(plain, rel=1e-6)
    with pytest.raises(ValueError, match="pass both content_mask and style_mask, or neither"):
        metrics.style_distance(x, s, encoder=encoder, content_mask=np.zeros((24, 20), int))


def test_matting_energy_known_values():
    c = _img(seed=8).double()
    noise = _img(seed=9).double()
    # a local affine function of the content costs (almost: eps 1e-7 regularises) nothing, noise a lot
    scale = metrics.matting_energy(noise, c)
    assert metrics.matting_energy(c, c) < 1e-4 * scale
    assert metrics.matting_energy((0.5 * c + 0.2).clamp(0, 1), c) < 1e-4 * scale
    lap = matting_laplacian(c)
    v = noise[0].reshape(3, -1).numpy()
    expected = sum(float(v[k] @ (lap @ v[k])) for k in range(3)) / v.shape[1]
    assert metrics.matting_energy(noise, c) == pytest.approx(expected, rel=1e-9)
    assert metrics.matting_energy(noise, laplacian=lap) == pytest.approx(expected, rel=1e-12)
    with pytest.raises(ValueError, match="pass content= .* or laplacian="):
        metrics.matting_energy(noise)
    with pytest.raises(ValueError, match="output is 24x20 but content is 10x10"):
        metrics.matting_energy(noise, _img(10, 10))


def test_edge_ssim_known_values():
    c = _img(32, 32, seed=10)
    assert metrics.edge_ssim(c, c) == pytest.approx(1.0)
    assert metrics.edge_ssim(0.9 * c + 0.05, c) > 0.95  # a mild global colour change keeps the edges
    assert metrics.edge_ssim(0.5 * c + 0.1, c) < 0.7  # SSIM sees the halved edge contrast
    blurred = torch.nn.functional.avg_pool2d(c, 5, stride=1, padding=2, count_include_pad=False)
    assert metrics.edge_ssim(blurred, c) < 0.7  # 0.64: a 5x5 blur loses much of the edge structure
    assert metrics.edge_ssim(blurred, c) == pytest.approx(metrics.edge_ssim(c, blurred), rel=1e-9)
    with pytest.raises(ValueError, match="at least 7x7"):
        metrics.edge_ssim(_img(5, 5), _img(5, 5))


def test_evaluate_bundles_the_three(encoder):
    x, c, s = _img(seed=11), _img(seed=12), _img(seed=13)
    out = metrics.evaluate(x, c, s, encoder=encoder)
    assert out == {"style_distance": pytest.approx(metrics.style_distance(x, s, encoder=encoder)),
                   "matting_energy": pytest.approx(metrics.matting_energy(x, c)),
                   "edge_ssim": pytest.approx(metrics.edge_ssim(x, c))}
