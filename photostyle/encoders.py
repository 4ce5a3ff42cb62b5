"""VGG-19 as a multi-layer feature encoder, and the weight files it can run on.

Layer names follow the paper: ``conv4_2`` is the second convolution of block 4, ``relu4_2`` the ReLU
after it, ``pool4`` the max-pooling that ends the block. :data:`VGG19_LAYERS` lists all 37 in the order
of torchvision's ``vgg19().features``, so a name's index there is the ``N`` of ``features.N``.

Three weight layouts are understood:

``"torchvision"``
    torchvision's ImageNet VGG-19 (``vgg19-dcbb9e9d.pth``): keys ``features.N.weight/bias``; input RGB in
    [0, 1] normalised with the ImageNet mean and std; zero padding; 2x2 max-pooling rounding down.
``"caffe"``
    Simonyan & Zisserman's original Caffe VGG-19 converted to PyTorch (``vgg19-d01eb7cb.pth``, as used
    by neural-style-pt) -- the network of the paper. Same ``features.N`` keys; input BGR, pixels x 256,
    minus the Caffe mean (103.939, 116.779, 123.68) in BGR order; zero padding; pooling rounds up, as
    Caffe does.
``"normalised"``
    Gatys et al.'s rescaled Caffe VGG-19 as shipped with the WCT encoders (``../shared/weights``): the
    ``state_dict`` of a plain ``nn.Sequential`` whose module 0 is a 1x1 convolution turning RGB in
    [0, 1] into BGR x 255 - mean, with ``ReflectionPad2d(1)`` before every 3x3 convolution and pooling
    rounding up. Files may stop after any convolution (the shared one ends at conv3_1).

:func:`load_vgg19_weights` finds, reads and checks a file in any of these layouts and returns it with
torchvision's key names; :class:`VGG19Encoder` runs it and returns the outputs of the layers asked for.
"""

from __future__ import annotations

import difflib
import enum
import http.client
import os
import re
import warnings
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional, Union
from urllib.error import HTTPError, URLError

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "VGG19_LAYERS",
    "WEIGHTS_ENV_VAR",
    "Layout",
    "VGG19WeightsInfo",
    "VGG19Weights",
    "VGG19StateDict",
    "load_vgg19_weights",
    "VGG19Encoder",
]

Layout = Literal["torchvision", "caffe", "normalised"]
_LAYOUTS: tuple[str, ...] = ("torchvision", "caffe", "normalised")

#: Environment variable naming a weight file, used when ``weights`` is not given.
WEIGHTS_ENV_VAR = "PHOTOSTYLE_VGG_WEIGHTS"

# (channels, convolutions) per block of VGG-19.
_BLOCKS: tuple[tuple[int, int], ...] = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def _build_layer_table() -> tuple[tuple[str, ...], dict[str, tuple[int, int]]]:
    names: list[str] = []
    conv_shapes: dict[str, tuple[int, int]] = {}  # conv name -> (out_channels, in_channels)
    in_channels = 3
    for block, (channels, convs) in enumerate(_BLOCKS, start=1):
        for i in range(1, convs + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            conv_shapes[f"conv{block}_{i}"] = (channels, in_channels)
            in_channels = channels
        names.append(f"pool{block}")
    return tuple(names), conv_shapes


VGG19_LAYERS, _CONV_SHAPES = _build_layer_table()
VGG19_LAYERS: tuple[str, ...]
"""The 37 module names of torchvision's ``vgg19().features``, in order (index == ``N`` in ``features.N``)."""

_CONV_NAMES: tuple[str, ...] = tuple(name for name in VGG19_LAYERS if name.startswith("conv"))
_CONV_INDEX: dict[str, int] = {name: VGG19_LAYERS.index(name) for name in _CONV_NAMES}


def _normalised_index(conv: str) -> int:
    """Index of a convolution in the "normalised" Sequential.

    That Sequential is ``[1x1 conv, (ReflectionPad2d, Conv2d, ReLU) per conv, MaxPool2d per block]``,
    so a convolution at torchvision index ``N`` sits after the 1x1 conv, after the ``N`` torchvision
    modules before it, after one padding module per earlier convolution, and after its own padding.
    """
    n = _CONV_INDEX[conv]
    convs_before = sum(1 for name in VGG19_LAYERS[:n] if name.startswith("conv"))
    return n + convs_before + 2


_NORMALISED_INDEX: dict[str, int] = {conv: _normalised_index(conv) for conv in _CONV_NAMES}

_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_CAFFE_PIXEL_SCALE = 256.0


@dataclass(frozen=True)
class _LayoutSpec:
    padding_mode: str
    pool_ceil_mode: bool


_LAYOUT_SPECS: dict[str, _LayoutSpec] = {
    "torchvision": _LayoutSpec(padding_mode="zeros", pool_ceil_mode=False),
    "caffe": _LayoutSpec(padding_mode="zeros", pool_ceil_mode=True),
    "normalised": _LayoutSpec(padding_mode="reflect", pool_ceil_mode=True),
}


@dataclass(frozen=True)
class VGG19WeightsInfo:
    """Where a set of pretrained VGG-19 weights lives and what input it expects.

    Attributes
    ----------
    url : str
        Download address; the file name ends in ``-<sha256 prefix>.pth`` (torch.hub's convention).
    file_name : str
        Name of the file in the torch hub cache (``<torch.hub.get_dir()>/checkpoints/``).
    layout : {"torchvision", "caffe"}
        Key layout and conventions (padding, pooling, preprocessing) of the file.
    channel_order : {"RGB", "BGR"}
        Channel order the first convolution expects.
    pixel_scale : float
        Factor applied to [0, 1] pixels before the mean is subtracted.
    mean, std : tuple of float
        Per-channel mean subtracted and std divided, in ``channel_order`` and pixel units.
    preprocessing : str
        The above in words.
    description : str
        What the network is.
    """

    url: str
    file_name: str
    layout: str
    channel_order: str
    pixel_scale: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    preprocessing: str
    description: str

    @property
    def sha256_prefix(self) -> str:
        """The hash prefix carried by :attr:`file_name`."""
        return _hash_in_name(self.file_name) or ""


class VGG19Weights(enum.Enum):
    """Pretrained VGG-19 weights that can be downloaded (like torchvision's weight enums).

    ``VGG19Weights.CAFFE`` is the paper's network and the default. Each member's value is a
    :class:`VGG19WeightsInfo`; its fields are also readable on the member (``VGG19Weights.CAFFE.url``).
    """

    IMAGENET = VGG19WeightsInfo(
        url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
        file_name="vgg19-dcbb9e9d.pth",
        layout="torchvision",
        channel_order="RGB",
        pixel_scale=1.0,
        mean=_IMAGENET_MEAN,
        std=_IMAGENET_STD,
        preprocessing="RGB in [0, 1], minus ImageNet mean (0.485, 0.456, 0.406), divided by std (0.229, 0.224, 0.225)",
        description="torchvision's VGG-19 trained on ImageNet (zero padding, pooling rounds down)",
    )
    CAFFE = VGG19WeightsInfo(
        url="https://web.eecs.umich.edu/~justincj/models/vgg19-d01eb7cb.pth",
        file_name="vgg19-d01eb7cb.pth",
        layout="caffe",
        channel_order="BGR",
        pixel_scale=_CAFFE_PIXEL_SCALE,
        mean=_CAFFE_MEAN_BGR,
        std=(1.0, 1.0, 1.0),
        preprocessing="BGR, pixels x 256, minus the Caffe mean (103.939, 116.779, 123.68) in BGR order",
        description=(
            "Simonyan & Zisserman's Caffe VGG-19 converted to PyTorch (neural-style-pt), "
            "the network of Deep Photo Style Transfer (zero padding, pooling rounds up)"
        ),
    )

    @property
    def info(self) -> VGG19WeightsInfo:
        """The member's :class:`VGG19WeightsInfo`."""
        return self.value

    @property
    def url(self) -> str:
        return self.value.url

    @property
    def file_name(self) -> str:
        return self.value.file_name

    @property
    def layout(self) -> str:
        return self.value.layout

    @property
    def preprocessing(self) -> str:
        return self.value.preprocessing

    @property
    def description(self) -> str:
        return self.value.description


WeightsLike = Union[str, "os.PathLike[str]", VGG19Weights, None]


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


# --------------------------------------------------------------------------------------------------
# Resolving and reading files
# --------------------------------------------------------------------------------------------------

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,})\.[A-Za-z0-9]+$")


def _hash_in_name(name: str) -> Optional[str]:
    match = _HASH_IN_NAME.search(name)
    return match.group(1) if match else None


def _known_weights_for_name(name: str) -> Optional[VGG19Weights]:
    """The enum member whose hash the file name carries, if any."""
    found = _hash_in_name(name)
    if not found:
        return None
    for member in VGG19Weights:
        known = member.value.sha256_prefix
        if known and (found.startswith(known) or known.startswith(found)):
            return member
    return None


def _hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _check_layout_arg(layout: object) -> Optional[str]:
    if layout is None:
        return None
    if not isinstance(layout, str) or layout not in _LAYOUTS:
        listed = ", ".join(repr(name) for name in _LAYOUTS)
        raise ValueError(
            f"layout must be None (detect it from the file) or one of {listed}, got {layout!r}."
        )
    return layout


def _resolve(weights: WeightsLike) -> tuple[Union[VGG19Weights, Path], str]:
    """Turn the ``weights`` argument (or the environment, or the default) into a member or a path.

    Returns the target and a phrase saying where it came from (for messages).
    """
    origin = "weights"
    if weights is None:
        env = os.environ.get(WEIGHTS_ENV_VAR, "").strip()
        if env:
            weights, origin = env, f"${WEIGHTS_ENV_VAR}"
        else:
            return VGG19Weights.CAFFE, "the default (VGG19Weights.CAFFE)"
    if isinstance(weights, VGG19Weights):
        return weights, origin
    if isinstance(weights, (str, os.PathLike)):
        text = os.fsdecode(weights)
        if isinstance(weights, str) and text.strip().lower() in ("imagenet", "caffe"):
            return VGG19Weights[text.strip().upper()], origin
        return Path(text).expanduser(), origin
    raise TypeError(
        f"weights must be a path to a .pth file, a VGG19Weights member, 'imagenet', 'caffe' or None, "
        f"got {type(weights).__name__}; pass e.g. weights=VGG19Weights.CAFFE or weights='vgg19.pth'."
    )


def _download_help(member: VGG19Weights) -> str:
    cached = _hub_checkpoint_dir() / member.file_name
    return (
        f"download the file by hand from {member.url}, then pass weights='/path/to/{member.file_name}' "
        f"or set {WEIGHTS_ENV_VAR}=/path/to/{member.file_name}; or put it in the torch hub cache as "
        f"'{cached}', where it is used without network."
    )


def _fetch(member: VGG19Weights, *, progress: bool) -> tuple[object, Path]:
    """Return the checkpoint of ``member`` from the hub cache, downloading it there if needed."""
    cached = _hub_checkpoint_dir() / member.file_name
    if cached.is_file():
        return _read_checkpoint(cached), cached
    try:
        checkpoint = torch.hub.load_state_dict_from_url(
            member.url,
            map_location="cpu",
            progress=progress,
            check_hash=True,
            file_name=member.file_name,
            weights_only=True,
        )
    except Exception as exc:  # classified below: network, hash, or an unreadable download
        if cached.is_file():
            # The download completed (and its hash matched), so reading it failed.
            raise _unreadable_error(cached, exc) from exc
        if isinstance(exc, RuntimeError) and "invalid hash value" in str(exc):
            raise RuntimeError(
                f"the VGG-19 weights downloaded from {member.url} do not match the sha256 prefix "
                f"'{member.value.sha256_prefix}' in their file name ({exc}); the download was discarded. "
                f"Delete any partial file left in '{cached.parent}' (named '{member.file_name}.*.partial') "
                f"and try again; if it keeps failing, {_download_help(member)}"
            ) from exc
        if isinstance(exc, (URLError, OSError, http.client.HTTPException)):
            if isinstance(exc, HTTPError):
                why = f"the server answered HTTP {exc.code} {exc.reason}"
            else:
                why = f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}"
            raise RuntimeError(
                f"could not download the VGG-19 weights from {member.url} ({why}). Without network, "
                f"{_download_help(member)}"
            ) from exc
        raise
    return checkpoint, cached


def _load_error_detail(exc: BaseException) -> str:
    """One informative line of a torch.load error (skipping PyTorch's long weights_only preamble)."""
    message = str(exc)
    if "WeightsUnpickler error:" in message:
        message = message.split("WeightsUnpickler error:", 1)[1]
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[0][:200] if lines else type(exc).__name__


def _unreadable_error(path: Path, exc: BaseException) -> RuntimeError:
    member = _known_weights_for_name(path.name)
    text = _load_error_detail(exc)
    if "unsupported global" in str(exc).lower():
        return RuntimeError(
            f"'{path}' holds pickled Python objects besides tensors, which are not loaded for safety "
            f"(torch.load(weights_only=True) failed: {text}). Re-save only the weights, e.g. "
            f"torch.save(checkpoint['state_dict'], 'vgg19.pth'), and pass that file."
        )
    where = f"re-download it from {member.url}" if member else "re-download or re-create it"
    return RuntimeError(
        f"cannot read '{path}' as a PyTorch checkpoint ({type(exc).__name__}: {text}); the file is not a "
        f"torch.save file or is truncated/corrupt (e.g. an interrupted download). Delete the cached file "
        f"at '{path}' and {where}."
    )


def _read_checkpoint(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for bad files: RuntimeError, EOFError, ...
        raise _unreadable_error(path, exc) from exc


def _local_file(path: Path, origin: str) -> Path:
    if not path.exists():
        hint = f" (from {origin})" if origin != "weights" else ""
        raise FileNotFoundError(
            f"VGG-19 weight file not found: '{path}'{hint}. Check the path (cwd is '{Path.cwd()}'), or pass "
            f"weights=VGG19Weights.CAFFE / 'imagenet' to download pretrained weights"
            + (f", or unset {WEIGHTS_ENV_VAR}." if origin.startswith("$") else ".")
        )
    if path.is_dir():
        raise ValueError(f"weights: expected a .pth file, got the directory '{path}'; pass the file inside it.")
    return path


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
    source: Path, tensors: dict[str, torch.Tensor], layout: Optional[str]
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
    member = _known_weights_for_name(source.name)
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


def _interpret(checkpoint: object, source: Path, layout: Optional[str]) -> VGG19StateDict:
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
            raise ValueError(f"'{source}': '0.bias' (the 1x1 input conv) should have shape (3,), got {got}.")
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
        decided = _decide_features_layout(source, tensors, layout)
        return VGG19StateDict(state, decided, None, str(source), available)
    if first is not None:
        raise ValueError(
            f"'{source}': '0.weight' has shape {tuple(first.shape)}; in the 'normalised' layout it is the 1x1 "
            f"input conv of shape (3, 3, 1, 1). Pass the original file."
        )
    raise _keys_error(source, list(tensors), "none of its keys fits a known layout")


def load_vgg19_weights(
    weights: WeightsLike = None,
    *,
    layout: Optional[Layout] = None,
    progress: bool = True,
) -> VGG19StateDict:
    """Find, read and check VGG-19 weights.

    Parameters
    ----------
    weights : str, path-like, VGG19Weights or None
        A ``.pth`` file; a :class:`VGG19Weights` member or ``"imagenet"`` / ``"caffe"`` (taken from the
        torch hub cache, ``<torch.hub.get_dir()>/checkpoints/``, or downloaded there with its hash
        checked); or None: the file named by ``$PHOTOSTYLE_VGG_WEIGHTS`` if set, else
        ``VGG19Weights.CAFFE``. Files may be a plain ``state_dict`` or a checkpoint dict with a
        ``"state_dict"`` entry; a ``"module."`` key prefix is removed; classifier entries are ignored.
    layout : {"torchvision", "caffe", "normalised"}, optional
        The file's layout. Normally detected: ``"normalised"`` from its keys; torchvision versus Caffe
        from the hash in the file name (``vgg19-dcbb9e9d.pth`` / ``vgg19-d01eb7cb.pth``), else from this
        argument, else guessed with a warning (see Notes).
    progress : bool, default True
        Show a progress bar while downloading.

    Returns
    -------
    VGG19StateDict
        The convolution weights under torchvision keys, the layout, the normalised layout's input conv,
        the source file and the convolutions present.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    RuntimeError
        The file is not a torch checkpoint or is truncated/corrupt; a download failed (no network, bad
        hash).
    ValueError
        The keys fit no layout, a tensor has the wrong shape, or ``layout`` contradicts the file.

    Notes
    -----
    Torchvision and Caffe files share their key names. Without a known file name or ``layout=``, a file
    whose classifier keys are ``classifier.1`` / ``classifier.4`` (the original Caffe conversion) is
    taken as Caffe; otherwise a file whose conv1_1 filters are tiny (sized for 0..255 pixels: RMS filter
    norm < 0.2) as Caffe, and anything else as torchvision. The real Caffe VGG-19 has conv1_1 weights as
    large as torchvision's, so a renamed copy stripped of its classifier needs ``layout="caffe"``.
    """
    layout = _check_layout_arg(layout)
    target, origin = _resolve(weights)
    if isinstance(target, VGG19Weights):
        if layout is not None and layout != target.layout:
            raise ValueError(
                f"layout={layout!r} contradicts weights={target} (layout {target.layout!r}); drop layout=."
            )
        checkpoint, path = _fetch(target, progress=progress)
        return _interpret(checkpoint, path, target.layout)
    path = _local_file(target, origin)
    return _interpret(_read_checkpoint(path), path, layout)


# --------------------------------------------------------------------------------------------------
# The encoder
# --------------------------------------------------------------------------------------------------

_LAYER_SET = frozenset(VGG19_LAYERS)


def _check_layer_names(layers: object) -> tuple[str, ...]:
    if isinstance(layers, str):
        layers = (layers,)
    if not isinstance(layers, Sequence) and not isinstance(layers, (set, frozenset)):
        raise TypeError(
            f"layers must be a sequence of layer names such as ('relu1_1', 'relu4_2'), "
            f"got {type(layers).__name__}."
        )
    names = tuple(dict.fromkeys(layers))
    if not names:
        raise ValueError("layers must name at least one layer, got an empty sequence; e.g. layers=['relu4_2'].")
    for name in names:
        if not isinstance(name, str) or name not in _LAYER_SET:
            close = difflib.get_close_matches(str(name), VGG19_LAYERS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"layers: unknown VGG-19 layer {name!r}.{hint} Valid names: {', '.join(VGG19_LAYERS)}."
            )
    return names


def _conv_needed(name: str) -> str:
    """The deepest convolution a layer's output depends on."""
    index = VGG19_LAYERS.index(name)
    return [conv for conv in _CONV_NAMES if _CONV_INDEX[conv] <= index][-1]


class VGG19Encoder(nn.Module):
    """VGG-19 returning the outputs of chosen layers, for images in RGB [0, 1].

    Parameters
    ----------
    layers : sequence of str
        Layer names from :data:`VGG19_LAYERS` (``"relu4_2"``, ``"conv3_1"``, ``"pool2"``, ...). The network
        is cut after the deepest one.
    weights : str, path-like, VGG19Weights or None
        Passed to :func:`load_vgg19_weights`: a file, a :class:`VGG19Weights` member, ``"imagenet"`` /
        ``"caffe"``, or None for ``$PHOTOSTYLE_VGG_WEIGHTS`` else ``VGG19Weights.CAFFE``.
    layout : {"torchvision", "caffe", "normalised"}, optional
        The file's layout when it cannot be detected (see :func:`load_vgg19_weights`).
    progress : bool, default True
        Show a progress bar if the weights are downloaded.

    Attributes
    ----------
    layers : tuple of str
        The layers :meth:`forward` returns.
    names : tuple of str
        Names of the modules of :attr:`features`, ``VGG19_LAYERS[:deepest + 1]``.
    layout : str
        Layout of the weights; fixes padding (zeros, or reflection for ``"normalised"``), pooling
        rounding and preprocessing.
    pool_ceil_mode : bool
        Whether max-pooling rounds odd sizes up (Caffe and normalised) or down (torchvision).
    features : torch.nn.Sequential
        The network, modules at torchvision's indices (``features.state_dict()`` has keys ``0.weight``,
        ``0.bias``, ``2.weight``, ...). Parameters are frozen; the module is in eval mode.
    source : str
        The weight file.

    Notes
    -----
    The encoder follows ``.to()``: move it to the image's device and dtype (``encoder.double()`` for
    float64). Gradients flow to the image, not to the weights. ReLUs are not in-place, so a conv output
    and its ReLU can be requested together.

    Examples
    --------
    >>> encoder = VGG19Encoder(["relu1_1", "relu4_2"])          # doctest: +SKIP
    >>> feats = encoder(image)                                   # doctest: +SKIP
    >>> feats["relu4_2"].shape                                   # doctest: +SKIP
    """

    def __init__(
        self,
        layers: Sequence[str],
        *,
        weights: WeightsLike = None,
        layout: Optional[Layout] = None,
        progress: bool = True,
    ) -> None:
        super().__init__()
        requested = _check_layer_names(layers)
        loaded = load_vgg19_weights(weights, layout=layout, progress=progress)
        deepest = max(VGG19_LAYERS.index(name) for name in requested)

        for name in requested:
            needed = _conv_needed(name)
            if needed not in loaded.available:
                last = loaded.last_conv
                raise ValueError(
                    f"the VGG-19 weights in '{loaded.source}' end at {last} ({last.replace('conv', 'relu')}); "
                    f"layer {name!r} needs {needed}. Use preset 'lite' (layers up to relu3_1) or layers up to "
                    f"{last.replace('conv', 'relu')}, or full weights: weights=VGG19Weights.CAFFE (downloads "
                    f"{VGG19Weights.CAFFE.url}) or a full file via weights=path / ${WEIGHTS_ENV_VAR}."
                )

        spec = _LAYOUT_SPECS[loaded.layout]
        self.layers: tuple[str, ...] = requested
        self.names: tuple[str, ...] = VGG19_LAYERS[: deepest + 1]
        self.layout: str = loaded.layout
        self.pool_ceil_mode: bool = spec.pool_ceil_mode
        self.source: str = loaded.source

        modules: OrderedDict[str, nn.Module] = OrderedDict()
        for index, name in enumerate(self.names):
            if name.startswith("conv"):
                out_ch, in_ch = _CONV_SHAPES[name]
                modules[str(index)] = nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode=spec.padding_mode)
            elif name.startswith("relu"):
                modules[str(index)] = nn.ReLU(inplace=False)
            else:
                modules[str(index)] = nn.MaxPool2d(2, 2, ceil_mode=spec.pool_ceil_mode)
        self.features = nn.Sequential(modules)
        wanted = {k: v for k, v in loaded.state_dict.items() if int(k.split(".")[1]) <= deepest}
        self.features.load_state_dict({k[len("features."):]: v for k, v in wanted.items()}, strict=True)
        self.features.requires_grad_(False)

        pre_weight, pre_bias = self._preprocess_affine(loaded)
        self.register_buffer("_pre_weight", pre_weight, persistent=False)
        self.register_buffer("_pre_bias", pre_bias, persistent=False)
        self.eval()

    @staticmethod
    def _preprocess_affine(loaded: VGG19StateDict) -> tuple[torch.Tensor, torch.Tensor]:
        """The preprocessing as a per-pixel affine map ``y = W x + b`` (W (3, 3, 1, 1), b (3,))."""
        if loaded.preprocess_conv is not None:
            return loaded.preprocess_conv["weight"].float().clone(), loaded.preprocess_conv["bias"].float().clone()
        info = VGG19Weights.CAFFE.value if loaded.layout == "caffe" else VGG19Weights.IMAGENET.value
        order = [2, 1, 0] if info.channel_order == "BGR" else [0, 1, 2]
        weight = torch.zeros(3, 3, 1, 1)
        for out_c, in_c in enumerate(order):
            weight[out_c, in_c] = info.pixel_scale / info.std[out_c]
        bias = torch.tensor([-m / s for m, s in zip(info.mean, info.std)])
        return weight, bias

    def _check_image(self, image: object) -> torch.Tensor:
        if not isinstance(image, torch.Tensor):
            raise TypeError(
                f"image must be a torch.Tensor (B, 3, H, W) RGB in [0, 1], got {type(image).__name__}; "
                f"convert it with photostyle.image.to_tensor."
            )
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(
                f"image must have shape (B, 3, H, W), got {tuple(image.shape)}; add a batch dimension with "
                f"image[None] or convert it with photostyle.image.to_tensor."
            )
        if not image.is_floating_point():
            raise TypeError(
                f"image must be a float tensor in [0, 1], got dtype {image.dtype}; divide uint8 images by 255."
            )
        param = self._pre_weight
        if image.dtype != param.dtype or image.device != param.device:
            raise ValueError(
                f"image is {image.dtype} on {image.device} but the encoder is {param.dtype} on {param.device}; "
                f"move one to the other, e.g. encoder.to(image.device, image.dtype)."
            )
        return image

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Turn RGB in [0, 1] into the network's input, as its layout requires.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W)
            RGB in [0, 1].

        Returns
        -------
        Tensor, shape (B, 3, H, W)
            torchvision: ``(x - mean) / std`` (ImageNet); caffe: BGR, x 256, minus the Caffe mean;
            normalised: the file's 1x1 conv (BGR x 255 minus the mean).
        """
        image = self._check_image(image)
        if self.layout == "normalised":
            return F.conv2d(image, self._pre_weight, self._pre_bias)
        if self.layout == "caffe":
            mean = -self._pre_bias.view(1, 3, 1, 1)
            return image.flip(1) * _CAFFE_PIXEL_SCALE - mean
        mean = torch.tensor(_IMAGENET_MEAN, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        std = torch.tensor(_IMAGENET_STD, dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
        return (image - mean) / std

    def walk(self, image: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield ``(name, output)`` for every module in order, from preprocessed ``image``.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W)
            RGB in [0, 1].
        """
        x = self.preprocess(image)
        for name, module in zip(self.names, self.features):
            x = module(x)
            yield name, x

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """Outputs of :attr:`layers` for ``image``.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W)
            RGB in [0, 1]; the layout's preprocessing is applied here.

        Returns
        -------
        dict of str to Tensor
            One entry per requested layer, shape (B, C, H', W').
        """
        wanted = set(self.layers)
        outputs: dict[str, torch.Tensor] = {}
        for name, x in self.walk(image):
            if name in wanted:
                outputs[name] = x
        return {name: outputs[name] for name in self.layers}

    def extra_repr(self) -> str:
        return f"layers={self.layers}, layout={self.layout!r}, source={self.source!r}"
