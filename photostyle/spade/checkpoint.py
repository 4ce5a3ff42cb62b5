"""Reading and writing checkpoints in the official NVlabs/SPADE layout.

A checkpoint file is a plain ``state_dict`` saved with ``torch.save`` (``latest_net_G.pth``,
``latest_net_E.pth``, ``latest_net_D.pth``). The official files are not bundled or downloaded
(their licence is non-commercial): :func:`load_model` loads a file the user gives. Models trained
with :func:`photostyle.spade.train_spade` are saved in a folder with the same file names plus
``spade_config.json`` (the :class:`SPADEConfig`), so that they load without naming a preset.

What a checkpoint holds is the user's choice: by default the generator alone (and, for VAE models,
the image encoder it needs for style-guided rendering), which is all that rendering uses. The
discriminator (``latest_net_D.pth``) and the optimiser states (``latest_train_state.pth``: both Adam
states, the step reached and the discriminator's shape) are written only on request
(``save_full_state=True`` / ``train-spade --save-full-state``); they are what resuming a GAN exactly
needs, and they cost about three times the generator's size again.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .config import PRESETS, SPADEConfig, get_config, preset_for_semantic_nc
from .discriminator import MultiscaleDiscriminator
from .encoder import ConvEncoder
from .generator import SPADEGenerator

__all__ = ["SPADEModel", "load_model", "load_generator", "read_state_dict", "save_state_dict",
           "save_checkpoint", "read_train_state", "config_from_state_dict", "CONFIG_FILE", "TRAIN_STATE_FILE"]

CONFIG_FILE = "spade_config.json"
G_FILE, E_FILE, D_FILE = "latest_net_G.pth", "latest_net_E.pth", "latest_net_D.pth"
#: Optimiser states and step of a full training checkpoint (``save_full_state=True``).
TRAIN_STATE_FILE = "latest_train_state.pth"


@dataclass
class SPADEModel:
    """A loaded generator with its config and, for VAE models, the image encoder (else None)."""

    generator: SPADEGenerator
    config: SPADEConfig
    encoder: ConvEncoder | None = None

    def to(self, device: torch.device | str) -> "SPADEModel":
        self.generator.to(device)
        if self.encoder is not None:
            self.encoder.to(device)
        return self

    def eval(self) -> "SPADEModel":
        self.generator.eval()
        if self.encoder is not None:
            self.encoder.eval()
        return self


def read_state_dict(path: str | os.PathLike, *, name: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Load a ``state_dict`` file safely (``weights_only=True``) onto the CPU, with clear errors."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{name}: expected a latest_net_G.pth file, got '{path}', which does not exist; "
                                "give the path of one.")
    if path.is_dir():
        raise ValueError(f"{name}: expected a checkpoint file, got the directory '{path}' without {G_FILE}; "
                         "give the checkpoint file.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises many types on bad files: RuntimeError,
        # EOFError, UnpicklingError, BadZipFile, struct.error, AssertionError, ... (found by fuzzing)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = reason.split(". ")[0].rstrip(".")[:120]
        raise ValueError(
            f"{name}: cannot read '{path}' as a PyTorch checkpoint ({reason}); the file is truncated "
            "or not a checkpoint: download it again or give the latest_net_G.pth of an NVlabs/SPADE model."
        ) from exc
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(
            f"{name}: expected a state_dict of tensors, got a {type(obj).__name__} in '{path}'; give a "
            "latest_net_G.pth saved by NVlabs/SPADE or photostyle.spade."
        )
    # Checkpoints saved from nn.DataParallel carry a "module." prefix.
    if all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    return obj


def save_state_dict(module: nn.Module, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """``torch.save(module.state_dict())`` on the CPU, atomically (temporary file, then rename)."""
    from ..image import atomic_write_path

    state = {k: v.detach().cpu() for k, v in module.state_dict().items()}
    path = Path(path)
    with atomic_write_path(path, overwrite=overwrite) as tmp:
        torch.save(state, tmp)
    return path


def save_checkpoint(directory: str | os.PathLike, *, generator: SPADEGenerator,
                    encoder: ConvEncoder | None = None, discriminator: MultiscaleDiscriminator | None = None,
                    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                    train_state: Mapping[str, Any] | None = None,
                    prefix: str = "latest", overwrite: bool = True) -> Path:
    """Write a checkpoint folder: ``{prefix}_net_G.pth`` and ``spade_config.json``, plus what is given.

    Parameters
    ----------
    directory
        The folder (created if missing).
    generator
        Always written (``{prefix}_net_G.pth``, a plain ``state_dict`` in the official layout).
    encoder
        The VAE image encoder (``{prefix}_net_E.pth``), if any: rendering a VAE model needs it.
    discriminator
        Written to ``{prefix}_net_D.pth`` only when given (resuming training needs it; rendering does not).
    optimizers
        Optimiser states to keep for resuming, e.g. ``{"G": opt_g, "D": opt_d}``: written with
        ``train_state`` into ``{prefix}_train_state.pth`` only when given.
    train_state
        Extra plain values for that file (the step reached, the discriminator's shape).
    prefix
        File name prefix ("latest" as in NVlabs/SPADE).
    overwrite
        Replace existing files (each is written atomically).
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    save_state_dict(generator, directory / f"{prefix}_net_G.pth", overwrite=overwrite)
    if encoder is not None:
        save_state_dict(encoder, directory / f"{prefix}_net_E.pth", overwrite=overwrite)
    if discriminator is not None:
        save_state_dict(discriminator, directory / f"{prefix}_net_D.pth", overwrite=overwrite)
    from ..image import atomic_write_path

    if optimizers is not None or train_state is not None:
        state: dict[str, Any] = dict(train_state or {})
        state["optimizers"] = {name: _cpu(opt.state_dict()) for name, opt in (optimizers or {}).items()}
        with atomic_write_path(directory / f"{prefix}_train_state.pth", overwrite=overwrite) as tmp:
            torch.save(state, tmp)
    with atomic_write_path(directory / CONFIG_FILE, overwrite=True) as tmp:
        tmp.write_text(generator.config.to_json() + "\n")
    return directory


def _cpu(obj: Any) -> Any:
    """An optimiser ``state_dict`` with every tensor moved to the CPU (so it loads anywhere)."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def read_train_state(path: str | os.PathLike) -> dict[str, Any]:
    """Read a ``latest_train_state.pth`` written by :func:`save_checkpoint` (safely: ``weights_only``).

    Returns a dict with ``"optimizers"`` (name -> optimiser ``state_dict``) and the plain values saved
    with it (``"step"``, ``"ndf"``, ``"n_layers_D"``, ``"num_D"`` when written by ``train_spade``).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is truncated, or not a training state written by photostyle.spade.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training state: expected a file written with save_full_state=True, got '{path}', "
                                "which does not exist; train with save_full_state=True to resume exactly.")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for bad files
        raise ValueError(
            f"training state: cannot read '{path}' ({type(exc).__name__}); the file is truncated or not a "
            "training state: delete it to resume from the networks alone."
        ) from exc
    if not isinstance(obj, dict) or not isinstance(obj.get("optimizers"), dict):
        raise ValueError(
            f"training state: expected a training state written by photostyle.spade (with an 'optimizers' entry), "
            f"got a {type(obj).__name__} without one in '{path}'; delete it to resume from the networks alone."
        )
    return obj


def _shape(state: dict[str, torch.Tensor], key: str) -> list[int] | None:
    return list(state[key].shape) if key in state else None


def config_from_state_dict(state: dict[str, torch.Tensor], *, preset: SPADEConfig | str | None = None) -> SPADEConfig:
    """Work out a :class:`SPADEConfig` for a generator ``state_dict``, checking it against ``preset``.

    With a preset, its shapes must match the file (else ValueError naming the preset that fits).
    Without one, the preset is recognised from ``fc.weight`` (184 → coco, 151 → ade20k, 36 → cityscapes).
    """
    fc = state.get("fc.weight")
    conv_img = state.get("conv_img.weight")
    if fc is None or conv_img is None or "head_0.conv_0.weight_orig" not in state:
        raise ValueError(
            "checkpoint: expected a SPADE generator state_dict (with fc.weight, head_0.conv_0.weight_orig and "
            "conv_img.weight), got one without; give a latest_net_G.pth (not the _D or _E file)."
        )
    use_vae = fc.ndim == 2
    semantic_nc = int(state["head_0.norm_0.mlp_shared.0.weight"].shape[1])
    ngf = int(state["head_0.conv_0.weight_orig"].shape[0]) // 16
    fits = preset_for_semantic_nc(semantic_nc)
    if preset is None:
        if fits is None or use_vae:
            raise ValueError(
                f"checkpoint: expected a generator of a built-in preset ({', '.join(PRESETS)}), got fc.weight "
                f"{list(fc.shape)} (input channels {semantic_nc}); pass preset= one of {', '.join(PRESETS)} or a "
                f"SPADEConfig, or keep the {CONFIG_FILE} written by train_spade beside the file."
            )
        preset = fits
    config = get_config(preset)
    expected = [16 * config.ngf, config.semantic_nc, 3, 3] if not config.use_vae else \
        [16 * config.ngf * config.latent_size[0] * config.latent_size[1], config.z_dim]
    if list(fc.shape) != expected:
        if fits is not None and not use_vae:
            hint = f"it fits preset '{fits}': pass preset='{fits}'"
        else:
            hint = (f"it fits no built-in preset (input channels {semantic_nc}, ngf {ngf}, "
                    f"{'VAE' if use_vae else 'no VAE'}): pass the SPADEConfig it was trained with, or no preset "
                    f"when its {CONFIG_FILE} sits beside it")
        raise ValueError(
            f"checkpoint: expected fc.weight {expected} for preset '{config.preset}', got {list(fc.shape)}; {hint}."
        )
    return config


def _load_strict(module: nn.Module, state: dict[str, torch.Tensor], *, what: str, path: Path,
                 config: SPADEConfig) -> None:
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {list(state[k].shape)} vs {list(v.shape)}" for k, v in own.items()
             if k in state and state[k].shape != v.shape]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s) e.g. {missing[:3]}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s) e.g. {unexpected[:3]}")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatch(es) e.g. {wrong[:2]} (file vs model)")
        raise ValueError(
            f"{what}: expected the networks of preset '{config.preset}', got '{path}' with "
            + "; ".join(parts) + "; check the preset (or SPADEConfig) the file was trained with."
        )
    module.load_state_dict(state, strict=True)


def _resolve_paths(checkpoint: Path) -> tuple[Path, Path | None, Path | None]:
    """(generator file, encoder file or None, config json or None) for a file or a folder."""
    if checkpoint.is_dir():
        g = checkpoint / G_FILE
        if not g.exists():
            raise FileNotFoundError(f"checkpoint: expected a folder holding {G_FILE}, got '{checkpoint}' without "
                                    "one; give the checkpoint file or its folder.")
    else:
        g = checkpoint
    e = None
    if g.name.endswith("_net_G.pth"):
        cand = g.with_name(g.name[: -len("_net_G.pth")] + "_net_E.pth")
        e = cand if cand.exists() else None
    cfg = g.parent / CONFIG_FILE
    return g, e, cfg if cfg.exists() else None


def load_model(checkpoint: str | os.PathLike, *, preset: SPADEConfig | str | None = None,
               device: torch.device | str = "cpu") -> SPADEModel:
    """Load a SPADE generator (and its encoder, if there is one) in eval mode.

    Parameters
    ----------
    checkpoint
        An official ``latest_net_G.pth`` (coco, ade20k, cityscapes), or a folder / file written by
        :func:`photostyle.spade.train_spade` (``latest_net_E.pth`` beside it is loaded too).
    preset
        "coco", "ade20k", "cityscapes" or a :class:`SPADEConfig`. None: read ``spade_config.json``
        beside the file, else recognise the preset from the shape of ``fc.weight``.
    device
        Where to put the networks.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        The file is truncated or not a checkpoint, or it belongs to another preset (the message says
        which preset its ``fc.weight`` fits).
    """
    g_path, e_path, cfg_path = _resolve_paths(Path(checkpoint))
    state = read_state_dict(g_path)
    if preset is None and cfg_path is not None:
        try:
            preset = SPADEConfig.from_dict(json.loads(cfg_path.read_text()))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"checkpoint: cannot read '{cfg_path}' ({exc}); delete it or pass preset=.") from exc
    config = config_from_state_dict(state, preset=preset)
    generator = SPADEGenerator(config)
    _load_strict(generator, state, what="generator checkpoint", path=g_path, config=config)
    encoder = None
    if config.use_vae and e_path is not None:
        encoder = ConvEncoder.from_config(config)
        _load_strict(encoder, read_state_dict(e_path, name="encoder checkpoint"), what="encoder checkpoint",
                     path=e_path, config=config)
    return SPADEModel(generator=generator, config=config, encoder=encoder).to(device).eval()


def load_generator(checkpoint: str | os.PathLike, *, preset: SPADEConfig | str | None = None,
                   device: torch.device | str = "cpu") -> SPADEGenerator:
    """Just the generator of :func:`load_model` (eval mode)."""
    return load_model(checkpoint, preset=preset, device=device).generator
