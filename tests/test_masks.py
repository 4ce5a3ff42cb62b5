"""The mask pyramid of photostyle.masks against the feature-map sizes of a VGG-like encoder."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from photostyle.masks import mask_pyramid

VGG19_NAMES = [
    "conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1",
    "conv2_1", "relu2_1", "conv2_2", "relu2_2", "pool2",
    "conv3_1", "relu3_1", "conv3_2", "relu3_2", "conv3_3", "relu3_3", "conv3_4", "relu3_4", "pool3",
    "conv4_1", "relu4_1", "conv4_2", "relu4_2", "conv4_3", "relu4_3", "conv4_4", "relu4_4", "pool4",
    "conv5_1", "relu5_1",
]


def feature_shapes(h, w, ceil_mode):
    """Spatial size after each layer of a VGG-19 with padded 3x3 convs and MaxPool2d(2, 2, ceil_mode)."""
    x = torch.zeros(1, 1, h, w)
    pool = torch.nn.MaxPool2d(2, 2, ceil_mode=ceil_mode)
    shapes = {}
    for name in VGG19_NAMES:
        if name.startswith("conv"):
            x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), torch.ones(1, 1, 3, 3))
        elif name.startswith("pool"):
            x = pool(x)
        shapes[name] = tuple(x.shape[-2:])
    return shapes


@pytest.mark.parametrize("size", [(37, 50), (45, 61), (64, 64)])
@pytest.mark.parametrize("ceil_mode", [True, False])
def test_pyramid_shapes_match_feature_maps(size, ceil_mode):
    masks = torch.rand(3, *size)
    pyr = mask_pyramid(masks, VGG19_NAMES, ceil_mode=ceil_mode)
    assert list(pyr) == VGG19_NAMES
    expected = feature_shapes(*size, ceil_mode)
    for name, m in pyr.items():
        assert m.shape == (3, *expected[name]), name


def test_pyramid_values():
    masks = torch.zeros(2, 8, 8, dtype=torch.float64)
    masks[0, :, :4] = 1
    masks[1] = 1 - masks[0]
    pyr = mask_pyramid(masks, ["conv1_1", "relu1_1", "pool1"])
    assert pyr["conv1_1"].dtype == torch.float64
    # 3x3 mean blur with count_include_pad=False: the column next to the edge is 2/3, borders exact
    assert torch.allclose(pyr["conv1_1"][0, 3, :], torch.tensor([1, 1, 1, 2 / 3, 1 / 3, 0, 0, 0], dtype=torch.float64))
    assert torch.equal(pyr["relu1_1"], pyr["conv1_1"])
    assert torch.allclose(pyr["pool1"].sum(0), torch.ones(4, 4, dtype=torch.float64))  # partition of unity kept
    assert pyr["pool1"].shape == (2, 4, 4)
    assert not pyr["pool1"].requires_grad


def test_pyramid_errors():
    with pytest.raises(TypeError, match="torch.Tensor"):
        mask_pyramid([[0.0]], ["conv1_1"])
    with pytest.raises(ValueError, match=re.escape("masks: expected shape (L, H, W), got Tensor of shape (1, 1, 4, 4); "
                                                   "stack one (H, W) mask per label.")):
        mask_pyramid(torch.zeros(1, 1, 4, 4), ["conv1_1"])
    with pytest.raises(ValueError, match=re.escape("layer_names: expected conv*, relu* or pool* layers (VGG style), "
                                                   "got 'fc6'; ")):
        mask_pyramid(torch.zeros(1, 4, 4), ["conv1_1", "fc6"])
    with pytest.raises(TypeError, match=re.escape("layer_names: expected layer names (str), got int; "
                                                  "pass e.g. encoder.names.")):
        mask_pyramid(torch.zeros(1, 4, 4), ["conv1_1", 3])
    with pytest.raises(TypeError, match="sequence of layer names"):
        mask_pyramid(torch.zeros(1, 4, 4), "conv1_1")
    out = mask_pyramid(torch.ones(4, 4, dtype=torch.bool), ["pool1"])
    assert out["pool1"].shape == (1, 2, 2) and out["pool1"].is_floating_point()


def test_pyramid_empty_label_stays_zero():
    masks = torch.zeros(2, 9, 11)
    masks[1] = 1  # label 0 is empty (e.g. a palette colour with no pixel)
    pyr = mask_pyramid(masks, VGG19_NAMES)
    for m in pyr.values():
        assert torch.isfinite(m).all() and m[0].abs().max() == 0 and torch.allclose(m[1], torch.ones_like(m[1]))


# --------------------------------------------------------------------------------------------------
# Masks kept (and decoded) at a bounded size
# --------------------------------------------------------------------------------------------------


def _blocks(h: int, w: int) -> np.ndarray:
    """A colour mask of solid DPST-colour blocks (no anti-aliasing, so decoding is per pixel exact)."""
    colours = np.array([[0, 0, 255], [0, 255, 0], [255, 0, 0], [255, 255, 0]], np.uint8)
    ids = np.zeros((h, w), np.int64)
    ids[: h // 3] = 1
    ids[h // 3:, w // 2:] = 2
    ids[2 * h // 3:, : w // 4] = 3
    return colours[ids]


def test_a_large_mask_is_decoded_at_the_bounded_size(tmp_path):
    import warnings

    from PIL import Image

    from photostyle import segmentation
    from photostyle.masks import load_mask

    colour = _blocks(900, 1200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = load_mask(colour, name="m")
        small = load_mask(colour, name="m", max_side=300)
        Image.fromarray(colour).save(tmp_path / "m.png")
        from_file = load_mask(tmp_path / "m.png", name="m", max_side=300)
        from_pil = load_mask(Image.fromarray(colour), name="m", max_side=300)
    assert full.shape == (900, 1200) and small.shape == (225, 300)
    # nearest sampling commutes with the per-pixel decoding: the same as decoding, then resizing
    assert np.array_equal(small, segmentation.resize_labels(full, (225, 300)))
    assert np.array_equal(from_file, small) and np.array_equal(from_pil, small)
    labels = load_mask(full, name="m", max_side=300)  # a label map is sampled the same way
    assert np.array_equal(labels, small)
    assert load_mask(colour[:200, :250], name="m", max_side=300).shape == (200, 250)  # small: untouched


def test_resolve_masks_keeps_given_masks_at_the_bounded_size_and_warns_about_the_real_one():
    import warnings

    from photostyle.masks import resolve_masks

    content, style = torch.rand(1, 3, 900, 1200), torch.rand(1, 3, 400, 300)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masks = resolve_masks(_blocks(900, 1200), _blocks(400, 300), content, style, auto_size=512, max_side=600)
    assert masks.content.shape == (450, 600) and masks.style.shape == (400, 300)
    assert not [w for w in caught if "resizing the mask" in str(w.message)]  # both masks fit their images
    assert set(np.unique(masks.content)) == {0, 1, 4, 5}  # DPST ids of blue, green, red, yellow
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        masks = resolve_masks(_blocks(450, 600), _blocks(400, 300), content, style, auto_size=512, max_side=2000)
    assert masks.content.shape == (900, 1200)
    texts = [str(w.message) for w in caught if "resizing the mask" in str(w.message)]
    assert texts == ["content_mask: the mask is 450x600 but its image is 900x1200; resizing the mask with nearest "
                     "neighbour (same aspect ratio)."]
    with pytest.raises(ValueError, match=r"content_mask: the mask is 900x900 \(HxW\) but its image is 900x1200"):
        resolve_masks(_blocks(900, 900), _blocks(400, 300), content, style, auto_size=512, max_side=300)
