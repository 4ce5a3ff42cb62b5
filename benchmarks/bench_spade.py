"""SPADE render speed and memory on this machine, with random weights at the official sizes.

    python benchmarks/bench_spade.py                  # coco, ade20k (256x256), cityscapes (512x256)
    python benchmarks/bench_spade.py --repeat 5 --threads 2 --presets coco

Each preset runs in a fresh subprocess so that peak memory (``ru_maxrss``) belongs to it alone.
"render" is the mean wall time of ``photostyle.spade.render`` (label map → PIL image, eval mode,
no_grad) over ``--repeat`` calls after one warm-up; "peak render" is the process's peak resident
memory minus its resident memory with the weights loaded and nothing rendered yet (the render's
working memory); "model" is the resident memory the generator's weights added. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _child(preset: str, repeat: int, threads: int, device: str) -> dict:
    import resource
    import statistics
    import time

    import numpy as np
    import torch

    from photostyle.spade import SPADEGenerator, get_config, palette, render

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    config = get_config(preset)
    rss0 = _rss_mb()
    t = time.perf_counter()
    generator = SPADEGenerator(config).to(device).eval()
    build_s = time.perf_counter() - t
    model_mb = _rss_mb() - rss0
    h, w = config.image_size
    if preset == "coco":
        labels = palette.landscape_bands((h, w), [("sky-other", 0), ("clouds", 0.1), ("mountain", 0.35),
                                                  ("sea", 0.6), ("sand", 0.85)])
    else:
        labels = np.random.default_rng(0).integers(0, config.label_nc, (h // 16, w // 16)).repeat(16, 0).repeat(16, 1)
    before = _rss_mb()  # weights in memory, no render yet
    render(labels, checkpoint=generator, device=device)  # warm-up
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        render(labels, checkpoint=generator, device=device)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {
        "preset": preset, "size": f"{w}x{h}", "params": sum(p.numel() for p in generator.parameters()),
        "build_s": build_s, "model_mb": model_mb, "mean_s": statistics.mean(times),
        "std_s": statistics.stdev(times) if len(times) > 1 else 0.0, "peak_render_mb": max(0.0, peak - before),
        "peak_rss_mb": peak, "threads": threads, "device": device,
    }
    if device.startswith("cuda"):
        out["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["coco", "ade20k", "cityscapes"])
    parser.add_argument("--repeat", type=int, default=3, help="timed renders after one warm-up (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.child, args.repeat, args.threads, args.device)))
        return 0
    import torch

    threads = args.threads or torch.get_num_threads()
    rows = []
    for preset in args.presets:
        proc = subprocess.run(
            [sys.executable, __file__, "--child", preset, "--repeat", str(args.repeat), "--threads", str(threads),
             "--device", args.device],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        if proc.returncode != 0:
            print(f"{preset}: failed\n{proc.stderr.strip()[-2000:]}", file=sys.stderr)
            continue
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(f"SPADE render, random weights, torch {torch.__version__}, {args.device}, {threads} thread(s), "
          f"{os.cpu_count()} CPU(s), mean of {args.repeat} after 1 warm-up")
    head = f"{'preset':<11} {'W x H':>8} {'params':>11} {'render s':>13} {'peak render MB':>15} {'model MB':>9}"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['preset']:<11} {r['size']:>8} {r['params']:>11,} {r['mean_s']:>7.2f} ± {r['std_s']:<4.2f}"
              f" {r['peak_render_mb']:>15.0f} {r['model_mb']:>9.0f}"
              + (f"   (CUDA peak {r['cuda_peak_mb']:.0f} MB)" if "cuda_peak_mb" in r else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
