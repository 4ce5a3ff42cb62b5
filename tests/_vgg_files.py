"""Random-weight VGG-19 files in each real layout, for tests.

Real pretrained weights cannot be downloaded on the test machines, so code that needs layers past
conv3_1 runs on files written here: the real key names and tensor shapes, random values scaled so
that activations stay finite and non-trivial, loaded through the real loading code.

- :func:`write_torchvision_vgg19`: ``features.N.weight/bias`` plus ``classifier.0/3/6`` entries (as in
  ``vgg19-dcbb9e9d.pth``), He-initialised for unit-variance (ImageNet-normalised) input.
- :func:`write_caffe_vgg19`: the same ``features.N`` keys plus ``classifier.1/4/6`` entries (as in the
  original ``vgg19-d01eb7cb.pth``, whose classifier starts with Dropout). Filters are scaled like
  torchvision's, as in the real file (the Caffe VGG's conv1_1 weights are ~0.4 in magnitude, like
  torchvision's; its activations are just ~60 times larger, because its input is pixels x 256).
- :func:`write_normalised_vgg19`: the ``nn.Sequential`` layout of ``../shared/weights`` (``0`` the 1x1
  input conv with its real values, then conv1_1 at ``2``, conv1_2 at ``5``, conv2_1 at ``9``, ...).

Classifier tensors are tiny placeholders (the loader ignores classifier entries; the real ones are
400 MB). ``up_to`` names the last convolution written, to make small partial files.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import torch

__all__ = [
    "CONV_NAMES",
    "write_torchvision_vgg19",
    "write_caffe_vgg19",
    "write_normalised_vgg19",
    "sha256_of",
    "conv_state",
]

_BLOCKS = ((64, 2), (128, 2), (256, 4), (512, 4), (512, 4))


def _layer_table():
    names, shapes = [], {}
    in_ch = 3
    for block, (ch, n) in enumerate(_BLOCKS, start=1):
        for i in range(1, n + 1):
            names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            shapes[f"conv{block}_{i}"] = (ch, in_ch)
            in_ch = ch
        names.append(f"pool{block}")
    return tuple(names), shapes


LAYERS, CONV_SHAPES = _layer_table()
CONV_NAMES = tuple(n for n in LAYERS if n.startswith("conv"))
TORCHVISION_INDEX = {n: LAYERS.index(n) for n in CONV_NAMES}
# Sequential index in the normalised layout: 1x1 conv, then (pad, conv, relu) per conv, a pool per block.
NORMALISED_INDEX = {
    n: LAYERS.index(n) + sum(1 for m in LAYERS[: LAYERS.index(n)] if m.startswith("conv")) + 2
    for n in CONV_NAMES
}


def _convs(up_to: str) -> tuple[str, ...]:
    if up_to not in CONV_NAMES:
        raise ValueError(f"up_to must be one of {CONV_NAMES}, got {up_to!r}")
    return CONV_NAMES[: CONV_NAMES.index(up_to) + 1]


def conv_state(
    up_to: str = "conv5_4", *, seed: int = 0, first_gain: float = 1.0, bias_std: float = 0.05
) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Random He-initialised conv weights ``{conv name: (weight, bias)}`` up to ``up_to``.

    ``first_gain`` scales conv1_1 (e.g. 1/60 for a net that expects pixels in 0..255).
    """
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for name in _convs(up_to):
        o, i = CONV_SHAPES[name]
        std = math.sqrt(2.0 / (i * 9))
        if name == "conv1_1":
            std *= first_gain
        w = torch.randn(o, i, 3, 3, generator=gen) * std
        b = torch.randn(o, generator=gen) * bias_std * (first_gain if name == "conv1_1" else 1.0)
        out[name] = (w, b)
    return out


def _save(state: dict, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def _classifier(indices: tuple[int, ...], gen: torch.Generator) -> dict[str, torch.Tensor]:
    out = {}
    for j, idx in enumerate(indices):
        out_f, in_f = (8, 16) if j < len(indices) - 1 else (10, 8)
        out[f"classifier.{idx}.weight"] = torch.randn(out_f, in_f, generator=gen) * 0.01
        out[f"classifier.{idx}.bias"] = torch.zeros(out_f)
    return out


def _features_file(path, up_to, seed, classifier_indices, classifier) -> Path:
    state: dict[str, torch.Tensor] = {}
    for name, (w, b) in conv_state(up_to, seed=seed).items():
        state[f"features.{TORCHVISION_INDEX[name]}.weight"] = w
        state[f"features.{TORCHVISION_INDEX[name]}.bias"] = b
    if classifier:
        state.update(_classifier(classifier_indices, torch.Generator().manual_seed(seed + 1)))
    return _save(state, path)


def write_torchvision_vgg19(path, *, up_to: str = "conv5_4", seed: int = 0, classifier: bool = True) -> Path:
    """Write a random VGG-19 in torchvision's layout (``features.N.*``, ``classifier.0/3/6.*``)."""
    return _features_file(path, up_to, seed, (0, 3, 6), classifier)


def write_caffe_vgg19(path, *, up_to: str = "conv5_4", seed: int = 0, classifier: bool = True) -> Path:
    """Write a random VGG-19 in the converted-Caffe layout (``features.N.*``, ``classifier.1/4/6.*``)."""
    return _features_file(path, up_to, seed, (1, 4, 6), classifier)


def normalised_input_conv() -> tuple[torch.Tensor, torch.Tensor]:
    """The real 1x1 input conv of the normalised VGG-19: RGB [0, 1] -> BGR x 255 - Caffe mean."""
    w = torch.zeros(3, 3, 1, 1)
    w[0, 2] = w[1, 1] = w[2, 0] = 255.0
    b = -torch.tensor([103.939, 116.779, 123.68])
    return w, b


def write_normalised_vgg19(path, *, up_to: str = "conv5_1", seed: int = 0) -> Path:
    """Write a random VGG-19 in the normalised ``nn.Sequential`` layout, ending at ``up_to``.

    conv1_1 is scaled for inputs in 0..255 (as in the real file, whose conv1_1 weights have std ~0.01).
    """
    w0, b0 = normalised_input_conv()
    state: dict[str, torch.Tensor] = {"0.weight": w0, "0.bias": b0}
    for name, (w, b) in conv_state(up_to, seed=seed, first_gain=1 / 60).items():
        state[f"{NORMALISED_INDEX[name]}.weight"] = w
        state[f"{NORMALISED_INDEX[name]}.bias"] = b
    return _save(state, path)


def sha256_of(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
