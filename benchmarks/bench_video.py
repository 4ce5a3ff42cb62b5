"""Video: temporal stability, speed between keyframes and peak memory of photostyle.video. Prints tables; not a test.

    .venv/bin/python benchmarks/bench_video.py                     # stability (32 frames) + 720p/1080p speed
    .venv/bin/python benchmarks/bench_video.py --frames 48 --threads 2
    .venv/bin/python benchmarks/bench_video.py --skip-speed        # only the stability table

The clip is made from scikit-image's astronaut photo: a window that moves (4 px right, 2 px down per
frame at 256x192) and brightens (+2 % per frame), 24 fps, encoded with H.264 at crf 12.

Stability: the temporal warping error, the mean absolute difference (0-255) between each output frame
and the previous output frame warped onto it by the INPUT's optical flow (OpenCV DIS, medium), on the
pixels where the forward and backward flows agree (Sundaram et al.'s consistency test: |f + b(x+f)|^2 <
0.01 (|f|^2 + |b|^2) + 0.5) and that stay inside the frame. Compared:
- input: the clip itself (the brightness ramp and the codec make it non-zero);
- independent: every frame its own transfer (keyframe_every=1, no flow, no warm start);
- stable: photostyle.video's method (a keyframe every 8 frames, colour models warped by flow and blended).
Both with preset "lite" on the shared conv1_1..conv3_1 VGG-19 (../shared; the default network when it
is absent), work size 128, 2 x 20 L-BFGS iterations per keyframe. Target: stable >= 50 % lower.

Speed: a 24-frame clip at 1280x720 and 1920x1080 (the same motion, upscaled), keyframes at the first
and last frame (work size 512, preset lite, 2 x 5 iterations), frames per second between keyframes
(decoding, flow, colour models, upsampling, H.264 encoding; summary.fps_between) per upsampling mode, and
the process's peak RSS. Each case runs in its own process. Target: >= 2 fps at 720p.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED_WEIGHTS = ROOT.parent / "shared" / "weights" / "vgg19_normalised_conv3_1.pth"
sys.path.insert(0, str(ROOT))


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_clip(path: Path, *, frames: int, width: int, height: int, fps: int = 24) -> Path:
    """A moving, brightening window of the astronaut photo, rendered at ``width x height``."""
    import av
    import cv2
    import skimage.data

    photo = skimage.data.astronaut().astype(np.float32)
    out = av.open(str(path), "w")
    stream = out.add_stream("libx264", rate=fps, options={"crf": "12", "preset": "fast"})
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    win_w, win_h = 256, 192
    for i in range(frames):
        x0, y0 = 60 + 4 * i, 40 + 2 * i
        crop = photo[y0:y0 + win_h, x0:x0 + win_w] * (0.75 + 0.02 * i)
        if (width, height) != (win_w, win_h):
            crop = cv2.resize(crop, (width, height), interpolation=cv2.INTER_CUBIC)
        frame = av.VideoFrame.from_ndarray(np.clip(crop, 0, 255).astype(np.uint8), format="rgb24")
        frame.pts, frame.time_base = i, Fraction(1, fps)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode(None):
        out.mux(packet)
    out.close()
    return path


def read_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def warping_error(outputs: list[np.ndarray], inputs: list[np.ndarray]) -> float:
    """Mean |out_t - warp(out_{t-1})| over consistent, in-frame pixels (0-255), the input's flow."""
    import cv2

    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    h, w = inputs[0].shape[:2]
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    errors = []
    for t in range(1, len(inputs)):
        cur = cv2.cvtColor(inputs[t], cv2.COLOR_RGB2GRAY)
        prev = cv2.cvtColor(inputs[t - 1], cv2.COLOR_RGB2GRAY)
        fwd = dis.calc(cur, prev, None)  # cur(x) ~ prev(x + fwd(x))
        bwd = dis.calc(prev, cur, None)
        mx, my = xs + fwd[..., 0], ys + fwd[..., 1]
        bwd_at = cv2.remap(bwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        gap = ((fwd + bwd_at) ** 2).sum(-1)
        ok = gap < 0.01 * ((fwd ** 2).sum(-1) + (bwd_at ** 2).sum(-1)) + 0.5
        ok &= (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        warped = cv2.remap(outputs[t - 1].astype(np.float32), mx, my, cv2.INTER_LINEAR)
        diff = np.abs(outputs[t].astype(np.float32) - warped).mean(-1)
        errors.append(float(diff[ok].mean()))
    return float(np.mean(errors))


def _style():
    import skimage.data

    return np.ascontiguousarray(skimage.data.chelsea())


def case_stability(frames: int) -> dict:
    from photostyle.video import restyle_video

    weights = str(SHARED_WEIGHTS) if SHARED_WEIGHTS.exists() else None
    common = dict(preset="lite", weights=weights, work_size=128, num_steps=20, progress=False, overwrite=True)
    rows = {}
    with tempfile.TemporaryDirectory() as d:
        src = make_clip(Path(d) / "in.mp4", frames=frames, width=256, height=192)
        inputs = read_frames(src)
        rows["input"] = {"error": warping_error(inputs, inputs), "seconds": 0.0, "keyframes": 0}
        for name, kwargs in (("independent", dict(keyframe_every=1, flow=False, warm_start=False)),
                             ("stable", dict(keyframe_every=8))):
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                s = restyle_video(src, _style(), Path(d) / f"{name}.mp4", **common, **kwargs)
            seconds = time.perf_counter() - t0
            rows[name] = {"error": warping_error(read_frames(Path(d) / f"{name}.mp4"), inputs), "seconds": seconds,
                          "keyframes": len(s.keyframes), "warm_start": s.warm_start, "flow": s.flow}
    return {"rows": rows, "peak_mb": _peak_mb()}


def case_speed(frames: int, width: int, height: int, mode: str) -> dict:
    from photostyle.video import restyle_video

    weights = str(SHARED_WEIGHTS) if SHARED_WEIGHTS.exists() else None
    with tempfile.TemporaryDirectory() as d:
        src = make_clip(Path(d) / "in.mp4", frames=frames, width=width, height=height)
        base = _peak_mb()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            s = restyle_video(src, _style(), Path(d) / "out.mp4", preset="lite", weights=weights, work_size=512,
                              num_steps=5, keyframe_every=frames, upsample=mode, progress=False)
    t = s.timings
    return {"fps_between": s.fps_between, "frames_between": s.frames_between, "decode": t["decode"],
            "between": t["between"], "keyframes": t["keyframes"], "total": t["total"], "peak_mb": _peak_mb(),
            "peak_before_mb": base}


def _run_case(args: list[str], threads: int) -> dict:
    cmd = [sys.executable, __file__, "--case", *args, "--threads", str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"case {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=32, help="frames of the stability clip (default 32)")
    parser.add_argument("--speed-frames", type=int, default=24, help="frames of the speed clips (default 24)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-stability", action="store_true")
    parser.add_argument("--case", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    try:
        import cv2

        cv2.setNumThreads(args.threads)
    except ImportError:
        pass
    if args.case:
        kind = args.case[0]
        if kind == "stability":
            result = case_stability(int(args.case[1]))
        else:
            result = case_speed(int(args.case[1]), int(args.case[2]), int(args.case[3]), args.case[4])
        print(json.dumps(result))
        return

    print(f"photostyle.video benchmark; torch {torch.__version__}, {args.threads} thread(s)")
    if not args.skip_stability:
        r = _run_case(["stability", str(args.frames)], args.threads)
        rows = r["rows"]
        print(f"\nTemporal warping error, {args.frames} frames at 256x192 (mean |out_t - warp(out_t-1)|, 0-255, "
              "consistent pixels)")
        print(f"{'method':<12} {'error':>8} {'vs independent':>15} {'keyframes':>10} {'seconds':>8}")
        for name, row in rows.items():
            rel = f"{100 * (row['error'] / rows['independent']['error'] - 1):+.0f} %" if name != "independent" else "-"
            print(f"{name:<12} {row['error']:8.2f} {rel:>15} {row['keyframes']:>10} {row['seconds']:8.1f}")
        s = rows["stable"]
        print(f"stable: warm start {'on' if s.get('warm_start') else 'off (transfer takes no image as init)'}, "
              f"flow {'on' if s.get('flow') else 'off'}; peak RSS {r['peak_mb']:.0f} MB")
    if not args.skip_speed:
        print(f"\nBetween keyframes, {args.speed_frames}-frame clips (keyframes: first and last; work size 512)")
        print(f"{'size':<10} {'upsample':<10} {'fps between':>12} {'s/frame':>8} {'decode s':>9} {'keyframes s':>12} "
              f"{'peak RSS MB':>12}")
        for (w, h) in ((1280, 720), (1920, 1080)):
            for mode in ("bilinear", "bilateral"):
                r = _run_case(["speed", str(args.speed_frames), str(w), str(h), mode], args.threads)
                print(f"{f'{w}x{h}':<10} {mode:<10} {r['fps_between']:12.2f} {1 / r['fps_between']:8.3f} "
                      f"{r['decode']:9.2f} {r['keyframes']:12.1f} {r['peak_mb']:12.0f}")


if __name__ == "__main__":
    main()
