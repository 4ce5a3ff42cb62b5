"""Argument types and the parser class shared by every ``photostyle`` subcommand (core and SPADE).

Each type raises ``argparse.ArgumentTypeError`` with one bound per option, so ``--size -5`` and
``--size 0`` are refused with the same sentence.
"""

from __future__ import annotations

import argparse
import sys

__all__ = ["UsageError", "Parser", "nonneg_int", "positive_int", "steps", "finite_float", "output_size",
           "add_transfer_options", "transfer_kwargs"]


class UsageError(Exception):
    """Bad usage or input, reported in one line with exit code 2."""


class Parser(argparse.ArgumentParser):
    """argparse's own usage errors keep exit code 2 and one line, as ours do."""

    def error(self, message: str):
        self.print_usage(sys.stderr)
        raise UsageError(message)


def _whole(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def nonneg_int(text: str) -> int:
    """A whole number >= 0."""
    value = _whole(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _whole(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def finite_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value >= 0 and value != float("inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return value


def steps(text: str):
    """``N`` (every level) or ``N1,N2[,...]`` (one count per level): L-BFGS iterations."""
    parts = text.split(",")
    values = tuple(nonneg_int(p.strip()) for p in parts)
    return values[0] if len(values) == 1 else values


def output_size(text: str):
    """``full``, ``work`` or a long side in pixels (a whole number >= 1)."""
    if text in ("full", "work"):
        return text
    try:
        return positive_int(text)
    except Exception:
        raise UsageError(f"argument --output-size: expected full, work or a whole number >= 1, got {text!r}") from None


def add_transfer_options(p: argparse.ArgumentParser) -> None:
    """The options of ``photostyle transfer`` that shape a restyling (all but the photos, the output and
    ``--save-stages``), shared by ``photostyle transfer`` and ``photostyle batch``; turn the parsed
    arguments into :func:`photostyle.transfer` keywords with :func:`transfer_kwargs`."""
    p.add_argument("--content-mask", help="colour-coded or label-map mask of the content")
    p.add_argument("--style-mask", help="colour-coded or label-map mask of the style")
    p.add_argument("--auto-masks", type=nonneg_int, default=None, metavar="K",
                   help="segment both photos automatically into K matched regions (0: choose K)")
    p.add_argument("--auto-method", choices=["auto", "semantic", "cluster"], default=None,
                   help="automatic masks from the segmentation network (semantic) or colour clustering (cluster); "
                        "default: semantic when its model is available")
    p.add_argument("--merge", action="append", default=None, metavar="CLASS=INTO",
                   help="with semantic automatic masks: join CLASS into INTO (e.g. tree=grass); repeatable")
    p.add_argument("--drop", action="append", default=None, metavar="CLASS",
                   help="with semantic automatic masks: leave CLASS to the whole style photo; repeatable")
    p.add_argument("--preset", choices=["fast", "paper", "lite"], default="fast",
                   help="fast (default: a minute or two on a CPU), paper (Luan et al.'s 2 x 1000 iterations) or lite")
    p.add_argument("--work-size", "--size", dest="work_size", type=positive_int, default=None, metavar="PX",
                   help="long side at which the optimisation runs (default: the preset's, 512 for fast)")
    p.add_argument("--output-size", default="full", metavar="full|work|PX",
                   help="size of the result: full (default, the content's own), work (the working size) or a long side")
    p.add_argument("--steps", type=steps, default=None, metavar="N[,N2,...]",
                   help="L-BFGS iterations: one count for every level or one per level (default: the preset's)")
    p.add_argument("--init", choices=["noise", "content", "colour"], default=None,
                   help="starting image (default: the preset's; noise for paper, colour for fast)")
    p.add_argument("--content-weight", type=finite_float, default=None, help="override the content weight")
    p.add_argument("--style-weight", type=finite_float, default=None, help="override the style weight")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default=None,
                   help="dtype of the VGG-19 during the optimisation (default: the preset's; auto = bfloat16 "
                        "on a CPU where it runs faster than float32, for fast and paper)")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="VGG-19 weights file (default: $PHOTOSTYLE_VGG_WEIGHTS, else the normalised VGG-19)")
    p.add_argument("--seed", type=int, default=612, help="seed of the noise start (default 612)")
    p.add_argument("--postprocess", choices=["best_local_affine", "posterization_refine", "none"],
                   default="best_local_affine", help="post-processing of the last level's output")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no download messages")


def transfer_kwargs(args: argparse.Namespace) -> dict:
    """Keyword arguments of :func:`photostyle.transfer` from options added by :func:`add_transfer_options`
    (``content``/``style``/``progress`` excluded). Raises ValueError or UsageError for bad combinations."""
    content_mask, style_mask, auto_k = args.content_mask, args.style_mask, None
    if args.auto_masks is not None:
        if content_mask or style_mask:
            raise ValueError("--auto-masks replaces --content-mask/--style-mask: give one or the other.")
        content_mask, auto_k = "auto", (args.auto_masks or None)
    elif args.auto_method or args.merge or args.drop:
        raise ValueError("--auto-method, --merge and --drop shape automatic masks: add --auto-masks 0.")
    merge = None
    if args.merge:
        merge = {}
        for item in args.merge:
            name, sep, into = item.partition("=")
            if not sep or not name.strip() or not into.strip():
                raise ValueError(f"--merge: expected CLASS=INTO (e.g. tree=grass), got {item!r}.")
            merge[name.strip()] = into.strip()
    return dict(
        content_mask=content_mask, style_mask=style_mask, auto_k=auto_k, auto_method=args.auto_method,
        merge=merge, drop=args.drop, preset=args.preset, work_size=args.work_size,
        output_size=output_size(args.output_size), num_steps=args.steps, init=args.init,
        content_weight=args.content_weight, style_weight=args.style_weight, device=args.device,
        precision=args.precision, weights=args.weights, seed=args.seed, postprocess=args.postprocess,
    )
