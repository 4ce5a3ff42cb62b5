import re

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import gradcheck, gradgradcheck

from photostyle.losses import (
    ContentLoss, MaskedStyleLoss, TVLoss, content_loss, gram_matrix, masked_gram, masked_style_loss,
    style_loss, style_targets, tv_loss,
)


def test_gram_matrix_known_value():
    f = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]], [[0.0, 1.0], [0.0, 1.0]]]])  # (1, 2, 2, 2)
    g = gram_matrix(f)
    # F = [[1,2,3,4],[0,1,0,1]] → F Fᵀ = [[30, 6], [6, 2]], / (C·H·W = 8)
    assert torch.allclose(g, torch.tensor([[[30.0, 6.0], [6.0, 2.0]]]) / 8)


def test_gram_matrix_gradient_is_the_symmetric_product():
    """The hand-written backward ((dG + dGᵀ) F, one product) equals autograd's and is itself differentiable."""
    torch.manual_seed(3)
    f = torch.rand(2, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    weight = torch.rand(2, 3, 3, dtype=torch.float64)  # not symmetric: dG ≠ dGᵀ
    (ours,) = torch.autograd.grad((gram_matrix(f) * weight).sum(), f)
    flat = f.reshape(2, 3, 20)
    (reference,) = torch.autograd.grad((torch.bmm(flat, flat.transpose(1, 2)) / 60 * weight).sum(), f)
    assert torch.allclose(ours, reference, rtol=1e-12)
    assert gradcheck(gram_matrix, (f,)) and gradgradcheck(gram_matrix, (f,))


def test_masked_gram_normalisation():
    torch.manual_seed(0)
    f = torch.rand(1, 4, 6, 5)
    ones = torch.ones(6, 5)
    assert torch.allclose(masked_gram(f, ones), gram_matrix(f))
    # A mask covering the left half: equals the Gram of the masked features / mean(mask).
    m = torch.zeros(6, 5)
    m[:, :2] = 1
    expected = gram_matrix(f * m) / m.mean()
    assert torch.allclose(masked_gram(f, m), expected)
    assert torch.count_nonzero(masked_gram(f, torch.zeros(6, 5))) == 0
    with pytest.raises(ValueError, match=r"expected shape \(6, 5\) to match the features, got \(5, 6\)"):
        masked_gram(f, torch.ones(5, 6))


def test_style_targets_fall_back_to_whole_style():
    torch.manual_seed(1)
    f = torch.rand(1, 3, 4, 4)
    masks = torch.zeros(2, 4, 4)
    masks[0] = 1
    targets = style_targets(f, masks, present=torch.tensor([True, False]))
    assert torch.allclose(targets[0], gram_matrix(f)[0])
    assert torch.allclose(targets[1], gram_matrix(f)[0])  # absent label → whole image, not zeros
    targets = style_targets(f, masks)  # default: empty mask at this layer also falls back
    assert torch.allclose(targets[1], gram_matrix(f)[0])


def test_masked_style_loss_single_label_equals_plain_style_loss():
    torch.manual_seed(2)
    f, s = torch.rand(1, 3, 5, 4), torch.rand(1, 3, 5, 4)
    target = gram_matrix(s)
    value = masked_style_loss(f, target, torch.ones(1, 5, 4))
    assert torch.allclose(value, style_loss(f, target[0]))
    assert float(masked_style_loss(s, target, torch.ones(1, 5, 4))) == pytest.approx(0.0, abs=1e-12)


def test_masked_style_loss_weights_labels_by_area():
    torch.manual_seed(3)
    f = torch.rand(1, 2, 4, 4)
    masks = torch.zeros(2, 4, 4)
    masks[0, :, :1] = 1  # 1/4 of the image
    masks[1, :, 1:] = 1  # 3/4
    targets = torch.zeros(2, 2, 2)
    expected = sum(
        masks[i].mean() * torch.mean((masked_gram(f, masks[i])[0] - targets[i]) ** 2) for i in range(2)
    )
    assert torch.allclose(masked_style_loss(f, targets, masks), expected)


def test_gradchecks_float64():
    torch.manual_seed(4)
    f = torch.rand(1, 3, 4, 5, dtype=torch.float64, requires_grad=True)
    masks = torch.rand(2, 4, 5, dtype=torch.float64)
    targets = torch.rand(2, 3, 3, dtype=torch.float64)
    assert gradcheck(lambda x: masked_style_loss(x, targets, masks), (f,))
    target = torch.rand(1, 3, 4, 5, dtype=torch.float64)
    assert gradcheck(lambda x: content_loss(x, target), (f,))
    assert gradcheck(tv_loss, (f,))


def test_tv_loss_known_value():
    img = torch.zeros(1, 1, 2, 3)
    img[0, 0, 0, 1] = 1.0  # a single bright pixel with 3 neighbours
    assert float(tv_loss(img)) == pytest.approx(0.5 * 3)


def test_modules_equal_functions():
    torch.manual_seed(5)
    f, t = torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 4)
    assert torch.allclose(ContentLoss(t, weight=5.0)(f), 5.0 * content_loss(f, t))
    masks, targets = torch.rand(2, 4, 4), torch.rand(2, 3, 3)
    assert torch.allclose(MaskedStyleLoss(targets, masks, weight=7.0)(f), 7.0 * masked_style_loss(f, targets, masks))
    assert torch.allclose(TVLoss(weight=0.5)(f), 0.5 * tv_loss(f))
    module = MaskedStyleLoss(targets, masks)
    assert set(module.state_dict()) == {"target_grams", "content_masks"}  # the gather indices are derived


def test_masked_style_module_uses_mask_supports_and_equals_the_function():
    torch.manual_seed(6)
    f = torch.rand(2, 5, 12, 10, dtype=torch.float64, requires_grad=True)
    labels = torch.zeros(12, 10, dtype=torch.long)
    labels[:4] = 1
    labels[4:, 7:] = 2
    masks = torch.stack([(labels == i).double() for i in range(4)])  # label 3 is empty
    masks = torch.nn.functional.avg_pool2d(masks[None], 3, 1, 1, count_include_pad=False)[0]  # soft borders
    masks[0] = 1.0  # one label over the whole image
    targets = torch.rand(4, 5, 5, dtype=torch.float64)
    module = MaskedStyleLoss(targets, masks, weight=3.0)
    # the empty label is left out; each other label is gathered over its support only (soft borders included)
    assert module._labels == [0, 1, 2]
    sizes = [end - start for start, _, end in module._slices]
    assert sizes == [120, int((masks[1] > 0).sum()), int((masks[2] > 0).sum())]
    assert 40 < sizes[1] < 120 and 20 < sizes[2] < 120
    # hard pixels (gathered without a multiply, copied back): value 1 in one support only, here the
    # pixels of label 0 that no soft border of labels 1 and 2 reaches
    alone = ((masks[:3] > 0).sum(0) == 1) & (masks[0] == 1)
    assert module.n_hard == int(alone.sum()) and 0 < module.n_hard < 120
    assert torch.equal(module._soft_once, torch.nonzero(~alone.flatten()).flatten())  # every pixel is covered
    # label by label, each its hard pixels then its soft ones; labels 1 and 2 have no hard pixels here
    assert module._slices[0][:2] == (0, module.n_hard) and module._slices[0][2] == 120
    assert [s[1] - s[0] for s in module._slices[1:]] == [0, 0] and module._slices[1][0] == 120
    assert module._slices[2][0] == module._slices[1][2] and module._slices[2][2] == module._index.numel()
    assert torch.equal(module._index[:module.n_hard], torch.nonzero(alone.flatten()).flatten())
    assert torch.equal(module._factor, torch.cat([masks[i].flatten()[module._index[s:e]] for i, (s, _, e) in enumerate(module._slices)]))
    value = module(f)
    expected = 3.0 * masked_style_loss(f, targets, masks)
    assert torch.allclose(value, expected, rtol=1e-12)
    (g_module,) = torch.autograd.grad(value, f)
    (g_function,) = torch.autograd.grad(expected, f)
    assert torch.allclose(g_module, g_function, rtol=1e-10)
    assert gradcheck(lambda x: module(x), (f,))
    with pytest.raises(ValueError, match="features are 11x10 but the content masks are 12x10"):
        module(torch.rand(1, 5, 11, 10, dtype=torch.float64))


def test_shape_errors():
    with pytest.raises(ValueError, match=r"expected a feature tensor of shape \(B, C, H, W\), got \(3, 4\)"):
        gram_matrix(torch.rand(3, 4))
    with pytest.raises(ValueError, match="both must come from the same layer"):
        content_loss(torch.rand(1, 3, 4, 4), torch.rand(1, 3, 4, 5))
    with pytest.raises(ValueError, match="build both from the same label list"):
        masked_style_loss(torch.rand(1, 3, 4, 4), torch.rand(2, 3, 3), torch.rand(3, 4, 4))


def _objective_parts(seed=0):
    from photostyle.encoders import VGG19Encoder

    from ._vgg_files import write_normalised_vgg19

    import tempfile
    from pathlib import Path

    path = write_normalised_vgg19(Path(tempfile.mkdtemp()) / "n.pth", up_to="conv2_1", seed=seed)
    encoder = VGG19Encoder(["relu1_1", "relu2_1"], weights=path)
    g = torch.Generator().manual_seed(seed)
    return encoder, torch.rand(1, 3, 20, 24, generator=g), torch.rand(1, 3, 22, 18, generator=g)


def test_style_objective_unmasked_equals_one_all_ones_label():
    from photostyle.losses import StyleObjective

    encoder, content, style = _objective_parts()
    kw = dict(content_layers=("relu2_1",), style_layers=("relu1_1", "relu2_1"), content_weight=2.0,
              style_weight=3.0, tv_weight=0.5)
    plain = StyleObjective(encoder, content, style, **kw)
    ones = StyleObjective(encoder, content, style, content_masks=torch.ones(1, 20, 24),
                          style_masks=torch.ones(1, 22, 18), style_present=torch.ones(1, dtype=torch.bool), **kw)
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(5))
    a, b = plain(x), ones(x)
    assert set(a) == {"content", "style", "tv", "total"}
    for key in a:
        assert torch.allclose(a[key], b[key], rtol=1e-6), key
    # the unmasked style term is the plain Gram loss of Gatys et al.
    fx, fs = encoder(x), encoder(style)
    expected = sum(F.mse_loss(gram_matrix(fx[k]), gram_matrix(fs[k])) for k in ("relu1_1", "relu2_1"))
    assert float(a["style"]) == pytest.approx(3.0 * float(expected), rel=1e-5)


def test_style_objective_keeps_its_targets_when_the_photorealism_term_is_switched_on():
    from photostyle.losses import StyleObjective
    from photostyle.matting import PhotorealismLoss

    encoder, content, style = _objective_parts(1)
    objective = StyleObjective(encoder, content, style, content_layers=("relu2_1",), style_layers=("relu1_1",),
                               content_weight=1.0, style_weight=1.0)
    before = {k: v.clone() for k, v in objective.state_dict().items()}
    x = torch.rand(1, 3, 20, 24, generator=torch.Generator().manual_seed(2))
    stage1 = objective(x)
    photo = PhotorealismLoss(content)
    objective.set_photorealism(photo, 10.0)
    stage2 = objective(x)
    after = objective.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert float(stage2["content"]) == float(stage1["content"]) and float(stage2["style"]) == float(stage1["style"])
    assert float(stage2["photo"]) == pytest.approx(10.0 * float(photo(x)), rel=1e-6)
    assert float(stage2["total"]) == pytest.approx(float(stage1["total"]) + float(stage2["photo"]), rel=1e-6)
    with pytest.raises(ValueError, match=re.escape(
            "photorealism: expected a loss (photostyle.matting.PhotorealismLoss) with photo_weight=1 > 0, got None; "
            "pass photorealism=PhotorealismLoss(content) or photo_weight=0.")):
        objective.set_photorealism(None, 1.0)


def _soft_masks(h: int, w: int) -> torch.Tensor:
    labels = torch.zeros(h, w, dtype=torch.long)
    labels[: h // 3] = 1
    labels[h // 3:, w // 2:] = 2
    masks = torch.stack([(labels == i).double() for i in range(3)])
    return torch.nn.functional.avg_pool2d(masks[None], 3, 1, 1, count_include_pad=False)[0]


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("case", ["hard", "soft", "uncovered"])
def test_masked_style_hard_and_soft_pixels_equal_the_function(case, channels_last):
    """Hard pixels (mask 1, one support) are gathered as they are and copied back; soft ones are weighted
    and summed back; pixels in no support get a zero gradient. Each mix equals the plain function."""
    torch.manual_seed(12)
    masks = _soft_masks(9, 11)
    if case == "hard":
        masks = (masks == masks.max(dim=0).values).double()
        masks = masks / masks.sum(0)  # one-hot where there is no tie
    if case == "uncovered":
        masks[:, 4:6, :] = 0  # two rows in no label's support
    targets = torch.rand(3, 6, 6, dtype=torch.float64)
    module = MaskedStyleLoss(targets, masks, weight=2.0)
    n = masks.shape[1] * masks.shape[2]
    alone = ((masks > 0).sum(0) == 1) & (masks.max(dim=0).values == 1)
    assert module.n_hard == int(alone.sum()) and (module._soft_once is not None) is (case != "uncovered")
    assert module.n_hard == (n if case == "hard" else module.n_hard) and 0 < module.n_hard
    assert all(s > 0 and e > m for s, m, e in module._slices[1:]) or case == "hard"  # hard and soft ranges interleave
    f = torch.rand(1, 6, 9, 11, dtype=torch.float64)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    value = module(f)
    expected = 2.0 * masked_style_loss(f, targets, masks)
    assert torch.allclose(value, expected, rtol=1e-12)
    (grad,) = torch.autograd.grad(value, f)
    (reference,) = torch.autograd.grad(expected, f)
    assert torch.allclose(grad, reference, rtol=1e-10, atol=1e-15)
    if case == "uncovered":
        assert torch.equal(grad[..., 4:6, :], torch.zeros_like(grad[..., 4:6, :]))
    assert gradcheck(lambda x: module(x), (f,))


def test_masked_style_on_channels_last_features_equals_the_contiguous_path():
    """The bfloat16 network hands its features over channels-last; they are gathered as whole pixels."""
    torch.manual_seed(7)
    masks = _soft_masks(9, 11)
    targets = torch.rand(3, 6, 6, dtype=torch.float64)
    module = MaskedStyleLoss(targets, masks, weight=2.0)
    f = torch.rand(1, 6, 9, 11, dtype=torch.float64)
    g = f.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    f.requires_grad_(True)
    assert not g.is_contiguous() and g.is_contiguous(memory_format=torch.channels_last)
    value_f, value_g = module(f), module(g)
    assert torch.allclose(value_g, value_f, rtol=1e-13)
    assert torch.allclose(value_f, 2.0 * masked_style_loss(f, targets, masks), rtol=1e-12)
    (grad_f,) = torch.autograd.grad(value_f, f)
    (grad_g,) = torch.autograd.grad(value_g, g)
    assert grad_g.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(grad_g, grad_f, rtol=1e-12, atol=1e-15)
    assert gradcheck(lambda x: module(x), (g,))


def test_masked_style_on_bfloat16_features_keeps_them_and_sums_in_float32():
    """bfloat16 features (what the bfloat16 network returns) are multiplied as they are; the Grams, the loss
    and its arithmetic are float32, and the gradient goes back in bfloat16."""
    torch.manual_seed(8)
    masks = _soft_masks(12, 10).float()
    features = torch.rand(1, 8, 12, 10).bfloat16()
    exact = features.double().requires_grad_(True)  # the same values in float64
    targets = style_targets(torch.rand(1, 8, 12, 10), masks)
    module = MaskedStyleLoss(targets, masks)
    low = features.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    value = module(low)
    reference = MaskedStyleLoss(targets.double(), masks.double())(exact)
    assert value.dtype == torch.float32
    # 120 pixels: one bfloat16 product per label, its (C, C) output rounded once (about 1e-3 an entry)
    error = abs(float(value.detach()) - float(reference.detach())) / float(reference.detach())
    assert 1e-7 < error < 3e-3
    (g_low,) = torch.autograd.grad(value, low)
    (g_ref,) = torch.autograd.grad(reference, exact)
    assert g_low.dtype == torch.bfloat16 and g_low.is_contiguous(memory_format=torch.channels_last)
    assert float((g_low.double() - g_ref).norm() / g_ref.norm()) < 1e-2


@pytest.mark.parametrize("pixels_first", [False, True])
def test_bfloat16_grams_are_summed_over_chunks_in_float32(pixels_first):
    """A bfloat16 product rounds its (C, C) output to bfloat16 once; over chunks of GRAM_CHUNK_PIXELS
    pixels summed in float32 the error falls as 1 / sqrt(chunks). 23 chunks and a remainder here."""
    from photostyle._grams import GRAM_CHUNK_PIXELS, _gram_into

    assert GRAM_CHUNK_PIXELS == 2048
    torch.manual_seed(13)
    n, c = 23 * 2048 + 777, 32
    pixels = torch.rand(2, n, c).bfloat16()  # relu-like: non-negative
    part = pixels if pixels_first else pixels.transpose(1, 2).contiguous()
    exact = torch.bmm(pixels.double().transpose(1, 2), pixels.double())
    out = torch.empty(2, c, c)
    _gram_into(out, part, pixels_first)
    once = torch.bmm(pixels.transpose(1, 2), pixels).double()  # one product, rounded once
    error = float((out.double() - exact).norm() / exact.norm())
    error_once = float((once - exact).norm() / exact.norm())
    assert 5e-4 < error_once < 3e-3
    assert error < error_once / 3  # sqrt(23) ≈ 4.8; leaving out the 777 remaining pixels would be 1.6 %
    assert float((out[1].double() - exact[1]).norm() / exact[1].norm()) < error_once / 3  # each batch item
    # float32 features: one float32 product, as it is
    _gram_into(out, part.float(), pixels_first)
    assert float((out.double() - exact).norm() / exact.norm()) < 1e-6
    # a deep layer (16 C pixels a chunk): 512 channels over 6,000 pixels is a single product
    deep = torch.rand(1, 6000, 512).bfloat16()
    big = torch.empty(1, 512, 512)
    _gram_into(big, deep if pixels_first else deep.transpose(1, 2).contiguous(), pixels_first)
    deep_exact = torch.bmm(deep.double().transpose(1, 2), deep.double())
    assert 5e-4 < float((big.double() - deep_exact).norm() / deep_exact.norm()) < 3e-3  # rounded once


@pytest.mark.parametrize("pixels_first", [False, True])
@pytest.mark.parametrize("c", [64, 100, 192, 512])
def test_float32_grams_from_the_upper_block_triangle_equal_the_full_product(pixels_first, c):
    """From 128 channels (a multiple of 64) on, a CPU float32 Gram is formed from its upper block triangle
    and mirrored: the same Gram, exactly symmetric; 64 and 100 channels take one product."""
    from photostyle._grams import SYMMETRIC_BLOCK, _gram_into

    assert SYMMETRIC_BLOCK == 64
    torch.manual_seed(c)
    pixels = torch.rand(2, 3000, c)
    part = pixels if pixels_first else pixels.transpose(1, 2).contiguous()
    out = torch.full((2, c, c), float("nan"))  # every entry must be written
    _gram_into(out, part, pixels_first)
    exact = torch.bmm(pixels.double().transpose(1, 2), pixels.double())
    assert float((out.double() - exact).abs().max() / exact.abs().max()) < 1e-6
    if c % 64 == 0 and c >= 128:
        assert torch.equal(out, out.transpose(1, 2))


@pytest.mark.parametrize("channels_last", [False, True])
def test_masked_style_without_masks_uses_the_features_as_they_are(channels_last):
    """One all-ones label (a transfer without masks): no gather or scatter, the plain Gram style loss."""
    torch.manual_seed(9)
    f = torch.rand(2, 5, 7, 6, dtype=torch.float64)
    if channels_last:
        f = f.contiguous(memory_format=torch.channels_last)
    f.requires_grad_(True)
    targets = torch.rand(1, 5, 5, dtype=torch.float64)
    module = MaskedStyleLoss(targets, torch.ones(1, 7, 6, dtype=torch.float64), weight=4.0)
    assert module._whole
    value = module(f)
    assert torch.allclose(value, 4.0 * style_loss(f, targets[0]), rtol=1e-12)
    (grad,) = torch.autograd.grad(value, f)
    (expected,) = torch.autograd.grad(4.0 * style_loss(f, targets[0]), f)
    assert torch.allclose(grad, expected, rtol=1e-10, atol=1e-14)
    assert gradcheck(lambda x: module(x), (f,))
    soft = torch.ones(1, 7, 6, dtype=torch.float64)
    soft[0, 0, 0] = 0.5
    assert not MaskedStyleLoss(targets, soft)._whole  # a soft value somewhere: gathered and weighted as usual


def test_masked_style_without_masks_on_deep_bfloat16_features_is_close_to_float32():
    """The whole-image label (no gather) takes the bfloat16 product directly at 256 channels."""
    torch.manual_seed(11)
    ones = torch.ones(1, 9, 8)
    features = torch.rand(1, 256, 9, 8).bfloat16().contiguous(memory_format=torch.channels_last)
    module = MaskedStyleLoss(style_targets(torch.rand(1, 256, 9, 8), ones), ones)
    assert module._whole
    low = features.clone().requires_grad_(True)
    exact = features.float().requires_grad_(True)
    value, reference = module(low), module(exact)
    assert value.dtype == torch.float32
    assert 1e-7 < abs(float(value) - float(reference)) / float(reference) < 3e-3
    (g_low,) = torch.autograd.grad(value, low)
    (g_ref,) = torch.autograd.grad(reference, exact)
    assert g_low.is_contiguous(memory_format=torch.channels_last)
    assert float((g_low.float() - g_ref).norm() / g_ref.norm()) < 1e-2


def test_content_loss_equals_mse_with_its_gradients_and_double_backward():
    """content_loss is F.mse_loss with the gradient written out (_MeanSquare): the same value and
    gradients for both arguments, double backward included."""
    torch.manual_seed(14)
    a = torch.rand(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    b = torch.rand(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    value = content_loss(a, b)
    expected = torch.nn.functional.mse_loss(a, b)
    assert torch.allclose(value, expected, rtol=1e-14)
    grads = torch.autograd.grad(value, (a, b))
    reference = torch.autograd.grad(expected, (a, b))
    assert all(torch.allclose(g, r, rtol=1e-13) for g, r in zip(grads, reference))
    assert gradcheck(content_loss, (a, b)) and gradgradcheck(content_loss, (a, b))
    # bfloat16 features against a float32 target: a float32 loss, the gradient in the features' dtype
    low = a.detach().bfloat16().requires_grad_(True)
    value = content_loss(low, b.detach().float())
    assert value.dtype == torch.float32
    (g_low,) = torch.autograd.grad(value, low)
    assert g_low.dtype == torch.bfloat16


def test_content_module_meets_channels_last_features_in_their_layout():
    """The network's compute copy hands channels-last features over; ContentLoss keeps its target in that
    layout (a new one loaded in place too) and gives the same value and gradient for either layout."""
    torch.manual_seed(15)
    target = torch.rand(1, 8, 6, 7, dtype=torch.float64)
    module = ContentLoss(target, weight=3.0)
    assert module.target.is_contiguous(memory_format=torch.channels_last) and not module.target.is_contiguous()
    assert torch.equal(module.target, target)
    f = torch.rand(1, 8, 6, 7, dtype=torch.float64)
    plain = f.clone().requires_grad_(True)
    last = f.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    v_plain, v_last = module(plain), module(last)
    assert float(v_last) == pytest.approx(float(v_plain), rel=1e-14)
    assert float(v_plain) == pytest.approx(3.0 * float(torch.nn.functional.mse_loss(f, target)), rel=1e-14)
    (g_plain,) = torch.autograd.grad(v_plain, plain)
    (g_last,) = torch.autograd.grad(module(last), last)
    assert g_last.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(g_last, g_plain, rtol=1e-14)
    assert set(module.state_dict()) == {"target"}
    # a new target loaded in place is used, and keeps the layout
    module.load_state_dict({"target": target * 2})
    assert module.target.is_contiguous(memory_format=torch.channels_last)
    assert float(module(last)) == pytest.approx(3.0 * float(torch.nn.functional.mse_loss(f, target * 2)), rel=1e-14)
    assert ContentLoss(torch.rand(2, 5)).target.is_contiguous()  # not an image: as it is
