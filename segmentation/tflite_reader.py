"""Read the tensors and operators of a TensorFlow Lite flatbuffer (``.tflite``) into plain Python.

Needs the ``tflite`` parser package (generated flatbuffer accessors, no runtime):
``pip install photostyle[semantic]``. Nothing here runs a network; :mod:`segmentation.semantic`
rebuilds one in PyTorch from what this module reads.

>>> graph = read_tflite("deeplabv3_mobilenetv2_ade20k.tflite")        # doctest: +SKIP
>>> graph.operators[0].op, graph.operators[0].options["stride_h"]     # doctest: +SKIP
('CONV_2D', 2)

Quantised constants (int8 / uint8 / int16 / int32 weights with scales and zero points, per tensor or
per channel along ``quantized_dimension``) are turned into float32 by :func:`dequantize`.
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TFLiteTensor", "TFLiteOperator", "TFLiteGraph", "read_tflite", "dequantize"]

_INSTALL = "pip install photostyle[semantic]"

# TensorType enum value -> numpy dtype (the ones a float or weight-quantised model holds).
_DTYPES = {
    0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 6: np.bool_, 7: np.int16,
    9: np.int8, 10: np.float64,
}


@dataclass(frozen=True)
class TFLiteTensor:
    """One tensor of the graph.

    Attributes
    ----------
    index : int
        Position in the subgraph's tensor list (what operators refer to).
    name : str
    shape : tuple of int
        As stored (NHWC for images; OHWI for conv weights, 1HWC for depthwise weights).
    dtype : numpy dtype
    data : ndarray or None
        The constant's raw values (stored dtype, ``shape``), or None for an activation.
    scale, zero_point : ndarray or None
        Quantisation parameters (one value, or one per slice along ``quantized_dimension``).
    quantized_dimension : int
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: Any
    data: np.ndarray | None = None
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def is_quantized(self) -> bool:
        return self.scale is not None and self.scale.size > 0


@dataclass(frozen=True)
class TFLiteOperator:
    """One operator: its builtin name, input and output tensor indices (-1: optional input absent),
    and its builtin options as a dict with snake_case keys (e.g. ``stride_h``, ``padding``,
    ``fused_activation_function``; enums kept as their integer values)."""

    op: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TFLiteGraph:
    """The first subgraph of a model: tensors, operators in execution order, graph inputs and outputs."""

    tensors: tuple[TFLiteTensor, ...]
    operators: tuple[TFLiteOperator, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    version: int = 3

    def constant(self, index: int, *, dequantized: bool = True) -> np.ndarray:
        """Values of constant tensor ``index``; float32 after dequantisation when ``dequantized``."""
        t = self.tensors[index]
        if t.data is None:
            raise ValueError(f"tensor {index} ({t.name!r}) is an activation, not a constant.")
        return dequantize(t) if dequantized else t.data

    def op_counts(self) -> dict[str, int]:
        """``{operator name: count}`` in the graph."""
        out: dict[str, int] = {}
        for o in self.operators:
            out[o.op] = out.get(o.op, 0) + 1
        return out


def _import_tflite():
    try:
        import tflite
    except ImportError as exc:
        raise ImportError(
            f"reading a .tflite model needs the `tflite` parser package, which does not import here ({exc}); "
            f"install it with `{_INSTALL}`."
        ) from exc
    return tflite


def _enum_names(cls: type) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


_SKIP_ACCESSORS = ("Init", "GetRootAs")


def _read_options(table_cls: type, table: Any) -> dict[str, Any]:
    """Every scalar or vector field of a flatbuffer options table, as ``{snake_name: value}``."""
    obj = table_cls()
    obj.Init(table.Bytes, table.Pos)
    out: dict[str, Any] = {}
    names = [n for n in vars(table_cls) if not n.startswith("_") and not n.startswith(_SKIP_ACCESSORS)
             and not n.endswith(("BufferHasIdentifier", "IsNone", "Length"))]
    for n in names:
        fn = getattr(obj, n)
        if not callable(fn):
            continue
        if n.endswith("AsNumpy"):
            value = fn()
            out[_snake(n[: -len("AsNumpy")])] = np.asarray(value).tolist() if not isinstance(value, int) else []
            continue
        if len(inspect.signature(fn).parameters) != 0 or (n + "AsNumpy") in names:
            continue
        value = fn()
        if isinstance(value, (int, float, bool, bytes)):
            out[_snake(n)] = value
    return out


def read_tflite(source: str | Path | bytes) -> TFLiteGraph:
    """Parse a ``.tflite`` flatbuffer.

    Parameters
    ----------
    source : str, Path or bytes
        The model file, or its contents.

    Returns
    -------
    TFLiteGraph
        The first subgraph (the inference graph of a converted model).

    Raises
    ------
    ImportError
        If the ``tflite`` package is missing (``pip install photostyle[semantic]``).
    ValueError
        If the bytes are not a TFLite flatbuffer (identifier ``TFL3``) or hold no subgraph.
    """
    tflite = _import_tflite()
    if isinstance(source, (bytes, bytearray, memoryview)):
        buf = bytes(source)
        where = "the given bytes"
    else:
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"source: no .tflite file at {str(path)!r}.")
        buf = path.read_bytes()
        where = str(path)
    if len(buf) < 8 or buf[4:8] != b"TFL3":
        raise ValueError(f"source: {where} is not a TensorFlow Lite flatbuffer (no 'TFL3' identifier); "
                         "is the file truncated or of another format?")
    model = tflite.Model.GetRootAs(buf, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError(f"source: expected a TensorFlow Lite model with a subgraph, got {where} with none; "
                         "is the file truncated or of another format?")
    op_names = _enum_names(tflite.BuiltinOperator)
    opt_names = _enum_names(tflite.BuiltinOptions)
    codes = []
    for i in range(model.OperatorCodesLength()):
        c = model.OperatorCodes(i)
        code = max(c.BuiltinCode(), c.DeprecatedBuiltinCode())  # schema >= 3a keeps both fields
        name = op_names.get(code, f"UNKNOWN_{code}")
        if name == "CUSTOM":
            name = f"CUSTOM:{(c.CustomCode() or b'').decode()}"
        codes.append(name)

    g = model.Subgraphs(0)
    tensors = []
    for i in range(g.TensorsLength()):
        t = g.Tensors(i)
        dtype = _DTYPES.get(t.Type())
        shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        data = None
        b = model.Buffers(t.Buffer())
        raw = None
        if b is not None and b.DataLength() > 0:
            raw = b.DataAsNumpy().tobytes()
        elif b is not None and b.Offset() > 1:  # large models keep buffers after the flatbuffer
            raw = buf[b.Offset(): b.Offset() + b.Size()]
        if raw is not None:
            if dtype is None:
                raise ValueError(f"source: constant tensor {i} ({t.Name()!r}) has unsupported type {t.Type()}.")
            data = np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        q = t.Quantization()
        scale = zp = None
        qdim = 0
        if q is not None and q.ScaleLength() > 0:
            scale = q.ScaleAsNumpy().astype(np.float64)
            zp = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros_like(scale, np.int64)
            qdim = int(q.QuantizedDimension())
        tensors.append(TFLiteTensor(i, (t.Name() or b"").decode(), shape, dtype, data, scale, zp, qdim))

    operators = []
    for i in range(g.OperatorsLength()):
        op = g.Operators(i)
        name = codes[op.OpcodeIndex()]
        options: dict[str, Any] = {}
        otype = op.BuiltinOptionsType()
        if otype and op.BuiltinOptions() is not None:
            cls = getattr(tflite, opt_names.get(otype, ""), None)
            if cls is not None:
                options = _read_options(cls, op.BuiltinOptions())
        ins = tuple(int(j) for j in op.InputsAsNumpy()) if op.InputsLength() else ()
        outs = tuple(int(j) for j in op.OutputsAsNumpy()) if op.OutputsLength() else ()
        operators.append(TFLiteOperator(name, ins, outs, options))
    return TFLiteGraph(
        tensors=tuple(tensors),
        operators=tuple(operators),
        inputs=tuple(int(j) for j in g.InputsAsNumpy()),
        outputs=tuple(int(j) for j in g.OutputsAsNumpy()),
        version=int(model.Version()),
    )


def dequantize(tensor: TFLiteTensor) -> np.ndarray:
    """Float32 values of a constant: ``(q - zero_point) * scale``, per channel along
    ``quantized_dimension`` when the tensor carries one scale per slice; float constants as they are.

    Parameters
    ----------
    tensor : TFLiteTensor
        A constant (``tensor.data`` not None).

    Returns
    -------
    ndarray of float32, shape ``tensor.shape``
    """
    if tensor.data is None:
        raise ValueError(f"tensor: {tensor.name!r} is an activation, not a constant; nothing to dequantise.")
    data = tensor.data
    if not tensor.is_quantized or np.issubdtype(data.dtype, np.floating):
        return data.astype(np.float32)
    scale = np.asarray(tensor.scale, np.float64)
    zp = np.asarray(tensor.zero_point, np.float64)
    if scale.size > 1:
        shape = [1] * data.ndim
        shape[tensor.quantized_dimension] = scale.size
        if data.shape[tensor.quantized_dimension] != scale.size:
            raise ValueError(f"tensor {tensor.name!r}: {scale.size} scales for dimension "
                             f"{tensor.quantized_dimension} of size {data.shape[tensor.quantized_dimension]}.")
        scale = scale.reshape(shape)
        zp = zp.reshape(shape) if zp.size == scale.size else zp
    return ((data.astype(np.float64) - zp) * scale).astype(np.float32)
