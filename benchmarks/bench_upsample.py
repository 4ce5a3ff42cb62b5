"""Full-resolution delivery: time and peak memory of photostyle.upsample. Prints a table; not a test.

    .venv/bin/python benchmarks/bench_upsample.py                    # 12 MP and 8K, both modes, 1 thread
    .venv/bin/python benchmarks/bench_upsample.py --threads 2 --sizes 3000x4000

What it measures, each case in its own process (so that peak memory is that case's own):
- one VGG-19 forward + backward at 700 px (relu1_1 ... relu5_1 and relu4_2, the paper's layers; random
  weights in the Caffe layout, speed does not depend on them): the unit the issue's targets use;
- for each output size and mode: the fit at the working size (700 px long side), the strip-wise
  upsampling into a uint8 photo, their sum in units of the VGG f+b, the process's peak RSS (max RSS of
  the whole process: Python, torch, the uint8 content and output) and what ``estimate_memory`` predicts
  beyond the inputs.

The content is DPST pair 30 (../shared) upscaled to the output size (a real photo's content at any
size),
or scikit-image's ``coffee`` when ../shared is absent; the working-size result is the paper's published
result for that pair (or a colour change of the content).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_vgg(threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    sys.path.insert(0, str(ROOT / "tests"))
    from _vgg_files import write_caffe_vgg19

    from photostyle.encoders import VGG19Encoder

    layers = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu4_2", "relu5_1")
    weights = Path(tempfile.mkdtemp()) / "vgg19-random-caffe.pth"
    write_caffe_vgg19(weights, seed=0)
    encoder = VGG19Encoder(layers, weights=weights)
    x = torch.rand(1, 3, 525, 700, requires_grad=True)

    def step():
        x.grad = None
        feats = encoder(x)
        torch.autograd.backward([feats[k] for k in layers], [torch.ones_like(feats[k]) for k in layers])

    step()  # warm-up
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return {"vgg_s": min(times), "peak_mb": _peak_mb()}


def _images(shape: tuple[int, int]):
    import numpy as np
    import torch
    from PIL import Image

    from photostyle.image import long_side_shape, resize_to

    pair = SHARED / "data" / "dpst"
    if (pair / "input" / "in30.png").exists():
        photo = Image.open(pair / "input" / "in30.png").convert("RGB")
        best = Image.open(pair / "paper" / "best30.jpg").convert("RGB")
        source = "DPST pair 30"
    else:
        from skimage import data

        photo = Image.fromarray(data.coffee())
        best = None
        source = "skimage coffee"
    full = np.asarray(photo.resize((shape[1], shape[0]), Image.BICUBIC))  # (H, W, 3) uint8
    work = long_side_shape(shape, 700)
    content_small = resize_to(torch.from_numpy(np.asarray(photo)).permute(2, 0, 1)[None].float() / 255, work)
    if best is not None:
        result_small = resize_to(torch.from_numpy(np.asarray(best)).permute(2, 0, 1)[None].float() / 255, work)
    else:
        result_small = (content_small.flip(1) * 0.8 + 0.1).clamp(0, 1)
    return full, content_small, result_small, source


def run_case(shape: tuple[int, int], mode: str, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    from photostyle.upsample import estimate_memory, fit_affine, upsample_affine

    full, content_small, result_small, source = _images(shape)
    base_mb = _peak_mb()
    t0 = time.perf_counter()
    coef = fit_affine(result_small, content_small)
    t1 = time.perf_counter()
    out = upsample_affine(coef, full, content_small=content_small, mode=mode, output="uint8")
    t2 = time.perf_counter()
    assert out.shape == (*shape, 3)
    estimate = estimate_memory(shape, working_shape=tuple(content_small.shape[-2:]), output="uint8")
    return {"shape": list(shape), "work": list(content_small.shape[-2:]), "mode": mode, "source": source,
            "fit_s": t1 - t0, "upsample_s": t2 - t1, "peak_mb": _peak_mb(), "before_mb": base_mb,
            "estimate_mb": estimate / 2**20}


def _child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="3000x4000,4320x7680", help="output sizes HxW, comma-separated")
    parser.add_argument("--modes", default="bilinear,bilateral")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--child", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        if args.child[0] == "vgg":
            print(json.dumps(run_vgg(args.threads)))
        else:
            h, w = (int(v) for v in args.child[0].split("x"))
            print(json.dumps(run_case((h, w), args.child[1], args.threads)))
        return 0
    thread_args = ["--threads", str(args.threads)]
    vgg = _child(["vgg", *thread_args])
    rows = []
    for size in args.sizes.split(","):
        for mode in args.modes.split(","):
            rows.append(_child([size, mode, *thread_args]))
    print(f"photostyle.upsample benchmark: {rows[0]['source']} upscaled, working size 700 px long side, "
          f"uint8 output, {args.threads} thread(s)")
    print(f"one VGG-19 forward + backward at 525x700 (relu1_1 ... relu5_1): {vgg['vgg_s']:.2f} s")
    print()
    header = ("output", "working", "mode", "fit", "upsample", "total", "total / VGG f+b", "peak RSS",
              "RSS before fit", "estimate_memory")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in rows:
        total = r["fit_s"] + r["upsample_s"]
        print(f"| {r['shape'][0]}x{r['shape'][1]} | {r['work'][0]}x{r['work'][1]} | {r['mode']} | "
              f"{r['fit_s']:.2f} s | {r['upsample_s']:.2f} s | {total:.2f} s | {total / vgg['vgg_s']:.2f}x | "
              f"{r['peak_mb']:.0f} MB | {r['before_mb']:.0f} MB | {r['estimate_mb']:.0f} MB |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
