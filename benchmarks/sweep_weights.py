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
import math
import sys
import time
import warnings
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

    from photostyle import transfer

    torch.set_num_threads(args.threads)
    encoder = _dpst.metric_encoder()
    judge_size = args.judge_size or args.size
    judges = {i: _dpst.Judge.build(i, judge_size) for i in args.pairs}
    paper = {i: j.score(j.paper, encoder) for i, j in judges.items()}
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
    summary = []
    for cw, sw in itertools.product(args.content_weights, args.style_weights):
        print(f"\n### preset {args.preset}, content {cw:g}, style {sw:g}, {args.size} px, judged at {judge_size} px\n")
        print("| pair | style distance ours / paper | matting energy ours / paper | edge SSIM ours / paper | beats | time |")
        print("|---|---|---|---|---|---|")
        wins = {"style_distance": 0, "matting_energy": 0, "edge_ssim": 0, "all": 0}
        ratios = []
        seconds = []
        for i in args.pairs:
            p = _dpst.paths(i)
            t0 = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = transfer(p["content"], p["style"], content_mask=p["content_mask"], style_mask=p["style_mask"],
                                  preset=args.preset, work_size=args.size, output_size="work",
                                  num_steps=tuple(args.steps) if args.steps else None, init=args.init,
                                  content_weight=cw, style_weight=sw, encoder=encoder, progress=False)
            seconds.append(time.perf_counter() - t0)
            ours = judges[i].score(result.tensor, encoder)
            b = _dpst.beats(ours, paper[i])
            for k, v in b.items():
                wins[k] += v
            wins["all"] += all(b.values())
            ratios.append(ours["style_distance"] / paper[i]["style_distance"])
            if args.save:
                result.image.save(args.save / f"p{i}_c{cw:g}_s{sw:g}.png")
            mark = "".join("✓" if b[k] else "✗" for k in ("style_distance", "matting_energy", "edge_ssim"))
            print(f"| {i} | {ours['style_distance']:.3g} / {paper[i]['style_distance']:.3g} | "
                  f"{ours['matting_energy']:.3g} / {paper[i]['matting_energy']:.3g} | "
                  f"{ours['edge_ssim']:.3f} / {paper[i]['edge_ssim']:.3f} | {mark} | {seconds[-1]:.0f} s |", flush=True)
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        n = len(args.pairs)
        line = (f"content {cw:g}, style {sw:g}: beats the paper on style distance {wins['style_distance']}/{n}, "
                f"matting energy {wins['matting_energy']}/{n}, edge SSIM {wins['edge_ssim']}/{n}, all three "
                f"{wins['all']}/{n}; style distance ours/paper geometric mean x{geo:.2f}; "
                f"{sum(seconds) / n:.0f} s a pair")
        print("\n" + line, flush=True)
        summary.append(line)
    print("\n## summary\n")
    for line in summary:
        print("- " + line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
