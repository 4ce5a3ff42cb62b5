"""Label maps: loading, saving, resizing, one-hot and soft masks."""

import warnings

import numpy as np
import pytest
import torch
from PIL import Image

from _seg_shared import DPST, needs_dpst
from tests._shared import raises_exactly
from photostyle.segmentation import (DPST_PALETTE, Palette, load_label_map, one_hot, resize_labels, resize_soft,
                          save_label_map)


def blocky(h=24, w=32, n=5, seed=0):
    """A piecewise-constant label map with n ids in 4x4 blocks (every id well above 0.1 %)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, n, (h // 4, w // 4))
    small.flat[:n] = np.arange(n)
    return np.kron(small, np.ones((4, 4), np.int64)).astype(np.int64)


def test_load_numpy_label_map_as_is():
    lab = blocky()
    out = load_label_map(lab.astype(np.uint8))
    assert out.dtype == np.int64 and np.array_equal(out, lab)
    assert np.array_equal(load_label_map(lab.astype(float)), lab)


def test_load_rgb_array_decodes_with_palette():
    rgb = DPST_PALETTE.colors[blocky(n=9)]
    assert np.array_equal(load_label_map(rgb), blocky(n=9))
    pal = Palette.from_dict({"a": (10, 10, 10), "b": (200, 10, 10)})
    rgb2 = pal.colors[blocky(n=2)]
    assert np.array_equal(load_label_map(rgb2, palette=pal), blocky(n=2))


@pytest.mark.parametrize("top,mode", [(9, "L"), (300, "I;16")])
def test_png_round_trip_8_and_16_bit(tmp_path, top, mode):
    lab = blocky(n=5) * (top // 4)
    path = save_label_map(lab, tmp_path / "lab.png")
    with Image.open(path) as img:
        assert img.mode.startswith(mode)
    assert np.array_equal(load_label_map(path), lab)
    assert np.array_equal(load_label_map(str(path)), lab)


def test_npy_and_palette_png_round_trip(tmp_path):
    lab = blocky(n=7) * 1000  # beyond 16 bits only .npy works
    lab[0, 0] = 70_000
    save_label_map(lab, tmp_path / "lab.npy")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert np.array_equal(load_label_map(tmp_path / "lab.npy"), lab)
    with pytest.raises(ValueError, match="16-bit"):
        save_label_map(lab, tmp_path / "big.png")
    lab9 = blocky(n=9)
    p = save_label_map(lab9, tmp_path / "pal.png", palette=DPST_PALETTE)
    with Image.open(p) as img:
        assert img.mode == "P"
        assert np.array_equal(np.asarray(img.convert("RGB")), DPST_PALETTE.colors[lab9])
    assert np.array_equal(load_label_map(p), lab9)  # P-mode: indices
    assert np.array_equal(load_label_map(p, palette=DPST_PALETTE), lab9)  # decoded by colour


def test_save_refuses_existing_and_is_atomic(tmp_path):
    lab = blocky()
    path = tmp_path / "lab.png"
    save_label_map(lab, path)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        save_label_map(lab + 1, path)
    assert np.array_equal(load_label_map(path), lab)
    save_label_map(lab + 1, path, overwrite=True)
    assert np.array_equal(load_label_map(path), lab + 1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lab.png"]  # no temporary left behind
    with pytest.raises(ValueError, match=r"\.png or \.npy"):
        save_label_map(lab, tmp_path / "lab.jpg")
    with pytest.raises(ValueError, match="non-negative"):
        save_label_map(lab - 1, tmp_path / "neg.png")


def test_load_missing_and_unreadable(tmp_path):
    missing = tmp_path / "nope.png"
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_label_map(missing)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read"):
        load_label_map(bad)
    badnpy = tmp_path / "bad.npy"
    badnpy.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="cannot read"):
        load_label_map(badnpy)
    with raises_exactly(TypeError, "src: expected a path, a PIL image or a numpy array, got 42 (int); "
                        "pass e.g. src='mask.png'."):
        load_label_map(42)


def test_tiny_label_warns_with_name_and_share():
    rgb = np.zeros((40, 50, 3), np.uint8)  # black
    rgb[0, 0] = (0, 0, 255)  # one blue pixel: 0.05 %
    with pytest.warns(UserWarning, match=r"label 0 \(blue\) covers 0\.050%"):
        load_label_map(rgb)


def test_grey_photo_is_refused():
    y, x = np.mgrid[0:64, 0:64]
    rng = np.random.default_rng(1)
    photo = np.clip(2 * x + y + rng.normal(0, 3, x.shape), 0, 255).astype(np.uint8)
    with raises_exactly(ValueError, "src: expected a label image, got what looks like a photograph (Image: 191 "
                        "distinct values, most pixels differ from their neighbours); pass the mask, not the photo."):
        load_label_map(Image.fromarray(photo))


@needs_dpst
def test_load_shared_mask_matches_decoder():
    from photostyle.segmentation import decode_color_mask

    path = DPST / "segmentation" / "in30.png"
    lab = load_label_map(path)
    assert np.array_equal(lab, decode_color_mask(Image.open(path)).labels)
    with pytest.raises(ValueError, match="strict=True"):
        load_label_map(path, strict=True)


def test_resize_labels_nearest():
    lab = blocky(24, 32)
    up = resize_labels(lab, (48, 64))
    assert np.array_equal(up[::2, ::2], lab)
    assert np.array_equal(resize_labels(up, (24, 32)), lab)
    odd = resize_labels(lab, (37, 50))
    assert odd.shape == (37, 50) and set(np.unique(odd)) <= set(np.unique(lab))
    with raises_exactly(ValueError, "shape: expected (height, width): two integers >= 1, got (0, 5); "
                        "pass e.g. shape=image.shape[:2]."):
        resize_labels(lab, (0, 5))
    with raises_exactly(ValueError, "labels: expected a 2-D label map (H, W), got ndarray of shape (2, 2, 3) and "
                        "dtype int64; decode colour masks with segmentation.decode_color_mask or load_label_map."):
        resize_labels(np.zeros((2, 2, 3), int), (4, 4))


def test_one_hot_and_resize_soft():
    lab = blocky(n=4)
    oh = one_hot(lab)
    assert oh.shape == (4, 24, 32) and oh.dtype == np.float32
    assert np.array_equal(oh.sum(0), np.ones((24, 32)))
    assert np.array_equal(oh.argmax(0), lab)
    oh2 = one_hot(lab, ids=[3, 7])
    assert oh2.shape == (2, 24, 32) and oh2[1].sum() == 0
    small = resize_soft(oh, (12, 16))  # exact 2x2 area means
    assert np.allclose(small, oh.reshape(4, 12, 2, 16, 2).mean((2, 4)))
    odd = resize_soft(oh, (7, 9))
    assert odd.shape == (4, 7, 9) and np.allclose(odd.sum(0), 1) and np.allclose(odd.mean((1, 2)), oh.mean((1, 2)))
    t = resize_soft(torch.from_numpy(oh).double(), (7, 9))
    assert t.dtype == torch.float64 and np.allclose(t.numpy(), odd, atol=1e-6)
