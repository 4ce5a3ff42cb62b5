"""The fast preset against the paper's schedule: time, memory, work and quality. Not a test.

    .venv/bin/python benchmarks/bench_fast.py                          # fast preset on the 12 pairs, 12 MP case
    .venv/bin/python benchmarks/bench_fast.py --pairs 9 --paper-pairs 9 # + Luan et al.'s 2 x 1000 (~2.3 h a pair)
    python benchmarks/bench_fast.py --device cuda --pairs --paper-pairs 4 --no-12mp --save out/  # on a GPU (~90 s)

Each run is its own process (so that its peak memory is its own) and measures, in that process, one
VGG-19 forward + backward at 700 px of the same pair (the unit of the targets), before and after the run
(the ratio is against their mean; the ratios against each are shown beside it): wall time per phase
(setup, each level, upsampling), total time as a multiple of that unit, the VGG work the schedule asks
for (iterations x pixels, in 700 px passes), peak RSS, and the three quality measures of the result
against the paper's published one at 350 px (see bench_quality.py). The 12 MP case upscales pair 30 to
4000 x 3000 (bicubic; masks nearest) and delivers the result at that size. ``--repeat N`` runs each case N
times and adds the median ratio: one run's ratio on a shared machine is worth about +-30 %.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _dpst  # noqa: E402


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _vgg_unit(encoder, shape, device, dtype=None) -> float:
    """One VGG-19 forward + backward at ``shape``: the network's compute copy in ``dtype`` (float32: the
    channels-last copy that transfer() runs), or the module itself (``dtype=None``)."""
    import torch

    x = torch.rand(1, 3, *shape, requires_grad=True, device=device)
    times = []
    for _ in range(6):  # the best of five after a warm-up: a shared core's speed moves by up to 2x
        _sync(device)
        t0 = time.perf_counter()
        feats = encoder(x) if dtype is None else encoder(x, compute_dtype=dtype, return_dtype=dtype)
        torch.autograd.backward(list(feats.values()), [torch.ones_like(v) for v in feats.values()])
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times[1:])


def run_child(pair: int, preset: str, output: str, threads: int, device: str = "cpu",
              save: Path | None = None, precision: str | None = None) -> dict:
    import numpy as np
    import torch
    from PIL import Image

    from photostyle import transfer
    from photostyle.image import long_side_shape, to_tensor
    from photostyle.optimize import level_shapes

    from photostyle import reuse_freed_memory

    torch.set_num_threads(threads)
    reuse_freed_memory()  # as the photostyle command does
    dev = torch.device(device)
    if dev.type == "cuda":  # full float32 convolutions, as on the CPU (cuDNN's default is TF32)
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    encoder = _dpst.metric_encoder()
    p = _dpst.paths(pair)
    content, style = p["content"], p["style"]
    cmask, smask = p["content_mask"], p["style_mask"]
    full = tuple(to_tensor(content).shape[-2:])
    if output == "12mp":
        shape = (3000, 4000) if full[1] >= full[0] else (4000, 3000)
        content = np.asarray(Image.open(content).convert("RGB").resize(shape[::-1], Image.BICUBIC))
        cmask = np.asarray(Image.open(cmask).convert("RGB").resize(shape[::-1], Image.NEAREST))
        full = shape
    unit_shape = long_side_shape(full, 700)
    encoder = encoder.to(dev)
    from photostyle.encoders import native_low_precision
    from photostyle.presets import PRESETS

    chosen = precision or PRESETS[preset].precision
    low = {"auto": native_low_precision(dev), "bfloat16": torch.bfloat16}.get(chosen)

    def units() -> tuple[float, float]:
        """The unit in float32 and in the run's precision (the same number where that is float32)."""
        f32 = _vgg_unit(encoder, unit_shape, dev, torch.float32)
        return f32, (_vgg_unit(encoder, unit_shape, dev, low) if low is not None else f32)

    unit, unit_low = units()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = transfer(content, style, content_mask=cmask, style_mask=smask, preset=preset, encoder=encoder,
                          progress=False, output_size="full", device=dev, precision=precision)
    _sync(dev)
    seconds = time.perf_counter() - t0
    # The unit again after the run: a shared core's speed drifts within minutes, so the run is compared with
    # the mean of the unit measured on either side of it (and the spread of the two is reported).
    unit_after, unit_low_after = units()
    encoder = encoder.cpu()
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        result.save(save / f"{preset}_{pair}_{output}.png", overwrite=True)
    work_shape = tuple(result.stages["best_local_affine"].shape[-2:])
    shapes = level_shapes(work_shape, result.preset.levels)
    passes = sum(lv.num_steps * h * w for lv, (h, w) in zip(result.preset.levels, shapes))
    passes /= unit_shape[0] * unit_shape[1]
    iterations = {lv.name: sum(1 for h in result.history if h["stage"] == lv.name) for lv in result.preset.levels}
    done = sum(iterations[lv.name] * h * w for lv, (h, w) in zip(result.preset.levels, shapes))
    judge = _dpst.Judge.build(pair, 350)
    quality = judge.score(result.tensor.detach().cpu(), encoder)
    paper = judge.score(judge.paper, encoder)
    return {"pair": pair, "preset": preset, "output": output, "full": list(full), "work": list(work_shape),
            "seconds": seconds, "unit": (unit + unit_after) / 2, "unit_low": (unit_low + unit_low_after) / 2,
            "units": [unit, unit_after], "units_low": [unit_low, unit_low_after], "precision": result.network.get("precision"),
            "timings": result.timings, "iterations": iterations,
            "passes_scheduled": passes, "passes_done": done / (unit_shape[0] * unit_shape[1]),
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "device": str(dev),
            "gpu_peak_mb": torch.cuda.max_memory_allocated(dev) / 2**20 if dev.type == "cuda" else 0.0,
            "quality": quality, "paper": paper, "threads": torch.get_num_threads()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="*", default=list(_dpst.PAIRS))
    parser.add_argument("--paper-pairs", type=int, nargs="*", default=[])
    parser.add_argument("--no-12mp", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="append every run's record to this file")
    parser.add_argument("--device", default="cpu", help="cpu or cuda (the unit is then measured on that device)")
    parser.add_argument("--save", type=Path, default=None, help="write each result as <preset>_<pair>_<output>.png here")
    parser.add_argument("--precision", choices=("auto", "float32", "bfloat16"), default=None,
                        help="the network's precision (default: the preset's, 'auto': bfloat16 where native)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run each case this many times (one process each) and add the median ratio: on a "
                             "shared machine one run's ratio moves by up to ~30 %%")
    parser.add_argument("--child", nargs=3, metavar=("PAIR", "PRESET", "OUTPUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat: expected a count >= 1, got {args.repeat}")
    why = _dpst.available()
    if why:
        print(f"benchmark skipped: {why}")
        return 0
    if args.child:
        print(json.dumps(run_child(int(args.child[0]), args.child[1], args.child[2], args.threads, args.device,
                                   args.save, args.precision)))
        return 0
    runs = [(i, "fast", "full") for i in args.pairs] + [(i, "paper", "full") for i in args.paper_pairs]
    if not args.no_12mp:
        runs.append((30, "fast", "12mp"))
    print("| pair | preset | output | work size | time | x one VGG f+b at 700 px (float32) | "
          "x one in the run's precision | VGG work (700 px passes) | "
          "setup / levels / upsample (s) | peak RSS | style distance / paper's | matting energy / paper's | edge SSIM (paper's) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for pair, preset, output in runs:
        ratios = [row for _ in range(args.repeat) if (row := _run_case(args, pair, preset, output)) is not None]
        if args.repeat > 1 and ratios:
            print(f"| {pair} | {preset} | {output} | median of {len(ratios)} | "
                  f"{statistics.median(r[0] for r in ratios):.0f} s | x{statistics.median(r[1] for r in ratios):.1f} | "
                  f"x{statistics.median(r[2] for r in ratios):.1f} | (runs: "
                  + ", ".join(f"x{r[1]:.1f}" for r in ratios) + ") |", flush=True)
    return 0


def _run_case(args, pair: int, preset: str, output: str) -> tuple[float, float, float] | None:
    """One case in its own process: prints its row; returns (seconds, x float32 unit, x run-precision unit)."""
    extra = ["--device", args.device] + (["--save", str(args.save)] if args.save else [])
    extra += ["--precision", args.precision] if args.precision else []
    proc = subprocess.run([sys.executable, __file__, "--child", str(pair), preset, output, "--threads",
                           str(args.threads), *extra], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        print(f"| {pair} | {preset} | {output} | failed: {proc.stderr.strip().splitlines()[-1:]} |", flush=True)
        return None
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    if args.json:
        with open(args.json, "a") as handle:
            handle.write(json.dumps(r) + "\n")
    t = r["timings"]
    levels = " + ".join(f"{t[name]:.0f}" for name in r["iterations"] if name in t)
    q, pq = r["quality"], r["paper"]
    print(f"| {pair} | {preset} | {r['full'][1]}x{r['full'][0]} | {r['work'][1]}x{r['work'][0]} | {r['seconds']:.0f} s | "
          f"x{r['seconds'] / r['unit']:.0f} ({_spread(r['seconds'], r['units'])}) | "
          f"x{r['seconds'] / r['unit_low']:.0f} ({r['precision']}; {_spread(r['seconds'], r['units_low'])}) | {r['passes_done']:.0f} | {t['setup']:.1f} / {levels} / {t['upsample']:.1f} | "
          f"{r['peak_mb']:.0f} MB | {q['style_distance'] / pq['style_distance']:.2f} | "
          f"{q['matting_energy'] / pq['matting_energy']:.2f} | {q['edge_ssim']:.3f} ({pq['edge_ssim']:.3f}) |",
          flush=True)
    return r["seconds"], r["seconds"] / r["unit"], r["seconds"] / r["unit_low"]


def _spread(seconds: float, units: list[float]) -> str:
    """The ratio against the unit measured before and after the run, e.g. 'x38-x41'."""
    low, high = sorted(seconds / u for u in units)
    return f"x{low:.0f}-x{high:.0f}"


if __name__ == "__main__":
    sys.exit(main())
