"""Training data for SPADE: (labels, photo) pairs from synthetic rectangles or from a folder of photos and
label maps.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from .config import SPADEConfig
from .labels import as_label_tensor, resize_labels

__all__ = ["SyntheticLabelDataset", "PairedFolderDataset"]

_DEFAULT_COLORS = ((0.85, 0.15, 0.15), (0.15, 0.75, 0.2), (0.15, 0.3, 0.9), (0.95, 0.85, 0.2),
                   (0.6, 0.2, 0.8), (0.2, 0.8, 0.8), (0.95, 0.55, 0.1), (0.5, 0.5, 0.5))


class SyntheticLabelDataset(Dataset):
    """Random label maps of overlapping rectangles, each label painted in its own flat colour.

    Items are ``(labels (H, W) int64, image (3, H, W) float in [0, 1])``; the same ``seed`` gives the
    same data. Useful to check that a model learns (rendered regions should take their colours).

    Parameters
    ----------
    length
        Number of samples.
    size
        Side (H = W) of the maps, or (H, W).
    num_labels
        Labels 0 … num_labels − 1 (at most 8 unless ``colors`` is given).
    colors
        (num_labels, 3) RGB in [0, 1]; default: distinct saturated colours.
    noise
        Std of Gaussian noise added to the photos (0: flat colours).
    """

    def __init__(self, length: int = 64, *, size: int | tuple[int, int] = 32, num_labels: int = 4,
                 colors: Sequence[Sequence[float]] | None = None, noise: float = 0.0, seed: int = 0,
                 rectangles: tuple[int, int] = (2, 5)):
        h, w = (size, size) if isinstance(size, int) else size
        if colors is None:
            if num_labels > len(_DEFAULT_COLORS):
                raise ValueError(f"num_labels: expected at most {len(_DEFAULT_COLORS)} without colors=, got "
                                 f"{num_labels}; pass colors= with one RGB triple per label.")
            colors = _DEFAULT_COLORS[:num_labels]
        self.colors = torch.tensor(colors, dtype=torch.float32)
        if self.colors.shape != (num_labels, 3):
            raise ValueError(f"colors: expected shape ({num_labels}, 3), got {tuple(self.colors.shape)}; give one "
                             "RGB triple in [0, 1] per label.")
        self.num_labels = num_labels
        rng = np.random.default_rng(seed)
        labels = np.empty((length, h, w), dtype=np.int64)
        for i in range(length):
            lab = np.full((h, w), rng.integers(num_labels), dtype=np.int64)
            for _ in range(rng.integers(rectangles[0], rectangles[1] + 1)):
                y0, x0 = rng.integers(0, h - h // 4), rng.integers(0, w - w // 4)
                y1 = rng.integers(y0 + max(2, h // 8), h + 1)
                x1 = rng.integers(x0 + max(2, w // 8), w + 1)
                lab[y0:y1, x0:x1] = rng.integers(num_labels)
            labels[i] = lab
        self.labels = torch.from_numpy(labels)
        images = self.colors[self.labels].permute(0, 3, 1, 2).contiguous()
        if noise > 0:
            gen = torch.Generator().manual_seed(seed)
            images = (images + noise * torch.randn(images.shape, generator=gen)).clamp(0, 1)
        self.images = images

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.labels[index], self.images[index]


_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
_FOLDER_PAIRS = (("images", "labels"), ("train_img", "train_label"), ("img", "label"))


class PairedFolderDataset(Dataset):
    """(photo, label map) pairs from a folder, matched by file name without suffix.

    Layout: ``root/images/*.jpg`` with ``root/labels/*.png`` (also accepted: SPADE's
    ``train_img``/``train_label`` or ``img``/``label``), and optionally ``root/instances/*.png``.
    Photos are resized to the config's size (antialiased bilinear), labels and instances by nearest
    neighbour; ``flip`` mirrors a pair at random. Items: ``(labels, image)`` or, with instances,
    ``(labels, image, instances)``.
    """

    def __init__(self, root: str | os.PathLike, *, config: SPADEConfig, flip: bool = True,
                 image_dir: str | None = None, label_dir: str | None = None, instance_dir: str | None = None):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"data: expected a folder, got '{root}', which does not exist; check the path.")
        if image_dir is None or label_dir is None:
            for i_dir, l_dir in _FOLDER_PAIRS:
                if (root / i_dir).is_dir() and (root / l_dir).is_dir():
                    image_dir, label_dir = image_dir or i_dir, label_dir or l_dir
                    break
            else:
                raise FileNotFoundError(
                    f"data: expected a folder with an images/ and a labels/ subfolder (photos and label PNGs with "
                    f"matching names), got '{root}' without them; add them (SPADE's train_img/ and train_label/ "
                    "work too)."
                )
        if instance_dir is None and (root / "instances").is_dir():
            instance_dir = "instances"

        def listing(d: str) -> dict[str, Path]:
            return {p.stem: p for p in sorted((root / d).iterdir()) if p.suffix.lower() in _IMAGE_SUFFIXES}

        images, labels = listing(image_dir), listing(label_dir)
        instances = listing(instance_dir) if instance_dir else {}
        names = sorted(set(images) & set(labels))
        if not names:
            raise ValueError(
                f"data: expected photos in '{root / image_dir}' with label maps of the same names in "
                f"'{root / label_dir}', got no such pair; name each label map as its photo (another suffix is fine)."
            )
        unmatched = sorted(set(images) ^ set(labels))
        if unmatched:
            warnings.warn(f"data: {len(unmatched)} file(s) without a partner skipped, e.g. {unmatched[:3]}.",
                          stacklevel=2)
        if instances and not set(names) <= set(instances):
            raise ValueError(f"data: expected an instance map in '{root / instance_dir}' for every pair, got none "
                             f"for e.g. {sorted(set(names) - set(instances))[:3]}; add them, or remove the folder.")
        self.config = config
        self.flip = flip
        self.items = [(images[n], labels[n], instances.get(n)) for n in names]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        from ..image import resize_to, to_tensor

        img_path, lab_path, inst_path = self.items[index]
        size = self.config.image_size
        image = resize_to(to_tensor(img_path, name="photo"), size)[0]
        labels = resize_labels(as_label_tensor(lab_path, name=f"labels '{lab_path.name}'", preset=self.config), size)[0]
        inst = None
        if inst_path is not None:
            inst = resize_labels(as_label_tensor(inst_path, name="instances"), size)[0]
        if self.flip and torch.rand(()) < 0.5:
            image, labels = image.flip(-1), labels.flip(-1)
            inst = inst.flip(-1) if inst is not None else None
        return (labels, image) if inst is None else (labels, image, inst)

