"""Batch throughput: photos per minute for 1 and 2 workers, local processes and Ray. Prints a table; not a test.

    .venv/bin/python benchmarks/bench_batch.py                       # 16 photos, 64 px, lite, 10 iterations
    .venv/bin/python benchmarks/bench_batch.py --photos 16 --size 128 --steps 20 --threads 1

Each configuration restyles the same photos (DPST contents from ../shared cut into tiles of --size px,
or random photos when ../shared is absent) with one style, preset lite on the genuine partial VGG-19
(../shared/weights), one torch thread per worker unless --threads says otherwise, into a fresh folder.

Columns:
- wall: the whole run_batch call, start-up included (worker processes importing torch, or Ray's start);
- photos/min: photos / wall;
- steady/min: from the finish times of the 2nd to the last photo (start-up excluded);
- job s: median of the workers' own time per job (transfer + metrics + writing);
- cycle s: median time between two finished photos x workers: job s plus the runner's overhead per job;
- start s: time to the first finished photo minus that photo's own job time.
Ray's overhead per job is the cycle of Ray minus the cycle of the local runner with the same workers,
its start-up the difference of the start columns. Ray starts once (ray.init(num_cpus=2 x threads))
for both of its rows, as a user's script would; its first row pays the Ray workers' imports.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))


def _photos(folder: Path, count: int, size: int) -> tuple[list[Path], Path]:
    import numpy as np
    from PIL import Image

    folder.mkdir(parents=True)
    sources = sorted((SHARED / "data" / "dpst" / "input").glob("in*.png"))
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        if sources:
            with Image.open(sources[i % len(sources)]) as im:
                im = im.convert("RGB")
                im.thumbnail((size, size))
                arr = np.asarray(im)
        else:
            arr = (rng.random((size * 3 // 4, size, 3)) * 255).astype(np.uint8)
        path = folder / f"p{i:03d}.png"
        Image.fromarray(arr).save(path)
        paths.append(path)
    style_src = SHARED / "data" / "dpst" / "style" / "tar30.png"
    style = folder.parent / "style.png"
    if style_src.exists():
        with Image.open(style_src) as im:
            im = im.convert("RGB")
            im.thumbnail((size, size))
            im.save(style)
    else:
        Image.fromarray((rng.random((size * 3 // 4, size, 3)) * 255).astype(np.uint8)).save(style)
    return paths, style


def _stats(summary, wall: float, workers: int) -> dict:
    recs = [r for r in summary.records if r["status"] == "ok"]
    ends = sorted(datetime.datetime.fromisoformat(r["time"]).timestamp() for r in recs)
    first = min(recs, key=lambda r: r["time"])
    steady = 60.0 * (len(ends) - 1) / (ends[-1] - ends[0]) if len(ends) > 1 and ends[-1] > ends[0] else float("nan")
    job = statistics.median(r["seconds"] for r in recs)  # median: a fresh Ray worker's first job pays imports
    gaps = [b - a for a, b in zip(ends, ends[1:])]
    cycle = workers * statistics.median(gaps) if gaps else float("nan")
    return {"ok": len(recs), "wall": wall, "ppm": 60.0 * len(recs) / wall, "steady": steady, "job": job,
            "cycle": cycle, "first_end": ends[0], "first_job": first["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=16)
    ap.add_argument("--size", type=int, default=64, help="long side of the photos and the working size")
    ap.add_argument("--steps", type=int, default=10, help="L-BFGS iterations per level (lite has 2 levels)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    ap.add_argument("--no-ray", action="store_true")
    args = ap.parse_args()

    from photostyle.batch import jobs_from_dir, run_batch

    weights = SHARED / "weights" / "vgg19_normalised_conv3_1.pth"
    if not weights.exists():
        sys.exit(f"needs the partial VGG-19 at {weights} (../shared)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    try:
        _, style = _photos(tmp / "photos", args.photos, args.size)
        jobs = jobs_from_dir(tmp / "photos", style)
        options = dict(preset="lite", work_size=args.size, num_steps=args.steps, weights=str(weights),
                       threads=args.threads, progress=False)
        rows = []
        configs = [("local", 1), ("local", 2)]
        ray = None
        if not args.no_ray:
            try:
                import ray
            except ImportError:
                print("ray is not installed: local rows only (pip install photostyle[ray])")
            else:
                configs += [("ray", 1), ("ray", 2)]
        for runner, workers in configs:
            if runner == "ray" and not ray.is_initialized():
                t0 = time.perf_counter()
                ray.init(num_cpus=2 * args.threads, include_dashboard=False, log_to_driver=False,
                         runtime_env={"env_vars": {"PYTHONPATH": str(ROOT)}})
                ray_init = time.perf_counter() - t0
            out = tmp / f"{runner}{workers}"
            t0 = time.time()
            summary = run_batch(jobs, out, workers=workers, ray="auto" if runner == "ray" else None, **options)
            wall = time.time() - t0
            if summary.failed:
                sys.exit(f"{runner} x{workers}: {summary.failed} failed: {summary.failures()[0]['error']}")
            stats = _stats(summary, wall, workers)
            stats["start"] = stats["first_end"] - t0 - stats["first_job"]
            rows.append((runner, workers, stats))
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    print(f"\n{args.photos} photos, {args.size} px, preset lite, {args.steps}+{args.steps} iterations, "
          f"{args.threads} torch thread(s) per worker, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}")
    print(f"{'runner':<7}{'workers':>8}{'wall s':>9}{'photos/min':>12}{'steady/min':>12}{'job s':>8}{'cycle s':>9}"
          f"{'start s':>9}")
    for runner, workers, s in rows:
        print(f"{runner:<7}{workers:>8}{s['wall']:>9.1f}{s['ppm']:>12.1f}{s['steady']:>12.1f}{s['job']:>8.2f}"
              f"{s['cycle']:>9.2f}{s['start']:>9.1f}")
    by = {(r, w): s for r, w, s in rows}
    for workers in (1, 2):
        if ("ray", workers) in by:
            ray_s, loc = by[("ray", workers)], by[("local", workers)]
            print(f"Ray overhead per job, {workers} worker(s): {ray_s['cycle'] - loc['cycle']:+.2f} s "
                  f"(cycle {ray_s['cycle']:.2f} s vs {loc['cycle']:.2f} s local; job time {ray_s['job']:.2f} vs "
                  f"{loc['job']:.2f} s); start-up {ray_s['start'] - loc['start']:+.1f} s vs local processes")
    if ray is not None:
        print(f"ray.init: {ray_init:.1f} s (before the first Ray row, not in its wall time)")


if __name__ == "__main__":
    main()
