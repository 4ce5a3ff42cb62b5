"""Tests for photostyle.matting: the matting Laplacian (Levin et al. 2008) and the photorealism loss."""

from __future__ import annotations


import numpy as np
import pytest
import scipy.sparse
import torch

from photostyle.matting import (
    PhotorealismLoss,
    laplacian_to_torch,
    matting_laplacian,
    photorealism_loss,
)

from photostyle import metrics

from ._shared import REFERENCE_DIR, REFERENCE_NAMES


def load_reference(name: str) -> tuple[np.ndarray, scipy.sparse.csr_matrix]:
    path = REFERENCE_DIR / f"{name}.npz"
    if not path.exists():
        pytest.skip(f"reference file {path} is missing (copy it from ../shared/reference/matting/)")
    with np.load(path) as ref:
        laplacian = scipy.sparse.csr_matrix(
            (ref["laplacian_data"], ref["laplacian_indices"], ref["laplacian_indptr"]), shape=tuple(ref["shape"])
        )
        return ref["image"], laplacian


def naive_laplacian(img: np.ndarray, eps: float = 1e-7, radius: int = 1) -> np.ndarray:
    """Dense Levin et al. Laplacian, one window at a time with an explicit inverse (img (H, W, C))."""
    h, w, c = img.shape
    win = 2 * radius + 1
    n = win * win
    lap = np.zeros((h * w, h * w))
    for y in range(radius, h - radius):
        for x in range(radius, w - radius):
            ys, xs = np.meshgrid(
                np.arange(y - radius, y + radius + 1), np.arange(x - radius, x + radius + 1), indexing="ij"
            )
            idx = (ys * w + xs).ravel()
            colours = img[ys, xs].reshape(n, c)
            mu = colours.mean(axis=0)
            d = colours - mu
            cov = d.T @ d / n + eps / n * np.eye(c)
            lap[np.ix_(idx, idx)] += np.eye(n) - (1 + d @ np.linalg.inv(cov) @ d.T) / n
    return lap


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(612)


# -- known answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", REFERENCE_NAMES)
def test_matches_matlab_reference(name):
    image, expected = load_reference(name)
    lap = matting_laplacian(image)
    assert lap.shape == expected.shape == (image.shape[0] * image.shape[1],) * 2
    assert lap.dtype == np.float64
    assert abs(lap - expected).max() < 1e-6
    assert abs(expected).max() > 5  # entries reach ~8: the tolerance is meaningful
    # same sparsity pattern, up to explicit zeros
    ours, theirs = lap.copy(), expected.copy()
    ours.eliminate_zeros()
    theirs.eliminate_zeros()
    assert ours.nnz == theirs.nnz
    assert ((ours != 0) != (theirs != 0)).nnz == 0


def test_near_singular_windows_are_accurate():
    # a hard edge between two flat colours: every edge window has a rank-1 covariance
    image, expected = load_reference("flat_edges_10x10")
    assert abs(matting_laplacian(image) - expected).max() < 1e-8


@pytest.mark.parametrize("shape,radius", [((5, 8), 1), ((8, 5), 1), ((7, 9), 2)])
def test_non_square_and_radius_match_naive(rng, shape, radius):
    image = rng.random((*shape, 3))
    lap = matting_laplacian(image, radius=radius, eps=1e-5)
    np.testing.assert_allclose(lap.toarray(), naive_laplacian(image, eps=1e-5, radius=radius), atol=1e-8, rtol=0)
    assert lap.nnz == sum((shape[0] - abs(dy)) * (shape[1] - abs(dx))
                          for dy in range(-2 * radius, 2 * radius + 1) for dx in range(-2 * radius, 2 * radius + 1))


# -- properties ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["in2_crop_24x32", "flat_edges_10x10"])
def test_symmetric_and_rows_sum_to_zero(name):
    image, _ = load_reference(name)
    lap = matting_laplacian(image)
    scale = abs(lap).max()
    assert abs(lap - lap.T).max() <= 1e-12 * scale
    row_sums = np.asarray(lap.sum(axis=1)).ravel()
    assert np.abs(row_sums).max() <= 1e-9 * scale
    assert np.all(lap.diagonal() > 0)


@pytest.mark.parametrize("name", ["random_9x12", "flat_edges_10x10"])
def test_positive_semidefinite(name):
    image, _ = load_reference(name)
    eigenvalues = np.linalg.eigvalsh(matting_laplacian(image).toarray())
    assert eigenvalues.min() >= -1e-8
    assert eigenvalues.max() > 1  # not trivially zero


def test_grey_image_uses_one_channel_formula(rng):
    grey = rng.random((6, 7))
    lap = matting_laplacian(grey)
    np.testing.assert_allclose(lap.toarray(), naive_laplacian(grey[:, :, None]), atol=1e-8, rtol=0)
    # all grey spellings agree
    for same in (grey[:, :, None], torch.from_numpy(grey)[None], torch.from_numpy(grey)[None, None]):
        assert abs(matting_laplacian(same) - lap).max() == 0
    # Replicating grey to RGB would act like the one-channel formula with eps / 3 (dᵀ(σ²·11ᵀ + e·Id)⁻¹d =
    # δ²/(σ² + e/3) for d = δ·1), which matters on low-contrast images: grey is kept one-channel.
    faint = 0.5 + 1e-4 * grey
    replicated = matting_laplacian(np.repeat(faint[:, :, None], 3, axis=2))
    assert abs(replicated - matting_laplacian(faint, eps=1e-7 / 3)).max() < 1e-6
    assert abs(replicated - matting_laplacian(faint)).max() > 0.1


def test_uint8_equals_float_over_255(rng):
    image = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
    assert abs(matting_laplacian(image) - matting_laplacian(image / 255.0)).max() == 0


def test_tensor_input_equals_numpy(rng):
    image = rng.random((9, 10, 3))
    expected = matting_laplacian(image)
    chw = torch.from_numpy(image).permute(2, 0, 1)
    assert abs(matting_laplacian(chw) - expected).max() == 0
    assert abs(matting_laplacian(chw[None]) - expected).max() == 0
    # float32 tensors are accepted (converted to float64); eps=1e-4 keeps the comparison well-conditioned
    lap32 = matting_laplacian(chw.float(), eps=1e-4)
    assert abs(lap32 - matting_laplacian(image, eps=1e-4)).max() < 1e-3


def test_laplacian_to_torch_dense_equal(rng):
    lap = matting_laplacian(rng.random((5, 6, 3)))
    for dtype in (torch.float32, torch.float64):
        t = laplacian_to_torch(lap, dtype=dtype)
        assert t.layout == torch.sparse_csr and t.dtype == dtype and t.shape == lap.shape
        np.testing.assert_allclose(t.to_dense().double().numpy(), lap.toarray(), rtol=1e-6, atol=1e-6)
    # torch input (COO) is converted too
    coo = laplacian_to_torch(lap, dtype=torch.float64).to_sparse_coo()
    back = laplacian_to_torch(coo, dtype=torch.float64)
    assert torch.equal(back.to_dense(), torch.from_numpy(lap.toarray()))


# -- the loss --------------------------------------------------------------------------------------


def test_loss_equals_quadratic_form_and_gradcheck(rng):
    content = rng.random((5, 6, 3))
    lap = matting_laplacian(content, eps=1e-4)
    x = torch.rand(1, 3, 5, 6, dtype=torch.float64, requires_grad=True)
    dense = torch.from_numpy(lap.toarray())
    v = x.detach().reshape(3, -1)
    expected = sum(float(v[c] @ dense @ v[c]) for c in range(3))
    assert photorealism_loss(x, lap).item() == pytest.approx(expected, rel=1e-12)
    assert torch.autograd.gradcheck(lambda img: photorealism_loss(img, lap), (x,), eps=1e-6, atol=1e-6)
    # unbatched input and batched sums
    assert photorealism_loss(x[0], lap).item() == pytest.approx(expected, rel=1e-12)
    two = torch.cat([x, x]).detach()
    assert photorealism_loss(two, lap).item() == pytest.approx(2 * expected, rel=1e-12)


def test_loss_float32_matches_float64(rng):
    image, _ = load_reference("in2_crop_24x32")
    lap = matting_laplacian(image)
    x64 = torch.rand(1, 3, *image.shape[:2], dtype=torch.float64, requires_grad=True)
    x32 = x64.detach().float().requires_grad_()
    l64, l32 = photorealism_loss(x64, lap), photorealism_loss(x32, lap)
    assert l32.dtype == torch.float32 and l64.dtype == torch.float64 and l32.ndim == 0
    assert l32.item() == pytest.approx(l64.item(), rel=1e-5)
    l64.backward()
    l32.backward()
    torch.testing.assert_close(x32.grad.double(), x64.grad, rtol=1e-4, atol=1e-4)


def test_loss_constant_content_and_random():
    image, _ = load_reference("in9_64x40")
    lap = matting_laplacian(image)
    content = torch.from_numpy(image).permute(2, 0, 1)[None]
    constant = torch.full_like(content, 0.37)
    noise = torch.rand(content.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    loss_noise = photorealism_loss(noise, lap).item()
    assert abs(photorealism_loss(constant, lap).item()) < 1e-9
    assert loss_noise > 100
    # the content itself, and a global affine recolouring of it, are (almost) in the null space
    assert photorealism_loss(content, lap).item() < 1e-3 * loss_noise
    recoloured = torch.einsum("ij,bjhw->bihw", torch.tensor([[0.5, 0.2, 0.1], [0.0, 0.7, 0.2], [0.1, 0.1, 0.6]],
                                                            dtype=torch.float64), content) + 0.05
    assert photorealism_loss(recoloured, lap).item() < 1e-3 * loss_noise
    assert metrics.matting_energy(noise, laplacian=lap) == pytest.approx(loss_noise / (64 * 40), rel=1e-12)


def test_module_equals_function_and_follows_dtype(rng):
    content = rng.random((6, 8, 3))
    module = PhotorealismLoss(torch.from_numpy(content).permute(2, 0, 1)[None].float(), eps=1e-5)
    lap = matting_laplacian(torch.from_numpy(content).permute(2, 0, 1).float(), eps=1e-5)
    x = torch.rand(1, 3, 6, 8, dtype=torch.float64)
    assert module(x).item() == pytest.approx(photorealism_loss(x, lap).item(), rel=1e-12)
    assert module(x.float()).dtype == torch.float32
    assert module(x.float()).item() == pytest.approx(photorealism_loss(x, lap).item(), rel=1e-5)
    assert module.state_dict() == {}  # the Laplacian is rebuilt from the content, not saved
    module.float()  # casts the buffers and drops the cached operators
    assert module.values.dtype == torch.float32
    assert module(x).dtype == torch.float64
    assert module(x).item() == pytest.approx(photorealism_loss(x, lap).item(), rel=1e-5)
    assert "num_pixels=48" in repr(module)


def test_converted_laplacian_is_cached(rng):
    lap = matting_laplacian(rng.random((5, 5, 3)))
    x = torch.rand(1, 3, 5, 5)
    from photostyle import matting

    photorealism_loss(x, lap)
    first = matting._laplacian_for(lap, x.device, x.dtype)
    photorealism_loss(x, lap)
    assert matting._laplacian_for(lap, x.device, x.dtype) is first


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_loss_on_cuda_matches_cpu(rng):
    content = rng.random((12, 16, 3))
    module = PhotorealismLoss(content).to("cuda")
    x = torch.rand(1, 3, 12, 16, requires_grad=True)
    xc = x.detach().cuda().requires_grad_()
    loss_cpu, loss_gpu = module(x), module(xc)
    assert loss_gpu.device.type == "cuda"
    assert loss_gpu.item() == pytest.approx(loss_cpu.item(), rel=1e-4)
    loss_cpu.backward()
    loss_gpu.backward()
    torch.testing.assert_close(xc.grad.cpu(), x.grad, rtol=1e-4, atol=1e-4)


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "image,kwargs,error,match",
    [
        (np.zeros((2, 9, 3)), {}, ValueError,
         r"image is 2x9 .* at least 3x3 pixels; pass a larger image or a smaller radius"),
        (np.zeros((9, 4, 3)), {"radius": 2}, ValueError, r"radius=2 .* at least 5x5"),
        (np.zeros((4, 5, 6, 3)), {}, ValueError, r"expected a numpy array of shape \(H, W\).*got \(4, 5, 6, 3\)"),
        (np.zeros((5, 5, 4)), {}, ValueError, r"got \(5, 5, 4\).*drop an alpha channel"),
        (torch.zeros(2, 3, 5, 5), {}, ValueError, r"expected one image.*batch of shape \(2, 3, 5, 5\)"),
        (torch.zeros(4, 5, 5), {}, ValueError, r"got \(4, 5, 5\); tensors are channels-first"),
        (np.full((5, 5, 3), np.nan), {}, ValueError, r"NaN"),
        (np.full((5, 5, 3), 200.0), {}, ValueError,
         r"image: expected float values in \[0, 1\], got values in \[0, 200\]; divide 8-bit data by 255"),
        (np.zeros((5, 5, 3)), {"eps": 0.0}, ValueError,
         r"eps: expected a finite number > 0, got 0.0; pass e.g. eps=1e-7 \(the paper's value; it regularises "
         r"each window's colour covariance\)\.$"),
        (np.zeros((5, 5, 3)), {"eps": -1e-7}, ValueError, r"eps: expected a finite number > 0, got -1e-07; pass e.g."),
        (np.zeros((5, 5, 3)), {"eps": "small"}, TypeError,
         r"eps: expected a positive real number, got 'small' \(str\); pass e.g. eps=1e-7"),
        (np.zeros((5, 5, 3)), {"radius": 0}, ValueError,
         r"radius: expected an integer >= 1, got 0; pass e.g. radius=1 \(3x3 windows\)\.$"),
        (np.zeros((5, 5, 3)), {"radius": 1.5}, TypeError, r"radius: expected an integer >= 1, got 1.5 \(float\)"),
        ([[0.0] * 5] * 5, {}, TypeError, r"expected a numpy array .* got list"),
        (np.zeros((5, 5, 3), dtype=np.int64), {}, TypeError, r"unsupported array dtype int64"),
    ],
)
def test_matting_laplacian_bad_input(image, kwargs, error, match):
    with pytest.raises(error, match=match):
        matting_laplacian(image, **kwargs)


def test_loss_bad_input(rng):
    lap = matting_laplacian(rng.random((5, 6, 3)))
    with pytest.raises(ValueError, match=r"image is 5x7 = 35 pixels but the Laplacian is for 30 pixels"):
        photorealism_loss(torch.rand(1, 3, 5, 7), lap)
    with pytest.raises(ValueError, match=r"image: expected shape \(C, H, W\) or \(B, C, H, W\), got \(30,\)"):
        photorealism_loss(torch.rand(30), lap)
    with pytest.raises(TypeError, match=r"laplacian: expected a sparse \(N, N\) matrix, got list"):
        photorealism_loss(torch.rand(1, 3, 5, 6), [[1.0]])
    with pytest.raises(TypeError, match=r"image: expected a float tensor in \[0, 1\], got dtype torch.uint8"):
        photorealism_loss(torch.zeros(1, 3, 5, 6, dtype=torch.uint8), lap)
    with pytest.raises(TypeError, match=r"laplacian: expected a scipy.sparse matrix or a torch sparse tensor, got str"):
        laplacian_to_torch("L")
