"""Every segmentation error speaks the house format, word for word: "name: expected …, got …; fix"
(TypeError for a wrong type, ValueError for a wrong value). The messages the other test files quote
are checked there; this file holds the validators and the rest."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests._shared import raises_exactly, synthetic_pair
from photostyle.segmentation import (Palette, auto_segment, decode_color_mask, load_label_map, one_hot, overlay,
                                     resize_soft, save_label_map)
from photostyle.segmentation import _checks
from photostyle.segmentation import semantic as sem


def test_check_shape2():
    assert _checks.check_shape2("shape", (np.int64(3), 4.0)) == (3, 4)
    with raises_exactly(TypeError, "shape: expected (height, width): two integers >= 1, got None (NoneType); "
                        "pass e.g. shape=image.shape[:2]."):
        _checks.check_shape2("shape", None)
    with raises_exactly(TypeError, "shape: expected (height, width): two integers >= 1, got (True, 2) (tuple); "
                        "pass e.g. shape=image.shape[:2]."):
        _checks.check_shape2("shape", (True, 2))
    with raises_exactly(ValueError, "shape: expected (height, width): two integers >= 1, got (2, 1.5); "
                        "pass e.g. shape=image.shape[:2]."):
        _checks.check_shape2("shape", (np.int64(2), 1.5))
    with raises_exactly(ValueError, "shape: expected (height, width): two integers >= 1, got (3,); "
                        "pass e.g. shape=image.shape[:2]."):
        _checks.check_shape2("shape", [3])


def test_check_int():
    assert _checks.check_int("k", np.int32(3), minimum=1) == 3
    with raises_exactly(TypeError, "k: expected an integer >= 1, got 2.0 (float); pass e.g. k=1."):
        _checks.check_int("k", 2.0, minimum=1)
    with raises_exactly(TypeError, "n: expected an integer, got True (bool); pass e.g. n=1."):
        _checks.check_int("n", True)
    with raises_exactly(ValueError, "k_max: expected an integer >= 2, got 1; pass a value of at least 2."):
        _checks.check_int("k_max", 1, minimum=2)


def test_check_number():
    assert _checks.check_number("alpha", 1, minimum=0.0, maximum=1.0) == 1.0
    with raises_exactly(TypeError, "alpha: expected a number in [0, 1], got '0.5' (str); pass a value from 0 to 1."):
        _checks.check_number("alpha", "0.5", minimum=0.0, maximum=1.0)
    with raises_exactly(ValueError, "min_region: expected a number in [0, 0.5], got 0.6; pass a value from 0 to 0.5."):
        _checks.check_number("min_region", 0.6, minimum=0.0, maximum=0.5)
    # a non-finite real is a wrong value (ValueError), not a wrong type
    with raises_exactly(ValueError, "far_threshold: expected a finite number >= 0, got nan; "
                        "pass a value of at least 0."):
        _checks.check_number("far_threshold", float("nan"), minimum=0.0)
    with raises_exactly(ValueError, "x: expected a finite number <= 2, got 3; pass a value of at most 2."):
        _checks.check_number("x", 3, maximum=2)
    with raises_exactly(ValueError, "x: expected a finite number, got inf; pass a finite value."):
        _checks.check_number("x", float("inf"))


LAB = np.zeros((4, 6), np.int64)


@pytest.mark.parametrize("exc, message, call", [
    (TypeError, "labels: expected a 2-D integer numpy array (H, W), got 'x' (str); load masks with "
     "segmentation.load_label_map.", lambda: one_hot("x")),
    (ValueError, "labels: expected integer ids, got non-integer floats (ndarray of shape (1, 1) and dtype float64); "
     "pass an integer array, or soft masks to one_hot/resize_soft instead.", lambda: one_hot(np.array([[0.5]]))),
    (TypeError, "labels: expected an integer array, got dtype <U1; pass integer ids (bool and integral floats are "
     "accepted too).", lambda: one_hot(np.array([["a"]]))),
    (ValueError, "labels: expected non-negative ids, got minimum -1; shift the ids so that they start at 0.",
     lambda: one_hot(np.array([[-1]]))),
    (TypeError, "masks: expected a numpy array or torch tensor (L, H, W) or (H, W), got [1] (list); stack one (H, W) "
     "mask per label.", lambda: resize_soft([1], (2, 2))),
    (ValueError, "masks: expected shape (L, H, W) or (H, W) with H, W >= 1, got ndarray of shape (1, 1, 2, 2) and "
     "dtype float64; stack one (H, W) mask per label.", lambda: resize_soft(np.zeros((1, 1, 2, 2)), (2, 2))),
    (ValueError, "min_share: expected a number in [0, 1], got 2; pass a value from 0 to 1.",
     lambda: load_label_map(LAB, min_share=2)),
    (TypeError, "palette: expected a segmentation.Palette or None, got 'x' (str); build one with "
     "Palette.from_dict({'sky': (0, 0, 255), ...}).", lambda: overlay(np.zeros((4, 6, 3), np.uint8), LAB, palette="x")),
    (ValueError, "labels: expected ids in 0..0 (the palette's 1 colours), got id 12; pass a larger palette or "
     "palette=None.", lambda: overlay(np.zeros((4, 6, 3), np.uint8), LAB + 12,
                                      palette=Palette.from_dict({"a": (0, 0, 0)}))),
    (TypeError, "names: expected a sequence of str, got 'ab' (str); pass e.g. names=('sky', 'water').",
     lambda: Palette("ab", np.zeros((2, 3)))),
    (ValueError, "colors: expected integer RGB values in 0..255, got ndarray of shape (1, 3) and dtype float64; "
     "scale float colours by 255 and round them.", lambda: Palette(("a",), np.full((1, 3), 0.5))),
    (ValueError, "mapping: expected a non-empty dict name -> (r, g, b), got {} (dict); pass e.g. "
     "{'sky': (0, 0, 255)}.", lambda: Palette.from_dict({})),
    (TypeError, "mapping: expected a non-empty dict name -> (r, g, b), got [1] (list); pass e.g. "
     "{'sky': (0, 0, 255)}.", lambda: Palette.from_dict([1])),
    (ValueError, "mapping['a']: expected an (r, g, b) triple, got (0, 0) (tuple); pass e.g. (0, 0, 255).",
     lambda: Palette.from_dict({"a": (0, 0)})),
    (TypeError, "image: expected a PIL image in 'P' (palette) mode, got mode None (ndarray); use Palette.from_dict "
     "for RGB masks.", lambda: Palette.from_pil(np.zeros(3))),
    (ValueError, "key: expected a label id in 0..0 or a name, got 5.",
     lambda: Palette.from_dict({"a": (0, 0, 0)}).color(5)),
    (ValueError, "mask: expected integer values in 0..255, got range [300, 300]; pass 8-bit values (uint8).",
     lambda: decode_color_mask(np.full((2, 2, 3), 300))),
    (TypeError, "mask: expected uint8 or float in [0, 1], got dtype bool; convert it with .astype(np.uint8).",
     lambda: decode_color_mask(np.full((2, 2, 3), True))),
    (TypeError, "mask: expected an RGB numpy array (H, W, 3) or a PIL image, got [1] (list); load files with "
     "segmentation.load_label_map or PIL.Image.open.", lambda: decode_color_mask([1])),
    (TypeError, "far_threshold: expected a finite number >= 0, got 'x' (str); pass a value of at least 0.",
     lambda: decode_color_mask(np.zeros((2, 2, 3), np.uint8), far_threshold="x")),
    (ValueError, "merge: expected chains without a cycle, got the classes ['grass', 'tree'] merging into each "
     "other; name each class at most once on the left of a chain.",
     lambda: sem._merge_map({"tree": "grass", "grass": "tree"})),
    (ValueError, "x: expected a tensor of shape (C, H, W) or (1, C, H, W) with C in 1, 3, 4, got Tensor of shape "
     "(2, 5, 6) and dtype torch.float32; pass an RGB, grey or RGBA image.", lambda: sem.photo_rgb(torch.zeros(2, 5, 6), "x")),
    (TypeError, "model: expected a path to deeplabv3_mobilenetv2_ade20k.tflite, a SemanticSegmenter or None, got 3 "
     "(int); pass the file's path, or None to use $PHOTOSTYLE_SEG_MODEL or the cache.",
     lambda: sem.find_segmentation_model(3)),
])
def test_message(exc, message, call):
    with raises_exactly(exc, message):
        call()


def test_save_label_map_messages(tmp_path):
    lab = LAB.copy()
    lab[:, 3:] = 12
    with raises_exactly(ValueError, f"path: expected a file name ending in .png or .npy, got '{tmp_path / 'a.jpg'}'; "
                        "pick one of those formats."):
        save_label_map(lab, tmp_path / "a.jpg")
    save_label_map(lab, tmp_path / "a.png")
    with raises_exactly(FileExistsError, f"path: expected a new file, got '{tmp_path / 'a.png'}', which exists; "
                        "pass overwrite=True to replace it."):
        save_label_map(lab, tmp_path / "a.png")
    with raises_exactly(ValueError, "labels: expected ids in 0..65535 for a 16-bit PNG, got id 70012; save as .npy."):
        save_label_map(lab + 70000, tmp_path / "big.png")
    with raises_exactly(TypeError, "palette: expected a segmentation.Palette, got 'x' (str); build one with "
                        "Palette.from_dict({'sky': (0, 0, 255), ...})."):
        save_label_map(lab, tmp_path / "p.png", palette="x")
    with raises_exactly(ValueError, "labels: expected ids in 0..0 for this palette PNG, got id 12; save without "
                        "palette= or as .npy."):
        save_label_map(lab, tmp_path / "p.png", palette=Palette.from_dict({"a": (0, 0, 0)}))


def test_p_mode_image_without_a_palette():
    img = Image.new("P", (2, 2))
    img.palette = None
    if img.getpalette():  # Pillow versions differ in what a palette-less P image reports
        pytest.skip("this Pillow gives every P image a palette")
    with raises_exactly(ValueError, "image: expected a 'P'-mode image that carries a palette, got one without; "
                        "save it with one."):
        Palette.from_pil(img)


def test_encoder_outputs_must_be_feature_maps():
    c, s = synthetic_pair()
    with raises_exactly(TypeError, "encoder: expected output 'a' to be a (1, C, h, w) tensor, got Tensor of shape "
                        "(3, 48, 64) and dtype torch.float32; return 4-D feature maps."):
        auto_segment(c, s, k=2, n_segments=30, encoder=lambda x: {"a": x[0]})
