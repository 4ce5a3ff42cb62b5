"""Speed and memory of the core at the paper's size (700 px long side; ``--size``). Prints a table; not a test.

    .venv/bin/python benchmarks/bench_core.py                 # both presets, CPU (or CUDA if present)
    .venv/bin/python benchmarks/bench_core.py --preset lite --steps 5 --device cpu
    .venv/bin/python benchmarks/bench_core.py --preset fast --steps 3     # the paper's layers, VGG in bfloat16 where native

What it measures, on DPST pair 30 from ../shared (content 700 px long side, its masks):
- the matting Laplacian build (best of 3) and its size;
- one L-BFGS iteration of stage 2 (the best of ``--steps`` after a warm-up iteration, as each part is; the
  mean is in the JSON line), split into its parts, each
  forward + backward (best of the repeats):
  VGG (the encoder up to the deepest layer), Gram/mask (content and masked per-label style losses on
  given features), Laplacian (the photorealism term), and the whole iteration inside ``run_lbfgs``;
- L-BFGS's own step once its history is full (the iterations above have only a few curvature pairs;
  from iteration ``history_size`` on, the two-loop recursion reads 2 x 100 vectors of the image's size
  twice a step), and the iteration with it;
- the best-local-affine post-processing;
- peak memory of a process that runs that preset (max RSS on the CPU, max allocated on CUDA).

Every preset runs on the genuine full normalised VGG-19 (``make weights`` puts it in the cache), in the
precision the preset asks for (``fast``: bfloat16 where the CPU has it natively; ``--precision`` overrides);
the "iter / VGG f+b" column is the cost of a whole iteration as a multiple of the bare network's in the
same precision.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


def _sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _timeit(fn, device, repeat):
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return min(times), sum(times) / len(times)


def _two_loop_with_full_history(image, history_size: int, device) -> float:
    """One L-BFGS step's own work once its history is full (after ``history_size`` iterations; the timed
    iterations above have only a few pairs): best of 3, on curvature pairs of the image's size."""
    import torch

    from photostyle._lbfgs import TwoLoopLBFGS

    gen = torch.Generator(device="cpu").manual_seed(0)
    x = torch.zeros_like(image).requires_grad_(True)
    opt = TwoLoopLBFGS(x, history_size=history_size)
    n = x.numel()
    opt._dirs = [torch.randn(n, generator=gen).to(device) for _ in range(history_size)]
    opt._steps = [torch.randn(n, generator=gen).to(device) for _ in range(history_size)]
    opt._ro = [torch.tensor(1.0 / n, device=device) for _ in range(history_size)]
    opt.n_iter, opt._h_diag = history_size + 1, torch.tensor(1.0, device=device)
    opt._d, opt._t, opt._prev_grad = torch.randn(n, generator=gen).to(device), 1.0, torch.zeros(n, device=device)
    grad = torch.randn(image.shape, generator=gen).to(device)

    def closure():
        x.grad = grad.clone()
        return torch.zeros((), device=device)

    return _timeit(lambda: opt.step(closure), device, 3)[0]


def run_one(preset_name: str, steps: int, device_name: str, precision: str | None = None, size: int = 700) -> dict:
    import torch

    from photostyle.encoders import VGG19Encoder, native_low_precision
    from photostyle.image import resize_long_side, to_tensor
    from photostyle.matting import PhotorealismLoss, matting_laplacian
    from photostyle.smoothing import best_local_affine
    from photostyle._checks import resolve_device
    from photostyle.losses import StyleObjective
    from photostyle.masks import load_mask, prepare_masks
    from photostyle.optimize import run_lbfgs
    from photostyle.presets import PRESETS

    from photostyle import reuse_freed_memory

    reuse_freed_memory()  # as the photostyle command does
    device = resolve_device(device_name)
    preset = PRESETS[preset_name]
    pair = SHARED / "data" / "dpst"
    content = resize_long_side(to_tensor(pair / "input" / "in30.png"), size).to(device)
    style = resize_long_side(to_tensor(pair / "style" / "tar30.png"), size).to(device)
    cl = load_mask(pair / "segmentation" / "in30.png", name="content_mask")
    sl = load_mask(pair / "segmentation" / "tar30.png", name="style_mask")
    cm, sm, present, ids = prepare_masks(cl, sl, tuple(content.shape[-2:]), tuple(style.shape[-2:]))

    layers = preset.layers
    encoder = VGG19Encoder(layers, weights="normalised").to(device)  # `make weights` fetched it
    weights_note = "genuine normalised VGG-19"
    lw = preset.weights_for(encoder.layout)
    precision = precision or preset.precision
    # float32 runs the network's channels-last compute copy, as transfer() does on every device
    dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16,
             "auto": native_low_precision(device) or torch.float32}[precision]
    out: dict = {"preset": preset_name, "device": str(device), "size": list(content.shape[-2:]),
                 "labels": len(ids), "weights": weights_note, "threads": torch.get_num_threads(),
                 "precision": str(dtype).replace("torch.", "")}

    # Laplacian build (CPU, scipy) and transfer to the device.
    content_np = content[0].permute(1, 2, 0).cpu().double().numpy()
    best, _ = _timeit(lambda: matting_laplacian(content_np), torch.device("cpu"), 3)
    lap = matting_laplacian(content_np)
    out["laplacian_build_s"] = best
    out["laplacian_nnz"] = int(lap.nnz)
    photo = PhotorealismLoss(content).to(device)

    objective = StyleObjective(
        encoder, content, style, content_layers=preset.content_layers, style_layers=preset.style_layers,
        content_weight=lw.content, style_weight=lw.style, tv_weight=lw.tv,
        photo_weight=lw.photo, content_masks=cm, style_masks=sm, style_present=present,
        photorealism=photo, compute_dtype=dtype,
    )
    x = content.clone().requires_grad_(True)
    repeat = max(2, steps)

    def vgg():
        x.grad = None
        feats = encoder(x, compute_dtype=dtype, return_dtype=dtype)  # the network alone, no casts
        torch.autograd.backward([feats[k] for k in layers], [torch.ones_like(feats[k]) for k in layers])

    with torch.no_grad():
        # as the objective sees them: the network's own outputs (bfloat16, channels-last, where it runs so)
        feats0 = {k: v.detach() for k, v in encoder(x, compute_dtype=dtype, return_dtype=dtype).items()}

    def grams():
        leaves = {k: v.clone().requires_grad_(True) for k, v in feats0.items()}
        total = sum(m(leaves[k].float()) for k, m in objective.content_losses.items())
        total = total + sum(m(leaves[k]) for k, m in objective.style_losses.items())
        total.backward()

    def laplacian():
        x.grad = None
        photo(x).backward()

    out["vgg_s"], _ = _timeit(vgg, device, repeat)
    out["gram_mask_s"], _ = _timeit(grams, device, repeat)
    out["laplacian_step_s"], _ = _timeit(laplacian, device, repeat)

    stamps: list[float] = []

    def stamp(info):
        _sync(device)
        stamps.append(time.perf_counter())

    run_lbfgs(objective, content, num_steps=steps + 1, progress=False, callback=stamp)
    # the first iteration is a warm-up; best of the rest, as the parts above are (mean beside it)
    per_step = [b - a for a, b in zip(stamps, stamps[1:])]
    out["lbfgs_step_s"] = min(per_step)
    out["lbfgs_step_mean_s"] = sum(per_step) / len(per_step)
    out["two_loop_full_s"] = _two_loop_with_full_history(content, preset.history_size, device)

    with torch.no_grad():
        out["best_local_affine_s"], _ = _timeit(lambda: best_local_affine(content, content), device, 1)

    if device.type == "cuda":
        out["peak_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["memory_kind"] = "CUDA max allocated"
    else:
        out["peak_memory_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        out["memory_kind"] = "max RSS"
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["lite", "paper", "fast", "both", "all"], default="both",
                        help="both: lite and paper; all: lite, paper and fast")
    parser.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default=None,
                        help="dtype of the VGG-19 (default: the preset's)")
    parser.add_argument("--steps", type=int, default=3, help="L-BFGS iterations timed per preset")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--size", type=int, default=700,
                        help="long side of content and style (default 700, the paper's; 512: the fast preset's finest level)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (SHARED / "data" / "dpst").exists():
        print(f"benchmark skipped: ../shared not found at {SHARED}")
        return 0
    if args.child:
        print(json.dumps(run_one(args.preset, args.steps, args.device, args.precision, args.size)))
        return 0
    presets = {"both": ["lite", "paper"], "all": ["lite", "paper", "fast"]}.get(args.preset, [args.preset])
    rows = []
    for name in presets:  # one process per preset, so that peak memory is that preset's own
        proc = subprocess.run(
            [sys.executable, __file__, "--child", "--preset", name, "--steps", str(args.steps), "--device", args.device,
             "--size", str(args.size), *(["--precision", args.precision] if args.precision else [])],
            capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if proc.returncode != 0:
            print(proc.stderr)
            return 1
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    r0 = rows[0]
    print(f"photostyle core benchmark: DPST pair 30 at {r0['size'][0]}x{r0['size'][1]}, {r0['labels']} labels, "
          f"device {r0['device']}, {r0['threads']} threads")
    print(f"matting Laplacian build: {r0['laplacian_build_s']:.3f} s (best of 3), nnz {r0['laplacian_nnz']:,}")
    print()
    header = ("preset", "weights", "precision", "VGG f+b", "Gram/mask f+b", "Laplacian f+b", "L-BFGS iter",
              "iter / VGG f+b", "L-BFGS step, history full", "iter / VGG f+b, history full", "best local affine",
              "peak memory")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        print(f"| {r['preset']} | {r['weights']} | {r['precision']} | {r['vgg_s']:.3f} s | {r['gram_mask_s']:.3f} s | "
              f"{r['laplacian_step_s']:.4f} s | {r['lbfgs_step_s']:.3f} s | x{r['lbfgs_step_s'] / r['vgg_s']:.2f} | "
              f"{r['two_loop_full_s']:.3f} s | x{(r['lbfgs_step_s'] + r['two_loop_full_s']) / r['vgg_s']:.2f} | "
              f"{r['best_local_affine_s']:.2f} s | "
              f"{r['peak_memory_mb']:.0f} MB ({r['memory_kind']}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
