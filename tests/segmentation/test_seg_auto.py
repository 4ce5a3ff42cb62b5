"""Automatic joint segmentation, the optional deep segmenter, overlays."""

import sys

import numpy as np
import pytest
import torch

from _seg_shared import DPST, needs_dpst

from tests._shared import raises_exactly, synthetic_pair
from photostyle.segmentation import AutoMasks, auto_segment, deep_segment, label_iou, load_label_map, overlay, resize_labels



def test_auto_segment_synthetic_regions_correspond():
    c, s = synthetic_pair()
    a = auto_segment(c, s, k=2, n_segments=60)
    assert isinstance(a, AutoMasks)
    assert a.content_labels.shape == (48, 64) and a.style_labels.shape == (60, 50)
    assert a.k == 2 and a.matched == (0, 1) and a.content_only == () and a.style_only == ()
    # id 0 is the top region (sky) in both
    assert (a.content_labels[:18] == 0).mean() > 0.95 and (a.content_labels[22:] == 1).mean() > 0.95
    assert (a.style_labels[:33] == 0).mean() > 0.95 and (a.style_labels[37:] == 1).mean() > 0.95


def test_auto_segment_chooses_k_and_accepts_uint8_and_encoder():
    c, s = synthetic_pair()
    calls = []

    def encoder(x):
        calls.append(tuple(x.shape))
        assert x.dtype == torch.float32 and 0 <= float(x.min()) and float(x.max()) <= 1
        return {"relu1_1": torch.nn.functional.avg_pool2d(x, 2).repeat(1, 4, 1, 1)}

    a = auto_segment((c * 255).astype(np.uint8), (s * 255).astype(np.uint8), encoder=encoder, n_segments=60)
    assert 2 <= a.k <= 4 and set(a.scores) == {2, 3, 4}
    assert a.k == max(a.scores, key=a.scores.get)
    assert len(calls) == 2 and calls[0][:2] == (1, 3)
    assert a.matched  # at least one region on both sides


def test_auto_segment_bad_inputs():
    c, s = synthetic_pair()
    with raises_exactly(ValueError, "k: expected at most 25 (the superpixels of the style image), got 500; "
                        "pass k <= 25 or raise n_segments (now 30)."):
        auto_segment(c, s, k=500, n_segments=30)
    with raises_exactly(ValueError, "k: expected an integer >= 1, got 0; pass a value of at least 1."):
        auto_segment(c, s, k=0)
    with raises_exactly(ValueError, "content: expected shape (H, W, 3) (RGB) or (H, W, 4) (RGBA), got ndarray of "
                        "shape (48, 64, 2) and dtype float64; 2-D arrays are label maps: use "
                        "segmentation.load_label_map."):
        auto_segment(c[..., :2], s, method="cluster")  # grey (H, W) and RGBA are accepted: tests/test_semantic.py
    with raises_exactly(ValueError, "style: expected float values in [0, 1], got range [9.85, 198]; "
                        "divide uint8 data by 255."):
        auto_segment(c, s * 300)
    with raises_exactly(TypeError, "encoder: expected a callable (tensor -> dict of feature maps) or None, got "
                        "'vgg' (str); pass e.g. photostyle's VGG19Encoder, or None for colour and position only."):
        auto_segment(c, s, encoder="vgg")
    with raises_exactly(TypeError, "encoder: expected a callable returning a non-empty dict of feature maps "
                        "(1, C, h, w), got Tensor of shape (1, 3, 48, 64) and dtype torch.float32 from it; return "
                        "e.g. {'relu3_1': features}."):
        auto_segment(c, s, k=2, n_segments=30, encoder=lambda x: x)


def _load_small(i, long_side=128):
    from PIL import Image

    out = []
    for sub, name in (("input", f"in{i}"), ("style", f"tar{i}")):
        img = Image.open(DPST / sub / f"{name}.png").convert("RGB")
        scale = long_side / max(img.size)
        out.append(np.asarray(img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)))
    return out


@needs_dpst
@pytest.mark.parametrize("pair", [31, 58])
def test_auto_segment_real_pairs_correspond(pair):
    content, style = _load_small(pair)
    a = auto_segment(content, style, k=2, n_segments=150)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hand_c = resize_labels(load_label_map(DPST / "segmentation" / f"in{pair}.png"), content.shape[:2])
        hand_s = resize_labels(load_label_map(DPST / "segmentation" / f"tar{pair}.png"), style.shape[:2])
    c = label_iou(a.content_labels, hand_c, min_share=0.01)
    s = label_iou(a.style_labels, hand_s, min_share=0.01, mapping=c.mapping)  # the content's matching
    assert a.matched == (0, 1)
    assert c.mean_iou > 0.75, c
    assert s.mean_iou > 0.5, s  # the same auto id marks the same hand region in the style


def test_deep_segment_without_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # makes `import torchvision` fail
    with pytest.raises(ImportError, match=r"pip install photostyle\[torchvision\]"):
        deep_segment(np.zeros((8, 8, 3), np.uint8))


def test_overlay():
    img = np.full((4, 6, 3), 100, np.uint8)
    lab = np.zeros((4, 6), np.int64)
    lab[:, 3:] = 12  # beyond the 9 DPST colours: generated ones
    out = overlay(img, lab, alpha=0.5)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    assert tuple(out[0, 0]) == (50, 50, 178)  # half blue
    assert np.array_equal(overlay(img, lab, alpha=0.0), img)
    with raises_exactly(ValueError, "labels: expected the image's size (4, 6) (H, W), got (2, 6); resize the "
                        "labels with segmentation.resize_labels(labels, image.shape[:2])."):
        overlay(img, lab[:2])
    with raises_exactly(ValueError, "alpha: expected a number in [0, 1], got 2; pass a value from 0 to 1."):
        overlay(img, lab, alpha=2)
