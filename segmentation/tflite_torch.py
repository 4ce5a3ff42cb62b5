"""Run a TensorFlow Lite graph in PyTorch: :class:`TFLiteModule` walks the operators of a
:class:`~segmentation.tflite_reader.TFLiteGraph` generically, with the constants (dequantised to float)
held as buffers, so the network follows the input's device and dtype like any ``nn.Module``.

Activations are kept as NCHW tensors (TFLite stores NHWC); axes and constants are translated at build
time. The operators implemented are those of float and weight-quantised ("hybrid") image models:
CONV_2D, DEPTHWISE_CONV_2D, ADD, SUB, MUL, DIV, AVERAGE_POOL_2D, MAX_POOL_2D, MEAN, RESIZE_BILINEAR,
RESIZE_NEAREST_NEIGHBOR, CONCATENATION, SPACE_TO_BATCH_ND, BATCH_TO_SPACE_ND, PAD, RELU, RELU6,
LOGISTIC, SOFTMAX, DEQUANTIZE. Anything else raises ``NotImplementedError`` naming the operator when
the module is built.

Numerics: weights are dequantised once and the graph runs in the input's floating dtype. The
reference runtime runs weight-quantised convolutions in "hybrid" mode (activations quantised to int8
on the fly), so its outputs differ from these by that rounding (see :mod:`segmentation.semantic`). For conformance
checks, ``module.emulate_hybrid = "symmetric"`` (the reference kernels: one int8 scale per image) or
``"asymmetric"`` / ``"asymmetric_per_pixel"`` quantises those inputs the same way; default None.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .tflite_reader import TFLiteGraph, TFLiteOperator

__all__ = ["TFLiteModule", "SUPPORTED_OPS"]

_SAME, _VALID = 0, 1
# ActivationFunctionType: NONE, RELU, RELU_N1_TO_1, RELU6, TANH, SIGN_BIT
_ACT: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {
    0: lambda x: x,
    1: F.relu,
    2: lambda x: x.clamp(-1.0, 1.0),
    3: lambda x: x.clamp(0.0, 6.0),
    4: torch.tanh,
}
_NHWC_TO_NCHW_AXIS = {0: 0, 1: 2, 2: 3, 3: 1}


def _act(op: TFLiteOperator, x: torch.Tensor) -> torch.Tensor:
    code = int(op.options.get("fused_activation_function", 0))
    if code not in _ACT:
        raise NotImplementedError(f"{op.op}: fused activation {code} is not supported.")
    return _ACT[code](x)


def _same_pad(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) along one axis; the extra pixel goes after."""
    eff = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _resize_axis(x: torch.Tensor, axis: int, out: int, align_corners: bool, half_pixel: bool) -> torch.Tensor:
    """Linear resampling of one axis with TFLite's coordinate conventions."""
    n = x.shape[axis]
    if n == out:
        return x
    dst = torch.arange(out, device=x.device, dtype=torch.float64)
    if align_corners and out > 1:
        src = dst * ((n - 1) / (out - 1))
    elif half_pixel:
        src = ((dst + 0.5) * (n / out) - 0.5).clamp(min=0)
    else:
        src = dst * (n / out)
    lo = src.floor().clamp(max=n - 1)
    hi = (lo + 1).clamp(max=n - 1)
    w = (src - lo).to(x.dtype)
    shape = [1] * x.ndim
    shape[axis] = out
    a = x.index_select(axis, lo.long())
    b = x.index_select(axis, hi.long())
    return a + (b - a) * w.view(shape)


class TFLiteModule(nn.Module):
    """A TFLite graph as a PyTorch module.

    Parameters
    ----------
    graph : TFLiteGraph
        From :func:`~segmentation.tflite_reader.read_tflite`; one input, one or more outputs.

    Notes
    -----
    ``forward(x)`` takes the graph input in NCHW layout (e.g. (N, 3, H, W) for an image model whose
    input is stored as (1, H, W, 3)) and returns the first output in NCHW (or a tuple of all outputs
    when the graph has several). Spatial sizes baked into the graph as constants (resize sizes,
    space-to-batch paddings) are used as stored, so give the input the size the graph was converted for.
    """

    def __init__(self, graph: TFLiteGraph) -> None:
        super().__init__()
        if len(graph.inputs) != 1:
            raise ValueError(f"graph: expected one input, got {len(graph.inputs)}; convert a single-input model.")
        self.graph_input = graph.inputs[0]
        self.graph_outputs = tuple(graph.outputs)
        self.input_shape = graph.tensors[self.graph_input].shape
        self._names: dict[int, str] = {}  # tensor index -> buffer name (constants used by float ops)
        self._ints: dict[int, np.ndarray] = {}  # integer constants (sizes, paddings, axes)
        self._steps: list[tuple[TFLiteOperator, Callable]] = []
        folded: dict[int, np.ndarray] = {}
        self.hybrid_ops: set[int] = set()  # outputs of convolutions whose weights are stored quantised
        self.emulate_hybrid: str | None = None
        unknown = sorted({o.op for o in graph.operators if o.op not in SUPPORTED_OPS})
        if unknown:
            raise NotImplementedError(
                f"graph: operators {unknown} are not implemented by TFLiteModule (it supports "
                f"{sorted(SUPPORTED_OPS)})."
            )
        for op in graph.operators:
            if op.op == "DEQUANTIZE" and graph.tensors[op.inputs[0]].is_constant:
                folded[op.outputs[0]] = graph.constant(op.inputs[0])  # weight dequantisation, done once
                continue
            self._steps.append((op, SUPPORTED_OPS[op.op]))
            if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and graph.tensors[op.inputs[1]].is_quantized \
                    and graph.tensors[op.inputs[1]].is_constant:
                self.hybrid_ops.add(op.outputs[0])
            for j in op.inputs:
                if j < 0 or j in self._names or j in self._ints:
                    continue
                t = graph.tensors[j]
                if j in folded:
                    value = folded[j]
                elif t.is_constant:
                    if np.issubdtype(t.data.dtype, np.integer) and not t.is_quantized:
                        self._ints[j] = t.data
                        continue
                    value = graph.constant(j)
                else:
                    continue
                name = f"t{j}"
                self.register_buffer(name, torch.from_numpy(_to_torch_layout(op, j, value)), persistent=True)
                self._names[j] = name
        self.num_ops = len(self._steps)

    def const(self, index: int, like: torch.Tensor) -> torch.Tensor:
        return getattr(self, self._names[index]).to(device=like.device, dtype=like.dtype)

    def ints(self, index: int) -> list:
        return np.asarray(self._ints[index]).tolist()

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x: expected a floating-point tensor, got {type(x).__name__}"
                            f"{'' if not isinstance(x, torch.Tensor) else ' of dtype ' + str(x.dtype)}; "
                            "convert it with torch.as_tensor(x).float().")
        values: dict[int, torch.Tensor] = {self.graph_input: x}
        for op, fn in self._steps:
            args = [values[j] if j in values else (self.const(j, x) if j in self._names else j)
                    for j in op.inputs]
            out = fn(self, op, args)
            values[op.outputs[0]] = out
        outs = tuple(values[j] for j in self.graph_outputs)
        return outs[0] if len(outs) == 1 else outs


def _to_torch_layout(op: TFLiteOperator, index: int, value: np.ndarray) -> np.ndarray:
    """A float constant in the layout its operator uses in NCHW: conv weights OHWI -> OIHW, depthwise
    1HWC -> C1HW, and element-wise operands broadcast over NHWC -> NCHW."""
    value = np.ascontiguousarray(value, dtype=np.float32)
    if op.op == "CONV_2D" and index == op.inputs[1]:
        return np.ascontiguousarray(value.transpose(0, 3, 1, 2))
    if op.op == "DEPTHWISE_CONV_2D" and index == op.inputs[1]:
        return np.ascontiguousarray(value.transpose(3, 0, 1, 2))
    if op.op in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(op.inputs) > 2 and index == op.inputs[2]:
        return value
    if value.ndim == 0:
        return value
    v4 = value.reshape((1,) * (4 - value.ndim) + value.shape) if value.ndim <= 4 else value
    return np.ascontiguousarray(v4.transpose(0, 3, 1, 2)) if v4.ndim == 4 else v4


# -- operators: fn(module, op, args) -> tensor -----------------------------------------------------

def _conv(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    x, w = args[0], args[1]
    if m.emulate_hybrid and op.outputs[0] in m.hybrid_ops:
        x = _quantize_activation(x, m.emulate_hybrid)
    b = args[2] if len(args) > 2 and isinstance(args[2], torch.Tensor) else None
    o = op.options
    sh, sw = int(o.get("stride_h", 1)), int(o.get("stride_w", 1))
    dh, dw = int(o.get("dilation_hfactor", 1)), int(o.get("dilation_wfactor", 1))
    kh, kw = w.shape[2], w.shape[3]
    if int(o.get("padding", _SAME)) == _SAME:
        ph, pw = _same_pad(x.shape[2], kh, sh, dh), _same_pad(x.shape[3], kw, sw, dw)
        if ph[0] == ph[1] and pw[0] == pw[1]:
            pad = (ph[0], pw[0])
        else:
            x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
            pad = (0, 0)
    else:
        pad = (0, 0)
    if op.op == "DEPTHWISE_CONV_2D":
        groups = x.shape[1]
    else:
        groups = x.shape[1] // w.shape[1]
    y = F.conv2d(x, w, b, stride=(sh, sw), padding=pad, dilation=(dh, dw), groups=groups)
    return _act(op, y)


def _quantize_activation(x: torch.Tensor, mode: str) -> torch.Tensor:
    if mode == "symmetric":
        scale = x.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12) / 127.0
        return torch.round(x / scale).clamp(-127, 127) * scale
    if mode not in ("asymmetric", "asymmetric_per_pixel"):
        raise ValueError(f"emulate_hybrid: expected None, 'symmetric', 'asymmetric' or 'asymmetric_per_pixel', "
                         f"got {mode!r}.")
    dims = (1, 2, 3) if mode == "asymmetric" else (1,)
    lo = x.amin(dim=dims, keepdim=True).clamp(max=0)
    hi = x.amax(dim=dims, keepdim=True).clamp(min=0)
    scale = ((hi - lo) / 255.0).clamp(min=1e-12)
    zp = torch.round(-128 - lo / scale).clamp(-128, 127)
    return (torch.round(x / scale + zp).clamp(-128, 127) - zp) * scale


def _binary(fn: Callable) -> Callable:
    def run(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
        return _act(op, fn(args[0], args[1]))
    return run


def _pool(kind: str) -> Callable:
    def run(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
        x = args[0]
        o = op.options
        k = (int(o["filter_height"]), int(o["filter_width"]))
        s = (int(o.get("stride_h", 1)), int(o.get("stride_w", 1)))
        if int(o.get("padding", _SAME)) == _SAME:
            ph = _same_pad(x.shape[2], k[0], s[0], 1)
            pw = _same_pad(x.shape[3], k[1], s[1], 1)
        else:
            ph = pw = (0, 0)
        if kind == "max":
            xp = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=float("-inf"))
            y = F.max_pool2d(xp, k, s)
        else:  # TFLite averages over the valid (unpadded) pixels only
            xp = F.pad(x, (pw[0], pw[1], ph[0], ph[1]))
            ones = F.pad(torch.ones_like(x[:1, :1]), (pw[0], pw[1], ph[0], ph[1]))
            y = F.avg_pool2d(xp, k, s) / F.avg_pool2d(ones, k, s)
        return _act(op, y)
    return run


def _mean(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    x = args[0]
    axes = [_NHWC_TO_NCHW_AXIS[a % 4] for a in np.atleast_1d(m.ints(op.inputs[1]))]
    return x.mean(dim=axes, keepdim=bool(op.options.get("keep_dims", False)))


def _resize(mode: str) -> Callable:
    def run(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
        x = args[0]
        oh, ow = (int(v) for v in m.ints(op.inputs[1]))
        ac = bool(op.options.get("align_corners", False))
        hp = bool(op.options.get("half_pixel_centers", False))
        if mode == "nearest":
            if (oh, ow) == tuple(x.shape[2:]):
                return x
            def idx(n, out):
                d = torch.arange(out, device=x.device, dtype=torch.float64)
                if ac and out > 1:
                    s = torch.round(d * ((n - 1) / (out - 1)))
                else:
                    s = torch.floor((d + (0.5 if hp else 0.0)) * (n / out))
                return s.clamp(max=n - 1).long()
            return x.index_select(2, idx(x.shape[2], oh)).index_select(3, idx(x.shape[3], ow))
        if (oh, ow) == tuple(x.shape[2:]):
            return x
        if ac or hp:  # torch's two conventions: align_corners=True, and half-pixel centres (False)
            return F.interpolate(x, size=(oh, ow), mode="bilinear", align_corners=ac)
        return _resize_axis(_resize_axis(x, 2, oh, ac, hp), 3, ow, ac, hp)  # TF's legacy convention
    return run


def _concat(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    axis = int(op.options.get("axis", 0))
    nd = args[0].ndim
    axis = _NHWC_TO_NCHW_AXIS[axis % 4] if nd == 4 else axis % nd
    return _act(op, torch.cat(args, dim=axis))


def _space_to_batch(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    x = args[0]
    bh, bw = (int(v) for v in m.ints(op.inputs[1]))
    (pt, pb), (pl, pr) = ((int(a), int(b)) for a, b in m.ints(op.inputs[2]))
    x = F.pad(x, (pl, pr, pt, pb))
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // bh, bh, w // bw, bw).permute(3, 5, 0, 1, 2, 4)
    return x.reshape(bh * bw * n, c, h // bh, w // bw)


def _batch_to_space(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    x = args[0]
    bh, bw = (int(v) for v in m.ints(op.inputs[1]))
    (ct, cb), (cl, cr) = ((int(a), int(b)) for a, b in m.ints(op.inputs[2]))
    nb, c, h, w = x.shape
    n = nb // (bh * bw)
    x = x.reshape(bh, bw, n, c, h, w).permute(2, 3, 4, 0, 5, 1).reshape(n, c, h * bh, w * bw)
    return x[:, :, ct: h * bh - cb, cl: w * bw - cr]


def _pad(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    x = args[0]
    p = m.ints(op.inputs[1])
    if x.ndim != 4:
        raise NotImplementedError("PAD: only 4-D tensors are supported.")
    (_, _), (pt, pb), (pl, pr), (cf, cb) = p
    return F.pad(x, (pl, pr, pt, pb, cf, cb))


def _softmax(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    beta = float(op.options.get("beta", 1.0))
    return torch.softmax(args[0] * beta, dim=1 if args[0].ndim == 4 else -1)


def _dequantize_runtime(m: TFLiteModule, op: TFLiteOperator, args: list) -> torch.Tensor:
    raise NotImplementedError("DEQUANTIZE of an activation (a fully quantised graph) is not supported.")


SUPPORTED_OPS: dict[str, Callable] = {
    "CONV_2D": _conv,
    "DEPTHWISE_CONV_2D": _conv,
    "ADD": _binary(torch.add),
    "SUB": _binary(torch.sub),
    "MUL": _binary(torch.mul),
    "DIV": _binary(torch.div),
    "AVERAGE_POOL_2D": _pool("avg"),
    "MAX_POOL_2D": _pool("max"),
    "MEAN": _mean,
    "RESIZE_BILINEAR": _resize("bilinear"),
    "RESIZE_NEAREST_NEIGHBOR": _resize("nearest"),
    "CONCATENATION": _concat,
    "SPACE_TO_BATCH_ND": _space_to_batch,
    "BATCH_TO_SPACE_ND": _batch_to_space,
    "PAD": _pad,
    "RELU": lambda m, op, a: F.relu(a[0]),
    "RELU6": lambda m, op, a: a[0].clamp(0.0, 6.0),
    "LOGISTIC": lambda m, op, a: torch.sigmoid(a[0]),
    "SOFTMAX": _softmax,
    "DEQUANTIZE": _dequantize_runtime,
}
