"""Tests for photostyle._checks: the house-format validators ("name: expected …, got …; fix")."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from photostyle import _checks
from photostyle.smoothing import guided_filter


def _raises(exc, message, fn, *args, **kwargs):
    with pytest.raises(exc, match=re.escape(message) + "$"):
        fn(*args, **kwargs)


def test_check_integer():
    assert _checks.check_integer("radius", np.int64(3), minimum=0, example=1) == 3
    assert type(_checks.check_integer("radius", np.int64(3), minimum=0, example=1)) is int
    _raises(TypeError, "radius: expected an integer >= 0, got True (bool); pass e.g. radius=1.",
            _checks.check_integer, "radius", True, minimum=0, example=1)
    _raises(ValueError, "radius: expected an integer >= 1, got 0; pass e.g. radius=1 (3x3 windows).",
            _checks.check_integer, "radius", 0, minimum=1, example="1 (3x3 windows)")


def test_check_positive():
    assert _checks.check_positive("eps", 1, example=0.01) == 1.0
    _raises(TypeError, "eps: expected a positive real number, got '1' (str); pass e.g. eps=0.01.",
            _checks.check_positive, "eps", "1", example=0.01)
    _raises(ValueError, "eps: expected a finite number > 0, got inf; pass e.g. eps=0.01.",
            _checks.check_positive, "eps", float("inf"), example=0.01)
    _raises(ValueError, "eps: expected a finite number > 0, got -1.0; pass e.g. eps=0.01.",
            _checks.check_positive, "eps", -1, example=0.01)


def test_check_one_of():
    assert _checks.check_one_of("mode", "a", ("a", "b")) == "a"
    _raises(ValueError, "mode: expected one of 'a', 'b', got 1 (int).", _checks.check_one_of, "mode", 1, ("a", "b"))


def test_check_image():
    x = torch.rand(2, 3, 4, 5)
    assert _checks.check_image("x", x) is x
    assert _checks.check_image("x", torch.rand(1, 7, 4, 5), channels=None).shape[1] == 7
    _raises(TypeError, "x: expected a torch tensor of shape (B, 3, H, W), got ndarray.",
            _checks.check_image, "x", np.zeros((1, 3, 4, 5)))
    _raises(ValueError, "x: expected shape (B, C, H, W), got (3, 4, 5); add a batch axis with x[None].",
            _checks.check_image, "x", x[0], channels=None)
    _raises(ValueError, "x: expected shape (B, 1 or 3, H, W), got (2, 2, 4, 5); pass an image with 1 or 3 channels.",
            _checks.check_image, "x", x[:, :2], channels=(1, 3))
    _raises(ValueError, "x: expected a non-empty image, got shape (2, 3, 0, 5).", _checks.check_image, "x", x[:, :, :0])
    # an empty image reaches the filters' boundary as this error, not as an empty or NaN result
    _raises(ValueError, "guide: expected a non-empty image, got shape (1, 3, 0, 5).",
            guided_filter, x[:1, :, :0], x[:1, :, :0], radius=1, eps=0.01)


def test_check_same_grid():
    a, b = torch.rand(1, 3, 4, 5), torch.rand(1, 12, 4, 5)
    _checks.check_same_grid("a", a, "b", b, channels=False)
    _raises(ValueError, "a and b: expected the same shape, got (1, 3, 4, 5) and (1, 12, 4, 5); resize one to the "
            "other (photostyle.image.resize_to).", _checks.check_same_grid, "a", a, "b", b)
    _raises(ValueError, "a and b: expected the same batch size and height/width, got (1, 3, 4, 5) and (1, 12, 4, 6); "
            "fit first.", _checks.check_same_grid, "a", a, "b", torch.rand(1, 12, 4, 6), channels=False,
            fix="fit first")
    _raises(ValueError, "a and b: expected one device, got cpu and meta; move both with .to(device).",
            _checks.check_same_grid, "a", a, "b", a.to("meta"))


def test_check_number_names_a_fix_when_given_an_example():
    assert _checks.check_number("w", 2, minimum=0.0, example=1) == 2.0
    _raises(TypeError, "w: expected a real number, got 'a' (str); pass e.g. w=1.", _checks.check_number, "w", "a",
            example=1)
    _raises(ValueError, "w: expected a finite number, got nan; pass e.g. w=1.", _checks.check_number, "w",
            float("nan"), example=1)
    _raises(ValueError, "w: expected a number > 0, got 0.0; pass e.g. w=1.", _checks.check_number, "w", 0,
            positive=True, example=1)
    # without an example, the text stays as callers quote it
    _raises(ValueError, "w: expected a number >= 0.0, got -1.0.", _checks.check_number, "w", -1, minimum=0.0)


def test_layer_and_weight_file_value_messages(tmp_path):
    from photostyle.layers import check_layer_names
    from photostyle.weights import load_vgg19_weights

    _raises(ValueError, "layers: expected at least one layer name, got an empty sequence; pass e.g. "
            "layers=['relu4_2'].", check_layer_names, [])
    path = tmp_path / "damaged.pth"
    torch.save({"0.weight": torch.zeros(3, 3, 1, 1), "0.bias": torch.zeros(4)}, path)
    _raises(ValueError, f"'{path}': expected '0.bias' (the 1x1 input conv) of shape (3,), got (4,); the file is a "
            "damaged normalised VGG-19: download it again or pass another file.", load_vgg19_weights, path)

def test_core_type_errors_speak_the_house_format():
    """Each public boundary names the argument, what it expected, what it got, and how to fix it."""
    import numpy as np

    from photostyle.layers import check_layer_names
    from photostyle.masks import mask_pyramid
    from photostyle.transfer import transfer
    from photostyle.weights import load_vgg19_weights

    with pytest.raises(TypeError, match=r"^masks: expected a torch.Tensor \(L, H, W\), got ndarray"):
        mask_pyramid(np.ones((1, 4, 4)), ("relu1_1",))
    with pytest.raises(TypeError, match=r"^layer_names: expected a sequence of layer names, got the string 'relu1_1'; "
                                        r"pass e.g. \['relu1_1'\]"):
        mask_pyramid(torch.ones(1, 4, 4), "relu1_1")
    with pytest.raises(ValueError, match=r"^output_size: expected 'full', 'work' or a long side in pixels, got 'big'"):
        transfer(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), output_size="big", progress=False)
    with pytest.raises(TypeError, match=r"^layers: expected a sequence of layer names such as"):
        check_layer_names(5)
    with pytest.raises(TypeError, match=r"^weights: expected a path to a .pth file, .*got int; pass e.g."):
        load_vgg19_weights(5)
