"""Quality of the transfer on the DPST pairs of ../shared, measured with photostyle.metrics. Not a test.

    .venv/bin/python benchmarks/bench_quality.py                    # 12 pairs, lite, 192 px, 100+100 steps
    .venv/bin/python benchmarks/bench_quality.py --pairs 9 30 --size 256 --steps 200

For every pair, with its hand-made masks: the masked style distance to the style photo (content photo
→ result: lower is closer to the style), the matting energy per pixel under the content's Laplacian
(stage 1 → stage 2 → final: lower is more photorealistic), the edge SSIM of content and result (1 =
the same structure), and the time. The lite preset runs on the genuine partial VGG-19 of ../shared.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(ROOT))

PAIRS = (2, 4, 9, 13, 15, 20, 29, 30, 31, 44, 45, 58)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=list(PAIRS))
    parser.add_argument("--size", type=int, default=192)
    parser.add_argument("--steps", type=int, default=100, help="L-BFGS iterations per stage")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    weights = SHARED / "weights" / "vgg19_normalised_conv3_1.pth"
    data = SHARED / "data" / "dpst"
    if not weights.exists() or not data.exists():
        print(f"benchmark skipped: ../shared not found at {SHARED}")
        return 0

    from photostyle import metrics
    from photostyle.encoders import VGG19Encoder
    from photostyle.image import resize_long_side, to_tensor
    from photostyle.transfer import PRESETS, resolve_device, transfer

    device = resolve_device(args.device)
    preset = PRESETS["lite"]
    encoder = VGG19Encoder(tuple(dict.fromkeys(preset.content_layers + preset.style_layers)), weights=weights).to(device)
    print(f"photostyle quality benchmark: lite preset, {args.size} px, {args.steps}+{args.steps} L-BFGS "
          f"iterations, hand masks, device {device}")
    print()
    print("| pair | style distance content → result | matting energy stage 1 → stage 2 → final | edge SSIM | time |")
    print("|---|---|---|---|---|")
    ratios, ssims = [], []
    for index in args.pairs:
        paths = [data / "input" / f"in{index}.png", data / "style" / f"tar{index}.png",
                 data / "segmentation" / f"in{index}.png", data / "segmentation" / f"tar{index}.png"]
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = transfer(paths[0], paths[1], content_mask=paths[2], style_mask=paths[3], preset="lite",
                              size=args.size, num_steps=args.steps, encoder=encoder, device=device, progress=False)
        seconds = time.perf_counter() - t0
        content = resize_long_side(to_tensor(paths[0]), args.size)
        style = resize_long_side(to_tensor(paths[1]), args.size)

        def distance(img):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # labels absent from the style: said once by transfer
                return metrics.style_distance(img, style, encoder=encoder, layers=preset.style_layers,
                                              content_mask=result.masks["content"],
                                              style_mask=result.masks["style"])

        d0, d1 = distance(content), distance(result.tensor)
        energies = [metrics.matting_energy(result.stages[k], content) for k in ("stage1", "stage2")]
        energies.append(metrics.matting_energy(result.tensor, content))
        ssim = metrics.edge_ssim(result.tensor, content)
        ratios.append(d1 / d0)
        ssims.append(ssim)
        print(f"| {index} | {d0:.3g} → {d1:.3g} (×{d1 / d0:.2f}) | "
              f"{energies[0]:.3g} → {energies[1]:.3g} → {energies[2]:.3g} | {ssim:.3f} | {seconds:.0f} s |", flush=True)
    geo = 1.0
    for r in ratios:
        geo *= r
    geo **= 1 / len(ratios)
    print()
    print(f"style distance ratio (result / content), geometric mean: ×{geo:.3f}; mean edge SSIM {sum(ssims) / len(ssims):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
