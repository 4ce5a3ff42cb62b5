"""VGG-19 as a multi-layer feature encoder for images in RGB [0, 1].

The layer table lives in :mod:`photostyle.layers`, the weight files and their layouts in
:mod:`photostyle.weights`; this module runs them. Every layout's preprocessing is one 1x1 convolution.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .files import atomic_write_path
from .layers import CONV_SHAPES, LAYOUT_SPECS, VGG19_LAYERS, check_layer_names, conv_needed
from .weights import (
    WEIGHTS_ENV_VAR, Layout, VGG19StateDict, VGG19Weights, WeightsLike, load_vgg19_weights, preprocess_affine,
)

__all__ = ["VGG19Encoder", "native_low_precision"]


# bfloat16 is taken where it runs VGG-19's convolutions at least this much faster than float32.
BF16_MIN_SPEEDUP = 1.2
# Where the measured speed-up of a CPU without AMX is kept, under torch.hub.get_dir(), so that every run
# of one machine makes the same choice (and measures once).
_PROBE_FILE = Path("photostyle") / "cpu_bfloat16.json"
_CPUINFO = Path("/proc/cpuinfo")


def _cpu_flags() -> frozenset[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none: macOS, Windows)."""
    try:
        text = _CPUINFO.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def _bf16_conv_speedup() -> float:
    """float32 time / bfloat16 time of one VGG-like convolution forward + backward on this CPU.

    64 -> 64 channels, 3x3, on 96x128, channels-last as the compute copy runs, best of 3 after a warm-up,
    the two dtypes interleaved (about 0.6 s on one thread). On this project's machines its ratio followed
    the whole network's: 0.76 where VGG-19's forward + backward to relu5_1 at 700x525 took 7.0-7.3 s in
    bfloat16 against 5.2-5.4 s in float32 (a Xeon with AVX512-BF16 and no AMX).
    """
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 64, 96, 128, generator=gen)
    kernel = torch.randn(64, 64, 3, 3, generator=gen) * 0.05
    cases = {}
    for dtype in (torch.float32, torch.bfloat16):
        cases[dtype] = (image.to(dtype).contiguous(memory_format=torch.channels_last).requires_grad_(True),
                        kernel.to(dtype).contiguous(memory_format=torch.channels_last))
    best = {dtype: float("inf") for dtype in cases}
    for rep in range(4):
        for dtype, (x, k) in cases.items():
            start = time.perf_counter()
            y = F.conv2d(x, k, padding=1)
            torch.autograd.grad(y, x, y)
            if rep:
                best[dtype] = min(best[dtype], time.perf_counter() - start)
    return best[torch.float32] / best[torch.bfloat16]


def _measured_speedup(flags: frozenset[str]) -> float:
    """:func:`_bf16_conv_speedup` for this CPU, read from the probe file if it was measured before."""
    key = hashlib.sha256(" ".join(sorted(flags)).encode()).hexdigest()[:16] + f"-torch{torch.__version__}"
    path = Path(torch.hub.get_dir()) / _PROBE_FILE
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    if not isinstance(record, dict):
        record = {}
    try:
        return float(record[key])
    except (KeyError, TypeError, ValueError):
        pass
    speedup = _bf16_conv_speedup()
    try:  # a read-only cache only means measuring again in the next process
        record[key] = round(speedup, 3)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write_path(path, overwrite=True) as tmp:
            tmp.write_text(json.dumps(record, indent=1) + "\n")
    except OSError:
        pass
    return speedup


@functools.lru_cache(maxsize=None)
def _cpu_has_native_bf16() -> bool:
    """Whether this CPU runs VGG-19's convolutions faster in bfloat16 than in float32.

    AMX-BF16 (matrix tiles): yes. AVX512-BF16 alone: measured once (:func:`_bf16_conv_speedup`, kept
    in ``<torch.hub.get_dir()>/photostyle/cpu_bfloat16.json``), yes where the speed-up is at least
    :data:`BF16_MIN_SPEEDUP`. The flag alone does not tell: an AMD EPYC with it ran VGG-19 about twice
    as fast in bfloat16, a Xeon with it (and no AMX) about 1.35x slower. Neither flag: no.
    """
    flags = _cpu_flags()
    if not torch.backends.mkldnn.is_available() or not flags & {"avx512_bf16", "amx_bf16"}:
        return False
    if "amx_bf16" in flags:
        return True
    return _measured_speedup(flags) >= BF16_MIN_SPEEDUP


def native_low_precision(device: torch.device | str) -> Optional[torch.dtype]:
    """``torch.bfloat16`` where ``device`` computes convolutions in it faster than in float32, else None.

    On a CPU with AMX, or with AVX512-BF16 where a short measurement says it pays (see
    :func:`_cpu_has_native_bf16`; the choice is the same on every run of one machine), oneDNN runs
    VGG-19's convolutions in bfloat16 about 2x faster than in float32 (forward + backward at 512x384 on
    one thread of an AMD EPYC with AVX512-BF16: 1.5 s against 3.5 s). CUDA devices get None here: their
    float32 path is kept (pass ``precision="bfloat16"`` to :func:`photostyle.transfer` to ask for it there).
    """
    device = torch.device(device)
    if device.type == "cpu" and _cpu_has_native_bf16():
        return torch.bfloat16
    return None



class VGG19Encoder(nn.Module):
    """VGG-19 returning the outputs of chosen layers, for images in RGB [0, 1].

    Parameters
    ----------
    layers : sequence of str
        Layer names from :data:`VGG19_LAYERS` (``"relu4_2"``, ``"conv3_1"``, ``"pool2"``, ...). The network
        is cut after the deepest one.
    weights : str, path-like, VGG19Weights or None
        Passed to :func:`load_vgg19_weights`: a file, a :class:`VGG19Weights` member, ``"imagenet"`` /
        ``"caffe"`` / ``"normalised"``, or None for ``$PHOTOSTYLE_VGG_WEIGHTS`` else
        ``VGG19Weights.NORMALISED``.
    layout : {"torchvision", "caffe", "normalised"}, optional
        The file's layout when it cannot be detected (see :func:`load_vgg19_weights`).
    progress : bool, default True
        Show a progress bar if the weights are downloaded.
    state_dict : VGG19StateDict, optional
        Weights already read with :func:`~photostyle.weights.load_vgg19_weights` (then ``weights`` and
        ``layout`` are ignored); see also :meth:`from_state_dict`.

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
    and its ReLU can be requested together. ``forward(image, compute_dtype=...)`` runs the network on a
    compute copy of its weights in that dtype, channels-last, made once per device (float32: 9 % faster
    an iteration than the module itself; bfloat16 about twice as fast where the CPU has it natively,
    :func:`native_low_precision`) and returns the features in the image's dtype; :func:`photostyle.transfer`
    always runs on such a copy.

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
        state_dict: Optional[VGG19StateDict] = None,
    ) -> None:
        super().__init__()
        requested = check_layer_names(layers)
        if state_dict is not None:
            if not isinstance(state_dict, VGG19StateDict):
                raise TypeError(
                    f"state_dict: expected a VGG19StateDict from load_vgg19_weights(), got "
                    f"{type(state_dict).__name__}; or pass weights= instead."
                )
            loaded = state_dict
        else:
            loaded = load_vgg19_weights(weights, layout=layout, progress=progress)
        deepest = max(VGG19_LAYERS.index(name) for name in requested)

        for name in requested:
            needed = conv_needed(name)
            if needed not in loaded.available:
                last = loaded.last_conv
                raise ValueError(
                    f"the VGG-19 weights in '{loaded.source}' end at {last} ({last.replace('conv', 'relu')}); "
                    f"layer {name!r} needs {needed}. Use preset 'lite' (layers up to relu3_1) or layers up to "
                    f"{last.replace('conv', 'relu')}, or the full network: leave weights unset (the normalised "
                    f"VGG-19, fetched by `make weights` or from {VGG19Weights.NORMALISED.url}) or pass a full "
                    f"file via weights=path / ${WEIGHTS_ENV_VAR}."
                )

        spec = LAYOUT_SPECS[loaded.layout]
        self.layers: tuple[str, ...] = requested
        self.names: tuple[str, ...] = VGG19_LAYERS[: deepest + 1]
        self.layout: str = loaded.layout
        self.pool_ceil_mode: bool = spec.pool_ceil_mode
        self.source: str = loaded.source

        modules: OrderedDict[str, nn.Module] = OrderedDict()
        for index, name in enumerate(self.names):
            if name.startswith("conv"):
                out_ch, in_ch = CONV_SHAPES[name]
                modules[str(index)] = nn.Conv2d(in_ch, out_ch, 3, padding=1, padding_mode=spec.padding_mode)
            elif name.startswith("relu"):
                modules[str(index)] = nn.ReLU(inplace=False)
            else:
                modules[str(index)] = nn.MaxPool2d(2, 2, ceil_mode=spec.pool_ceil_mode)
        self.features = nn.Sequential(modules)
        wanted = {k: v for k, v in loaded.state_dict.items() if int(k.split(".")[1]) <= deepest}
        self.features.load_state_dict({k[len("features."):]: v for k, v in wanted.items()}, strict=True)
        self.features.requires_grad_(False)

        pre_weight, pre_bias = preprocess_affine(loaded)
        self.register_buffer("_pre_weight", pre_weight, persistent=False)
        self.register_buffer("_pre_bias", pre_bias, persistent=False)
        self._compute_copies: dict[tuple[torch.device, torch.dtype], nn.Sequential] = {}
        self.eval()

    def _apply(self, fn, recurse=True):  # .to(), .cuda(), .double(): drop copies made from the old weights
        self._compute_copies = {}
        return super()._apply(fn, recurse)

    def _features_in(self, dtype: torch.dtype) -> nn.Sequential:
        """The network's compute copy: its weights in ``dtype``, channels-last, made once per device and dtype."""
        key = (self._pre_weight.device, dtype)
        features = self._compute_copies.get(key)
        if features is None:
            features = copy.deepcopy(self.features).to(dtype=dtype, memory_format=torch.channels_last)
            self._compute_copies = {key: features}
        return features

    @classmethod
    def from_state_dict(cls, state_dict: VGG19StateDict, layers: Sequence[str]) -> "VGG19Encoder":
        """An encoder on weights already read (one file read serves several encoders).

        Parameters
        ----------
        state_dict : VGG19StateDict
            From :func:`~photostyle.weights.load_vgg19_weights`.
        layers : sequence of str
            Layer names to output.
        """
        return cls(layers, state_dict=state_dict)

    def _check_image(self, image: object) -> torch.Tensor:
        if not isinstance(image, torch.Tensor):
            raise TypeError(
                f"image: expected a torch.Tensor (B, 3, H, W) RGB in [0, 1], got {type(image).__name__}; "
                f"convert it with photostyle.image.to_tensor."
            )
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(
                f"image: expected shape (B, 3, H, W), got {tuple(image.shape)}; add a batch dimension with "
                f"image[None] or convert it with photostyle.image.to_tensor."
            )
        if not image.is_floating_point():
            raise TypeError(
                f"image: expected a float tensor in [0, 1], got dtype {image.dtype}; divide uint8 images by 255."
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
            One 1x1 convolution for every layout (:func:`~photostyle.weights.preprocess_affine`):
            torchvision ``(x - mean) / std`` (ImageNet); caffe BGR, x 256, minus the Caffe mean;
            normalised the file's own 1x1 conv (BGR x 255 minus the mean).
        """
        image = self._check_image(image)
        return F.conv2d(image, self._pre_weight, self._pre_bias)

    def walk(self, image: torch.Tensor, *, compute_dtype: Optional[torch.dtype] = None
             ) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield ``(name, output)`` for every module in order, from preprocessed ``image``.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W)
            RGB in [0, 1].
        compute_dtype : torch.dtype, optional
            Run the compute copy of the network in this dtype (``torch.float32``, ``torch.bfloat16``); the
            outputs are then of this dtype and channels-last. None: the module itself, in the image's dtype.
        """
        x = self.preprocess(image)
        features = self.features
        if compute_dtype is not None:  # the compute copy: channels-last weights in that dtype
            if not compute_dtype.is_floating_point:
                raise TypeError(f"compute_dtype: expected a floating dtype such as torch.bfloat16, got {compute_dtype}.")
            features = self._features_in(compute_dtype)
            x = x.to(dtype=compute_dtype, memory_format=torch.channels_last)
        for name, module in zip(self.names, features):
            x = module(x)
            yield name, x

    def forward(self, image: torch.Tensor, *, compute_dtype: Optional[torch.dtype] = None,
                return_dtype: Optional[torch.dtype] = None) -> dict[str, torch.Tensor]:
        """Outputs of :attr:`layers` for ``image``.

        Parameters
        ----------
        image : Tensor, shape (B, 3, H, W)
            RGB in [0, 1]; the layout's preprocessing is applied here.
        compute_dtype : torch.dtype, optional
            Run the compute copy of the network (channels-last weights) in this dtype (``torch.bfloat16``:
            about twice as fast on a CPU that has it natively, see :func:`native_low_precision`); the
            outputs come back in the image's dtype and the gradient flows to the image as usual. None: the
            module itself, in the image's dtype.
        return_dtype : torch.dtype, optional
            The dtype of the returned features (default: the image's). ``return_dtype=compute_dtype``
            returns the network's own outputs, channels-last, without a cast (the style loss gathers
            them as they are).

        Returns
        -------
        dict of str to Tensor
            One entry per requested layer, shape (B, C, H', W').
        """
        wanted = set(self.layers)
        outputs: dict[str, torch.Tensor] = {}
        dtype = return_dtype or image.dtype
        for name, x in self.walk(image, compute_dtype=compute_dtype):
            if name in wanted:
                outputs[name] = x if x.dtype == dtype else x.to(dtype=dtype, memory_format=torch.contiguous_format)
        return {name: outputs[name] for name in self.layers}

    def extra_repr(self) -> str:
        return f"layers={self.layers}, layout={self.layout!r}, source={self.source!r}"
