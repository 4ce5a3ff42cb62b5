"""photostyle.upsample: local affine colour model fitted small, applied at full resolution."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from photostyle.image import long_side_shape, resize_to, to_numpy
from photostyle.upsample import apply_affine, estimate_memory, fit_affine, upsample_affine, upsample_result

torch.set_num_threads(1)

FULL = (389, 523)
WORK = (97, 131)  # about 4x smaller; 523 / 131 and 389 / 97 are not integers and not equal
A = torch.tensor([[0.7, 0.2, 0.05], [0.1, 0.6, 0.15], [-0.05, 0.1, 0.8]], dtype=torch.float64)
B = torch.tensor([0.05, 0.1, 0.08], dtype=torch.float64)


def _texture(shape, *, seed, dtype=torch.float64):
    """Colour texture with contrast at every scale: coarse noise (period ~6 px) plus fine noise."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand((1, 3, shape[0] // 6 + 2, shape[1] // 6 + 2), generator=g, dtype=torch.float64)
    fine = torch.rand((1, 3, *shape), generator=g, dtype=torch.float64)
    out = 0.9 * F.interpolate(coarse, size=shape, mode="bilinear", align_corners=False) + 0.1 * fine
    return out.to(dtype)


def _photo(shape):
    data = pytest.importorskip("skimage.data")
    arr = data.coffee()  # (400, 600, 3) uint8, a real photo with flat and textured parts
    t = torch.from_numpy(arr).permute(2, 0, 1)[None].double() / 255.0
    return resize_to(t, shape)


def _affine(a, b, x):
    return torch.einsum("ij,bjhw->bihw", a.to(x.dtype), x) + b.to(x.dtype)[None, :, None, None]


# --------------------------------------------------------------------------------------------------
# known answers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["texture", "photo"])
@pytest.mark.parametrize("long_side", [131, 65])  # 4x and 8x smaller
@pytest.mark.parametrize("mode", ["bilateral", "bilinear"])
def test_global_affine_output_is_reproduced_at_full_size(source, long_side, mode):
    content = _texture(FULL, seed=0) if source == "texture" else _photo(FULL)
    target = _affine(A, B, content)
    assert 0.0 <= float(target.min()) and float(target.max()) <= 1.0
    work = long_side_shape(FULL, long_side)
    content_small, result_small = resize_to(content, work), resize_to(target, work)
    out = upsample_result(result_small, content_small, content, mode=mode)
    assert out.shape == (1, 3, *FULL)
    assert float((out - target).abs().max()) < 1e-3


def test_fit_then_apply_at_the_working_size_reproduces_a_global_affine_output():
    content = _texture(WORK, seed=1)
    target = _affine(A, B, content)
    coef = fit_affine(target, content)
    assert coef.shape == (1, 12, *WORK)
    expected = torch.cat([A, B[:, None]], dim=1).reshape(12)
    assert torch.allclose(coef, expected[None, :, None, None], atol=1e-8)
    assert float((apply_affine(coef, content) - target).abs().max()) < 1e-9


def test_identity_coefficients_return_the_content():
    content = _texture(FULL, seed=2, dtype=torch.float32)
    eye = torch.cat([torch.eye(3), torch.zeros(3, 1)], dim=1).reshape(12)
    coef = eye[None, :, None, None].expand(1, 12, *WORK).contiguous()
    small = resize_to(content, WORK)
    for mode in ("bilinear", "bilateral"):
        out = upsample_affine(coef, content, content_small=small, mode=mode)
        assert torch.allclose(out, content, atol=1e-6)


def test_two_models_keep_the_edge_sharp_at_full_size():
    # left of column 261: dark texture under model 1; right: bright texture under model 2
    edge = 261
    t = _texture(FULL, seed=3)
    content = torch.cat([0.15 + 0.3 * t[..., :edge], 0.55 + 0.3 * t[..., edge:]], dim=3)
    a2 = torch.tensor([[0.5, 0.0, 0.2], [0.3, 0.6, 0.0], [0.0, 0.2, 0.9]], dtype=torch.float64)
    b2 = torch.tensor([0.2, -0.1, 0.05], dtype=torch.float64)
    target = torch.cat([_affine(A, B, content)[..., :edge], _affine(a2, b2, content)[..., edge:]], dim=3)
    content_small, result_small = resize_to(content, WORK), resize_to(target, WORK)
    out = upsample_result(result_small, content_small, content)
    cols = torch.arange(FULL[1])
    away = (cols < edge - 2) | (cols >= edge + 2)
    err = (out - target).abs()
    assert float(err[..., away].max()) < 5e-3
    # the models differ by ~0.3 at the edge: a plain resize of the result blurs it over ~4 px each side
    plain = resize_to(result_small, FULL)
    near = away & ((cols - edge).abs() <= 6)
    assert float((plain - target).abs()[..., near].max()) > 0.1


def test_flat_content_gives_finite_output():
    content = torch.full((1, 3, *FULL), 0.4, dtype=torch.float64)
    result = torch.full((1, 3, *WORK), 0.7, dtype=torch.float64)
    out = upsample_result(result, resize_to(content, WORK), content)
    assert torch.isfinite(out).all()
    assert torch.allclose(out, torch.full_like(out, 0.7), atol=1e-6)


# --------------------------------------------------------------------------------------------------
# shapes, strips, dtypes, forms
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bilateral", "bilinear"])
def test_strips_equal_whole_image(mode):
    content = _photo(FULL).float()
    small = resize_to(content, WORK)
    result_small = (small * 0.8 + 0.1) ** 1.3
    coef = fit_affine(result_small, small)
    whole = upsample_affine(coef, content, content_small=small, mode=mode, strip_rows=FULL[0])
    for rows in (1, 7, 100):
        strips = upsample_affine(coef, content, content_small=small, mode=mode, strip_rows=rows)
        assert torch.allclose(strips, whole, atol=1e-6, rtol=0)
    a = upsample_affine(coef, content, content_small=small, mode=mode, strip_rows=13, output="uint8")
    b = upsample_affine(coef, content, content_small=small, mode=mode, strip_rows=FULL[0], output="uint8")
    assert np.array_equal(a, b)


def test_uint8_output_and_numpy_content_match_the_tensor_path():
    content = _photo(FULL).float()
    arr = to_numpy(content)  # (H, W, 3) uint8
    content_q = torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0
    small = resize_to(content_q, WORK)
    result_small = (1.0 - small) * 0.5 + 0.3
    tensor_out = upsample_result(result_small, small, content_q)
    from_numpy = upsample_result(result_small, small, arr)
    assert torch.allclose(from_numpy, tensor_out, atol=1e-6)
    as_uint8 = upsample_result(result_small, small, arr, output="uint8")
    assert as_uint8.dtype == np.uint8 and as_uint8.shape == (*FULL, 3)
    assert np.array_equal(as_uint8, to_numpy(tensor_out))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtype_follows_input_and_batches_work(dtype):
    content = torch.cat([_texture(FULL, seed=4), _texture(FULL, seed=5)]).to(dtype)
    small = resize_to(content, WORK)
    result_small = small.flip(1)
    out = upsample_result(result_small, small, content)
    assert out.dtype == dtype and out.device == content.device and out.shape == (2, 3, *FULL)
    one = upsample_result(result_small[1:], small[1:], content[1:])
    assert torch.allclose(out[1:], one, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_follows_device():
    content = _texture(FULL, seed=6, dtype=torch.float32).cuda()
    small = resize_to(content, WORK)
    out = upsample_result(small.flip(1), small, content)
    assert out.device == content.device
    ref = upsample_result(small.flip(1).cpu(), small.cpu(), content.cpu())
    assert torch.allclose(out.cpu(), ref, atol=1e-4)


def test_smoothing_choices_agree_on_a_global_affine_output():
    content = _texture(WORK, seed=7)
    target = _affine(A, B, content)
    ref = fit_affine(target, content)
    for smoothing in ("box", "bilateral", "none"):
        coef = fit_affine(target, content, smoothing=smoothing, filter_radius=2)
        assert torch.allclose(coef, ref, atol=1e-7)
    # the zero prior (Luan's and He's ridge) is biased toward constant maps in low-contrast windows
    zero = fit_affine(target, content, prior="zero")
    assert float((zero - ref).abs().max()) > 1e-3


def test_estimate_memory():
    small = estimate_memory((3000, 4000), working_shape=(525, 700), output="uint8")
    big = estimate_memory((3000, 4000), working_shape=(525, 700), output="tensor")
    eight_k = estimate_memory((4320, 7680), working_shape=(394, 700), output="tensor")
    assert big - small == 3000 * 4000 * 3 * 3  # float32 output instead of uint8
    assert small < big < eight_k < 6 * 2**30
    assert estimate_memory((3000, 4000), output="tensor", dtype=torch.float64) > big


# --------------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------------


def _raises(exc, message, fn, *args, **kwargs):
    with pytest.raises(exc, match=re.escape(message)):
        fn(*args, **kwargs)


def test_bad_input_messages():
    content = _texture(FULL, seed=8, dtype=torch.float32)
    small = resize_to(content, WORK)
    coef = fit_affine(small, small)
    _raises(
        ValueError,
        "result_small: expected the aspect ratio of the full size 389x523, got 97x97 (a width of 97 implies a "
        "height of about 72.1); resize the working images with photostyle.image.long_side_shape(full_shape, size).",
        upsample_result, small[..., :97], small[..., :97], content,
    )
    _raises(
        ValueError,
        "coefficients: expected a working size no larger than the full size 97x131, got 389x523; pass the small "
        "image first and the full-resolution content last.",
        upsample_affine, fit_affine(content, content), small, mode="bilinear",
    )
    _raises(
        ValueError,
        "result_small and content_small: expected the same shape, got (1, 3, 97, 131) and (1, 3, 96, 131); "
        "resize the content to the result's working size.",
        upsample_result, small, small[:, :, :96], content,
    )
    _raises(
        ValueError,
        "coefficients: expected shape (B, 12, h, w) (a 3x4 affine model per pixel), got (1, 9, 97, 131); make "
        "them with fit_affine(output, content).",
        upsample_affine, coef[:, :9], content, mode="bilinear",
    )
    _raises(
        ValueError,
        "content_small: expected the working-size content (B, 3, h, w) for mode='bilateral', got None; pass "
        "content_small=... or use mode='bilinear'.",
        upsample_affine, coef, content,
    )
    _raises(
        ValueError,
        "content_full: expected a numpy array of shape (H, W, 3), got (389, 523); pass the photo as read by "
        "photostyle.read_image.",
        upsample_result, small, small, np.zeros(FULL, dtype=np.uint8),
    )
    _raises(
        TypeError,
        "content_full: expected a torch tensor (B, 3, H, W) in [0, 1] or a numpy array (H, W, 3) (uint8, or "
        "float in [0, 1]), got list.",
        upsample_result, small, small, [1, 2, 3],
    )
    _raises(
        ValueError,
        "output and content: expected the same shape, got (1, 3, 97, 131) and (1, 3, 389, 523); fit at the "
        "working size, with the content resized to the result's size.",
        fit_affine, small, content,
    )
    _raises(
        ValueError,
        "result_small: expected shape (B, 3, H, W), got (3, 97, 131); add a batch axis with result_small[None] "
        "or repeat a grey image to 3 channels.",
        upsample_result, small[0], small, content,
    )
    _raises(ValueError, "mode: expected one of 'bilateral', 'bilinear', got 'cubic' (str).",
            upsample_result, small, small, content, mode="cubic")
    _raises(TypeError, "radius: expected an integer >= 0, got 1.5 (float); pass e.g. radius=1.",
            fit_affine, small, small, radius=1.5)
    _raises(ValueError, "output: 'uint8' needs a batch of one, got a batch of 2; use output='tensor'.",
            upsample_result, small.expand(2, -1, -1, -1), small.expand(2, -1, -1, -1),
            content.expand(2, -1, -1, -1), output="uint8")
    _raises(
        ValueError,
        "content_full: an output of 389x523 needs about 45.0 MiB, more than max_bytes = 1000 bytes; use "
        "output='uint8', a smaller output size, or raise max_bytes.",
        upsample_result, small, small, content, max_bytes=1000,
    )
