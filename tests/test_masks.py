"""The mask pyramid of photostyle.masks against the feature-map sizes of a VGG-like encoder."""

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
    with pytest.raises(ValueError, match=r"\(L, H, W\)"):
        mask_pyramid(torch.zeros(1, 1, 4, 4), ["conv1_1"])
    with pytest.raises(ValueError, match="conv\\*, relu\\* or pool\\*"):
        mask_pyramid(torch.zeros(1, 4, 4), ["conv1_1", "fc6"])
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
