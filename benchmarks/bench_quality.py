"""Quality against the paper: our results and the paper's published ones on the 12 DPST pairs. Not a test.

    .venv/bin/python benchmarks/bench_quality.py                       # fast preset, judged at 350 px
    .venv/bin/python benchmarks/bench_quality.py --preset paper --pairs 9 30 --steps 200 200
    .venv/bin/python benchmarks/bench_quality.py --masks semantic --json sem.json   # automatic masks
    .venv/bin/python benchmarks/bench_quality.py --compare sem.json hand.json      # one run over another

For every pair, with its hand masks, at the judging size (both images downscaled to 350 px long side):
style distance over relu1_1 ... relu5_1 of the full normalised VGG-19 (lower: closer to the style
photo), matting energy per pixel under the content's Laplacian (lower: more photorealistic), edge SSIM
against the content (higher: the content's structure kept), for ours and for the paper's
``best<i>.jpg``, and whether ours beats the paper's (lower style distance, lower matting energy, edge SSIM
not lower by more than 0.01). Ours is made at the preset's working size and delivered at the photo's
own size (700 px for these pairs), then judged like the paper's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _dpst  # noqa: E402

MEASURES = ("style_distance", "matting_energy", "edge_ssim")


def run_pairs(pairs, *, preset: str, work_size: int | None, judge_size: int, steps=None, init=None,
              content_weight=None, style_weight=None, encoder=None, judges=None, save: Path | None = None,
              label: str = "", masks: str = "hand") -> dict:
    """Run ``preset`` on ``pairs``, print one markdown row a pair, return the rows and the win counts."""
    from photostyle import transfer

    encoder = encoder or _dpst.metric_encoder()
    judges = judges if judges is not None else {}
    print("| pair | style distance ours / paper | matting energy ours / paper | edge SSIM ours / paper | beats | time |")
    print("|---|---|---|---|---|---|")
    rows = []
    for i in pairs:
        if i not in judges:
            judges[i] = _dpst.Judge.build(i, judge_size)
        judge = judges[i]
        paper = judge.score(judge.paper, encoder)
        p = _dpst.paths(i)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            given = ({"content_mask": p["content_mask"], "style_mask": p["style_mask"]} if masks == "hand"
                     else {"content_mask": "auto", "auto_method": masks})
            result = transfer(p["content"], p["style"], **given,
                              preset=preset, work_size=work_size, num_steps=steps, init=init,
                              content_weight=content_weight, style_weight=style_weight, encoder=encoder,
                              progress=False)
        seconds = time.perf_counter() - t0
        ours = judge.score(result.tensor, encoder)
        b = _dpst.beats(ours, paper)
        if save is not None:
            save.mkdir(parents=True, exist_ok=True)
            result.image.save(save / f"{label}p{i}.png")
        mark = "".join("✓" if b[k] else "✗" for k in MEASURES)
        print(f"| {i} | {ours['style_distance']:.3g} / {paper['style_distance']:.3g} | "
              f"{ours['matting_energy']:.3g} / {paper['matting_energy']:.3g} | "
              f"{ours['edge_ssim']:.3f} / {paper['edge_ssim']:.3f} | {mark} | {seconds:.0f} s |", flush=True)
        for level, step, loss, lowest in result.restarts:  # the fast preset's guard (restart_above)
            print(f"  pair {i}: L-BFGS went back to its best image at {level} iteration {step} "
                  f"(loss {loss:.3g}, lowest {lowest:.3g})", flush=True)
        rows.append({"pair": i, "ours": ours, "paper": paper, "beats": b, "seconds": seconds,
                     "timings": dict(result.timings), "restarts": [list(r) for r in result.restarts]})
    n = len(rows)
    wins = {k: sum(r["beats"][k] for r in rows) for k in MEASURES}
    wins["all"] = sum(all(r["beats"].values()) for r in rows)
    ratio = math.exp(sum(math.log(r["ours"]["style_distance"] / r["paper"]["style_distance"]) for r in rows) / n)
    summary = (f"beats the paper on style distance {wins['style_distance']}/{n}, matting energy "
               f"{wins['matting_energy']}/{n}, edge SSIM {wins['edge_ssim']}/{n}, all three {wins['all']}/{n}; "
               f"style distance ours/paper geometric mean x{ratio:.2f}; {sum(r['seconds'] for r in rows) / n:.0f} s a pair")
    print("\n" + summary, flush=True)
    return {"rows": rows, "wins": wins, "ratio": ratio, "summary": summary}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, nargs="+", default=list(_dpst.PAIRS))
    parser.add_argument("--preset", default="fast")
    parser.add_argument("--work-size", type=int, default=None, help="working size (default: the preset's)")
    parser.add_argument("--judge-size", type=int, default=350)
    parser.add_argument("--steps", type=int, nargs="+", default=None, help="iterations per level")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", type=Path, default=None, help="folder for the result images")
    parser.add_argument("--masks", choices=["hand", "semantic", "cluster"], default="hand",
                        help="the pair's hand masks (default) or automatic ones; always judged with the hand masks")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows to this JSON file")
    parser.add_argument("--compare", type=Path, nargs=2, metavar=("RUN", "OTHER"), default=None,
                        help="run nothing: print RUN's measures over OTHER's per pair (two --json files, "
                             "e.g. automatic masks over hand masks)")
    args = parser.parse_args()
    if args.compare is not None:
        rows = []
        for path in args.compare:
            try:
                rows.append(json.loads(path.read_text())["rows"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                parser.error(f"--compare: expected a --json file of this benchmark, got {path} ({exc}).")
        compare(rows[0], {r["pair"]: r for r in rows[1]}, args.compare[1])
        return 0
    if args.json is not None:
        from photostyle.files import check_writable

        try:  # before the hours of work, not after
            check_writable(args.json)
        except FileExistsError:
            parser.error(f"--json: expected a new file, got {args.json}, which exists; remove it or name another.")
        except OSError as exc:
            parser.error(f"--json: {exc}")
    why = _dpst.available()
    if why:
        print(f"benchmark skipped: {why}")
        return 0
    import torch

    torch.set_num_threads(args.threads)
    print(f"photostyle quality: preset {args.preset}, working size {args.work_size or 'preset'}, {args.masks} masks, "
          f"judged at {args.judge_size} px against the paper's published results, {torch.get_num_threads()} threads\n")
    out = run_pairs(args.pairs, preset=args.preset, work_size=args.work_size, judge_size=args.judge_size,
                    steps=tuple(args.steps) if args.steps else None, save=args.save, masks=args.masks)
    if args.json is not None:
        from photostyle.files import atomic_write_path

        with atomic_write_path(args.json) as tmp:
            tmp.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, **out}, indent=1))
    return 0


def compare(rows: list, other: dict, name) -> None:
    """Per pair, this run's measures over those of the run in ``other`` (same pairs), and the geometric mean."""
    common = [r for r in rows if r["pair"] in other]
    if not common:
        print(f"\nno pair in common with {name}")
        return
    print(f"\nthis run / {name}: style distance, matting energy, edge SSIM")
    logs = []
    within = 0
    for r in common:
        o = other[r["pair"]]["ours"]
        q = [r["ours"][k] / o[k] for k in MEASURES]
        logs.append(math.log(q[0]))
        within += q[0] <= 1.10
        print(f"| {r['pair']} | x{q[0]:.2f} | x{q[1]:.2f} | x{q[2]:.3f} |")
    print(f"style distance geometric mean x{math.exp(sum(logs) / len(logs)):.2f}; within 10 %: {within}/{len(common)}")


if __name__ == "__main__":
    sys.exit(main())
