"""Speed of the matting Laplacian, the photorealism loss and the post-processing filters.

Not a test: prints a table. Reads a content photo from ``../shared/data/dpst`` (the DPST benchmark
pairs, never committed here).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_matting.py            # in2 (700x394), CPU
    .venv/bin/python benchmarks/bench_matting.py --pair 9 --device cuda --repeat 5
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from photostyle.image import read_image, resize_long_side, to_tensor
from photostyle.matting import matting_laplacian, photorealism_loss
from photostyle.smoothing import best_local_affine, guided_filter

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def best_of(fn, repeat: int, device: torch.device) -> tuple[float, object]:
    """Best wall-clock time of ``repeat`` calls (synchronising CUDA), and the last result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best, result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pair", type=int, default=2, help="DPST pair number (default 2: in2.png, 700x394)")
    parser.add_argument("--size", type=int, default=700, help="long side in pixels (default 700)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per step, best reported (default 3)")
    parser.add_argument("--device", default="cpu", help="device for the torch steps (default cpu)")
    args = parser.parse_args(argv)

    path = SHARED / "data" / "dpst" / "input" / f"in{args.pair}.png"
    if not path.exists():
        print(f"skipping: {path} not found (the benchmark reads the DPST pairs from ../shared)", file=sys.stderr)
        return 1
    device = torch.device(args.device)
    content = resize_long_side(to_tensor(read_image(path)), args.size)  # (1, 3, H, W) float32 in [0, 1]
    _, _, h, w = content.shape
    stylised = content.flip(1).mul(0.8).add(0.1)  # a stand-in "output": channels swapped, contrast reduced

    rows = []
    t_lap, lap = best_of(lambda: matting_laplacian(content), args.repeat, torch.device("cpu"))
    rows.append(("matting_laplacian (scipy CSR, float64)", t_lap, f"nnz {lap.nnz:,}, N {h * w:,}"))

    image = content.to(device).clone().requires_grad_()

    def loss_step():
        image.grad = None
        loss = photorealism_loss(image, lap)
        loss.backward()
        return loss

    t_first, _ = best_of(loss_step, 1, device)
    rows.append(("photorealism_loss fwd+bwd, first call", t_first, f"float32 {device}, includes CSR conversion"))
    t_loss, _ = best_of(loss_step, args.repeat, device)
    rows.append(("photorealism_loss fwd+bwd", t_loss, f"float32 {device}, cached operator"))

    c, s = content.to(device), stylised.to(device)
    t_gf, _ = best_of(lambda: guided_filter(c, c, radius=8, eps=0.01), args.repeat, device)
    rows.append(("guided_filter r=8 eps=0.01", t_gf, "colour guide, 3 channels, float32"))
    t_bla, _ = best_of(lambda: best_local_affine(s, c), max(1, min(args.repeat, 2)), device)
    rows.append(("best_local_affine (paper settings)", t_bla, "patch 3x3, filter radius 15, float32"))

    print(f"content: {path.name} resized to {w}x{h} (WxH); torch threads: {torch.get_num_threads()}; "
          f"device: {device}")
    name_width = max(len(r[0]) for r in rows)
    print(f"{'step':<{name_width}}  {'seconds':>8}  notes")
    print(f"{'-' * name_width}  {'-' * 8}  {'-' * 40}")
    for name, seconds, notes in rows:
        print(f"{name:<{name_width}}  {seconds:>8.3f}  {notes}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
