"""The ``photostyle`` command.

Exit codes: 0 done, 2 bad usage or input (one line on stderr, no traceback), 1 any other failure.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import __version__

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class _UsageError(Exception):
    """Bad usage or input, reported in one line with exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's own usage errors: keep exit code 2, one line
        self.print_usage(sys.stderr)
        raise _UsageError(message)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def _steps(text: str):
    parts = text.split(",")
    if len(parts) not in (1, 2):
        raise argparse.ArgumentTypeError(f"expected N or N1,N2 (iterations per stage), got {text!r}")
    values = tuple(_positive_int(p) for p in parts)
    return values[0] if len(values) == 1 else values


def _add_transfer(sub) -> None:
    p = sub.add_parser(
        "transfer",
        help="restyle a content photo with the look of a style photo",
        description="Deep Photo Style Transfer: stage 1 (content + masked style), stage 2 (+ matting "
        "Laplacian photorealism), then the best-local-affine reconstruction.",
    )
    p.add_argument("content", help="content photo (PNG, JPEG, ...)")
    p.add_argument("style", help="style (reference) photo")
    p.add_argument("-o", "--output", required=True, help="output image path (.png, .jpg, .tif)")
    p.add_argument("--content-mask", help="colour-coded or label-map mask of the content")
    p.add_argument("--style-mask", help="colour-coded or label-map mask of the style")
    p.add_argument("--auto-masks", type=_positive_int, default=None, metavar="K",
                   help="segment both photos automatically into K matched regions (0: choose K)")
    p.add_argument("--size", type=_positive_int, default=None, help="long side in pixels (default: preset's, 700 for paper)")
    p.add_argument("--preset", choices=["paper", "lite"], default="paper", help="paper (default) or lite")
    p.add_argument("--steps", type=_steps, default=None, metavar="N[,N2]",
                   help="L-BFGS iterations per stage (default: preset's, 1000,1000 for paper)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--weights", default=None, help="VGG-19 weights file (default: $PHOTOSTYLE_VGG_WEIGHTS or download)")
    p.add_argument("--seed", type=int, default=612, help="seed of the noise init (default 612)")
    p.add_argument("--postprocess", choices=["best_local_affine", "posterization_refine", "none"],
                   default="best_local_affine", help="post-processing of stage 2's output")
    p.add_argument("--save-stages", action="store_true",
                   help="also write OUTPUT's stem + _stage1 / _stage2 next to the output")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_transfer)


def _run_transfer(args) -> int:
    from .image import check_writable, save_image
    from .transfer import transfer

    out = Path(args.output)
    outputs = [out]
    if args.save_stages:
        outputs += [out.with_name(f"{out.stem}_{s}{out.suffix}") for s in ("stage1", "stage2")]
    # Check every output before hours of work: exists (without --overwrite) or not writable.
    for path in outputs:
        check_writable(path, overwrite=args.overwrite)
    content_mask, style_mask, auto_k = args.content_mask, args.style_mask, None
    if args.auto_masks is not None:
        if content_mask or style_mask:
            raise ValueError("--auto-masks replaces --content-mask/--style-mask: give one or the other.")
        content_mask, auto_k = "auto", (args.auto_masks or None)
    result = transfer(
        args.content, args.style,
        content_mask=content_mask, style_mask=style_mask, auto_k=auto_k,
        preset=args.preset, size=args.size, num_steps=args.steps, device=args.device,
        weights=args.weights, seed=args.seed, postprocess=args.postprocess, progress=not args.quiet,
    )
    save_image(result.image, out, overwrite=args.overwrite)
    if args.save_stages:
        for stage, path in zip(("stage1", "stage2"), outputs[1:]):
            if stage in result.stages:
                save_image(result.stages[stage], path, overwrite=args.overwrite)
    if result.stopped:
        print(f"photostyle: note: {result.stopped}", file=sys.stderr)
    t = result.timings
    print(f"wrote {out} ({result.image.width}x{result.image.height}; stage1 {t['stage1']:.1f}s, "
          f"stage2 {t['stage2']:.1f}s, total {t['total']:.1f}s)")
    return EXIT_OK


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"photostyle: warning: {message}", file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="photostyle", description="Photorealistic style transfer (Deep Photo Style Transfer).")
    parser.add_argument("--version", action="version", version=f"photostyle {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
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
    except _UsageError as exc:
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
