"""photostyle.colour: per-region mean/covariance colour transfer (the fast start image)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from photostyle.colour import colour_transfer
from photostyle.image import resize_to

torch.set_num_threads(1)


def _photo(name, shape):
    data = pytest.importorskip("skimage.data")
    arr = getattr(data, name)()
    return resize_to(torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0, shape)


def _stats(image, mask=None):
    x = image[0].double().reshape(3, -1)
    if mask is not None:
        x = x[:, torch.as_tensor(mask).reshape(-1)]
    mean = x.mean(dim=1)
    centred = x - mean[:, None]
    return mean, centred @ centred.T / x.shape[1]


def _pair():
    # coffee -> chelsea: real photos whose mapped colours stay inside [0, 1] (no clamping distorts stats)
    content, style = _photo("coffee", (96, 144)), _photo("chelsea", (100, 150))
    cl = np.zeros((96, 144), np.int64)
    cl[:, 70:] = 3  # left / right
    sl = np.zeros((100, 150), np.int64)
    sl[55:] = 3  # top / bottom
    sl[:5, :5] = 7  # a style-only label: ignored
    return content, style, cl, sl


@pytest.mark.parametrize("blend_radius", [0, None])
def test_region_statistics_match_the_style_regions(blend_radius):
    content, style, cl, sl = _pair()
    out = colour_transfer(content, style, content_labels=cl, style_labels=sl, blend_radius=blend_radius)
    assert out.shape == content.shape and out.dtype == content.dtype
    for label in (0, 3):
        mean_out, cov_out = _stats(out, cl == label)
        mean_style, cov_style = _stats(style, sl == label)
        mean_before, cov_before = _stats(content, cl == label)
        assert float((mean_out - mean_style).abs().max()) < 1e-2
        # stated tolerance: 2 % relative (Frobenius) covariance error, from eps and the soft boundary
        assert float((cov_out - cov_style).norm() / cov_style.norm()) < 0.02
        assert float((cov_before - cov_style).norm() / cov_style.norm()) > 0.2  # the test is not trivial
        assert float((mean_before - mean_style).abs().max()) > 0.05


def test_global_statistics_without_labels():
    content, style, _, _ = _pair()
    out = colour_transfer(content, style)
    mean_out, cov_out = _stats(out)
    mean_style, cov_style = _stats(style)
    assert float((mean_out - mean_style).abs().max()) < 1e-2
    assert float((cov_out - cov_style).norm() / cov_style.norm()) < 0.02


def test_mean_std_matches_per_channel_statistics():
    content, style, _, _ = _pair()
    out = colour_transfer(content, style, method="mean_std")
    mean_out, cov_out = _stats(out)
    mean_style, cov_style = _stats(style)
    assert float((mean_out - mean_style).abs().max()) < 1e-2
    assert torch.allclose(cov_out.diagonal().sqrt(), cov_style.diagonal().sqrt(), rtol=0.02)


def test_single_label_equals_unmasked_transfer():
    content, style, _, _ = _pair()
    plain = colour_transfer(content, style)
    labelled = colour_transfer(content, style, content_labels=torch.full((96, 144), 5),
                               style_labels=np.full((100, 150), 5, np.int32))
    assert torch.allclose(plain, labelled, atol=1e-6)


def test_content_label_absent_in_style_uses_the_whole_style():
    content, style, cl, _ = _pair()
    sl = np.zeros((100, 150), np.int64)  # only label 0: content label 3 has no style region
    out = colour_transfer(content, style, content_labels=cl, style_labels=sl, blend_radius=0)
    mean_out, _ = _stats(out, cl == 3)
    mean_style, _ = _stats(style)
    assert float((mean_out - mean_style).abs().max()) < 1e-2


def test_identity_when_content_is_style():
    content, _, cl, _ = _pair()
    assert float((colour_transfer(content, content) - content).abs().max()) < 1e-5
    out = colour_transfer(content, content, content_labels=cl, style_labels=cl)
    assert float((out - content).abs().max()) < 1e-5


def test_flat_region_is_finite_and_takes_the_style_mean():
    content, style, cl, sl = _pair()
    content = content.clone()
    content[..., :70] = torch.tensor([0.3, 0.5, 0.2])[:, None, None]  # label 0 becomes flat
    out = colour_transfer(content, style, content_labels=cl, style_labels=sl, blend_radius=0)
    assert torch.isfinite(out).all()
    mean_style, _ = _stats(style, sl == 0)
    flat = out[0, :, :, :70].reshape(3, -1)
    assert torch.allclose(flat, mean_style.float()[:, None].expand_as(flat), atol=1e-5)


def test_regions_blend_without_a_seam_in_a_smooth_area():
    # a smooth horizontal ramp, two labels meeting in the middle, styles of very different colours
    ramp = torch.linspace(0.3, 0.7, 128)
    content = torch.stack([ramp, ramp.flip(0), 0.5 + 0.1 * ramp])[:, None, :].expand(3, 64, 128)[None].contiguous()
    cl = np.zeros((64, 128), np.int64)
    cl[:, 64:] = 1
    g = torch.Generator().manual_seed(0)
    style = torch.cat([0.2 + 0.1 * torch.rand(1, 3, 32, 64, generator=g),
                       0.6 + 0.1 * torch.rand(1, 3, 32, 64, generator=g)], dim=2)
    sl = np.zeros((64, 64), np.int64)
    sl[32:] = 1
    hard = colour_transfer(content, style, content_labels=cl, style_labels=sl, blend_radius=0)
    soft = colour_transfer(content, style, content_labels=cl, style_labels=sl, blend_radius=8)
    jump_hard = float((hard[..., 1:] - hard[..., :-1]).abs().max())
    jump_soft = float((soft[..., 1:] - soft[..., :-1]).abs().max())
    assert jump_hard > 0.2
    assert jump_soft < 0.05


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_and_device_follow_the_content(dtype):
    content, style, cl, sl = _pair()
    out = colour_transfer(content.to(dtype), style, content_labels=cl, style_labels=sl)
    assert out.dtype == dtype and out.device == content.device
    assert 0.0 <= float(out.min()) and float(out.max()) <= 1.0


def _raises(exc, message, *args, **kwargs):
    with pytest.raises(exc, match=re.escape(message)):
        colour_transfer(*args, **kwargs)


def test_bad_input_messages():
    content, style, cl, sl = _pair()
    _raises(ValueError, "style_labels: expected a label map because content_labels is given, got None; pass both "
            "label maps or neither.", content, style, content_labels=cl)
    _raises(ValueError, "content_labels: expected shape (96, 144) (the content's height and width), got (100, 150); "
            "resize the label map with nearest-neighbour interpolation.", content, style, content_labels=sl,
            style_labels=sl)
    _raises(TypeError, "style_labels: expected integer labels, got dtype float64; decode a colour mask with "
            "photostyle's mask loaders first.", content, style, content_labels=cl, style_labels=sl.astype(float))
    _raises(ValueError, "content: expected shape (1, 3, H, W), got (3, 96, 144); convert with photostyle.to_tensor "
            "(one image at a time).", content[0], style)
    _raises(TypeError, "style: expected a torch tensor of shape (1, 3, H, W) in [0, 1], got ndarray; convert with "
            "photostyle.to_tensor.", content, style.numpy())
    _raises(ValueError, "method: expected one of 'mean_cov', 'mean_std', got 'histogram' (str).", content, style,
            method="histogram")
    _raises(ValueError, "eps: expected a finite number > 0, got 0 (int); pass e.g. eps=1e-4.", content, style, eps=0)
