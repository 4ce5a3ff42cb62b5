"""Reading VGG-19 checkpoint files and interpreting them in one of the three layouts.

Internal to :mod:`photostyle.weights` (which re-exports :class:`VGG19StateDict`). Functions that name
a known file in their messages take ``known``: a lookup from a file name to its weights entry (or None).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import torch

from .layers import CONV_INDEX as _CONV_INDEX
from .layers import CONV_NAMES as _CONV_NAMES
from .layers import CONV_SHAPES as _CONV_SHAPES
from .layers import NORMALISED_INDEX as _NORMALISED_INDEX

Known = Callable[[str], Optional[Any]]


class WeightsFileError(RuntimeError, ValueError):
    """A file that cannot be read as a VGG-19 checkpoint.

    A ``RuntimeError`` (as the loaders document) and a ``ValueError``: it is bad input, which the
    command line reports in one line with exit code 2.
    """


@dataclass
class VGG19StateDict:
    """A checked VGG-19 weight file, with torchvision's key names.

    Attributes
    ----------
    state_dict : dict of str to Tensor
        Convolution weights and biases as ``features.N.weight`` / ``features.N.bias`` (torchvision
        indices), on the CPU; classifier entries are dropped.
    layout : {"torchvision", "caffe", "normalised"}
        The layout the file was read as; it fixes padding, pooling and preprocessing.
    preprocess_conv : dict or None
        For ``"normalised"`` files the 1x1 input convolution (``{"weight": (3, 3, 1, 1), "bias": (3,)}``)
        turning RGB in [0, 1] into the network's input; None otherwise.
    source : str
        The file the weights were read from.
    available : tuple of str
        Names of the convolutions present, from ``conv1_1`` on (files may stop early).
    """

    state_dict: dict[str, torch.Tensor]
    layout: str
    preprocess_conv: Optional[dict[str, torch.Tensor]]
    source: str
    available: tuple[str, ...] = field(default_factory=tuple)

    @property
    def last_conv(self) -> str:
        """Deepest convolution present."""
        return self.available[-1]


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _load_error_detail(exc: BaseException) -> str:
    """One informative line of a torch.load error (skipping PyTorch's long weights_only preamble)."""
    message = str(exc)
    if "WeightsUnpickler error:" in message:
        message = message.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


def _unreadable_error(path: Path, exc: BaseException, known: Known) -> RuntimeError:
    member = known(path.name)
    text = _load_error_detail(exc)
    if "unsupported global" in str(exc).lower():
        return WeightsFileError(
            f"'{path}' holds pickled Python objects besides tensors, which are not loaded for safety "
            f"(torch.load(weights_only=True) failed: {text}). Re-save only the weights, e.g. "
            f"torch.save(checkpoint['state_dict'], 'vgg19.pth'), and pass that file."
        )
    in_cache = path.parent.resolve() == hub_checkpoint_dir().resolve()
    if in_cache:
        where = f"re-download it from {member.url}" if member else "fetch it again"
        fix = f"Delete the cached file at '{path}' and {where}."
    else:
        fix = "Pass a VGG-19 weights file (.pth), or leave the weights unset for the default network."
    return WeightsFileError(
        f"cannot read '{path}' as a PyTorch checkpoint ({type(exc).__name__}: {text}); the file is not a "
        f"torch.save file or is truncated/corrupt (e.g. an interrupted download). {fix}"
    )


def read_checkpoint(path: Path, known: Known) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files: RuntimeError, EOFError, ...
        raise _unreadable_error(path, exc, known) from exc


# --------------------------------------------------------------------------------------------------
# Interpreting checkpoints
# --------------------------------------------------------------------------------------------------

_FEATURE_KEY = re.compile(r"^features\.(\d+)\.(weight|bias)$")
_SEQUENTIAL_KEY = re.compile(r"^(\d+)\.(weight|bias)$")
_GAIN_THRESHOLD = 0.2


def _unwrap(checkpoint: object, source: Path) -> dict[str, torch.Tensor]:
    if isinstance(checkpoint, Mapping) and isinstance(checkpoint.get("state_dict"), Mapping):
        checkpoint = checkpoint["state_dict"]
    if not isinstance(checkpoint, Mapping):
        raise ValueError(
            f"'{source}' holds a {type(checkpoint).__name__}, expected a state_dict (a dict of tensors) "
            f"or a checkpoint dict with a 'state_dict' entry; save the weights with "
            f"torch.save(model.state_dict(), path)."
        )
    tensors: dict[str, torch.Tensor] = {}
    for key, value in checkpoint.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            continue
        if key.startswith("module."):
            key = key[len("module."):]
        tensors[key] = value
    return tensors


def _keys_error(source: Path, keys: Sequence[str], why: str) -> ValueError:
    shown = ", ".join(repr(k) for k in list(keys)[:6]) or "none"
    more = f" (and {len(keys) - 6} more)" if len(keys) > 6 else ""
    return ValueError(
        f"'{source}' does not look like VGG-19 weights: {why}. Keys found: {shown}{more}. Expected "
        f"torchvision/Caffe keys 'features.0.weight', 'features.0.bias', 'features.2.weight', ... "
        f"(conv1_1, conv1_2, ...), or the 'normalised' Sequential keys '0.weight' (a 1x1 conv, shape "
        f"(3, 3, 1, 1)), '2.weight', '5.weight', .... Pass a VGG-19 file, or weights=VGG19Weights.CAFFE."
    )


def _check_shape(source: Path, key: str, conv: str, tensor: torch.Tensor, expected: tuple[int, ...]) -> None:
    if tuple(tensor.shape) != expected:
        raise ValueError(
            f"'{source}': '{key}' ({conv}) has shape {tuple(tensor.shape)}, expected {expected}; the file is "
            f"not a standard VGG-19 (another architecture or a modified copy). Pass the original weights."
        )


def _collect_convs(
    source: Path, tensors: dict[str, torch.Tensor], key_of: dict[str, str], extra_ok: set[str]
) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
    """Gather conv weights under torchvision keys; check keys, order and shapes."""
    present: list[str] = []
    out: dict[str, torch.Tensor] = {}
    known = {f"{prefix}.{kind}" for prefix in key_of.values() for kind in ("weight", "bias")} | extra_ok
    unexpected = [k for k in tensors if k not in known]
    if unexpected:
        raise _keys_error(
            source, list(tensors),
            f"unexpected key(s) {unexpected[:4]} (batch-norm variants such as vgg19_bn are not supported)",
        )
    for conv in _CONV_NAMES:
        prefix = key_of[conv]
        w_key, b_key = f"{prefix}.weight", f"{prefix}.bias"
        has_w, has_b = w_key in tensors, b_key in tensors
        if not has_w and not has_b:
            continue
        if has_w != has_b:
            missing = b_key if has_w else w_key
            raise ValueError(f"'{source}': {conv} has no '{missing}'; the file is incomplete. Re-create it.")
        if len(present) != _CONV_NAMES.index(conv):
            gap = _CONV_NAMES[len(present)]
            raise ValueError(
                f"'{source}': has {conv} ('{w_key}') but not {gap} before it; VGG-19 weight files must hold "
                f"every convolution from conv1_1 up to their last one. Re-create the file."
            )
        out_ch, in_ch = _CONV_SHAPES[conv]
        _check_shape(source, w_key, conv, tensors[w_key], (out_ch, in_ch, 3, 3))
        _check_shape(source, b_key, conv, tensors[b_key], (out_ch,))
        index = _CONV_INDEX[conv]
        out[f"features.{index}.weight"] = tensors[w_key].detach().to("cpu")
        out[f"features.{index}.bias"] = tensors[b_key].detach().to("cpu")
        present.append(conv)
    if not present:
        raise _keys_error(source, list(tensors), "it has no conv1_1 weights")
    return out, tuple(present)


def _conv1_gain(weight: torch.Tensor) -> float:
    """RMS over filters of the L2 norm of each conv1_1 filter (a response gain for unit-variance input)."""
    w = weight.detach().double().flatten(1)
    return float(w.pow(2).sum(1).mean().sqrt())


def _decide_features_layout(
    source: Path, tensors: dict[str, torch.Tensor], layout: Optional[str], known: Known
) -> str:
    """Tell "torchvision" from "caffe" for a file with ``features.N`` keys.

    In order: (1) the hash in the file name, if it is a known file's; (2) ``layout=``; (3) heuristics,
    with a warning: classifier keys ``classifier.1`` / ``classifier.4`` are the signature of the
    original Caffe conversion (its classifier starts with Dropout); otherwise the conv1_1 gain (RMS
    filter norm): filters rescaled for pixels in 0..255 (e.g. Gatys' normalised VGG-19, gain 0.06) are
    under 0.2, those for unit-variance input (torchvision, He initialisation) about 1 or more. The real
    Caffe VGG-19's conv1_1 filters are as large as torchvision's (about 0.4 in magnitude; its activations
    are just larger), so a renamed Caffe file without classifier keys is taken for torchvision, with a
    warning: pass ``layout="caffe"`` for it.
    """
    member = known(source.name)
    if member is not None:
        if layout is not None and layout != member.layout:
            raise ValueError(
                f"layout={layout!r} contradicts the file name '{source.name}', which is that of "
                f"{member} (layout {member.layout!r}); drop layout=, or rename the file if it is not "
                f"{member.file_name}."
            )
        return member.layout
    if layout is not None:
        return layout
    how = (
        "Pass layout='caffe' or layout='torchvision' to load_vgg19_weights / VGG19Encoder to say which "
        "(this also silences the warning)."
    )
    if "classifier.1.weight" in tensors or "classifier.4.weight" in tensors:
        decided, why = "caffe", "it has classifier.1 / classifier.4 keys, as in the converted Caffe VGG-19"
    else:
        gain = _conv1_gain(tensors["features.0.weight"])
        if gain < _GAIN_THRESHOLD:
            decided = "caffe"
            why = f"its conv1_1 filters are small (gain {gain:.3g} < {_GAIN_THRESHOLD}), sized for pixels in 0..255"
        else:
            decided = "torchvision"
            why = (
                f"its conv1_1 filters are sized for unit-variance input (gain {gain:.3g} >= {_GAIN_THRESHOLD}); "
                f"note that the Caffe VGG-19 looks the same by this test"
            )
    warnings.warn(
        f"could not tell the layout of '{source}' from its name; guessed {decided!r} because {why}. {how}",
        UserWarning,
        stacklevel=4,
    )
    return decided


def interpret(checkpoint: object, source: Path, layout: Optional[str], known: Known) -> VGG19StateDict:
    tensors = _unwrap(checkpoint, source)
    first = tensors.get("0.weight")
    if first is not None and tuple(first.shape) == (3, 3, 1, 1):
        if layout not in (None, "normalised"):
            raise ValueError(
                f"layout={layout!r} does not fit '{source}', which is in the 'normalised' layout (a 1x1 "
                f"input conv '0.weight' followed by Sequential indices); drop layout= or pass 'normalised'."
            )
        if "0.bias" not in tensors or tuple(tensors["0.bias"].shape) != (3,):
            got = tuple(tensors["0.bias"].shape) if "0.bias" in tensors else "nothing"
            raise ValueError(f"'{source}': expected '0.bias' (the 1x1 input conv) of shape (3,), got {got}; the "
                             "file is a damaged normalised VGG-19: download it again or pass another file.")
        key_of = {conv: str(_NORMALISED_INDEX[conv]) for conv in _CONV_NAMES}
        state, available = _collect_convs(source, tensors, key_of, {"0.weight", "0.bias"})
        pre = {"weight": tensors["0.weight"].detach().to("cpu"), "bias": tensors["0.bias"].detach().to("cpu")}
        return VGG19StateDict(state, "normalised", pre, str(source), available)
    if any(_FEATURE_KEY.match(k) for k in tensors):
        if layout == "normalised":
            raise ValueError(
                f"layout='normalised' does not fit '{source}', which has torchvision-style 'features.N' keys "
                f"and no 1x1 input conv; pass layout='torchvision' or 'caffe', or None to detect it."
            )
        key_of = {conv: f"features.{_CONV_INDEX[conv]}" for conv in _CONV_NAMES}
        extra = {k for k in tensors if k.startswith("classifier.")}
        state, available = _collect_convs(source, tensors, key_of, extra)
        decided = _decide_features_layout(source, tensors, layout, known)
        return VGG19StateDict(state, decided, None, str(source), available)
    if first is not None:
        raise ValueError(
            f"'{source}': '0.weight' has shape {tuple(first.shape)}; in the 'normalised' layout it is the 1x1 "
            f"input conv of shape (3, 3, 1, 1). Pass the original file."
        )
    raise _keys_error(source, list(tensors), "none of its keys fits a known layout")
