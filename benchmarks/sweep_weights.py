"""Sweep content and style weights of a preset on the DPST pairs, judged by the paper's own results.

    .venv/bin/python benchmarks/sweep_weights.py --pairs 4 9 30 31 --size 256 \
        --content-weights 1e2 1e3 --style-weights 1e7 1e8 1e9 --preset fast

For every (content weight, style weight) and pair: the three measures of our result and of the paper's
published result at the same size (style distance over relu1_1 ... relu5_1 of the full normalised VGG-19
with the hand masks, matting energy per pixel, edge SSIM), and whether ours beats the paper's (lower style
distance, lower matting energy, edge SSIM not lower by more than 0.01). Prints one markdown table per
setting and a summary; ``--save DIR`` writes every result for looking at. Not a test: it takes minutes to
hours; the README's table comes from it.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _dpst  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=list(_dpst.PAIRS))
    parser.add_argument("--size", type=int, default=256, help="working size and judging size (long side)")
    parser.add_argument("--judge-size", type=int, default=None, help="size at which to compare (default --size)")
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="iterations per level")
    parser.add_argument("--content-weights", type=float, nargs="+", default=[1e3])
    parser.add_argument("--style-weights", type=float, nargs="+", default=[1e7])
    parser.add_argument("--init", default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", type=Path, default=None, help="folder for the result images")
    args = parser.parse_args()
    why = _dpst.available()
    if why:
        print(f"sweep skipped: {why}")
        return 0

    import torch

    from bench_quality import run_pairs

    torch.set_num_threads(args.threads)
    encoder = _dpst.metric_encoder()
    judge_size = args.judge_size or args.size
    judges: dict = {}
    summary = []
    for cw, sw in itertools.product(args.content_weights, args.style_weights):
        print(f"\n### preset {args.preset}, content {cw:g}, style {sw:g}, {args.size} px, judged at {judge_size} px\n")
        out = run_pairs(args.pairs, preset=args.preset, work_size=args.size, judge_size=judge_size,
                        steps=tuple(args.steps) if args.steps else None, init=args.init, content_weight=cw,
                        style_weight=sw, encoder=encoder, judges=judges, save=args.save, label=f"c{cw:g}_s{sw:g}_")
        summary.append(f"content {cw:g}, style {sw:g}: {out['summary']}")
    print("\n## summary\n")
    for line in summary:
        print("- " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
