"""Seconds per SPADE training step on this machine (the cost of ``photostyle train-spade``).

    python benchmarks/bench_spade_train.py                          # 64 px, ngf 64, batch 4, 1 thread
    python benchmarks/bench_spade_train.py --sizes 64 128 --threads 2 --vae

One step is a generator update (SPADE generator, multi-scale discriminator on fake and real, hinge
GAN + feature matching + VGG-19 perceptual loss relu1_1 … relu5_1) and a discriminator update, as in
``train_spade``. The VGG-19 has random weights in the real "normalised" layout (tests/_vgg_files.py):
its cost does not depend on the values. Each row: the mean and spread of ``--steps`` timed steps
after one warm-up step, and the sizes of the checkpoint files: the generator alone (the default)
and the full state (``save_full_state=True``: plus the discriminator and both Adam states). Not a test:
nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def _row(size: int, args, vgg_path: Path | None) -> dict:
    from photostyle.spade import SPADEConfig, SyntheticLabelDataset, train_spade

    config = SPADEConfig(preset="custom", label_nc=args.label_nc, contain_dontcare=False, no_instance=True,
                         crop_size=size, ngf=args.ngf, use_vae=args.vae)
    data = SyntheticLabelDataset(max(8, args.batch_size), size=size, num_labels=args.label_nc, seed=0)
    stamps: list[float] = []

    def tick(step, losses):
        stamps.append(time.perf_counter())

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        result = train_spade(data, config=config, steps=args.steps + 1, batch_size=args.batch_size,
                             vgg_encoder=None if vgg_path is None else "auto", vgg_weights=vgg_path,
                             ndf=args.ndf, progress=False, sample_every=None, save_every=None,
                             callback=tick, device=args.device, out_dir=out, save_full_state=True)
        per_step = [b - a for a, b in zip(stamps[:-1], stamps[1:])]  # the first step is the warm-up
        first = stamps[0] - t0
        files = {p.name: p.stat().st_size / 2**20 for p in out.glob("*.pth")}
        slim_mb = sum(v for k, v in files.items() if k in ("latest_net_G.pth", "latest_net_E.pth"))
        full_mb = sum(files.values())
        g_params = sum(p.numel() for p in result.model.generator.parameters())
        d_params = sum(p.numel() for p in result.discriminator.parameters())
    return {"size": size, "mean": statistics.mean(per_step),
            "std": statistics.stdev(per_step) if len(per_step) > 1 else 0.0, "first": first,
            "g_params": g_params, "d_params": d_params, "slim_mb": slim_mb, "full_mb": full_mb}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64], help="output widths (default 64)")
    parser.add_argument("--ngf", type=int, default=64, help="generator width (default 64, as train-spade)")
    parser.add_argument("--ndf", type=int, default=64, help="discriminator width (default 64)")
    parser.add_argument("--label-nc", type=int, default=8, help="classes (default 8)")
    parser.add_argument("--batch-size", type=int, default=4, help="pairs per step (default 4, as train-spade)")
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up (default 2)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--vae", action="store_true")
    parser.add_argument("--no-vgg", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        vgg_path = None
        if not args.no_vgg:
            from _vgg_files import write_normalised_vgg19

            vgg_path = write_normalised_vgg19(Path(tmp) / "vgg19_random_normalised.pth", up_to="conv5_1")
        rows = [_row(size, args, vgg_path) for size in args.sizes]
    print(f"SPADE training step, torch {torch.__version__}, {args.device}, {args.threads} thread(s), "
          f"{os.cpu_count()} CPU(s); ngf {args.ngf}, ndf {args.ndf}, batch {args.batch_size}, "
          f"{'VAE, ' if args.vae else ''}{'no VGG' if args.no_vgg else 'VGG loss relu1_1..relu5_1'}; "
          f"mean of {args.steps} step(s) after 1 warm-up")
    head = (f"{'size':>5} {'s / step':>14} {'warm-up s':>10} {'G params':>11} {'D params':>11} "
            f"{'G-only ckpt MB':>15} {'full-state MB':>14}")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['size']:>5} {r['mean']:>7.2f} ± {r['std']:<4.2f} {r['first']:>10.2f} {r['g_params']:>11,} "
              f"{r['d_params']:>11,} {r['slim_mb']:>15.1f} {r['full_mb']:>14.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
