"""Quality of the automatic masks on the 12 DPST pairs in ../shared/data/dpst.

For every pair: ``auto_segment(content, style)`` at a modest size, then
- ``IoU content``: mean IoU of the automatic content labels against the hand-made content mask after the
  best one-to-one label matching (Hungarian, scipy.optimize.linear_sum_assignment); hand labels
  covering < 1 % of the image (anti-aliasing debris such as the grey between black and white) are
  ignored, pixels included; a hand label left without a partner counts as IoU 0.
- ``IoU style``: the agreement of content and style labels: the style's automatic labels scored against
  the style's hand mask *with the matching found on the content* (auto id -> hand colour). High only
  when the automatic regions correspond across the pair the way the hand-painted ones do.
- ``routing``: :func:`segmentation.routing_agreement` against the hand masks: how much of the style
  reaches the right place of the content through the masks, as the masked style loss routes it (1: as
  the hand masks route it; a close-up with one hand region scores 1 for any masks that keep it one).
  This, not the IoU, is what a transfer with the masks depends on.
- ``matched`` (semantic): the share of the two photos in classes matched across them, the trust that
  ``auto_segment``'s ``min_matched`` thresholds (below it: one region each, with a warning).
- ``k`` chosen by the method (largest Ward merge-cost jump), the number of hand labels, and the time.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_segmentation.py [--size 320] [--encoder] [--k hand]

``--method semantic`` runs the ADE20K segmentation network instead (classes matched by name and
family; the model from ``--model``, ``$PHOTOSTYLE_SEG_MODEL``, the torch hub cache, or
../shared/models); its time per photo is the mean of the pair's time over two photos, on the CPU with
one thread (``--size 700`` for the 700 px figure).

``--encoder`` adds the genuine VGG-19 features up to conv3_1 from ../shared/weights (loaded here into
a small stand-in encoder so that this benchmark needs nothing from photostyle). ``--k hand`` gives the
method the number of hand labels (an oracle k) to separate the choice of k from the segmentation.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from photostyle.segmentation import (  # noqa: E402
    auto_segment, label_iou, load_label_map, resize_labels, routing_agreement)

SHARED = ROOT.parent / "shared"
DPST = SHARED / "data" / "dpst"
WEIGHTS = SHARED / "weights" / "vgg19_normalised_conv3_1.pth"
PAIRS = (2, 4, 9, 13, 15, 20, 29, 30, 31, 44, 45, 58)
MIN_SHARE = 0.01


def small_vgg():
    """conv1_1 .. conv3_1 of the normalised VGG-19 from ../shared, returning relu1_1, relu2_1, relu3_1."""
    import torch
    from torch import nn

    layers = nn.Sequential(
        nn.Conv2d(3, 3, 1), nn.ReflectionPad2d(1), nn.Conv2d(3, 64, 3), nn.ReLU(),
        nn.ReflectionPad2d(1), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.ReflectionPad2d(1), nn.Conv2d(64, 128, 3), nn.ReLU(),
        nn.ReflectionPad2d(1), nn.Conv2d(128, 128, 3), nn.ReLU(), nn.MaxPool2d(2, 2, ceil_mode=True),
        nn.ReflectionPad2d(1), nn.Conv2d(128, 256, 3), nn.ReLU(),
    )
    state = torch.load(WEIGHTS, map_location="cpu", weights_only=True)
    layers.load_state_dict({k: v for k, v in state.items() if int(k.split(".")[0]) < len(layers)})
    layers.eval()
    taps = {3: "relu1_1", 10: "relu2_1", 17: "relu3_1"}

    def encoder(x):
        out = {}
        for i, layer in enumerate(layers):
            x = layer(x)
            if i in taps:
                out[taps[i]] = x
        return out

    return encoder


def load_rgb(path: Path, long_side: int) -> np.ndarray:
    img = Image.open(path).convert("RGB")
    scale = long_side / max(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    return np.asarray(img)


def hand_labels(path: Path, shape) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny debris labels are expected here and ignored below
        return resize_labels(load_label_map(path), shape)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=320, help="long side of the images (pixels)")
    ap.add_argument("--encoder", action="store_true", help="add VGG-19 features (../shared weights)")
    ap.add_argument("--k", default="auto", help="'auto' (Ward merge-cost jump), 'hand' (oracle) or an integer")
    ap.add_argument("--pairs", default=",".join(map(str, PAIRS)))
    ap.add_argument("--method", default="cluster", choices=("cluster", "semantic"))
    ap.add_argument("--model", default=None, help="semantic: the .tflite file (default: env, cache, ../shared)")
    ap.add_argument("--no-refine", action="store_true", help="semantic: skip the guided-filter edge refinement")
    ap.add_argument("--min-matched", type=float, default=None,
                    help="semantic: the trust threshold of auto_segment (0: keep the classes always)")
    args = ap.parse_args(argv)
    if not DPST.is_dir():
        print(f"skipped: DPST pairs not found at {DPST}")
        return 0
    encoder = None
    if args.encoder:
        if not WEIGHTS.is_file():
            print(f"skipped: weights not found at {WEIGHTS}")
            return 0
        encoder = small_vgg()
    kwargs = {"method": args.method}
    if args.method == "cluster":
        kwargs["encoder"] = encoder
    else:
        import torch

        from photostyle.segmentation.semantic import find_segmentation_model, load_segmentation_model

        torch.set_num_threads(1)
        path = args.model or find_segmentation_model() or SHARED / "models" / "deeplabv3_mobilenetv2_ade20k.tflite"
        if not Path(path).is_file():
            print(f"skipped: segmentation model not found at {path}")
            return 0
        kwargs["model"] = load_segmentation_model(path)
        kwargs["refine"] = not args.no_refine
        if args.min_matched is not None:
            kwargs["min_matched"] = args.min_matched
    print(f"auto_segment(method={args.method!r}) on DPST pairs, long side {args.size}px, k={args.k}, "
          f"encoder={'vgg conv1-3' if encoder else 'none'}")
    print(f"{'pair':>4} {'k':>2} {'hand':>4} {'IoU content':>11} {'IoU style':>9} {'routing':>7} {'matched':>7} {'time s':>6}  names")
    rows = []
    for i in (int(p) for p in args.pairs.split(",")):
        content = load_rgb(DPST / "input" / f"in{i}.png", args.size)
        style = load_rgb(DPST / "style" / f"tar{i}.png", args.size)
        hand_c = hand_labels(DPST / "segmentation" / f"in{i}.png", content.shape[:2])
        hand_s = hand_labels(DPST / "segmentation" / f"tar{i}.png", style.shape[:2])
        ids, counts = np.unique(hand_c, return_counts=True)
        n_hand = int((counts / hand_c.size >= MIN_SHARE).sum())
        k = None if args.k == "auto" else (n_hand if args.k == "hand" else int(args.k))
        t0 = time.perf_counter()
        auto = auto_segment(content, style, k=k, **kwargs)
        dt = time.perf_counter() - t0
        c = label_iou(auto.content_labels, hand_c, min_share=MIN_SHARE)
        s = label_iou(auto.style_labels, hand_s, min_share=MIN_SHARE, mapping=c.mapping)
        r = routing_agreement(auto.content_labels, auto.style_labels, hand_c, hand_s)
        rows.append((c.mean_iou, s.mean_iou, r, dt))
        names = " ".join(f"{j}:{n}" for j, n in auto.names.items())
        matched = "" if auto.matched_share is None else f"{auto.matched_share:.2f}"
        print(f"{i:>4} {auto.k:>2} {n_hand:>4} {c.mean_iou:>11.3f} {s.mean_iou:>9.3f} {r:>7.3f} {matched:>7} {dt:>6.1f}  "
              f"{names}")
    arr = np.array(rows)
    print(f"{'mean':>4} {'':>2} {'':>4} {arr[:, 0].mean():>11.3f} {arr[:, 1].mean():>9.3f} {arr[:, 2].mean():>7.3f} "
          f"{arr[:, 3].sum():>6.1f} (total)")
    print(f"time per photo: {arr[:, 3].mean() / 2:.2f} s (mean over {len(rows)} pairs, two photos each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
