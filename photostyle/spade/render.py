"""From a label map to a photo, and on to a photo with the look of a reference.

>>> from photostyle.spade import render, palette
>>> labels = palette.landscape_bands((256, 256), [("sky-other", 0), ("mountain", 0.35), ("sea", 0.6)])
>>> result = render(labels, checkpoint="checkpoints/coco_pretrained/latest_net_G.pth", preset="coco")  # doctest: +SKIP
>>> result.image.save("rendered.png")                                                                # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from .._checks import got
from .checkpoint import SPADEModel, load_model
from .config import SPADEConfig
from .encoder import ConvEncoder
from .generator import SPADEGenerator
from .labels import LabelsLike, as_label_tensor, check_labels, encode_labels, resize_labels

__all__ = ["RenderResult", "RestyleResult", "render", "render_and_restyle", "resolve_device"]


@dataclass
class RenderResult:
    """Outcome of :func:`render`.

    Attributes
    ----------
    image
        The rendered photo, 8-bit RGB PIL image of size ``config.image_size``.
    tensor
        The same, float (1, 3, H, W) in [0, 1] on the CPU.
    labels
        The label map the generator saw, int64 (H, W) at the output size (nearest-resized input).
    config
        The generator's :class:`SPADEConfig`.
    style_code
        The style code used (VAE models), (1, z_dim) on the CPU; None for the official models.
    """

    image: Image.Image
    tensor: torch.Tensor
    labels: np.ndarray
    config: SPADEConfig
    style_code: torch.Tensor | None = None

    def save(self, path: str | os.PathLike, *, overwrite: bool = False):
        from ..image import save_image

        return save_image(self.image, path, overwrite=overwrite)


@dataclass
class RestyleResult:
    """Outcome of :func:`render_and_restyle`: ``image``/``tensor`` are the final restyled photo;
    ``rendered`` the SPADE render; ``transfer`` the :class:`photostyle.transfer.TransferResult`."""

    image: Image.Image
    tensor: torch.Tensor
    rendered: RenderResult
    transfer: Any

    def save(self, path: str | os.PathLike, *, overwrite: bool = False):
        from ..image import save_image

        return save_image(self.image, path, overwrite=overwrite)


def resolve_device(device: str | torch.device | None, *, default: torch.device | None = None) -> torch.device:
    """None → ``default`` (or CPU); otherwise :func:`photostyle.resolve_device` ("auto" → CUDA
    if available; an absent device → ValueError)."""
    from .._checks import resolve_device as _resolve

    if device is None:
        return default if default is not None else torch.device("cpu")
    return _resolve(device)


def _as_model(checkpoint: Any, preset: SPADEConfig | str | None, device: torch.device | None) -> SPADEModel:
    if isinstance(checkpoint, SPADEModel):
        model = checkpoint
    elif isinstance(checkpoint, SPADEGenerator):
        model = SPADEModel(generator=checkpoint, config=checkpoint.config, encoder=None)
    elif isinstance(checkpoint, (str, os.PathLike)):
        return load_model(checkpoint, preset=preset, device=device or "cpu")
    elif checkpoint is None:
        raise TypeError(
            "checkpoint: expected the path of a SPADE latest_net_G.pth or a model from load_model(), got None; "
            "give e.g. NVlabs/SPADE's coco_pretrained file (photostyle does not ship or download them)."
        )
    else:
        raise TypeError(
            f"checkpoint: expected a path, a SPADEModel or a SPADEGenerator, got {got(checkpoint)}; load one with "
            "photostyle.spade.load_model."
        )
    if preset is not None:
        from .config import get_config

        wanted = get_config(preset)
        if wanted.semantic_nc != model.config.semantic_nc:
            raise ValueError(
                f"preset: expected one with the model's {model.config.semantic_nc} input channels (preset "
                f"'{model.config.preset}'), got '{wanted.preset}' with {wanted.semantic_nc}; drop preset= or load "
                "the matching checkpoint."
            )
    if device is not None:
        model.to(device)
    return model


@torch.no_grad()
def render(
    labels: LabelsLike,
    *,
    checkpoint: str | os.PathLike | SPADEModel | SPADEGenerator,
    preset: SPADEConfig | str | None = None,
    style_image: Any = None,
    instances: LabelsLike | None = None,
    seed: int = 0,
    sample_style: bool = False,
    device: str | torch.device | None = None,
) -> RenderResult:
    """Render a photo from a label map with a SPADE generator.

    Parameters
    ----------
    labels
        Integer class ids (H, W): a numpy array, a tensor (H, W) / (1, H, W), a PIL image or a path to
        a label PNG ('P' palette indices or grey values; colour PNGs are decoded with the preset's
        palette). 255 is dontcare (coco, ade20k). The map is resized (nearest) to the model's size.
    checkpoint
        Path of a ``latest_net_G.pth`` (official or trained here; the library never downloads the
        official non-commercial files), or a model from :func:`load_model`. Load once with
        :func:`load_model` and pass the model when rendering many maps.
    preset
        "coco", "ade20k", "cityscapes" or a :class:`SPADEConfig`; None: recognised from the file.
    style_image
        An example photo (path, PIL, array, tensor in [0, 1]) whose style code drives a VAE model;
        only models trained with ``use_vae=True`` have the encoder for it.
    instances
        Optional instance-id map (H, W) for the edge channel; default: the label boundaries.
    seed
        Seed of the random style code of VAE models (without ``style_image``, or with ``sample_style``).
    sample_style
        With ``style_image``: draw z ~ N(mu, sigma) instead of using the mean code mu.
    device
        None: the labels tensor's device, the given model's device, or the CPU; "auto", "cpu",
        "cuda". Asking for CUDA where there is none raises ValueError.

    Returns
    -------
    RenderResult
        ``.image`` (PIL), ``.tensor`` (1, 3, H, W) in [0, 1], ``.labels`` used.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed: expected an integer, got {got(seed)}; pass e.g. seed=0.")
    default_dev = None
    if isinstance(labels, torch.Tensor):
        default_dev = labels.device
    elif isinstance(checkpoint, (SPADEModel, SPADEGenerator)):
        gen = checkpoint.generator if isinstance(checkpoint, SPADEModel) else checkpoint
        default_dev = next(gen.parameters()).device
    dev = resolve_device(device, default=default_dev)
    model = _as_model(checkpoint, preset, dev)
    config = model.config
    lab = as_label_tensor(labels, name="labels", preset=config)
    if lab.shape[0] != 1:
        raise ValueError(
            f"labels: expected one label map (H, W), got a batch of {lab.shape[0]}; call render per map, "
            "or use the generator directly for batches."
        )
    check_labels(lab, config, name="labels")
    inst = None
    if instances is not None:
        inst = as_label_tensor(instances, name="instances")
        if inst.shape != lab.shape:
            raise ValueError(f"instances: expected the labels' shape {tuple(lab.shape[1:])}, got "
                             f"{tuple(inst.shape[1:])}; pass the instance map of this label map.")
        inst = resize_labels(inst, config.image_size).to(dev)
    lab = resize_labels(lab, config.image_size).to(dev)
    seg = encode_labels(lab, config, instances=inst)

    was_training = model.generator.training
    model.eval()
    try:
        z = None
        if style_image is not None:
            if not config.use_vae or model.encoder is None:
                raise ValueError(
                    "style_image: expected a generator with an image encoder (use_vae=True), got one without (the "
                    "official coco/ade20k/cityscapes models are trained without one); train a model with "
                    "use_vae=True to render in the style of an example image, or drop style_image."
                )
            z = encode_style(model.encoder, style_image, seed=seed if sample_style else None, device=dev)
        elif config.use_vae:
            gen = torch.Generator().manual_seed(seed)
            z = torch.randn(1, config.z_dim, generator=gen).to(dev)
        out = model.generator(seg, z=z)
    finally:
        model.generator.train(was_training)
    tensor = ((out.float() + 1) / 2).clamp(0, 1).cpu()
    from ..image import to_pil

    return RenderResult(image=to_pil(tensor), tensor=tensor, labels=lab[0].cpu().numpy(), config=config,
                        style_code=None if z is None else z.detach().cpu())


def encode_style(encoder: ConvEncoder, style_image: Any, *, seed: int | None = None,
                 device: torch.device | None = None) -> torch.Tensor:
    """Style code (1, z_dim) of an example image: the mean ``mu``, or a sample when ``seed`` is given."""
    from ..image import to_tensor

    dev = device if device is not None else next(encoder.parameters()).device
    img = to_tensor(style_image, name="style_image", device=dev) * 2 - 1
    mu, logvar = encoder(img)
    if seed is None:
        return mu
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn(mu.shape, generator=gen).to(mu.device)
    return mu + torch.exp(0.5 * logvar) * eps


def render_and_restyle(
    labels: LabelsLike,
    style_photo: Any,
    *,
    checkpoint: str | os.PathLike | SPADEModel | SPADEGenerator,
    preset: SPADEConfig | str | None = None,
    style_mask: Any = None,
    style_image: Any = None,
    instances: LabelsLike | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    transfer_kwargs: dict[str, Any] | None = None,
) -> RestyleResult:
    """One call from a label map to the final photo: render with SPADE, then restyle it with
    :func:`photostyle.transfer` so that it takes the look of ``style_photo``.

    The label map (at the rendered size) is the content mask; ``style_mask`` is the label map of
    ``style_photo`` with the same ids (an integer array (H, W), a colour-coded mask or a path, as
    :func:`photostyle.transfer` takes). Without ``style_mask`` the transfer runs without masks.

    Parameters
    ----------
    labels, checkpoint, preset, style_image, instances, seed, device
        As for :func:`render` (``device`` is passed on to the transfer too, unless ``transfer_kwargs``
        names one).
    style_photo
        The reference photo whose look the result takes.
    transfer_kwargs
        Extra keyword arguments for :func:`photostyle.transfer` (e.g. ``preset="lite"``, ``size=512``,
        ``num_steps=200``, ``weights=...``).
    """
    from ..transfer import transfer as transfer_fn

    kwargs = dict(transfer_kwargs or {})
    for forbidden in ("content_mask", "style_mask"):
        if forbidden in kwargs:
            raise ValueError(f"transfer_kwargs: expected no {forbidden} (render_and_restyle sets the masks: the "
                             f"rendered labels and its style_mask=), got one; drop it, and pass a style mask as "
                             "render_and_restyle's style_mask=.")
    rendered = render(labels, checkpoint=checkpoint, preset=preset, style_image=style_image,
                      instances=instances, seed=seed, device=device)
    if device is not None and "device" not in kwargs:
        kwargs["device"] = device
    if style_mask is not None:
        kwargs["content_mask"] = rendered.labels
        kwargs["style_mask"] = style_mask
    result = transfer_fn(rendered.tensor, style_photo, **kwargs)
    return RestyleResult(image=result.image, tensor=result.tensor, rendered=rendered, transfer=result)
