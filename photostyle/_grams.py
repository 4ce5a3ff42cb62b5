"""The Gram-matrix kernels of the style loss, as autograd functions with their backward written out.

:func:`_gram` (one Gram matrix, :func:`photostyle.losses.gram_matrix`) and :class:`_MaskedStyle` (the
whole masked style term of one layer, :class:`photostyle.losses.MaskedStyleLoss`). Both exploit that
the gradient of ``scale · F Fᵀ`` is a single product ``scale · (dG + dGᵀ) F``.
"""

from __future__ import annotations

import torch


def _symmetric(grad: torch.Tensor, scale: float) -> torch.Tensor:
    """``scale · (dG + dGᵀ)``: the gradient of ``scale · F Fᵀ`` is this times ``F`` (B, C, N)."""
    return (grad + grad.transpose(1, 2)).mul_(scale)


def _gram_gradient(grad: torch.Tensor, flat: torch.Tensor, scale: float) -> torch.Tensor:
    """The gradient of ``scale · F Fᵀ`` with respect to ``F`` (B, C, N), given ``grad`` (B, C, C)."""
    return torch.bmm(_symmetric(grad, scale), flat)


class _Gram(torch.autograd.Function):
    """``scale · F Fᵀ`` for ``F`` of shape (B, C, N), with the gradient as one product.

    Autograd's own backward of ``bmm(F, Fᵀ)`` forms two products (one per operand), one of them
    against a transposed (N, C) layout that runs slowly on the CPU; the gradient of a symmetric
    product is ``scale · (dG + dGᵀ) F``, a single (C, C) × (C, N) product. On DPST pair 30's relu1_1
    (64 × 367,500) forward + backward took 0.17 s instead of 0.97 s on one thread. The backward uses
    differentiable operations, so double backward still works.
    """

    @staticmethod
    def forward(ctx, flat: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(flat)
        ctx.scale = scale
        return torch.bmm(flat, flat.transpose(1, 2)) * scale

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (flat,) = ctx.saved_tensors
        return _gram_gradient(grad, flat, ctx.scale), None


def _gram(flat: torch.Tensor, scale: float) -> torch.Tensor:
    """``scale · F Fᵀ`` for (B, C, N) features, with the fast symmetric gradient (see :class:`_Gram`)."""
    return _Gram.apply(flat, scale)


# Channels from which a layer's forward Grams of bfloat16 features are formed as bfloat16 products.
# On the CPU a bfloat16 product rounds its (C, C) output to bfloat16, about 1e-3 of each entry. On the
# published result of DPST pair 30 at 700 px that is 0.02-0.4 % of the residual G - T at relu3_1, relu4_1
# and relu5_1, where style and result still differ by 40-100 % of T; at relu1_1, where they are close
# (the residual 4 % of T on one label), it is 4 %, so relu1_1 and relu2_1 keep float32 products. It saves
# about 85 ms of the 360 ms that the masked style term costs per fast iteration at 700 px (one thread;
# benchmarks/bench_core.py).
LOW_PRECISION_GRAM_CHANNELS = 256


class _MaskedStyle(torch.autograd.Function):
    """The masked style term of one layer, ``Σ_l w_l · mean((G_l − T_l)²)``, forward and backward in one.

    ``index`` concatenates the supports (the pixels where a mask is non-zero) in two parts: first the
    *hard* pixels, ``n_hard`` of them, each in one label's support only with mask value 1, then the
    *soft* ones (mask edges, pixels shared by labels) with their mask values ``soft``. ``slices[l]`` is
    label ``l``'s two ranges of ``index``, ``((hard_start, hard_end), (soft_start, soft_end))``. The
    features ``g`` are gathered once, ``P = g ⊙ v`` (only the soft part is multiplied: ``v = 1``
    elsewhere), ``G_l = scale_l · P_l P_lᵀ`` over label ``l``'s ranges, ``targets`` holds ``T_l`` and
    ``weights`` the ``w_l``. The backward is written out: ``dG_l = 2 w_l (G_l − T_l) / numel(G_l)`` and
    ``dg_l = scale_l ((dG_l + dG_lᵀ) P_l) ⊙ v``, all labels into one buffer, scattered back once: the hard
    pixels by a copy (``index_copy_``, about 5x faster than the accumulating ``index_add_`` on one thread),
    the soft ones by a sum. Where the supports cover every pixel, ``soft_once`` holds the soft pixels
    (each once): the buffer the gradient is scattered into then needs zeros only there, not a fill of
    the whole layer (94 MB at relu1_1 of a 700-px photo in float32); otherwise ``soft_once`` is None. Compared with a Gram
    function followed by one MSE per label under autograd, this saves the zero-filled (B, L, C, C)
    gradient of every label's slice of the stacked Grams (12 ms an iteration at the fast preset's 128x96
    level) and the small MSE nodes. ``index=None`` is one label covering the image with a mask of ones (a
    transfer without masks): no gather, multiply or scatter.

    Features of a lower precision than the targets (bfloat16 out of the encoder) are gathered as they
    are; the Grams and the loss are computed in the targets' dtype, the backward's product in the
    features' own (their gradient goes on into the bfloat16 network): at relu1_1 of a 700-px photo that
    product takes 47 ms instead of 143 ms in float32 on one thread. Layers of at least
    :data:`LOW_PRECISION_GRAM_CHANNELS` channels (relu3_1 … relu5_1) also form their forward Grams in
    the features' precision (accumulated in float32 inside the product, rounded to bfloat16 at its end,
    then the loss in float32); see that constant for why the shallow layers do not.
    """

    @staticmethod
    def forward(ctx, features, index, soft, n_hard, soft_once, slices, scales, weights, targets):
        b, c, h, w = features.shape
        # channels-last features (the network's compute copy, see VGG19Encoder) are gathered as whole
        # pixels, (B, N, C); others along the last axis of a (B·C, H·W) view, which runs about twice as
        # fast as of the 3-D tensor
        pixels_first = not features.is_contiguous() and features.is_contiguous(memory_format=torch.channels_last)
        # the deep layers' Grams in the network's own precision (bfloat16 only: float16's range would
        # overflow a sum over hundreds of thousands of pixels), the others in the targets' dtype
        low = features.dtype == torch.bfloat16 and c >= LOW_PRECISION_GRAM_CHANNELS
        gram_dtype = features.dtype if low else soft.dtype
        if index is None:  # one label over the whole image with a mask of ones (no masks): nothing to gather
            gathered = features.permute(0, 2, 3, 1).reshape(b, h * w, c) if pixels_first else features.reshape(b, c, -1)
        elif pixels_first:
            gathered = features.permute(0, 2, 3, 1).reshape(b, h * w, c).index_select(1, index)
        else:
            gathered = features.reshape(b * c, h * w).index_select(1, index).reshape(b, c, -1)
        # the soft tail of the pixels (a view): P = g ⊙ v there, P = g on the hard pixels
        tail = (lambda t: t[:, n_hard:]) if pixels_first else (lambda t: t[:, :, n_hard:])
        factor = soft[:, None] if pixels_first else soft
        # P in place of the gathered copy (or of the features themselves where nothing was gathered: then
        # there is no soft tail), or a float32 copy for the Grams of bfloat16 features
        picked = gathered if gram_dtype == gathered.dtype else gathered.to(gram_dtype)
        if index is not None:
            tail(picked).mul_(factor)
        # the backward takes P and multiplies its result by v once more, or (P is a copy) g and v²
        saved, ctx.soft_factor = (picked, soft) if picked is gathered else (gathered, soft * soft)
        diffs = []
        total = soft.new_zeros(())
        for slot, (ranges, scale) in enumerate(zip(slices, scales)):
            gram = None
            for start, end in ranges:
                if end == start:
                    continue
                if pixels_first:
                    part = picked[:, start:end]
                    left, right = part.transpose(1, 2), part
                else:
                    part = picked[:, :, start:end]
                    left, right = part, part.transpose(1, 2)
                gram = torch.bmm(left, right) if gram is None else torch.baddbmm(gram, left, right)
            diff = gram.to(targets.dtype).mul_(scale).sub_(targets[slot])
            total = total + weights[slot] * diff.pow(2).mean()
            diffs.append(diff)
        ctx.save_for_backward(saved, *diffs)
        ctx.index, ctx.n_hard, ctx.soft_once = index, n_hard, soft_once
        ctx.slices, ctx.scales, ctx.weights, ctx.shape, ctx.pixels_first = slices, scales, weights, (b, c, h, w), pixels_first
        return total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        saved, *diffs = ctx.saved_tensors
        index, n_hard, (b, c, h, w), pixels_first = ctx.index, ctx.n_hard, ctx.shape, ctx.pixels_first
        d_gathered = torch.empty_like(saved)
        for diff, ranges, scale, weight in zip(diffs, ctx.slices, ctx.scales, ctx.weights):
            d_gram = _symmetric(diff * (grad * (2.0 * weight / diff.numel())), scale).to(saved.dtype)
            for start, end in ranges:
                if end == start:
                    continue
                if pixels_first:  # (N, C) (C, C): the symmetric factor needs no transpose
                    torch.bmm(saved[:, start:end], d_gram, out=d_gathered[:, start:end])
                else:
                    torch.bmm(d_gram, saved[:, :, start:end], out=d_gathered[:, :, start:end])
        if index is None:
            d_flat = d_gathered.view(b, h, w, c).permute(0, 3, 1, 2) if pixels_first else d_gathered.view(b, c, h, w)
            return d_flat, None, None, None, None, None, None, None, None
        dim = 1 if pixels_first else 2
        shape = (b, h * w, c) if pixels_first else (b, c, h * w)
        soft_part = d_gathered.narrow(dim, n_hard, index.numel() - n_hard)
        soft_part.mul_((ctx.soft_factor[:, None] if pixels_first else ctx.soft_factor).to(saved.dtype))
        hard_index, soft_index, soft_once = index[:n_hard], index[n_hard:], ctx.soft_once
        if soft_once is not None:  # every pixel is written below: zeros only where the soft pixels are summed
            d_flat = saved.new_empty(shape)
            zeros = saved.new_zeros((b, soft_once.numel(), c) if pixels_first else (b, c, soft_once.numel()))
            d_flat.index_copy_(dim, soft_once, zeros)  # (index_fill_ took 50 ms a call at relu1_1, this 1 ms)
        else:
            d_flat = saved.new_zeros(shape)
        d_flat.index_copy_(dim, hard_index, d_gathered.narrow(dim, 0, n_hard))
        d_flat.index_add_(dim, soft_index, soft_part)
        if pixels_first:
            return d_flat.view(b, h, w, c).permute(0, 3, 1, 2), None, None, None, None, None, None, None, None
        return d_flat.view(b, c, h, w), None, None, None, None, None, None, None, None
