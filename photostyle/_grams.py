"""The Gram-matrix kernels of the style loss, as autograd functions with their backward written out.

:func:`_gram` (one Gram matrix, :func:`photostyle.losses.gram_matrix`) and :class:`_MaskedStyle` (the
whole masked style term of one layer, :class:`photostyle.losses.MaskedStyleLoss`). Both exploit that
the gradient of ``scale · F Fᵀ`` is a single product ``scale · (dG + dGᵀ) F``. :class:`_MeanSquare` is
the content term's mean squared error.
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


class _MeanSquare(torch.autograd.Function):
    """``mean((a − b)²)`` (the content term), with its gradient ``2 (a − b) / n · g`` written out.

    ``F.mse_loss``'s CPU backward runs elementwise at a fraction of memory speed on channels-last
    features: the content term at relu4_2 of a 700-px photo (512 x 66 x 88, the cast from bfloat16
    included), forward + backward 45 ms against 14 ms here with a channels-last target (one thread).
    The backward recomputes ``a − b`` from the inputs with differentiable operations, so double
    backward still works.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(a, b)
        diff = a - b
        return torch.linalg.vector_norm(diff).square() / diff.numel()

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        diff = a - b
        d = diff * (grad * (2.0 / diff.numel()))
        d_a = d.to(a.dtype) if ctx.needs_input_grad[0] else None
        d_b = (-d).to(b.dtype) if ctx.needs_input_grad[1] else None
        return d_a, d_b


# Pixels per chunk of a bfloat16 Gram product: each chunk's (C, C) product is rounded to bfloat16 at its
# end (the sum inside it runs in float32), and the chunks are summed in float32, so the rounding error of
# the whole Gram falls as 1 / sqrt(chunks). A single bfloat16 product of DPST pair 30's relu1_1 at 700 px
# (64 x 367,500) is off by 1.3e-3 of its norm; in chunks of 2,048 pixels by 1.3e-4, for 10.9 ms against
# 10.3 ms, where converting the features to float32 for a float32 product took 44 ms and the product
# another 31 ms (one thread, AMX). The chunk grows with the channels (16 C pixels at least) so that the
# chunks' (C, C) outputs stay small beside the features they are formed from.
GRAM_CHUNK_PIXELS = 2048


# Channels per block of a symmetric product on the CPU (see _symmetric_into).
SYMMETRIC_BLOCK = 64


def _symmetric_into(gram: torch.Tensor, left: torch.Tensor) -> None:
    """``gram = left leftᵀ`` for ``left`` (C, n) from its upper block triangle: for each block of 64 rows
    one product against itself and the rows below it, the lower triangle mirrored. That is (C + 64) / 2C
    of the full product's work (0.75 at 128 channels, 0.56 at 512): MKL's ``sgemm`` does not use the
    symmetry, and a ``syrk`` is not within torch's reach. On DPST pair 30 at 512 px (the fast preset's
    finest level; float32, one thread) the masked style term's forward + backward went 0.232 → 0.216 s."""
    c, b = left.shape[0], SYMMETRIC_BLOCK
    for i in range(0, c, b):
        block = torch.mm(left[i:i + b], left[i:].t())  # (b, C - i): the diagonal block and those beside it
        gram[i:i + b, i:] = block
        if i + b < c:
            gram[i + b:, i:i + b] = block[:, b:].t()


def _gram_into(out: torch.Tensor, part: torch.Tensor, pixels_first: bool) -> None:
    """``out[i] = Σ_p p pᵀ`` over the pixels of ``part[i]`` ((B, n, C) pixels first, else (B, C, n)).

    Features in ``out``'s dtype take one product (on the CPU, from 128 channels on, its upper block triangle:
    :func:`_symmetric_into`). Lower-precision ones (bfloat16) take bfloat16 products
    over chunks of the pixels, summed in ``out``'s dtype; see :data:`GRAM_CHUNK_PIXELS`. Each batch item
    is a 2-D product: on the CPU a batched product of a slice (its batch stride is not its own size)
    first copies it, which made relu1_1's Gram over one label of pair 30 at 700 px take 77 ms instead of
    5 ms (bfloat16, one thread).
    """
    for gram, item in zip(out, part):  # item: (n, C) or (C, n)
        left = item.t() if pixels_first else item
        c, n = left.shape
        size = max(GRAM_CHUNK_PIXELS, 16 * c)
        count = n // size
        if item.dtype == out.dtype and item.device.type == "cpu" and c >= 2 * SYMMETRIC_BLOCK and c % SYMMETRIC_BLOCK == 0:
            _symmetric_into(gram, left)
            continue
        if item.dtype == out.dtype or count < 2:  # one product (a lower precision's rounded once)
            gram.copy_(torch.mm(left, left.t()))
            continue
        windows = left.unfold(1, size, size).transpose(0, 1)  # (K, C, size): the first K chunks, as views
        torch.sum(torch.bmm(windows, windows.transpose(1, 2)), 0, dtype=out.dtype, out=gram)
        if n > count * size:
            rest = left.narrow(1, count * size, n - count * size)
            gram += torch.mm(rest, rest.t())


def _rows(t: torch.Tensor) -> torch.Tensor:
    """``t`` (…, C) with each pixel's C values seen as 64-bit words where they fill whole words: the row
    copies of ``index_copy_`` then move 4 bfloat16 values at a time (at relu1_1 of a 700-px photo 10 ms
    instead of 15 ms on one thread)."""
    size = t.shape[-1] * t.element_size()
    if t.dtype == torch.int64 or size % 8 or t.stride(-1) != 1 or (t.storage_offset() * t.element_size()) % 8:
        return t
    if any(stride * t.element_size() % 8 for stride in t.stride()[:-1]):
        return t
    return t.view(torch.int64)


def _soft_parts(t: torch.Tensor, factor: torch.Tensor, slices, axis: int) -> list:
    """Multiply each label's soft part of ``t`` (gathered pixels along ``axis``) in place by its mask
    values, ``factor`` at the same positions; returns ``(mid, end, part)`` for each non-empty part."""
    values = factor.to(t.dtype)
    parts = []
    for _, mid, end in slices:
        if end > mid:
            part = t.narrow(axis, mid, end - mid)
            part.mul_(values[mid:end, None] if axis == 1 else values[mid:end])
            parts.append((mid, end, part))
    return parts


class _MaskedStyle(torch.autograd.Function):
    """The masked style term of one layer, ``Σ_l w_l · mean((G_l − T_l)²)``, forward and backward in one.

    ``index`` concatenates the supports (the pixels where a mask is non-zero) label by label, and each
    label's in two parts: ``slices[l] = (start, mid, end)``, where ``index[start:mid]`` are its *hard*
    pixels (mask value 1, in no other label's support) and ``index[mid:end]`` its *soft* ones (mask edges,
    pixels shared by labels); ``factor`` holds the mask value at each position (read on the soft parts
    only). The features ``g`` are gathered once, ``P = g ⊙ v`` (only the soft parts are multiplied: ``v = 1``
    elsewhere), ``G_l = scale_l · P_l P_lᵀ`` over label ``l``'s range, ``targets`` holds ``T_l`` and
    ``weights`` the ``w_l``. The backward is written out: ``dG_l = 2 w_l (G_l − T_l) / numel(G_l)`` and
    ``dg_l = scale_l ((dG_l + dG_lᵀ) P_l) ⊙ v``, where ``dG_l + dG_lᵀ`` is twice ``dG_l`` because
    ``targets`` holds the symmetric parts ``S_l = (T_l + T_lᵀ) / 2`` (a Gram is symmetric, so
    ``‖G − T‖² = ‖G − S‖² + ‖T − S‖²``, the last term in ``offsets``, zero for the Grams of a style
    image). All labels go into one buffer, scattered back: the hard pixels by copies (``index_copy_``,
    about 5x faster than the accumulating ``index_add_`` on one thread), the soft ones by sums. Where the supports cover every pixel, ``soft_once`` holds the soft pixels (each
    once): the buffer the gradient is scattered into then needs zeros only there, not a fill of the
    whole layer (94 MB at relu1_1 of a 700-px photo in float32); otherwise ``soft_once`` is None. One
    range per label means one product per label each way; the labels' Grams and residuals are stacked,
    (L, B, C, C), so that the (C, C) arithmetic is a few operations for the layer, not a few per label.
    Compared with a Gram function followed by one MSE per label under autograd, this saves the
    zero-filled (B, L, C, C) gradient of every label's slice of the stacked Grams (12 ms an iteration at
    the fast preset's 128x96 level) and the small MSE nodes. ``index=None`` is one label covering the
    image with a mask of ones (a transfer without masks): no gather, multiply or scatter.

    Features of a lower precision than the targets (bfloat16 out of the encoder) stay in it: they are
    gathered, weighted and multiplied as they are, by chunked products summed in the targets' dtype
    (:func:`_gram_into`, :data:`GRAM_CHUNK_PIXELS`), and the loss is computed in that dtype. The
    backward's product runs in the features' own precision too (their gradient goes on into the bfloat16
    network).
    """

    @staticmethod
    def forward(ctx, features, index, factor, soft_once, slices, scales, weights, targets, offsets):
        b, c, h, w = features.shape
        # channels-last features (the network's compute copy, see VGG19Encoder) are gathered as whole
        # pixels, (B, N, C); others along the last axis of a (B·C, H·W) view, which runs about twice as
        # fast as of the 3-D tensor
        pixels_first = not features.is_contiguous() and features.is_contiguous(memory_format=torch.channels_last)
        dtype = targets.dtype
        if index is None:  # one label over the whole image with a mask of ones (no masks): nothing to gather
            picked = features.permute(0, 2, 3, 1).reshape(b, h * w, c) if pixels_first else features.reshape(b, c, -1)
        elif pixels_first:
            picked = features.permute(0, 2, 3, 1).reshape(b, h * w, c).index_select(1, index)
        else:
            picked = features.reshape(b * c, h * w).index_select(1, index).reshape(b, c, -1)
        if picked.dtype not in (dtype, torch.bfloat16):  # float16: its range would overflow a chunk's sum
            picked = picked.to(dtype)
        axis = 1 if pixels_first else 2
        if index is not None:  # P = g ⊙ v in place of the gathered copy: only the soft parts are multiplied
            _soft_parts(picked, factor, slices, axis)
        grams = targets.new_empty((len(slices), b, c, c))
        for gram, (start, _, end) in zip(grams, slices):
            _gram_into(gram, picked.narrow(axis, start, end - start), pixels_first)
        scale = torch.tensor(scales, dtype=dtype, device=grams.device).view(-1, 1, 1, 1)
        weight = torch.tensor(weights, dtype=dtype, device=grams.device)
        diffs = grams.mul_(scale).sub_(targets.unsqueeze(1))
        total = ((torch.linalg.vector_norm(diffs, dim=(1, 2, 3)).square() + b * offsets) * weight).sum() / (b * c * c)
        ctx.save_for_backward(picked, diffs, factor)
        ctx.index, ctx.soft_once, ctx.slices = index, soft_once, slices
        ctx.shape, ctx.pixels_first, ctx.dtype = (b, c, h, w), pixels_first, features.dtype
        # G_l and S_l are symmetric, so dG_l + dG_lᵀ = 2 dG_l; with the product's scale that is
        # coefficient_l · (G_l − S_l)
        ctx.coefficients = (scale * weight.view(-1, 1, 1, 1)) * (4.0 / (b * c * c))
        return total

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        saved, diffs, factor = ctx.saved_tensors
        index, slices, (b, c, h, w), pixels_first = ctx.index, ctx.slices, ctx.shape, ctx.pixels_first
        d_grams = torch.mul(diffs, ctx.coefficients * grad, out=diffs.new_empty(diffs.shape, dtype=saved.dtype))
        d_gathered = torch.empty_like(saved)
        for d_gram, (start, _, end) in zip(d_grams, slices):
            for item in range(b):  # 2-D products, see _gram_into
                if pixels_first:  # (n, C) (C, C): the symmetric factor needs no transpose
                    torch.mm(saved[item, start:end], d_gram[item], out=d_gathered[item, start:end])
                else:
                    torch.mm(d_gram[item], saved[item, :, start:end], out=d_gathered[item, :, start:end])
        if index is None:
            d_flat = d_gathered.view(b, h, w, c).permute(0, 3, 1, 2) if pixels_first else d_gathered.view(b, c, h, w)
            return d_flat.to(ctx.dtype), None, None, None, None, None, None, None, None
        dim = 1 if pixels_first else 2
        shape = (b, h * w, c) if pixels_first else (b, c, h * w)
        wide = _rows if pixels_first else (lambda t: t)
        soft_once = ctx.soft_once
        if soft_once is not None:  # every pixel is written below: zeros only where the soft pixels are summed
            d_flat = saved.new_empty(shape)
            zeros = saved.new_zeros((b, soft_once.numel(), c) if pixels_first else (b, c, soft_once.numel()))
            wide(d_flat).index_copy_(dim, soft_once, wide(zeros))  # (index_fill_ took 50 ms a call at relu1_1)
        else:
            d_flat = saved.new_zeros(shape)
        for start, mid, _ in slices:  # hard pixels are in no other support: copies, in any order
            if mid > start:
                wide(d_flat).index_copy_(dim, index[start:mid], wide(d_gathered.narrow(dim, start, mid - start)))
        # P was g ⊙ v: the soft parts' gradient is times v once more, then summed
        for mid, end, part in _soft_parts(d_gathered, factor, slices, dim):
            d_flat.index_add_(dim, index[mid:end], part)
        if pixels_first:
            return d_flat.view(b, h, w, c).permute(0, 3, 1, 2).to(ctx.dtype), None, None, None, None, None, None, None, None
        return d_flat.view(b, c, h, w).to(ctx.dtype), None, None, None, None, None, None, None, None
