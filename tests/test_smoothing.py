"""Tests for photostyle.smoothing: box and guided filters, best local affine, posterization refine."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from photostyle.smoothing import (
    BestLocalAffine,
    GuidedFilter,
    best_local_affine,
    box_filter,
    guided_filter,
    posterization_refine,
)

from ._shared import REFERENCE_DIR, REFERENCE_NAMES

COLOUR_MATRIX = torch.tensor([[0.6, 0.2, 0.1], [0.1, 0.5, 0.2], [0.05, 0.15, 0.7]], dtype=torch.float64)
COLOUR_OFFSET = torch.tensor([0.05, 0.1, 0.08], dtype=torch.float64)


def load_reference(name: str) -> dict[str, np.ndarray]:
    path = REFERENCE_DIR / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"reference file {path} is missing (copy it from ../shared/reference/matting/)")
    with np.load(path) as ref:
        return {key: ref[key] for key in ref.files}


def to_bchw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)[None]


def recolour(image: torch.Tensor) -> torch.Tensor:
    """A global affine colour transform A·image + b (stays inside [0, 1] for images in [0, 1])."""
    matrix, offset = COLOUR_MATRIX.to(image.dtype), COLOUR_OFFSET.to(image.dtype)
    return torch.einsum("ij,bjhw->bihw", matrix, image) + offset[:, None, None]


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(612)


# -- naive references ------------------------------------------------------------------------------


def naive_box_mean(x: np.ndarray, r: int) -> np.ndarray:
    h, w = x.shape[-2:]
    out = np.zeros_like(x)
    for y in range(h):
        for xx in range(w):
            out[..., y, xx] = x[..., max(0, y - r) : y + r + 1, max(0, xx - r) : xx + r + 1].mean(axis=(-2, -1))
    return out


def naive_grey_guided(guide: np.ndarray, src: np.ndarray, r: int, eps: float) -> np.ndarray:
    """He et al.'s grey guided filter, window by window (guide, src (H, W))."""
    h, w = guide.shape
    a, b = np.zeros((h, w)), np.zeros((h, w))
    for y in range(h):
        for x in range(w):
            g = guide[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
            p = src[max(0, y - r) : y + r + 1, max(0, x - r) : x + r + 1]
            a[y, x] = ((g * p).mean() - g.mean() * p.mean()) / (g.var() + eps)
            b[y, x] = p.mean() - a[y, x] * g.mean()
    return naive_box_mean(a, r) * guide + naive_box_mean(b, r)


def naive_best_local_affine(out, inp, patch_radius, ridge, filter_radius, sigma_s, sigma_r):
    """Per-pixel 4x4 normal equations and bilateral loops, as described by Luan et al. (inp, out (H, W, 3))."""
    h, w, _ = inp.shape
    coef = np.zeros((h, w, 3, 4))
    for y in range(h):
        for x in range(w):
            normal = np.diag([ridge, ridge, ridge, 0.0])
            rhs = np.zeros((4, 3))
            for yy in range(y - patch_radius, y + patch_radius + 1):
                for xx in range(x - patch_radius, x + patch_radius + 1):
                    if 0 <= yy < h and 0 <= xx < w:
                        m = np.append(inp[yy, xx], 1.0)
                        normal += np.outer(m, m)
                        rhs += np.outer(m, out[yy, xx])
            coef[y, x] = np.linalg.solve(normal, rhs).T
    filtered = np.zeros_like(coef)
    for y in range(h):
        for x in range(w):
            acc, total = np.zeros((3, 4)), 0.0
            for yy in range(y - filter_radius, y + filter_radius + 1):
                for xx in range(x - filter_radius, x + filter_radius + 1):
                    if 0 <= yy < h and 0 <= xx < w:
                        colour = np.mean((inp[yy, xx] - inp[y, x]) ** 2)
                        weight = np.exp(-((yy - y) ** 2 + (xx - x) ** 2) / (2 * sigma_s**2)) * np.exp(
                            -colour / (2 * sigma_r**2)
                        )
                        acc += weight * coef[yy, xx]
                        total += weight
            filtered[y, x] = acc / total
    result = np.einsum("hwci,hwi->hwc", filtered[..., :3], inp) + filtered[..., 3]
    return np.clip(result, 0.0, 1.0)


# -- box filter ------------------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [0, 1, 2, 10])
def test_box_filter_matches_naive(rng, radius):
    x = rng.random((2, 3, 6, 7))
    np.testing.assert_allclose(box_filter(torch.from_numpy(x), radius).numpy(), naive_box_mean(x, radius), atol=1e-12)


def test_box_filter_keeps_dtype_and_constants():
    x = torch.full((1, 2, 5, 9), 0.3, dtype=torch.float32)
    out = box_filter(x, 3)
    assert out.dtype == torch.float32 and out.shape == x.shape
    torch.testing.assert_close(out, x)


# -- guided filter ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_guided_filter_matches_he_reference(name):
    ref = load_reference(name)
    image = to_bchw(ref["image"])
    out = guided_filter(image, image, radius=2, eps=0.01)
    assert out.dtype == torch.float64 and out.shape == image.shape
    assert (out - to_bchw(ref["guided_r2_eps001"])).abs().max().item() < 1e-6


def test_guided_filter_grey_guide_matches_naive(rng):
    guide, src = rng.random((6, 7)), rng.random((6, 7))
    out = guided_filter(torch.from_numpy(guide)[None, None], torch.from_numpy(src)[None, None], radius=1, eps=0.01)
    np.testing.assert_allclose(out[0, 0].numpy(), naive_grey_guided(guide, src, 1, 0.01), atol=1e-12)


def test_guided_filter_float32_batch_and_channels():
    ref = load_reference("in2_crop_24x32")
    image = to_bchw(ref["image"])
    batch = torch.cat([image, image.flip(-1)]).float()
    src = torch.cat([batch, batch[:, :1]], dim=1)  # 4 channels filtered with the same colour guide
    out = guided_filter(batch, src, radius=2, eps=0.01)
    assert out.dtype == torch.float32 and out.shape == (2, 4, 24, 32)
    expected = to_bchw(ref["guided_r2_eps001"]).float()
    torch.testing.assert_close(out[:1, :3], expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(out[1:, :3], expected.flip(-1), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[:, 3], out[:, 0])


def test_guided_filter_module_equals_function(rng):
    guide, src = torch.rand(1, 3, 8, 9), torch.rand(1, 2, 8, 9)
    module = GuidedFilter(radius=3, eps=1e-3)
    assert torch.equal(module(guide, src), guided_filter(guide, src, radius=3, eps=1e-3))
    assert "radius=3" in repr(module)


def test_guided_filter_is_differentiable():
    guide = torch.rand(1, 3, 5, 6, dtype=torch.float64)
    src = torch.rand(1, 1, 5, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda s: guided_filter(guide, s, radius=1, eps=0.01), (src,))


# -- best local affine -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "patch_radius,filter_radius,sigma_spatial,sigma_range",
    [(1, 2, None, 0.01), (1, 3, 1.5, 0.3), (2, 2, 4.0, 0.1)],
)
def test_best_local_affine_matches_brute_force(rng, patch_radius, filter_radius, sigma_spatial, sigma_range):
    inp = rng.random((7, 9, 3))
    out = np.clip(inp @ rng.random((3, 3)) * 0.5 + 0.1 * rng.random((7, 9, 3)), 0, 1)
    got = best_local_affine(
        to_bchw(out), to_bchw(inp), patch_radius=patch_radius, filter_radius=filter_radius,
        sigma_spatial=sigma_spatial, sigma_range=sigma_range,
    )
    sigma_s = filter_radius / 3 if sigma_spatial is None else sigma_spatial
    expected = naive_best_local_affine(out, inp, patch_radius, 1e-3, filter_radius, sigma_s, sigma_range)
    np.testing.assert_allclose(got[0].permute(1, 2, 0).numpy(), expected, atol=1e-5, rtol=0)


def test_best_local_affine_recovers_global_affine(rng):
    textured = to_bchw(rng.random((12, 14, 3)))
    target = recolour(textured)
    # the ridge only shrinks the colour coefficients: with a negligible ridge the model is exact
    exact = best_local_affine(target, textured, ridge=1e-9, filter_radius=4)
    assert (exact - target).abs().max().item() < 1e-6
    # with the paper's ridge 1e-3 the shrinkage leaves a small, honest error (measured ~6e-3 max, ~4e-4 mean)
    default = best_local_affine(target, textured, filter_radius=4)
    assert (default - target).abs().max().item() < 1e-2
    assert (default - target).abs().mean().item() < 1e-3


def test_best_local_affine_on_photo_crop():
    photo = to_bchw(load_reference("in9_64x40")["image"])
    target = recolour(photo)
    out = best_local_affine(target, photo)
    # flat patches (rank-deficient colour covariance) shrink towards the patch mean: ~7e-3 max, ~1e-3 mean
    assert (out - target).abs().max().item() < 2e-2
    assert (out - target).abs().mean().item() < 2e-3
    # a different output leads to a different reconstruction (the model follows the output)
    assert (best_local_affine(target.flip(1), photo) - out).abs().mean().item() > 0.05


def test_best_local_affine_shapes_dtypes_batch_module():
    photo = to_bchw(load_reference("in2_crop_24x32")["image"])
    target = recolour(photo).flip(1)
    out64 = best_local_affine(target, photo, filter_radius=5)
    out32 = best_local_affine(target.float(), photo.float(), filter_radius=5)
    assert out64.shape == out32.shape == photo.shape
    assert out64.dtype == torch.float64 and out32.dtype == torch.float32
    assert out32.min().item() >= 0 and out32.max().item() <= 1
    assert (out32.double() - out64).abs().max().item() < 1e-4
    batch = best_local_affine(torch.cat([target, photo]), torch.cat([photo, photo]), filter_radius=5)
    torch.testing.assert_close(batch[:1], out64)
    module = BestLocalAffine(filter_radius=5)
    assert torch.equal(module(target, photo), out64)
    assert "filter_radius=5" in repr(module)


def test_best_local_affine_clamps_to_unit_range():
    photo = to_bchw(load_reference("random_9x12")["image"])
    out = best_local_affine(2.0 * photo - 0.5, photo, ridge=1e-9, filter_radius=2)
    assert out.min().item() == 0.0 and out.max().item() == 1.0


# -- posterization refine --------------------------------------------------------------------------


def test_posterization_refine_properties():
    content = to_bchw(load_reference("in9_64x40")["image"])
    smooth = guided_filter(content, content, radius=8, eps=0.01)
    # K = J + I − GF(I, I): a result equal to the smoothed content gets the content back exactly
    torch.testing.assert_close(posterization_refine(smooth, content), content, atol=1e-12, rtol=0)
    # the added detail layer does not depend on the result (where nothing is clamped)
    first = torch.full_like(content, 0.5)
    second = recolour(content) * 0.5 + 0.25
    k1, k2 = posterization_refine(first, content), posterization_refine(second, content)
    inside = (k1 > 0) & (k1 < 1) & (k2 > 0) & (k2 < 1)
    assert inside.float().mean().item() > 0.9
    torch.testing.assert_close((k1 - first)[inside], (k2 - second)[inside], atol=1e-12, rtol=0)
    assert (k1 - first).abs().max().item() > 0.05  # the photo has real detail
    # a flat content has no detail: K = J
    flat = torch.full_like(content, 0.4)
    torch.testing.assert_close(posterization_refine(second, flat), second, atol=1e-12, rtol=0)
    assert posterization_refine(second.float(), content.float()).dtype == torch.float32


# -- devices ---------------------------------------------------------------------------------------


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    photo = to_bchw(load_reference("in2_crop_24x32")["image"]).float()
    target = recolour(photo).flip(1)
    for fn in (
        lambda o, c: best_local_affine(o, c, filter_radius=5),
        lambda o, c: guided_filter(c, o, radius=2, eps=0.01),
        lambda o, c: posterization_refine(o, c),
    ):
        cpu, gpu = fn(target, photo), fn(target.cuda(), photo.cuda())
        assert gpu.device.type == "cuda"
        torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-5, rtol=0)


# -- bad input -------------------------------------------------------------------------------------


def _raises(exc, message, fn, *args, **kwargs):
    with pytest.raises(exc, match=re.escape(message)):
        fn(*args, **kwargs)


def test_bad_input_messages():
    img = torch.rand(1, 3, 6, 7)
    _raises(ValueError, "output and content: expected the same shape, got (1, 3, 6, 7) and (1, 3, 6, 8); resize one "
            "to the other (photostyle.image.resize_to).", best_local_affine, img, torch.rand(1, 3, 6, 8))
    _raises(ValueError, "content: expected shape (B, 3, H, W), got (3, 6, 7); add a batch axis with content[None] "
            "or repeat a grey image to 3 channels.", best_local_affine, img, img[0])
    _raises(ValueError, "content: expected shape (B, 3, H, W), got (1, 1, 6, 7); pass an image with 3 channels "
            "(repeat a grey image with .expand(-1, 3, -1, -1)).", best_local_affine, img, img[:, :1])
    _raises(ValueError, "guide: expected shape (B, 1 or 3, H, W), got (1, 2, 6, 7); pass an image with 1 or 3 "
            "channels.", guided_filter, img[:, :2], img, radius=1, eps=0.01)
    _raises(ValueError, "guide and src: expected the same batch size and height/width, got (1, 3, 6, 7) and "
            "(1, 3, 5, 7); resize one to the other (photostyle.image.resize_to).",
            guided_filter, img, torch.rand(1, 3, 5, 7), radius=1, eps=0.01)
    _raises(ValueError, "radius: expected an integer >= 0, got -1; pass e.g. radius=2.",
            guided_filter, img, img, radius=-1, eps=0.01)
    _raises(TypeError, "radius: expected an integer >= 0, got 1.5 (float); pass e.g. radius=2.",
            guided_filter, img, img, radius=1.5, eps=0.01)
    _raises(ValueError, "eps: expected a finite number > 0, got 0.0; pass e.g. eps=0.01.",
            guided_filter, img, img, radius=1, eps=0)
    _raises(ValueError, "eps: expected a finite number > 0, got -0.1; pass e.g. eps=0.01.",
            posterization_refine, img, img, eps=-0.1)
    _raises(ValueError, "ridge: expected a finite number > 0, got 0.0; pass e.g. ridge=0.001.",
            best_local_affine, img, img, ridge=0.0)
    _raises(ValueError, "filter_radius: expected an integer >= 0, got -3; pass e.g. filter_radius=15.",
            BestLocalAffine, filter_radius=-3)
    _raises(ValueError, "sigma_range: expected a finite number > 0, got nan; pass e.g. sigma_range=0.01.",
            best_local_affine, img, img, sigma_range=float("nan"))
    _raises(TypeError, "result: expected a float tensor in [0, 1], got dtype torch.uint8; convert with .float() / 255.",
            posterization_refine, torch.zeros(1, 3, 6, 7, dtype=torch.uint8), img)
    _raises(TypeError, "x: expected a tensor of shape (..., H, W), got array([[0., 0., 0.],",
            box_filter, np.zeros((3, 3)), 1)
