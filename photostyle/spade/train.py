"""Training a SPADE generator on your own (photo, label map) pairs.

The recipe of Park et al. (2019): a multi-scale PatchGAN discriminator on (labels ⊕ image), the
hinge GAN loss, discriminator feature matching (weight 10), a VGG-19 perceptual loss (weight 10,
through :class:`photostyle.encoders.VGG19Encoder`), and with an image encoder (``use_vae``) a KL
term (weight 0.05); Adam with TTUR: G 1e-4, D 4e-4, betas (0, 0.9). Checkpoints are written in the
official layout (``latest_net_G.pth``, with a VAE ``latest_net_E.pth``) plus ``spade_config.json``;
the discriminator (``latest_net_D.pth``) and the optimiser states (``latest_train_state.pth``) only with
``save_full_state=True``. Sample sheets (labels | photo | render) go to ``samples/``.

Cost: every step is a generator and a discriminator update at ``config.image_size``; on a CPU that is
seconds to tens of seconds per step for the presets' widths (ngf 64), so real training wants a GPU.

The losses live in :mod:`photostyle.spade.train_losses`, the datasets in
:mod:`photostyle.spade.train_data`; both are importable from here as before.

>>> from photostyle.spade import SPADEConfig, SyntheticLabelDataset, train_spade
>>> config = SPADEConfig(preset="toy", label_nc=4, contain_dontcare=False, no_instance=True,
...                      crop_size=32, ngf=8, spade_hidden=32)
>>> result = train_spade(SyntheticLabelDataset(64, size=32, num_labels=4), config=config,
...                      steps=300, batch_size=8, vgg_encoder=None, out_dir="runs/toy")  # doctest: +SKIP
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset

from .._checks import check_integer, check_number, got
from .checkpoint import D_FILE, TRAIN_STATE_FILE, SPADEModel, read_state_dict, read_train_state, save_checkpoint
from .config import SPADEConfig, get_config
from .discriminator import MultiscaleDiscriminator
from .encoder import ConvEncoder
from .generator import SPADEGenerator
from .labels import as_label_tensor, check_labels, encode_labels, resize_labels
from .train_data import PairedFolderDataset, SyntheticLabelDataset
from .train_losses import (
    VGG_LAYER_WEIGHTS,
    PerceptualLoss,
    feature_matching_loss,
    hinge_d_loss,
    hinge_g_loss,
    kld_loss,
    make_vgg_encoder,
)

__all__ = [
    "VGG_LAYER_WEIGHTS",
    "hinge_d_loss",
    "hinge_g_loss",
    "feature_matching_loss",
    "kld_loss",
    "PerceptualLoss",
    "make_vgg_encoder",
    "init_weights",
    "SyntheticLabelDataset",
    "PairedFolderDataset",
    "TrainResult",
    "train_spade",
]


def init_weights(module: nn.Module, *, gain: float = 0.02) -> nn.Module:
    """SPADE's initialisation: xavier-normal (gain 0.02) for plain convs/linears, zero biases.

    Spectral-normed layers keep PyTorch's default (as they effectively do in the official code).
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not hasattr(m, "weight_orig"):
            nn.init.xavier_normal_(m.weight, gain=gain)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return module


# ------------------------------------------------------------------------------------------ training
@dataclass
class TrainResult:
    """Outcome of :func:`train_spade`: the trained model (eval mode, on the training device), the
    discriminator, one dict of losses per step, and the output folder (None without ``out_dir``)."""

    model: SPADEModel
    discriminator: MultiscaleDiscriminator
    history: list[dict[str, float]] = field(default_factory=list)
    out_dir: Path | None = None
    seconds: float = 0.0


def _sample_sheet(labels: torch.Tensor, real: torch.Tensor, fake: torch.Tensor, config: SPADEConfig,
                  path: Path) -> None:
    """Rows of (coloured labels | photo | render) for up to 4 samples, written atomically."""
    from PIL import Image

    from ..image import atomic_write_path
    from .palette import colorize

    rows = []
    for i in range(min(4, labels.shape[0])):
        lab = colorize(labels[i].cpu().numpy(), preset=config)
        ph = (real[i].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        fk = (((fake[i].clamp(-1, 1) + 1) / 2).permute(1, 2, 0).detach().cpu().numpy() * 255).round().astype(np.uint8)
        rows.append(np.concatenate([lab, ph, fk], axis=1))
    sheet = np.concatenate(rows, axis=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write_path(path, overwrite=True) as tmp:
        Image.fromarray(sheet).save(tmp, format="PNG")


def _batches(loader: DataLoader):
    while True:
        yielded = False
        for batch in loader:
            yielded = True
            yield batch
        if not yielded:
            raise ValueError("data: expected at least one batch, got none (the dataset is empty or smaller than "
                             "batch_size); add pairs or lower batch_size.")


def train_spade(
    data: str | os.PathLike | Dataset,
    *,
    config: SPADEConfig | str,
    steps: int = 1000,
    batch_size: int = 4,
    out_dir: str | os.PathLike | None = None,
    lr_g: float = 1e-4,
    lr_d: float = 4e-4,
    betas: tuple[float, float] = (0.0, 0.9),
    lambda_feat: float = 10.0,
    lambda_vgg: float = 10.0,
    lambda_kld: float = 0.05,
    vgg_encoder: nn.Module | str | None = "auto",
    vgg_weights: Any = None,
    ndf: int = 64,
    n_layers_D: int = 4,
    num_D: int = 2,
    sample_every: int | None = 500,
    save_every: int | None = 1000,
    resume: bool = False,
    overwrite: bool = False,
    save_full_state: bool | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = True,
    num_workers: int = 0,
    callback: Callable[[int, dict[str, float]], Any] | None = None,
) -> TrainResult:
    """Train a SPADE generator (and, with ``config.use_vae``, its image encoder) on (photo, labels) pairs.

    Parameters
    ----------
    data
        A folder (see :class:`PairedFolderDataset`) or a ``Dataset`` of ``(labels (H, W) int,
        image (3, H, W) in [0, 1][, instances (H, W)])``; items are resized to ``config.image_size``.
    config
        A :class:`SPADEConfig` or preset name; e.g. ``get_config("coco", use_vae=True)`` or a small one
        (``ngf=16``) for quick runs.
    steps
        Generator updates (each followed by one discriminator update).
    batch_size
        Pairs per step (>= 2: the generator's batch norms need more than one value per channel).
    out_dir
        Where checkpoints (``latest_net_G.pth`` …, ``spade_config.json``) and ``samples/`` go; None:
        nothing is written.
    lr_g, lr_d, betas
        Adam settings (TTUR: 1e-4, 4e-4, (0, 0.9)).
    lambda_feat, lambda_vgg, lambda_kld
        Loss weights; 0 disables a term.
    vgg_encoder
        The perceptual loss network: a module returning ``{layer: features}`` for images in [0, 1];
        "auto": :func:`make_vgg_encoder` with ``vgg_weights``; None: no VGG loss.
    ndf, n_layers_D, num_D
        Discriminator width, depth and number of scales.
    sample_every, save_every
        Write a sample sheet / checkpoints every this many steps (and at the end); None: only at the end.
    resume
        Continue from the checkpoints in ``out_dir``: the generator (and encoder) always; the
        discriminator and the optimiser states (and the step count) when the folder holds them, else
        they start afresh, with a warning.
    overwrite
        Allow starting afresh in an ``out_dir`` that already holds checkpoints (they are replaced).
    save_full_state
        False: checkpoints hold the generator (and encoder) alone, all that rendering needs; True: also
        the discriminator and both optimiser states, so that ``resume`` continues exactly (about three
        times the generator's size again). None (default): False, except when resuming a folder
        that holds a discriminator. Saving without them removes a stale ``latest_net_D.pth`` /
        ``latest_train_state.pth`` from ``out_dir``, so a folder never mixes states of different steps.
    seed
        Seeds initialisation, data order and noise.
    device
        "cpu", "cuda", "auto"; asking for CUDA where there is none raises ValueError.
    callback
        Called as ``callback(step, losses)`` after every step; return True to stop.
    """
    from .render import resolve_device

    config = get_config(config)
    for name, value, example in (("steps", steps, 1000), ("ndf", ndf, 64), ("n_layers_D", n_layers_D, 4),
                                 ("num_D", num_D, 2)):
        check_integer(name, value, minimum=1, example=example)
    check_integer("batch_size", batch_size, minimum=2,
                  example="4 (the generator's batch norms need more than one sample)")
    for name, value, example in (("lr_g", lr_g, 1e-4), ("lr_d", lr_d, 4e-4), ("lambda_feat", lambda_feat, 10.0),
                                 ("lambda_vgg", lambda_vgg, 10.0), ("lambda_kld", lambda_kld, 0.05)):
        check_number(name, value, minimum=0.0, example=example)
    dev = resolve_device(device)
    torch.manual_seed(seed)

    dataset = PairedFolderDataset(data, config=config) if isinstance(data, (str, os.PathLike)) else data
    if not isinstance(dataset, Dataset) and not hasattr(dataset, "__getitem__"):
        raise TypeError(f"data: expected a folder path or a torch Dataset, got {got(data)}; pass a folder with "
                        "images/ and labels/.")
    if len(dataset) < batch_size:
        raise ValueError(f"data: expected at least batch_size={batch_size} pairs, got {len(dataset)}; lower "
                         "batch_size or add pairs.")
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=num_workers,
                        generator=torch.Generator().manual_seed(seed))

    generator = init_weights(SPADEGenerator(config)).to(dev)
    encoder = init_weights(ConvEncoder.from_config(config)).to(dev) if config.use_vae else None
    disc = init_weights(MultiscaleDiscriminator(config.semantic_nc + 3, ndf=ndf, n_layers=n_layers_D,
                                                num_D=num_D)).to(dev)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None and out.exists() and not out.is_dir():
        raise ValueError(f"out_dir: expected a folder, got the file '{out}'; give a folder for checkpoints and "
                         "samples.")
    if out is not None and (out / "latest_net_G.pth").exists() and not (resume or overwrite):
        raise FileExistsError(
            f"out_dir: expected a folder without a checkpoint, got '{out}', which holds one; pass resume=True to "
            "continue it, overwrite=True to replace it (CLI: --resume / --overwrite), or choose another folder."
        )
    if save_full_state is not None and not isinstance(save_full_state, bool):
        raise TypeError(f"save_full_state: expected True, False or None, got {got(save_full_state)}.")
    train_state: dict[str, Any] | None = None
    if resume:
        if out is None or not (out / "latest_net_G.pth").exists():
            raise FileNotFoundError(f"resume: expected a latest_net_G.pth in out_dir to continue from, got none in "
                                    f"{str(out)!r}; point out_dir at the run to continue, or drop resume=True.")
        if save_full_state is None:
            save_full_state = (out / D_FILE).exists()
        generator.load_state_dict(read_state_dict(out / "latest_net_G.pth"), strict=True)
        if encoder is not None and (out / "latest_net_E.pth").exists():
            encoder.load_state_dict(read_state_dict(out / "latest_net_E.pth"), strict=True)
        if (out / TRAIN_STATE_FILE).exists():
            train_state = read_train_state(out / TRAIN_STATE_FILE)
            saved = {k: train_state[k] for k in ("ndf", "n_layers_D", "num_D") if k in train_state}
            asked = {"ndf": ndf, "n_layers_D": n_layers_D, "num_D": num_D}
            if any(asked[k] != v for k, v in saved.items()):
                raise ValueError(
                    f"resume: expected the discriminator settings saved in '{out}' ("
                    + ", ".join(f"{k}={v}" for k, v in saved.items()) + "), got "
                    + ", ".join(f"{k}={asked[k]}" for k in saved) + "; pass the saved values to continue it."
                )
        if (out / D_FILE).exists():
            try:
                disc.load_state_dict(read_state_dict(out / D_FILE, name="discriminator checkpoint"), strict=True)
            except RuntimeError as exc:
                raise ValueError(
                    f"resume: expected '{out / D_FILE}' to fit a discriminator with ndf={ndf}, "
                    f"n_layers_D={n_layers_D}, num_D={num_D}, got one of other shapes; pass the values it was "
                    "trained with."
                ) from exc
        else:
            warnings.warn(
                f"resume: '{out}' holds the generator alone; the discriminator and the optimisers start afresh. "
                "Checkpoints saved with save_full_state=True (CLI: --save-full-state) resume exactly.",
                UserWarning, stacklevel=2,
            )
    save_full_state = bool(save_full_state)

    perceptual = None
    if lambda_vgg > 0 and vgg_encoder is not None:
        enc = make_vgg_encoder(vgg_weights) if isinstance(vgg_encoder, str) and vgg_encoder == "auto" else vgg_encoder
        if isinstance(enc, str):
            raise ValueError(f"vgg_encoder: expected 'auto', None or a module, got {got(enc)}.")
        perceptual = PerceptualLoss(enc).to(dev)

    g_params = list(generator.parameters()) + (list(encoder.parameters()) if encoder is not None else [])
    opt_g = torch.optim.Adam(g_params, lr=lr_g, betas=betas)
    opt_d = torch.optim.Adam(disc.parameters(), lr=lr_d, betas=betas)
    start = 0
    if train_state is not None:
        optimizers = train_state["optimizers"]
        for name, opt, lr in (("G", opt_g, lr_g), ("D", opt_d, lr_d)):
            if name not in optimizers:
                continue
            try:
                opt.load_state_dict(optimizers[name])
            except (ValueError, KeyError, TypeError, RuntimeError) as exc:
                raise ValueError(
                    f"resume: the optimiser state '{name}' in '{out / TRAIN_STATE_FILE}' does not fit this model "
                    f"({exc}); delete that file to resume from the networks alone."
                ) from exc
            for group in opt.param_groups:  # this run's settings, not the saved ones
                group["lr"], group["betas"] = lr, betas
        start = int(train_state.get("step", 0))

    def save(step: int) -> None:
        if save_full_state:
            save_checkpoint(out, generator=generator, encoder=encoder, discriminator=disc,
                            optimizers={"G": opt_g, "D": opt_d},
                            train_state={"step": step, "ndf": ndf, "n_layers_D": n_layers_D, "num_D": num_D})
        else:
            save_checkpoint(out, generator=generator, encoder=encoder)
            for stale in (out / D_FILE, out / TRAIN_STATE_FILE):
                stale.unlink(missing_ok=True)
    generator.train()
    disc.train()
    if encoder is not None:
        encoder.train()

    history: list[dict[str, float]] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc="train-spade", unit="step")
    t0 = time.perf_counter()
    batches = _batches(loader)
    last = None
    try:
        step = start
        for step in range(start + 1, start + steps + 1):
            batch = next(batches)
            labels, real = batch[0], batch[1]
            inst = batch[2] if len(batch) > 2 else None
            labels = as_label_tensor(labels).to(dev)
            check_labels(labels, config, name="data")
            if tuple(labels.shape[-2:]) != config.image_size:
                labels = resize_labels(labels, config.image_size)
            real = real.to(dev, torch.float32)
            if tuple(real.shape[-2:]) != config.image_size:
                real = F.interpolate(real, size=config.image_size, mode="bilinear", align_corners=False)
            if inst is not None:
                inst = resize_labels(as_label_tensor(inst).to(dev), config.image_size)
            seg = encode_labels(labels, config, instances=inst)
            real_pm = real * 2 - 1

            # Generator (and encoder) update.
            losses: dict[str, float] = {}
            z = None
            total_g = 0.0
            if encoder is not None:
                mu, logvar = encoder(real_pm)
                z = ConvEncoder.reparameterize(mu, logvar)
                if lambda_kld > 0:
                    kld = kld_loss(mu, logvar) * lambda_kld
                    total_g = total_g + kld
                    losses["KLD"] = float(kld.detach())
            fake = generator(seg, z=z)
            preds = disc(torch.cat([torch.cat([seg, fake], 1), torch.cat([seg, real_pm], 1)], 0))
            pred_fake = [[t[: t.shape[0] // 2] for t in p] for p in preds]
            pred_real = [[t[t.shape[0] // 2:] for t in p] for p in preds]
            g_gan = hinge_g_loss(pred_fake)
            total_g = total_g + g_gan
            losses["G_GAN"] = float(g_gan.detach())
            if lambda_feat > 0:
                feat = feature_matching_loss(pred_fake, pred_real) * lambda_feat
                total_g = total_g + feat
                losses["G_feat"] = float(feat.detach())
            if perceptual is not None:
                vgg = perceptual(fake, real_pm) * lambda_vgg
                total_g = total_g + vgg
                losses["G_VGG"] = float(vgg.detach())
            opt_g.zero_grad(set_to_none=True)
            total_g.backward()
            opt_g.step()

            # Discriminator update on the (detached) fake of this step.
            fake_d = fake.detach()
            preds = disc(torch.cat([torch.cat([seg, fake_d], 1), torch.cat([seg, real_pm], 1)], 0))
            d_fake, d_real = hinge_d_loss([[t[: t.shape[0] // 2] for t in p] for p in preds],
                                          [[t[t.shape[0] // 2:] for t in p] for p in preds])
            opt_d.zero_grad(set_to_none=True)
            (d_fake + d_real).backward()
            opt_d.step()
            losses["D_fake"], losses["D_real"] = float(d_fake.detach()), float(d_real.detach())
            losses["step"] = step
            history.append(losses)
            last = (labels, real, fake_d)

            if bar is not None:
                bar.update(1)
                bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items() if k != "step"}, refresh=False)
            if out is not None and sample_every and step % sample_every == 0:
                _sample_sheet(labels, real, fake_d, config, out / "samples" / f"step_{step:06d}.png")
            if out is not None and save_every and step % save_every == 0:
                save(step)
            if callback is not None and callback(step, losses):
                break
    finally:
        if bar is not None:
            bar.close()
    if out is not None:
        save(step)
        if last is not None:
            _sample_sheet(*last, config, out / "samples" / "final.png")
    generator.eval()
    if encoder is not None:
        encoder.eval()
    disc.eval()
    model = SPADEModel(generator=generator, config=config, encoder=encoder)
    return TrainResult(model=model, discriminator=disc, history=history, out_dir=out,
                       seconds=time.perf_counter() - t0)
